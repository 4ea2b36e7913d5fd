"""NIfTI reading and writing that keeps the affine and never leaves a half-written file.

Reads turn every failure (missing, empty, truncated, not an image) into one :class:`CaseError` line;
writes go to a temporary name in the target folder and are renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from fapiseg.errors import CaseError
from fapiseg.io.geometry import spacing_mm


@dataclass
class Volume:
    """A 3-D image and the affine that places its voxels in the world (RAS+, mm)."""

    array: np.ndarray
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> np.ndarray:
        return spacing_mm(self.affine)


def load_volume(path: str | os.PathLike, case: str | None = None, dtype: type = np.float32) -> Volume:
    """Read a 3-D NIfTI image fully into memory.

    ``case`` names the image in errors (defaults to the file name). A 4-D image with one frame is
    squeezed to 3-D; anything else that is not 3-D is refused.
    """
    path = Path(path)
    who = case or path.name
    if not path.exists():
        raise CaseError(who, f"{path.name} is missing")
    if path.stat().st_size == 0:
        raise CaseError(who, f"{path.name} is an empty file")
    try:
        img = nib.load(str(path))
        array = np.asarray(img.dataobj)
    except (EOFError, zlib.error, OSError, ValueError, nib.filebasedimages.ImageFileError) as e:
        raise CaseError(who, f"{path.name} cannot be read ({_short(e)}); is it truncated or not NIfTI?") from None
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise CaseError(who, f"{path.name} has shape {array.shape}; a 3-D volume is required")
    if min(array.shape) < 2:
        raise CaseError(who, f"{path.name} has shape {array.shape}; a 3-D volume needs at least 2 voxels per axis")
    return Volume(array.astype(dtype, copy=False), np.asarray(img.affine, dtype=np.float64))


def save_volume(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray) -> Path:
    """Write ``array`` with ``affine`` (as both sform and qform, code scanner) atomically."""
    img = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=np.float64))
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffixes); rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` keeps its old content, if any.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"
    fd, name = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:120]
