# The two set-up commands of the README. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip --disable-pip-version-check install --progress-bar off
# CPU-only machines get this torch build, never the multi-gigabyte CUDA one; see the README for GPUs.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=

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

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP_INSTALL) -e ".[test]"
	@touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(PY) -m fapiseg demo --out outputs/demo

clean:
	rm -rf outputs multirun .pytest_cache
