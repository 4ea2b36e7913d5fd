"""DICOM SEG out and back in: frames reference their PET instances and equal the mask, read by three readers."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from fapiseg.errors import FapisegError
from fapiseg.io.dicom.seg import SEGMENT_LABEL, export_seg, seg_mask
from fapiseg.io.dicom.series import read_series
from tests.conftest import write_nifti
from tests.io.dicom_builders import random_spec, write_series


@pytest.fixture
def pet(tmp_path):
    """A PET series stored feet-first with reversed InstanceNumbers, and a two-blob mask on its grid."""
    spec = random_spec(
        shape=(16, 12, 10),
        row_cosine=(-1.0, 0.0, 0.0),
        column_cosine=(0.0, 1.0, 0.0),
        reverse_instance_numbers=True,
    )
    folder = write_series(spec, tmp_path / "pet")
    series = read_series(folder, ("PT",))
    mask = np.zeros(series.shape, np.uint8)
    mask[3:7, 2:5, 2:4] = 1
    mask[10:12, 8:11, 6:9] = 1
    return folder, series, mask


def frames_by_slice(ds: pydicom.Dataset, series) -> np.ndarray:
    """The SEG frames put back on the PET slices through each frame's referenced source instance."""
    slice_of = {str(s.SOPInstanceUID): k for k, s in enumerate(series.datasets)}
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    out = np.zeros(series.shape, np.uint8)
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True):
        uid = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        out[:, :, slice_of[uid]] = frame.T
    return out


def test_export_reads_back_equal(tmp_path, pet):
    """pydicom, highdicom and our importer all read the exported SEG back as the mask."""
    folder, series, mask = pet
    write_nifti(tmp_path / "PRED.nii.gz", mask, series.affine)
    out = export_seg(tmp_path / "PRED.nii.gz", folder, tmp_path / "pred.dcm")
    raw = pydicom.dcmread(out)
    assert raw.Modality == "SEG" and raw.SegmentationType == "BINARY" and int(raw.NumberOfFrames) == 10
    assert raw.SegmentSequence[0].SegmentLabel == SEGMENT_LABEL
    assert {
        str(r.ReferencedSOPInstanceUID) for r in raw.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    } == {str(s.SOPInstanceUID) for s in series.datasets}
    np.testing.assert_array_equal(frames_by_slice(raw, series), mask)
    seg = hd.seg.segread(out)
    assert seg.number_of_segments == 1
    by_source = seg.get_pixels_by_source_instance([str(s.SOPInstanceUID) for s in series.datasets])
    np.testing.assert_array_equal(by_source[..., 0].transpose(2, 1, 0), mask)
    np.testing.assert_array_equal(seg_mask(out, series.shape, series.affine), mask)


def test_mask_on_another_grid_is_refused(tmp_path, pet):
    folder, _series, mask = pet
    write_nifti(tmp_path / "PRED.nii.gz", mask, np.diag([2.0, 2.0, 2.0, 1.0]))
    with pytest.raises(FapisegError, match="not on the grid of the PET series"):
        export_seg(tmp_path / "PRED.nii.gz", folder, tmp_path / "pred.dcm")


def test_seg_without_empty_frames_lands_on_the_pet_grid(tmp_path, pet):
    """A viewer's SEG that omits empty frames (two segments) is placed slice by slice on the PET grid."""
    _folder, series, mask = pet
    labels = mask.copy()
    labels[10:12, 8:11, 6:9] = 2
    descriptions = [
        hd.seg.SegmentDescription(
            n,
            name,
            codes.SCT.MorphologicallyAbnormalStructure,
            codes.SCT.Lesion,
            hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, name in ((1, "small"), (2, "big"))
    ]
    seg = hd.seg.Segmentation(
        series.datasets,
        labels.transpose(2, 1, 0),
        "BINARY",
        descriptions,
        hd.UID(),
        5,
        hd.UID(),
        1,
        "x",
        "x",
        "1",
        "1",
        omit_empty_frames=True,
    )
    seg.save_as(tmp_path / "viewer.dcm")
    assert int(seg.NumberOfFrames) < 2 * series.shape[2]
    np.testing.assert_array_equal(seg_mask(tmp_path / "viewer.dcm", series.shape, series.affine), mask)
    only_big = seg_mask(tmp_path / "viewer.dcm", series.shape, series.affine, segments=["BIG"])
    np.testing.assert_array_equal(only_big, labels == 2)
    with pytest.raises(FapisegError, match="no segment labelled 'liver'"):
        seg_mask(tmp_path / "viewer.dcm", series.shape, series.affine, segments=["liver"])


def test_not_a_seg(tmp_path, pet):
    folder, series, _ = pet
    with pytest.raises(FapisegError, match="not a readable DICOM SEG"):
        seg_mask(next(folder.glob("*.dcm")), series.shape, series.affine)
