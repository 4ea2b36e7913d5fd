"""DICOM in and out: PET/CT series to SUV and HU, RTSTRUCT and SEG to masks, lesion masks back as SEG.

Modules: ``series`` (find, sort, affine), ``suv`` (QIBA SUV factors), ``rtstruct`` (contour
rasteriser), ``seg`` (DICOM SEG read/write), ``importer`` (the ``import-dicom`` orchestration),
``command``/``export_command`` (the subcommands). The names below load on first use, so that
``fapiseg --help`` does not import pydicom and highdicom.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "import_study": "importer",
    "ImportResult": "importer",
    "export_seg": "seg",
    "lesion_segmentation": "seg",
    "write_lesion_seg": "seg",
    "seg_mask": "seg",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
