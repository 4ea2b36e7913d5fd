"""DICOM SEG in and out with highdicom: reference masks from viewers, predicted lesions back to PACS.

Out: a BINARY Segmentation with one segment, "FAP-avid lesion", that references every instance of the
source PET series, one frame per PET slice (empty frames kept); highdicom orders the frames along the
slice stack and each frame names its source PET instance (DerivationImageSequence) and position.
In: the chosen segments of any SEG whose frames form a regular 3-D grid, placed on the PET grid by
nearest neighbour through the two affines.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from scipy import ndimage

from fapiseg import __version__
from fapiseg.errors import FapisegError
from fapiseg.io.dicom.series import LPS_TO_RAS, SPACING_TOLERANCE, ImageSeries, read_series
from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import atomic_path, load_volume

SEGMENT_LABEL = "FAP-avid lesion"
#: highdicom volumes index (slice, row, column); fapiseg arrays (column, row, slice).
_SWAP_IJK = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def lesion_segmentation(mask: np.ndarray, affine: np.ndarray, pet: ImageSeries) -> hd.seg.Segmentation:
    """A DICOM SEG of ``mask`` (i, j, k, nonzero = lesion) that must lie on the grid of the source ``pet``."""
    if not same_grid(mask.shape, affine, pet.shape, pet.affine):
        raise FapisegError(
            f"the mask (shape {tuple(mask.shape)}) is not on the grid of the PET series "
            f"(shape {pet.shape}); was it predicted on the SUV imported from this series?"
        )
    frames = np.ascontiguousarray((np.asarray(mask) > 0.5).transpose(2, 1, 0).astype(np.uint8))
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="fapiseg", family=codes.cid7162.ArtificialIntelligence, version=__version__
        ),
    )
    with warnings.catch_warnings():
        # highdicom warns about the source's PatientName with the name in the message: keep it out of logs.
        warnings.filterwarnings("ignore", message=".*person name.*")
        return hd.seg.Segmentation(
            source_images=pet.datasets,
            pixel_array=frames,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=hd.UID(),
            series_number=9001,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="fapiseg",
            manufacturer_model_name="fapiseg",
            software_versions=__version__,
            device_serial_number="0",
            series_description="fapiseg FAP-avid lesions",
            omit_empty_frames=False,
        )


def write_lesion_seg(mask: np.ndarray, affine: np.ndarray, pet: ImageSeries, out: str | os.PathLike) -> Path:
    """Write :func:`lesion_segmentation` to ``out`` atomically."""
    seg = lesion_segmentation(mask, affine, pet)
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    return Path(out)


def seg_mask(
    path: str | os.PathLike,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    frame_of_reference_uid: str | None = None,
    segments: list[str] | None = None,
) -> np.ndarray:
    """Union of the chosen segments (all when None, else by label) of a DICOM SEG, uint8 on the grid ``affine``."""
    try:
        seg = hd.seg.segread(path)
    except Exception as e:  # highdicom raises plain ValueError/AttributeError on non-SEG files
        raise FapisegError(
            f"{Path(path).name} is not a readable DICOM SEG ({str(e).splitlines()[0][:100]})"
        ) from None
    if frame_of_reference_uid and str(seg.get("FrameOfReferenceUID", "")) not in ("", frame_of_reference_uid):
        raise FapisegError(
            "the SEG is in another frame of reference than the PET (another scan, or register first)"
        )
    labels = {n: str(seg.get_segment_description(n).segment_label) for n in seg.segment_numbers}
    numbers = list(labels) if segments is None else [_segment_number(labels, s) for s in segments]
    volume = _seg_volume(seg, numbers)
    array = np.asarray(volume.array).transpose(2, 1, 0) > 0
    seg_affine = LPS_TO_RAS @ np.asarray(volume.affine, dtype=np.float64) @ _SWAP_IJK
    if same_grid(array.shape, seg_affine, shape, affine):
        return array.astype(np.uint8)
    # Nearest neighbour: the SEG voxel whose centre is closest to each target voxel centre.
    to_seg = np.linalg.inv(seg_affine) @ np.asarray(affine, dtype=np.float64)
    out = ndimage.affine_transform(
        array.astype(np.uint8),
        to_seg[:3, :3],
        offset=to_seg[:3, 3],
        output_shape=tuple(shape),
        order=0,
        mode="constant",
        cval=0,
    )
    return out.astype(np.uint8)


def _seg_volume(seg: hd.seg.Segmentation, numbers: list[int]) -> hd.Volume:
    """The SEG as a labelled volume: a full stack (slice jitter tolerated) or one with omitted empty frames."""
    error = ""
    for gaps_allowed in (False, True):
        try:
            return seg.get_volume(
                segment_numbers=numbers,
                combine_segments=True,
                relabel=True,
                rtol=SPACING_TOLERANCE,
                allow_missing_positions=gaps_allowed,
            )
        except (ValueError, RuntimeError) as e:
            error = str(e).splitlines()[0][:100]
    raise FapisegError(f"the SEG frames do not form a regular 3-D grid ({error})")


def _segment_number(labels: dict[int, str], wanted: str) -> int:
    for number, label in labels.items():
        if label.strip().lower() == wanted.strip().lower():
            return number
    raise FapisegError(f"no segment labelled '{wanted}' in the SEG; it has: {', '.join(labels.values())}")


def export_seg(
    mask_path: str | os.PathLike,
    pet_dir: str | os.PathLike,
    out: str | os.PathLike,
    series_uid: str | None = None,
) -> Path:
    """Write the mask NIfTI ``mask_path`` (on the grid imported from ``pet_dir``) as a DICOM SEG file ``out``."""
    pet = read_series(pet_dir, ("PT",), series_uid)
    mask = load_volume(mask_path, dtype=np.float32)
    return write_lesion_seg(mask.array, mask.affine, pet, out)
