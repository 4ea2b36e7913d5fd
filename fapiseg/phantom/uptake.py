"""FAPI biodistribution: each structure's SUV, and the physiological hot spots readers must not call.

FAPI tracers leave a low background (blood pool 1.2-2, liver 1-1.5, muscle about 1, fat and lung
0.3-0.5, marrow about 1) and are excreted by the kidneys (kidneys 3-6, bladder 10-40). Non-tumour
uptake that looks like disease: pancreas (2-6), the premenopausal uterus (3-10), salivary glands,
thyroid, degenerative joints (3-8; shoulders, hips, sacro-iliac and spinal facet joints), surgical
scars (a line, 2-5) and radiation fibrosis in lung or breast (diffuse, 2-4). :func:`add_hot_spots`
adds joints, scars and fibrosis to a patient's anatomy; :func:`assign_uptake` sets every structure's
SUV from the family's ranges; :func:`study_uptake` varies excretion and filling from scan to scan.
"""

from __future__ import annotations

import numpy as np

from fapiseg.phantom.anatomy import TISSUE_HU, Anatomy, Structure
from fapiseg.phantom.family import Family
from fapiseg.phantom.shapes import Capsules, Ellipsoid, Intersection, Wobble

#: Organs whose uptake the family's ``uptake_scale`` moves together (the background).
BACKGROUND = (
    "lung",
    "fat",
    "muscle",
    "soft_tissue",
    "bowel",
    "stomach",
    "liver",
    "spleen",
    "heart",
    "aorta",
    "blood_pool",
    "bone_marrow",
    "bone_cortical",
    "breast",
)


def assign_uptake(anatomy: Anatomy, family: Family, rng: np.random.Generator) -> None:
    """Set each structure's SUV: one level per organ and patient, a few percent apart between parts."""
    scale = rng.uniform(*family.uptake_scale)
    levels: dict[str, float] = {}
    for organ, (lo, hi) in family.uptake.items():
        levels[organ] = float(rng.uniform(lo, hi)) * (scale if organ in BACKGROUND else 1.0)
    levels["uterus"] = levels["uterus_pre"] if anatomy.premenopausal else levels["uterus_post"]
    levels["blood_pool"] = levels["aorta"] * rng.uniform(0.95, 1.05)
    for s in anatomy.structures:
        if s.name.startswith("renal_pelvis"):
            s.suv = levels["renal_pelvis"]
        elif s.organ in ("joint", "scar", "fibrosis"):
            continue  # drawn one by one in add_hot_spots
        else:
            s.suv = levels[s.organ] * float(rng.uniform(0.95, 1.05))


def add_hot_spots(anatomy: Anatomy, family: Family, rng: np.random.Generator) -> None:
    """Degenerative joints (more with age), surgical scars and radiation fibrosis, painted last."""
    _lm, reg = anatomy.landmarks, anatomy.regions
    candidates: list[tuple[str, np.ndarray, np.ndarray]] = []
    for side, sign in (("right", 1), ("left", -1)):
        head = reg[f"humeral_head_{side}"].centre
        candidates.append((f"shoulder_{side}", head + [-sign * 20, 0, 2], np.array([8, 12, 14])))
        candidates.append((f"acromioclavicular_{side}", head + [-sign * 14, 4, 30], np.array([8, 8, 7])))
        hip = reg[f"femoral_head_{side}"].centre
        candidates.append((f"hip_{side}", hip + [sign * 14, 0, 20], np.array([12, 11, 8])))
        sac = reg["sacrum"].centre
        candidates.append((f"sacroiliac_{side}", sac + [sign * 44, -4, 18], np.array([7, 8, 16])))
    spine = reg["vertebral_marrow"].spine  # type: ignore[attr-defined]
    for k in range(17):  # facet joints of the lumbar and thoracic spine
        z = (spine.lo[k] + spine.hi[k]) / 2 + (spine.hi[k] - spine.lo[k]) * 0.45
        y = float(spine.spine_y(z)) - spine.ry[k] - 11
        sign = 1 if rng.random() < 0.5 else -1
        candidates.append((f"facet_{spine.names[k]}", np.array([sign * 11.0, y, z]), np.array([6, 6, 7])))
    lo, hi = family.joint_count
    n = int(rng.integers(lo, hi + 1) * min(1.0, 0.4 + anatomy.age / 80))
    # Shoulders and hips wear most; facet joints are many but each is rarely hot.
    weights = np.array(
        [
            3.0 if c[0].startswith(("shoulder", "hip")) else 0.3 if c[0].startswith("facet") else 1.5
            for c in candidates
        ]
    )
    for k in rng.choice(
        len(candidates), size=min(n, len(candidates)), replace=False, p=weights / weights.sum()
    ):
        name, centre, radii = candidates[k]
        shape = Ellipsoid(centre, radii * rng.uniform(0.8, 1.2), wobble=Wobble.random(rng, 0.1))
        suv = float(rng.uniform(*family.uptake["joint"]))
        anatomy.structures.append(
            Structure(f"joint_{name}", "joint", shape, 0.0, 0.0, suv, 0.1, paints_ct=False)
        )
    if (
        anatomy.sex == "F"
        and rng.random() < family.scar_fraction
        or any(m.startswith("breast") for m in anatomy.missing)
    ):
        _add_scar(anatomy, family, rng)
    if rng.random() < family.fibrosis_fraction:
        _add_fibrosis(anatomy, family, rng)


def _add_scar(anatomy: Anatomy, family: Family, rng: np.random.Generator) -> None:
    """A surgical scar: a curved line under the skin of the breast or axilla (or the mastectomy site)."""
    reg = anatomy.regions
    removed = [m.split("_")[1] for m in anatomy.missing if m.startswith("breast")]
    side = removed[0] if removed else str(rng.choice(["left", "right"]))
    sign = 1 if side == "right" else -1
    breast = reg.get(f"breast_{side}_ellipsoid") or reg.get(f"mastectomy_{side}")
    if breast is None or (not removed and rng.random() < 0.4):
        axilla = reg[f"axilla_{side}"]
        c = axilla.centre + np.array([sign * 10, 10, -10])
        pts = c + np.array([[0, -25, 15], [sign * 8, 0, 0], [0, 25, -12]])
    elif removed:
        c = breast.centre - np.array([0, breast.radii[1] * 0.7, 0])  # flat chest wall
        pts = c + np.array([[-sign * 55, 0, -8], [0, 4, 0], [sign * 55, -8, 12]])
    else:
        c = breast.centre + np.array([0, breast.radii[1] * 0.55, breast.radii[2] * 0.2])
        pts = c + np.array([[-sign * 25, -4, 4], [0, 2, 0], [sign * 25, -4, -6]])
    hu, _ = TISSUE_HU["scar"]
    suv = float(rng.uniform(*family.uptake["scar"]))
    radius = float(rng.uniform(3.5, 5.0))
    anatomy.structures.append(Structure("scar", "scar", Capsules(pts, radius), hu, 8.0, suv, 0.15))


def _add_fibrosis(anatomy: Anatomy, family: Family, rng: np.random.Generator) -> None:
    """Radiation fibrosis: a diffuse patch in the anterior lung behind a treated breast, or in the breast."""
    side = str(rng.choice(["left", "right"]))
    sign = 1 if side == "right" else -1
    reg = anatomy.regions
    suv = float(rng.uniform(*family.uptake["fibrosis"]))
    breast = reg.get(f"breast_{side}_ellipsoid")
    if breast is not None and rng.random() < 0.35:
        patch = Ellipsoid(
            breast.centre + [0, -breast.radii[1] * 0.2, 0],
            breast.radii * [0.45, 0.35, 0.45],
            wobble=Wobble.random(rng, 0.3, 4, 3.0),
        )
        anatomy.structures.append(
            Structure(
                "fibrosis_breast",
                "fibrosis",
                Intersection([patch, reg[f"breast_{side}"]]),
                30.0,
                10.0,
                suv,
                0.25,
            )
        )
        return
    lung = reg[f"lung_{side}"]
    ell = lung.shapes[0]  # the lung's ellipsoid
    c = ell.centre + np.array([sign * 15, ell.radii[1] * 0.55, ell.radii[2] * 0.25])
    patch = Ellipsoid(
        c, np.array([30, 16, 38]) * rng.uniform(0.8, 1.2), wobble=Wobble.random(rng, 0.3, 4, 3.0)
    )
    hu, tex = TISSUE_HU["fibrosis"]
    anatomy.structures.append(
        Structure("fibrosis_lung", "fibrosis", Intersection([patch, lung]), hu, tex, suv, 0.25)
    )


def study_uptake(structures: list[Structure], rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Per-scan SUV and ellipsoid scale of every structure (bladder filling, excretion, cycle)."""
    suvs, scales = [], []
    for s in structures:
        suv = (
            s.suv * float(np.clip(np.exp(rng.normal(0.0, s.study_jitter)), 0.5, 1.6))
            if s.study_jitter
            else s.suv
        )
        if s.visible_share < 1.0 and rng.random() >= s.visible_share:
            suv = min(suv, 1.0)  # empty between boluses: soft-tissue level
        suvs.append(suv)
        scales.append(
            float(rng.uniform(1 - s.volume_jitter, 1 + s.volume_jitter)) ** (1 / 3)
            if s.volume_jitter
            else 1.0
        )
    return suvs, scales
