# The two set-up commands of the README. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# pip byte-compiles one file at a time, about half of the install; COMPILE does it afterwards on every core
# (test folders left out). A file that does not compile (newer-Python syntax) is skipped, as pip skips it.
PIP_INSTALL := $(PY) -m pip --disable-pip-version-check install --progress-bar off --no-compile
COMPILE = $(PY) -m compileall -q -j 0 -x 'site-packages/(.*/)?tests?/' \
	"$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
# CPU-only machines get this torch build, never the multi-gigabyte CUDA one; see the README for GPUs.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=
# When make started: make demo's 15-minute limit counts creating the environment too (fapiseg demo --started).
DEMO_START := $(shell date +%s)

.PHONY: demo test install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, chosen by hardware, so that pip never resolves it to a CUDA build on a CPU-only box.
$(VENV)/.torch: | $(PY)
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch already installed"; \
	elif nvidia-smi -L >/dev/null 2>&1; then \
	  echo "GPU found: installing the default (CUDA) torch build"; $(PIP_INSTALL) "torch>=2.3"; \
	else \
	  extra=""; \
	  if $(PY) -c "import urllib.request as u; u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" 2>/dev/null; then \
	    extra="--extra-index-url $(TORCH_CPU_INDEX)"; fi; \
	  echo "no GPU: installing the CPU build of torch $(TORCH_CPU_VERSION)"; \
	  $(PIP_INSTALL) "torch==$(TORCH_CPU_VERSION)" $$extra; \
	fi
	@touch $@

# The demo needs the package only; the tests add pytest and the notebook kernel (about 30 s more to install).
$(VENV)/.runtime: pyproject.toml $(VENV)/.torch
	$(PIP_INSTALL) -e .
	@$(COMPILE)
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.runtime
	$(PIP_INSTALL) -e ".[test]"
	@$(COMPILE)
	@touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(VENV)/.runtime
	$(PY) -m fapiseg demo --out outputs/demo --started $(DEMO_START)

clean:
	rm -rf outputs multirun .pytest_cache
