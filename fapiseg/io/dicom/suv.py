"""SUV factors from a PET series header, by the QIBA vendor-neutral procedure.

SUV = activity concentration (Bq/mL) x body size / injected dose decayed to the time the pixel values
refer to. Body size is the weight in g (SUVbw), the Janmahasatian lean body mass in g (SUL, ``lbm``) or
the Du Bois body surface area in cm^2 (``bsa``). The decay reference depends on DecayCorrection:

- ``START``: pixels are decay corrected to the scan start. Scan start is SeriesDate/SeriesTime when it is
  not after the earliest AcquisitionDate/AcquisitionTime of the series, else (a post-processed series)
  GE's private scan datetime (0009,xx0D) when present, else the earliest acquisition.
- ``ADMIN``: pixels are decay corrected to the injection; the dose is used undecayed.
- ``NONE``: pixels are not decay corrected; each slice's dose is decayed to its own frame (its
  AcquisitionDate/AcquisitionTime), averaged over the frame duration when ActualFrameDuration is given.

Units ``BQML`` are Bq/mL; ``CNTS`` (Philips) use the private SUVbw scale factor (7053,xx00), or the
private activity scale (7053,xx09) to Bq/mL; ``GML`` already is SUVbw. Every missing or implausible
header field stops the conversion with one line that names it: a wrong SUV is worse than none.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM

from fapiseg.errors import FapisegError

SUV_TYPES = ("bw", "lbm", "bsa")
WEIGHT_RANGE_KG = (20.0, 300.0)
HEIGHT_RANGE_M = (0.5, 2.5)
#: Injected activities outside this range are unit errors (MBq or kBq written where DICOM wants Bq).
DOSE_RANGE_BQ = (1e6, 5e10)
HALF_LIFE_RANGE_S = (60.0, 30 * 86400.0)
MAX_UPTAKE_S = 24 * 3600.0
#: An injection time of day this much after the scan's is read as the evening before (scan after midnight).
MIDNIGHT_ROLLBACK_S = 12 * 3600.0
GE_PRIVATE = "GEMS_PETD_01"
PHILIPS_PRIVATE = "Philips PET Private Group"


@dataclass
class SuvConversion:
    """Per-slice factors from rescaled pixel values to SUV, and the header facts behind them.

    ``factors[k]`` multiplies slice ``k`` (geometric order) after RescaleSlope/Intercept. Nothing here
    identifies the patient (no names, dates or UIDs).
    """

    suv_type: str
    units: str
    factors: np.ndarray
    decay_correction: str | None = None
    dose_mbq: float | None = None
    uptake_time_min: float | None = None
    half_life_s: float | None = None
    weight_kg: float | None = None
    scan_time_source: str | None = None
    notes: list[str] = field(default_factory=list)


def suv_conversion(datasets: list[Dataset], suv_type: str = "bw") -> SuvConversion:
    """The SUV factors of a PET series whose slices are given in geometric order."""
    if suv_type not in SUV_TYPES:
        raise FapisegError(f"unknown SUV type {suv_type!r}; choose one of {', '.join(SUV_TYPES)}")
    first = datasets[0]
    units = str(first.get("Units", "") or "").upper()
    if not units:
        raise FapisegError("Units (0054,1001) is missing: cannot tell Bq/mL from counts or SUV")
    if any(str(ds.get("Units", "")).upper() != units for ds in datasets):
        raise FapisegError("Units (0054,1001) differs between slices")
    _check_corrections(first)
    conv = SuvConversion(suv_type, units, np.ones(len(datasets)))
    if units == "GML":
        if str(first.get("SUVType", "BW") or "BW").upper() != "BW":
            raise FapisegError(f"Units GML with SUVType {first.SUVType}: only SUVbw images can be converted")
        conv.factors[:] = 1.0 if suv_type == "bw" else _size_per_weight(first, suv_type, conv)
        return conv
    if units == "CNTS":
        philips_suv = [_private(ds, 0x7053, PHILIPS_PRIVATE, 0x00) for ds in datasets]
        if all(v is not None for v in philips_suv):
            conv.factors = np.array(philips_suv, dtype=np.float64)
            _check_positive(conv.factors, "Philips SUV scale factor (7053,xx00)")
            if suv_type != "bw":
                conv.factors *= _size_per_weight(first, suv_type, conv)
            return conv
        activity_scale = [_private(ds, 0x7053, PHILIPS_PRIVATE, 0x09) for ds in datasets]
        if not all(v is not None for v in activity_scale):
            raise FapisegError(
                "Units CNTS without the Philips private SUV scale factor (7053,xx00) or activity "
                "concentration scale factor (7053,xx09): counts cannot be converted to SUV"
            )
        to_bqml = np.array(activity_scale, dtype=np.float64)
        _check_positive(to_bqml, "Philips activity concentration scale factor (7053,xx09)")
        conv.notes.append("CNTS converted to Bq/mL with the Philips activity concentration scale factor")
    elif units == "BQML":
        to_bqml = np.ones(len(datasets))
    else:
        raise FapisegError(f"Units {units} cannot be converted to SUV (BQML, CNTS or GML expected)")
    conv.factors = to_bqml * _body_size(first, suv_type, conv) / _decayed_dose_bq(datasets, conv)
    return conv


def _decayed_dose_bq(datasets: list[Dataset], conv: SuvConversion) -> np.ndarray:
    """Injected dose decayed to the time each slice's values refer to (Bq), per slice."""
    first = datasets[0]
    info = _radiopharmaceutical(first)
    mode = str(first.get("DecayCorrection", "") or "").upper()
    if mode not in ("START", "ADMIN", "NONE"):
        raise FapisegError(
            "DecayCorrection (0054,1102) is missing"
            if not mode
            else f"DecayCorrection {mode} is not one of START, ADMIN, NONE"
        )
    conv.decay_correction = mode
    dose = _number(info, "RadionuclideTotalDose", "(0018,1074) in RadiopharmaceuticalInformationSequence")
    if dose <= 0:
        raise FapisegError(f"RadionuclideTotalDose is {dose:g} Bq; the injected activity must be positive")
    if not DOSE_RANGE_BQ[0] <= dose <= DOSE_RANGE_BQ[1]:
        raise FapisegError(
            f"RadionuclideTotalDose {dose:g} Bq is implausible (expected {DOSE_RANGE_BQ[0]:g}-"
            f"{DOSE_RANGE_BQ[1]:g} Bq); is it in MBq or kBq instead of Bq?"
        )
    conv.dose_mbq = dose / 1e6
    if mode == "ADMIN" and not _has_scan_time(datasets):
        return np.full(len(datasets), dose)  # the scan time only serves the uptake report here
    scan, conv.scan_time_source = scan_datetime(datasets)
    injection = _injection_datetime(first, info, scan)
    if injection is not None:
        uptake_s = (scan - injection).total_seconds()
        if uptake_s < 0 or uptake_s > MAX_UPTAKE_S:
            raise FapisegError(
                f"uptake time (scan start minus RadiopharmaceuticalStartTime) is {uptake_s / 60:.1f} min; "
                "expected 0-24 h: check injection and series times (de-identification may shift dates differently)"
            )
        conv.uptake_time_min = uptake_s / 60.0
    if mode == "ADMIN":
        return np.full(len(datasets), dose)
    if injection is None:
        raise FapisegError(
            "injection time is missing (RadiopharmaceuticalStartDateTime (0018,1078) or "
            "RadiopharmaceuticalStartTime (0018,1072))"
        )
    half_life = _number_in_range(
        info,
        "RadionuclideHalfLife",
        "(0018,1075) in RadiopharmaceuticalInformationSequence",
        HALF_LIFE_RANGE_S,
        "s",
    )
    conv.half_life_s = half_life
    if mode == "START":
        return np.full(len(datasets), dose * 2.0 ** (-(scan - injection).total_seconds() / half_life))
    decay_constant = math.log(2.0) / half_life
    doses = np.empty(len(datasets))
    for k, ds in enumerate(datasets):
        start = _datetime(
            ds, "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", fallback_date=scan.date()
        )
        if start is None:
            raise FapisegError(
                "AcquisitionTime (0008,0032) is missing on a slice; DecayCorrection NONE needs each frame's start"
            )
        elapsed = _seconds_between(start, injection)
        if elapsed < 0 or elapsed > MAX_UPTAKE_S:
            raise FapisegError(
                f"slice acquisition starts {elapsed / 60:.1f} min after injection; expected 0-24 h"
            )
        doses[k] = dose * math.exp(-decay_constant * elapsed) * _frame_average(ds, decay_constant)
    return doses


def scan_datetime(datasets: list[Dataset]) -> tuple[dt.datetime, str]:
    """QIBA scan start: SeriesDate/Time unless after the earliest acquisition; returns it and its source."""
    first = datasets[0]
    series = _datetime(first, "SeriesDate", "SeriesTime")
    acquisitions = [
        a
        for a in (
            _datetime(
                ds,
                "AcquisitionDate",
                "AcquisitionTime",
                "AcquisitionDateTime",
                fallback_date=series.date() if series else None,
            )
            for ds in datasets
        )
        if a
    ]
    earliest = min(acquisitions, key=_naive) if acquisitions else None
    if series is not None and (earliest is None or _seconds_between(series, earliest) <= 0):
        return series, "SeriesDate/SeriesTime"
    ge_scan = _private(first, 0x0009, GE_PRIVATE, 0x0D)
    if ge_scan:
        return _parse_dt(
            str(ge_scan), "GE private scan datetime (0009,xx0D)"
        ), "GE private scan datetime (0009,xx0D)"
    if earliest is not None:
        return earliest, "earliest AcquisitionDate/AcquisitionTime"
    raise FapisegError(
        "SeriesTime (0008,0031) and AcquisitionTime (0008,0032) are missing: scan start unknown"
    )


def _has_scan_time(datasets: list[Dataset]) -> bool:
    return any(
        str(ds.get(key, "") or "").strip()
        for ds in datasets
        for key in ("SeriesTime", "AcquisitionTime", "AcquisitionDateTime")
    )


def _injection_datetime(first: Dataset, info: Dataset, scan: dt.datetime) -> dt.datetime | None:
    """Injection time: the DT field, else the TM field on the series date (across midnight if needed)."""
    start_dt = str(info.get("RadiopharmaceuticalStartDateTime", "") or "").strip()
    if start_dt:
        injection = _parse_dt(start_dt, "RadiopharmaceuticalStartDateTime (0018,1078)")
        return _align_zone(injection, scan)
    start_tm = str(info.get("RadiopharmaceuticalStartTime", "") or "").strip()
    if start_tm:
        date = str(first.get("SeriesDate", "") or "").strip()
        day = DA(date) if date else scan.date()
        injection = dt.datetime.combine(day, _parse_tm(start_tm, "RadiopharmaceuticalStartTime (0018,1072)"))
        injection = injection.replace(tzinfo=scan.tzinfo)
        if (injection - scan).total_seconds() > MIDNIGHT_ROLLBACK_S:
            injection -= dt.timedelta(days=1)  # injected before midnight, scanned after
        return injection
    ge_admin = _private(first, 0x0009, GE_PRIVATE, 0x3B)
    if ge_admin:
        return _align_zone(_parse_dt(str(ge_admin), "GE private administration datetime (0009,xx3B)"), scan)
    return None


def _body_size(first: Dataset, suv_type: str, conv: SuvConversion) -> float:
    """Weight in g (bw), Janmahasatian lean body mass in g (lbm) or Du Bois body surface area in cm^2 (bsa)."""
    weight = _number_in_range(first, "PatientWeight", "(0010,1030)", WEIGHT_RANGE_KG, "kg")
    conv.weight_kg = weight
    if suv_type == "bw":
        return weight * 1000.0
    height = _number_in_range(
        first, "PatientSize", f"(0010,1020), needed for SUV{suv_type}", HEIGHT_RANGE_M, "m"
    )
    if suv_type == "bsa":
        return dubois_bsa_m2(weight, height) * 1e4
    sex = str(first.get("PatientSex", "") or "").upper()
    if sex not in ("M", "F"):
        raise FapisegError(f"PatientSex is {sex or 'missing'}; the Janmahasatian lean body mass needs M or F")
    return janmahasatian_lbm_kg(weight, height, sex) * 1000.0


def _size_per_weight(first: Dataset, suv_type: str, conv: SuvConversion) -> float:
    """Body size of ``suv_type`` over body weight in g: turns an SUVbw factor into an SUVlbm/SUVbsa one."""
    size = _body_size(first, suv_type, conv)
    return size / (conv.weight_kg * 1000.0)


def janmahasatian_lbm_kg(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg), Janmahasatian et al. 2005, as in the QIBA FDG-PET profile (Appendix H)."""
    bmi = weight_kg / height_m**2
    if sex == "M":
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)


def dubois_bsa_m2(weight_kg: float, height_m: float) -> float:
    """Body surface area (m^2), Du Bois & Du Bois 1916: 0.007184 W^0.425 H_cm^0.725."""
    return 0.007184 * weight_kg**0.425 * (height_m * 100.0) ** 0.725


def _frame_average(ds: Dataset, decay_constant: float) -> float:
    """Mean of exp(-lambda t) over the frame (ActualFrameDuration, ms) relative to its start; 1 without it."""
    duration_ms = ds.get("ActualFrameDuration")
    if not duration_ms:
        return 1.0
    x = decay_constant * float(duration_ms) / 1000.0
    return (1.0 - math.exp(-x)) / x


def _check_corrections(first: Dataset) -> None:
    corrected = [str(c).upper() for c in (first.get("CorrectedImage") or [])]
    if corrected and "ATTN" not in corrected:
        raise FapisegError(
            "CorrectedImage (0028,0051) lacks ATTN: the PET is not attenuation corrected, SUV is meaningless"
        )


def _radiopharmaceutical(first: Dataset) -> Dataset:
    seq = first.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        raise FapisegError(
            "RadiopharmaceuticalInformationSequence (0054,0016) is missing: no dose, half-life or injection time"
        )
    return seq[0]


def _number(ds: Dataset, keyword: str, where: str) -> float:
    value = ds.get(keyword)
    if value is None or str(value).strip() == "":
        raise FapisegError(f"{keyword} {where} is missing")
    number = float(value)
    if keyword != "RadionuclideTotalDose" and number <= 0:
        raise FapisegError(f"{keyword} {where} is {number:g}; a positive value is required")
    return number


def _number_in_range(ds: Dataset, keyword: str, where: str, bounds: tuple[float, float], unit: str) -> float:
    value = _number(ds, keyword, where)
    if not bounds[0] <= value <= bounds[1]:
        raise FapisegError(
            f"{keyword} {value:g} {unit} is implausible (expected {bounds[0]:g}-{bounds[1]:g} {unit})"
        )
    return value


def _check_positive(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise FapisegError(f"{what} is not positive on every slice")


def _private(ds: Dataset, group: int, creator: str, offset: int):
    """Value of a private element by creator name (whitespace and case tolerant), or None."""
    for element in range(0x10, 0x100):
        owner = ds.get((group, element))
        if owner is not None and str(owner.value).strip().upper() == creator.upper():
            item = ds.get((group, (element << 8) | offset))
            if item is None or item.value in (None, b"", ""):
                return None
            value = item.value
            if isinstance(value, bytes):  # UN in implicit files
                value = value.decode("ascii", "ignore").strip("\x00 ")
            return value
    return None


def _datetime(
    ds: Dataset,
    date_key: str,
    time_key: str,
    datetime_key: str | None = None,
    fallback_date: dt.date | None = None,
) -> dt.datetime | None:
    """A DA+TM pair (or a DT) as a datetime, aware when TimezoneOffsetFromUTC is given."""
    if datetime_key and str(ds.get(datetime_key, "") or "").strip():
        return _parse_dt(str(ds.get(datetime_key)), datetime_key)
    time = str(ds.get(time_key, "") or "").strip()
    if not time:
        return None
    date = str(ds.get(date_key, "") or "").strip()
    day = DA(date) if date else fallback_date
    if day is None:
        return None
    value = dt.datetime.combine(day, _parse_tm(time, time_key))
    zone = _zone(ds)
    return value.replace(tzinfo=zone) if zone else value


def _zone(ds: Dataset) -> dt.timezone | None:
    offset = str(ds.get("TimezoneOffsetFromUTC", "") or "").strip()
    if not offset:
        return None
    sign = -1 if offset.startswith("-") else 1
    digits = offset.lstrip("+-")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def _parse_dt(text: str, name: str) -> dt.datetime:
    try:
        value = DT(text.strip())
    except ValueError:
        raise FapisegError(f"{name} {text.strip()!r} is not a DICOM date-time") from None
    return dt.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
    )


def _parse_tm(text: str, name: str) -> dt.time:
    try:
        value = TM(text.strip())
    except ValueError:
        raise FapisegError(f"{name} {text.strip()!r} is not a DICOM time") from None
    return dt.time(value.hour, value.minute, value.second, value.microsecond)


def _align_zone(value: dt.datetime, reference: dt.datetime) -> dt.datetime:
    """Give ``value`` the time zone convention of ``reference`` so that they subtract correctly.

    Both aware: converted to the reference's zone. One naive: the offset is taken to be the local zone of
    the naive times (DICOM DA/TM fields are local time unless TimezoneOffsetFromUTC says otherwise).
    """
    if value.tzinfo is not None and reference.tzinfo is not None:
        return value.astimezone(reference.tzinfo)
    return value.replace(tzinfo=reference.tzinfo)


def _naive(value: dt.datetime) -> dt.datetime:
    return (
        value.replace(tzinfo=None)
        if value.tzinfo is None
        else value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    )


def _seconds_between(later: dt.datetime, earlier: dt.datetime) -> float:
    """``later - earlier`` in s: in UTC when both carry an offset, else both read as the same local time."""
    if later.tzinfo is not None and earlier.tzinfo is not None:
        return (later - earlier).total_seconds()
    return (later.replace(tzinfo=None) - earlier.replace(tzinfo=None)).total_seconds()
