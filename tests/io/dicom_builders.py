"""Build small DICOM PET/CT series, RTSTRUCTs and their expected values in code, for the DICOM tests.

Every header fact is a parameter, so a test states the facts it computes from. Files carry patient
identifiers on purpose (``IDENTIFIERS``) so that tests can check none of them leaks out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
IDENTIFIERS = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-X",
    "PatientBirthDate": "19610203",
    "AccessionNumber": "ACC-99812",
    "StudyID": "STUDY-5521",
}


@dataclass
class SeriesSpec:
    """Geometry and header facts of a generated series; ``stored`` is (columns, rows, slices) int16."""

    stored: np.ndarray
    slopes: np.ndarray
    spacing_mm: tuple[float, float, float] = (3.0, 2.5, 4.0)  # column step, row step, slice step
    row_cosine: tuple[float, float, float] = (1.0, 0.0, 0.0)
    column_cosine: tuple[float, float, float] = (0.0, 1.0, 0.0)
    origin_lps: tuple[float, float, float] = (-20.0, -15.0, -30.0)
    modality: str = "PT"
    reverse_instance_numbers: bool = False
    header: dict = field(default_factory=dict)
    series_uid: str = field(default_factory=generate_uid)
    frame_of_reference_uid: str = field(default_factory=generate_uid)
    study_uid: str = field(default_factory=generate_uid)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_cosine, self.column_cosine)

    def position(self, k: int) -> np.ndarray:
        return np.asarray(self.origin_lps) + k * self.spacing_mm[2] * self.normal

    def slice_centre(self, k: int) -> np.ndarray:
        """LPS centre of slice ``k`` (``position`` is its first voxel, a corner of the image)."""
        cols, rows = self.stored.shape[:2]
        return (
            self.position(k)
            + (cols - 1) / 2 * self.spacing_mm[0] * np.asarray(self.row_cosine)
            + (rows - 1) / 2 * self.spacing_mm[1] * np.asarray(self.column_cosine)
        )

    def values(self) -> np.ndarray:
        """Rescaled values (stored x slope of each slice), (columns, rows, slices)."""
        return self.stored.astype(np.float64) * self.slopes[None, None, :]

    def ras_affine(self) -> np.ndarray:
        lps = np.eye(4)
        lps[:3, 0] = np.asarray(self.row_cosine) * self.spacing_mm[0]
        lps[:3, 1] = np.asarray(self.column_cosine) * self.spacing_mm[1]
        lps[:3, 2] = self.normal * self.spacing_mm[2]
        lps[:3, 3] = self.origin_lps
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def pet_header(**overrides) -> dict:
    """Default PET header facts: BQML, decay corrected to START, 200 MBq of 18F injected 60 min before."""
    facts = {
        "Units": "BQML",
        "DecayCorrection": "START",
        "CorrectedImage": ["ATTN", "DECY"],
        "SeriesDate": "20240305",
        "SeriesTime": "101500",
        "AcquisitionDate": "20240305",
        "AcquisitionTime": "101500",
        "ActualFrameDuration": 120000,
        "PatientWeight": "75",
        "PatientSize": "1.70",
        "PatientSex": "F",
        "Manufacturer": "ACME",
        "ManufacturerModelName": "PET-1",
        "radiopharmaceutical": {
            "Radiopharmaceutical": "FAPI-04",
            "RadiopharmaceuticalStartTime": "091500",
            "RadionuclideTotalDose": "2.0E8",
            "RadionuclideHalfLife": "6586.2",
        },
    }
    facts.update(overrides)
    return facts


def random_spec(shape=(16, 12, 10), seed: int = 0, **kwargs) -> SeriesSpec:
    """Random stored values and per-slice slopes (so that per-slice rescaling matters)."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 30000, size=shape).astype(np.int16)
    slopes = rng.uniform(0.5, 3.0, size=shape[2]).round(5)
    kwargs.setdefault("header", pet_header())
    return SeriesSpec(stored, slopes, **kwargs)


def build_slices(spec: SeriesSpec) -> list[Dataset]:
    """One dataset per slice, in geometric order (slice k at ``spec.position(k)``)."""
    n = spec.stored.shape[2]
    header = dict(spec.header)
    radiopharmaceutical = header.pop("radiopharmaceutical", None)
    per_slice = header.pop("per_slice", {})
    out = []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        sop_class = PET_STORAGE if spec.modality == "PT" else CT_STORAGE
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyInstanceUID = spec.study_uid
        ds.SeriesInstanceUID = spec.series_uid
        ds.FrameOfReferenceUID = spec.frame_of_reference_uid
        ds.Modality = spec.modality
        ds.SeriesDescription = f"test {spec.modality}"
        for key, value in IDENTIFIERS.items():
            setattr(ds, key, value)
        ds.StudyDate = "20240305"
        ds.StudyTime = "100000"
        ds.SeriesNumber = 3
        ds.InstanceNumber = n - k if spec.reverse_instance_numbers else k + 1
        ds.ImageOrientationPatient = [*spec.row_cosine, *spec.column_cosine]
        ds.ImagePositionPatient = [float(v) for v in spec.position(k)]
        ds.PixelSpacing = [spec.spacing_mm[1], spec.spacing_mm[0]]  # row spacing, column spacing
        ds.SliceThickness = spec.spacing_mm[2]
        ds.Rows, ds.Columns = spec.stored.shape[1], spec.stored.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = f"{spec.slopes[k]:.6g}"
        ds.RescaleIntercept = "-1024" if spec.modality == "CT" else "0"
        ds.PatientPosition = "HFS"
        for key, value in header.items():
            setattr(ds, key, value)
        for key, values in per_slice.items():
            setattr(ds, key, values[k])
        if radiopharmaceutical is not None:
            item = Dataset()
            for key, value in radiopharmaceutical.items():
                setattr(item, key, value)
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
            item.RadionuclideCodeSequence = [code]
            ds.RadiopharmaceuticalInformationSequence = [item]
        ds.PixelData = np.ascontiguousarray(spec.stored[:, :, k].T).astype("<i2").tobytes()
        out.append(ds)
    return out


def write_series(spec: SeriesSpec, folder: Path, seed: int = 1) -> Path:
    """Write the slices under shuffled file names (so that name order tells nothing); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    slices = build_slices(spec)
    names = np.random.default_rng(seed).permutation(len(slices))
    for ds, name in zip(slices, names, strict=True):
        ds.save_as(folder / f"img{name:04d}.dcm", enforce_file_format=True)
    return folder


def ct_spec(pet: SeriesSpec, shape=(24, 20, 14), spacing=(2.0, 2.0, 3.0)) -> SeriesSpec:
    """A CT over the PET's region (same frame of reference), HU = stored - 1024 with a linear ramp."""
    i = np.arange(shape[0])[:, None, None]
    stored = np.broadcast_to(1024 + 10 * i, shape).astype(np.int16)
    origin = np.asarray(pet.origin_lps) - 4.0
    return SeriesSpec(
        stored,
        np.ones(shape[2]),
        spacing_mm=spacing,
        row_cosine=pet.row_cosine,
        column_cosine=pet.column_cosine,
        origin_lps=tuple(origin),
        modality="CT",
        header={"Manufacturer": "ACME", "ManufacturerModelName": "CT-1"},
        frame_of_reference_uid=pet.frame_of_reference_uid,
        study_uid=pet.study_uid,
    )


def rtstruct(spec: SeriesSpec, rois: dict[str, list[np.ndarray]]) -> Dataset:
    """An RTSTRUCT on ``spec``'s frame of reference; ``rois`` maps names to closed contours (N, 3) in LPS mm."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = RTSTRUCT_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = generate_uid()
    for key, value in IDENTIFIERS.items():
        setattr(ds, key, value)
    reference = Dataset()
    reference.FrameOfReferenceUID = spec.frame_of_reference_uid
    ds.ReferencedFrameOfReferenceSequence = [reference]
    ds.StructureSetROISequence, ds.ROIContourSequence = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = number, name
        roi.ReferencedFrameOfReferenceUID = spec.frame_of_reference_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [f"{v:.4f}" for v in np.asarray(points).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    return ds


def circle_lps(
    centre_lps: np.ndarray, radius_mm: float, u: np.ndarray, v: np.ndarray, n: int = 96
) -> np.ndarray:
    """``n`` points of a circle of ``radius_mm`` around ``centre_lps`` in the plane spanned by unit vectors u, v."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre_lps + radius_mm * (np.cos(t)[:, None] * u + np.sin(t)[:, None] * v)
