"""DICOM in and out: PET/CT series to SUV and HU, RTSTRUCT and SEG to masks, lesion masks back as SEG.

Modules: ``series`` (find, sort, affine), ``suv`` (QIBA SUV factors), ``rtstruct`` (contour
rasteriser), ``seg`` (DICOM SEG read/write), ``importer`` (the ``import-dicom`` orchestration).
"""

from fapiseg.io.dicom.importer import ImportResult, import_study
from fapiseg.io.dicom.seg import export_seg, lesion_segmentation, seg_mask, write_lesion_seg

__all__ = ["ImportResult", "export_seg", "import_study", "lesion_segmentation", "seg_mask", "write_lesion_seg"]
