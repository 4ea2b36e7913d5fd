"""SUV factors against hand computations from the header facts, and one-line errors for bad headers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fapiseg.errors import FapisegError
from fapiseg.io.dicom.suv import suv_conversion
from tests.io.dicom_builders import build_slices, pet_header, random_spec

WEIGHT_KG, DOSE_BQ, HALF_LIFE_S = 75.0, 2.0e8, 6586.2
RADIO = {
    "Radiopharmaceutical": "FAPI-04",
    "RadiopharmaceuticalStartTime": "091500",
    "RadionuclideTotalDose": "2.0E8",
    "RadionuclideHalfLife": "6586.2",
}


def slices(shape=(4, 4, 6), **header):
    return build_slices(random_spec(shape=shape, header=pet_header(**header)))


def factor_by_hand(uptake_s: float, body: float = WEIGHT_KG * 1000.0) -> float:
    """SUV factor = body size / dose decayed over the uptake time (the textbook formula, written out here)."""
    return body / (DOSE_BQ * 0.5 ** (uptake_s / HALF_LIFE_S))


def test_start_decays_the_dose_to_series_time():
    """DecayCorrection START: dose decayed from injection (09:15) to SeriesTime (10:15)."""
    conv = suv_conversion(slices())
    np.testing.assert_allclose(conv.factors, factor_by_hand(3600.0), rtol=1e-12)
    assert conv.uptake_time_min == pytest.approx(60.0) and conv.scan_time_source == "SeriesDate/SeriesTime"


def test_admin_uses_the_injected_dose():
    """DecayCorrection ADMIN: pixels already refer to the injection, so the dose is not decayed."""
    conv = suv_conversion(slices(DecayCorrection="ADMIN"))
    np.testing.assert_allclose(conv.factors, WEIGHT_KG * 1000.0 / DOSE_BQ, rtol=1e-12)


def test_none_decays_to_each_frame():
    """DecayCorrection NONE: each slice's dose decays to its frame start and is averaged over the 120 s frame."""
    times = ["101500", "101500", "101700", "101700", "101900", "101900"]
    conv = suv_conversion(slices(DecayCorrection="NONE", per_slice={"AcquisitionTime": times}))
    lam = math.log(2) / HALF_LIFE_S
    for k, t in enumerate(times):
        start_s = (int(t[2:4]) - 15) * 60 + 3600.0
        frame_mean = (1 - math.exp(-lam * 120.0)) / (lam * 120.0)
        expected = WEIGHT_KG * 1000.0 / (DOSE_BQ * math.exp(-lam * start_s) * frame_mean)
        assert conv.factors[k] == pytest.approx(expected, rel=1e-12)


def test_philips_counts_use_the_private_suv_factor():
    """Units CNTS: SUVbw = rescaled counts x Philips (7053,xx00), slice by slice."""
    datasets = slices(Units="CNTS")
    for k, ds in enumerate(datasets):
        ds.private_block(0x7053, "Philips PET Private Group", create=True).add_new(
            0x00, "DS", f"{0.000345 + k * 1e-6:.6f}"
        )
    conv = suv_conversion(datasets)
    np.testing.assert_allclose(conv.factors, 0.000345 + np.arange(6) * 1e-6, rtol=1e-9)


def test_philips_counts_with_activity_scale_only():
    """Units CNTS without the SUV factor: (7053,xx09) scales to Bq/mL, then the BQML procedure applies."""
    datasets = slices(Units="CNTS")
    for ds in datasets:
        ds.private_block(0x7053, "Philips PET Private Group", create=True).add_new(0x09, "DS", "2.5")
    np.testing.assert_allclose(suv_conversion(datasets).factors, 2.5 * factor_by_hand(3600.0), rtol=1e-12)


def test_gml_is_already_suv():
    assert np.all(suv_conversion(slices(Units="GML")).factors == 1.0)


def test_sul_and_bsa():
    """SUL with the Janmahasatian lean body mass (female) and SUVbsa with Du Bois, from weight 75 kg, 1.70 m."""
    bmi = 75.0 / 1.70**2
    lbm_g = 1000.0 * 9270.0 * 75.0 / (8780.0 + 244.0 * bmi)
    bsa_cm2 = 1e4 * 0.007184 * 75.0**0.425 * 170.0**0.725
    np.testing.assert_allclose(
        suv_conversion(slices(), "lbm").factors, factor_by_hand(3600.0, lbm_g), rtol=1e-12
    )
    np.testing.assert_allclose(
        suv_conversion(slices(), "bsa").factors, factor_by_hand(3600.0, bsa_cm2), rtol=1e-12
    )
    male = 1000.0 * 9270.0 * 75.0 / (6680.0 + 216.0 * bmi)
    np.testing.assert_allclose(
        suv_conversion(slices(PatientSex="M"), "lbm").factors, factor_by_hand(3600.0, male)
    )


def test_post_processed_series_uses_earliest_acquisition():
    """SeriesTime after the acquisitions (a reprocessed series): scan start = earliest AcquisitionTime."""
    times = ["101500", "101500", "101000", "101000", "102000", "102000"]
    conv = suv_conversion(slices(SeriesTime="140000", per_slice={"AcquisitionTime": times}))
    np.testing.assert_allclose(conv.factors, factor_by_hand(3300.0), rtol=1e-12)
    assert conv.scan_time_source == "earliest AcquisitionDate/AcquisitionTime"


def test_post_processed_ge_series_uses_private_scan_time():
    """...unless GE's private scan datetime (0009,xx0D) says when the scan started."""
    datasets = slices(SeriesTime="140000")
    for ds in datasets:
        ds.private_block(0x0009, "GEMS_PETD_01", create=True).add_new(0x0D, "DT", "20240305100500")
    np.testing.assert_allclose(suv_conversion(datasets).factors, factor_by_hand(3000.0), rtol=1e-12)


def test_injection_datetime_with_time_zone():
    """RadiopharmaceuticalStartDateTime in UTC against local times at UTC+01:00: 08:15Z is 09:15 local."""
    radio = dict(
        RADIO, RadiopharmaceuticalStartDateTime="20240305081500+0000", RadiopharmaceuticalStartTime=""
    )
    conv = suv_conversion(slices(TimezoneOffsetFromUTC="+0100", radiopharmaceutical=radio))
    np.testing.assert_allclose(conv.factors, factor_by_hand(3600.0), rtol=1e-12)


def test_injection_before_midnight():
    """Injected 23:30, scan 00:20 the next day, only times given: 50 min uptake, not minus 23 h."""
    radio = dict(RADIO, RadiopharmaceuticalStartTime="233000")
    conv = suv_conversion(
        slices(
            SeriesDate="20240306",
            SeriesTime="002000",
            AcquisitionDate="20240306",
            AcquisitionTime="002000",
            radiopharmaceutical=radio,
        )
    )
    assert conv.uptake_time_min == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ({"PatientWeight": None}, "PatientWeight"),
        (
            {"radiopharmaceutical": {k: v for k, v in RADIO.items() if k != "RadionuclideTotalDose"}},
            "RadionuclideTotalDose",
        ),
        (
            {"radiopharmaceutical": {k: v for k, v in RADIO.items() if k != "RadiopharmaceuticalStartTime"}},
            "injection time",
        ),
        (
            {"radiopharmaceutical": {k: v for k, v in RADIO.items() if k != "RadionuclideHalfLife"}},
            "RadionuclideHalfLife",
        ),
        ({"Units": None}, "Units"),
        ({"DecayCorrection": None}, "DecayCorrection"),
        ({"radiopharmaceutical": None}, "RadiopharmaceuticalInformationSequence"),
    ],
    ids=["weight", "dose", "injection-time", "half-life", "units", "decay-correction", "radiopharmaceutical"],
)
def test_missing_field_is_named(header, field):
    """A missing header field stops the conversion with one line naming it."""
    datasets = slices(**header)
    for ds in datasets:
        for key, value in header.items():
            if value is None and key[0].isupper() and key in ds:
                delattr(ds, key)
    with pytest.raises(FapisegError, match=field) as e:
        suv_conversion(datasets)
    assert "missing" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ({"PatientWeight": "500"}, "PatientWeight 500 kg is implausible"),
        ({"PatientWeight": "0"}, "PatientWeight"),
        ({"radiopharmaceutical": dict(RADIO, RadionuclideTotalDose="370")}, "MBq"),
        ({"radiopharmaceutical": dict(RADIO, RadionuclideTotalDose="0")}, "must be positive"),
        ({"radiopharmaceutical": dict(RADIO, RadiopharmaceuticalStartTime="103000")}, "uptake time"),
        (
            {"radiopharmaceutical": dict(RADIO, RadiopharmaceuticalStartDateTime="20240303091500")},
            "uptake time",
        ),
        (
            {"radiopharmaceutical": dict(RADIO, RadionuclideHalfLife="1.83")},
            "RadionuclideHalfLife 1.83 s is implausible",
        ),
        ({"DecayCorrection": "LATER"}, "DecayCorrection LATER"),
        ({"Units": "PROPCNTS"}, "Units PROPCNTS"),
        ({"CorrectedImage": ["DECY"]}, "not attenuation corrected"),
        ({"Units": "CNTS"}, "Philips"),
    ],
    ids=[
        "heavy",
        "zero-weight",
        "dose-in-mbq",
        "zero-dose",
        "injected-after-scan",
        "two-days",
        "half-life-in-hours",
        "decay-mode",
        "units",
        "no-attenuation-correction",
        "counts-without-factor",
    ],
)
def test_implausible_header_is_refused(header, words):
    with pytest.raises(FapisegError, match=words):
        suv_conversion(slices(**header))


def test_lbm_needs_height_and_sex():
    with pytest.raises(FapisegError, match="PatientSize"):
        suv_conversion(slices(PatientSize="170"), "lbm")
    with pytest.raises(FapisegError, match="PatientSex"):
        suv_conversion(slices(PatientSex="O"), "lbm")


def test_admin_needs_no_times():
    """ADMIN pixels refer to the injection: no scan or injection time is needed (uptake is then unknown)."""
    radio = {k: v for k, v in RADIO.items() if k != "RadiopharmaceuticalStartTime"}
    datasets = slices(DecayCorrection="ADMIN", radiopharmaceutical=radio)
    for ds in datasets:
        del ds.SeriesTime, ds.AcquisitionTime
    conv = suv_conversion(datasets)
    assert conv.uptake_time_min is None
    np.testing.assert_allclose(conv.factors, WEIGHT_KG * 1000.0 / DOSE_BQ, rtol=1e-12)
