"""``import-dicom`` end to end: SUV, CT on the PET grid, masks, sidecar, privacy, one-line errors."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from fapiseg.cli import main
from fapiseg.errors import FapisegError
from fapiseg.io.dicom.importer import import_study
from fapiseg.io.dicom.series import read_series
from tests.io.dicom_builders import (
    IDENTIFIERS,
    build_slices,
    ct_spec,
    pet_header,
    random_spec,
    rtstruct,
    write_series,
)
from tests.io.test_dicom_rtstruct import sphere_contours

FACTOR_60_MIN = 75_000.0 / (2.0e8 * 0.5 ** (3600.0 / 6586.2))  # weight g / dose decayed over 60 min


@pytest.fixture
def study(tmp_path):
    """PET (reversed InstanceNumbers), a CT over it and an RTSTRUCT sphere, written as scanners would."""
    pet = random_spec(reverse_instance_numbers=True)
    ct = ct_spec(pet, shape=(28, 20, 16))
    write_series(pet, tmp_path / "dicom" / "pet")
    write_series(ct, tmp_path / "dicom" / "ct")
    centre = pet.slice_centre(5)
    (tmp_path / "dicom" / "rt").mkdir()
    rtstruct(pet, {"GTV": sphere_contours(pet, centre, 6.0)}).save_as(
        tmp_path / "dicom" / "rt" / "rs.dcm", enforce_file_format=True
    )
    return tmp_path, pet, ct


def test_import_writes_suv_ct_mask_and_sidecar(study):
    tmp_path, pet, _ct = study
    out = tmp_path / "data" / "p1" / "t0"
    result = import_study(
        tmp_path / "dicom" / "pet", out, ct_dir=tmp_path / "dicom" / "ct", rtstruct=tmp_path / "dicom" / "rt"
    )
    assert sorted(p.name for p in result.written) == [
        "CTres.nii.gz",
        "SEG.nii.gz",
        "SUV.nii.gz",
        "import.json",
    ]
    suv = nib.load(out / "SUV.nii.gz")
    assert suv.get_data_dtype() == np.float32
    np.testing.assert_allclose(suv.affine, pet.ras_affine(), atol=1e-4)
    np.testing.assert_allclose(np.asarray(suv.dataobj), pet.values() * FACTOR_60_MIN, rtol=1e-6)
    hu = np.asarray(nib.load(out / "CTres.nii.gz").dataobj)
    i = np.arange(16)[:, None, None]
    # CT HU = 10 x CT column; PET column i sits at x = -20 + 3 i mm, CT column at (x + 24) / 2: HU = 20 + 15 i.
    np.testing.assert_allclose(hu, np.broadcast_to(20.0 + 15.0 * i, hu.shape), atol=1e-3)
    seg = nib.load(out / "SEG.nii.gz")
    assert set(np.unique(np.asarray(seg.dataobj))) == {0, 1}
    sidecar = json.loads((out / "import.json").read_text())
    assert sidecar["suv_factor"] == pytest.approx(FACTOR_60_MIN, rel=1e-12)
    assert sidecar["injected_dose_mbq"] == 200.0 and sidecar["uptake_time_min"] == 60.0
    assert (
        sidecar["half_life_s"] == 6586.2
        and sidecar["decay_correction"] == "START"
        and sidecar["units"] == "BQML"
    )
    assert sidecar["radiopharmaceutical"] == "FAPI-04" and sidecar["radionuclide"] == "^18^Fluorine"
    assert sidecar["manufacturer"] == "ACME" and sidecar["model"] == "PET-1" and sidecar["suv_type"] == "bw"
    assert sidecar["mask"]["source"] == "RTSTRUCT" and sidecar["ct"]["model"] == "CT-1"


def test_no_identifiers_leave_the_import(study, capsys):
    """Names, IDs, birth date, accession number, dates and UIDs appear in no file name, sidecar or log line."""
    tmp_path, pet, ct = study
    out = tmp_path / "data" / "p1" / "t0"
    assert (
        main(
            [
                "import-dicom",
                "--pet",
                str(tmp_path / "dicom" / "pet"),
                "--ct",
                str(tmp_path / "dicom" / "ct"),
                "--out",
                str(out),
                "--rtstruct",
                str(tmp_path / "dicom" / "rt"),
            ]
        )
        == 0
    )
    export = out / "pred.dcm"
    assert (
        main(
            [
                "export-seg",
                "--mask",
                str(out / "SEG.nii.gz"),
                "--pet",
                str(tmp_path / "dicom" / "pet"),
                "--out",
                str(export),
            ]
        )
        == 0
    )
    logs = capsys.readouterr()
    uids = [pet.series_uid, pet.study_uid, pet.frame_of_reference_uid, ct.series_uid]
    uids += [str(ds.SOPInstanceUID) for ds in read_series(tmp_path / "dicom" / "pet", ("PT",)).datasets]
    secrets = [*IDENTIFIERS.values(), "Doe", "20240305", "19610203", *uids]
    texts = [logs.out, logs.err, (out / "import.json").read_text(), *(p.name for p in out.rglob("*"))]
    for secret in secrets:
        assert not any(secret in text for text in texts), secret


def test_cli_errors_are_one_line(study, capsys):
    tmp_path, pet, _ = study
    broken = tmp_path / "broken"
    broken.mkdir()
    for k, ds in enumerate(build_slices(pet)):
        del ds.PatientWeight
        ds.save_as(broken / f"{k}.dcm", enforce_file_format=True)
    assert main(["import-dicom", "--pet", str(broken), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PatientWeight (0010,1030) is missing" in err
    assert not (tmp_path / "o" / "SUV.nii.gz").exists()
    assert (
        main(
            [
                "import-dicom",
                "--pet",
                str(tmp_path / "dicom"),
                "--out",
                str(tmp_path / "o"),
                "--series-uid",
                "1.2.3",
            ]
        )
        == 1
    )
    assert "no series 1.2.3" in capsys.readouterr().err


def test_implausible_suv_is_refused(tmp_path):
    """A dose that passes the header checks but gives SUV in the thousands stops the import, naming the suspects."""
    header = pet_header(
        radiopharmaceutical={
            "RadiopharmaceuticalStartTime": "091500",
            "RadionuclideTotalDose": "1.5E6",
            "RadionuclideHalfLife": "6586.2",
        }
    )
    write_series(random_spec(header=header), tmp_path / "pet")
    with pytest.raises(FapisegError, match="implausible: check RadionuclideTotalDose"):
        import_study(tmp_path / "pet", tmp_path / "out")
    assert not (tmp_path / "out" / "SUV.nii.gz").exists()


def test_lean_body_mass_option(study, capsys):
    """--suv-type lbm writes SUL (Janmahasatian, female 75 kg 1.70 m) into SUV.nii.gz and says so in the sidecar."""
    tmp_path, pet, _ = study
    out = tmp_path / "sul"
    assert (
        main(
            ["import-dicom", "--pet", str(tmp_path / "dicom" / "pet"), "--out", str(out), "--suv-type", "lbm"]
        )
        == 0
    )
    lbm_g = 1000.0 * 9270.0 * 75.0 / (8780.0 + 244.0 * 75.0 / 1.7**2)
    suv = np.asarray(nib.load(out / "SUV.nii.gz").dataobj)
    np.testing.assert_allclose(suv, pet.values() * FACTOR_60_MIN * lbm_g / 75_000.0, rtol=1e-6)
    assert json.loads((out / "import.json").read_text())["suv_type"] == "lbm"
    assert "SUVlbm" in capsys.readouterr().out


def test_seg_option_imports_a_dicom_seg(study):
    """--seg: a SEG exported from one import comes back as the same SEG.nii.gz."""
    tmp_path, _, _ = study
    first = tmp_path / "a"
    import_study(tmp_path / "dicom" / "pet", first, rtstruct=tmp_path / "dicom" / "rt", rois=["GTV"])
    assert (
        main(
            [
                "export-seg",
                "--mask",
                str(first / "SEG.nii.gz"),
                "--pet",
                str(tmp_path / "dicom" / "pet"),
                "--out",
                str(tmp_path / "gtv.dcm"),
            ]
        )
        == 0
    )
    again = import_study(tmp_path / "dicom" / "pet", tmp_path / "b", seg=tmp_path / "gtv.dcm")
    a = np.asarray(nib.load(first / "SEG.nii.gz").dataobj)
    assert a.sum() > 10
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "b" / "SEG.nii.gz").dataobj), a)
    assert again.sidecar["mask"]["source"] == "SEG"
