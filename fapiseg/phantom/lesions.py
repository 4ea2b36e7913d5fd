"""FAP-avid lesions: where they grow, their irregular shapes and their uptake.

Breast cancer spreads in a known pattern, and lesions are placed accordingly: primaries in a breast,
nodes in the axilla, beside the sternum (internal mammary) and in the mediastinum, metastases inside
bone marrow, liver and lung. A candidate position is accepted when the lesion's bounding sphere (at
its largest size over the therapy course, plus a margin) stays in tissue that can hold it and keeps
clear of other lesions and of physiological hot spots; some are deliberately drawn close to a hot spot
(a liver metastasis by the right kidney, a high axillary node by the shoulder joint, a bone metastasis
by a degenerative joint) so that a model must use the CT to tell them apart.

Shapes are star-shaped around their centre: an ellipsoid whose radius in each direction is bent by
smooth lobes (``lobulated``, family ``fapi``) or sharp spikes (``spiculated``, family ``shifted``).
Uptake is the true activity: SUVmax at the hottest point, falling towards the edge, with a necrotic
core or a bright rim in some larger lesions and a mild texture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fapiseg.phantom.anatomy import BONE, LABEL_OF, PHYSIOLOGICAL_HOT, Anatomy
from fapiseg.phantom.family import Family
from fapiseg.phantom.shapes import Wobble, fibonacci_sphere, rotation_matrix

#: Diameter ranges (mm, log-uniform) and CT numbers (HU) of each lesion kind.
KINDS: dict[str, dict] = {
    "breast_primary": {"organ": "breast", "diameter": (12.0, 40.0), "hu": (35.0, 55.0)},
    "axillary_node": {"organ": "axilla", "diameter": (8.0, 26.0), "hu": (30.0, 50.0)},
    "internal_mammary_node": {"organ": "internal_mammary", "diameter": (5.0, 13.0), "hu": (30.0, 50.0)},
    "mediastinal_node": {"organ": "mediastinum", "diameter": (8.0, 22.0), "hu": (30.0, 50.0)},
    "supraclavicular_node": {"organ": "supraclavicular", "diameter": (7.0, 20.0), "hu": (30.0, 50.0)},
    "bone_metastasis": {"organ": "bone", "diameter": (8.0, 28.0), "hu": (0.0, 0.0)},
    "liver_metastasis": {"organ": "liver", "diameter": (8.0, 35.0), "hu": (22.0, 40.0)},
    "lung_metastasis": {"organ": "lung", "diameter": (4.0, 18.0), "hu": (25.0, 45.0)},
}
#: Minimum gap (mm) between two lesions' bounding spheres and to a physiological hot spot.
LESION_GAP_MM = 9.0
HOT_GAP_MM = 4.0


@dataclass
class LesionState:
    """A lesion at one study: present or not, its size relative to baseline, its true SUVmax."""

    present: bool
    scale: float
    suv_max: float


@dataclass
class Lesion:
    """One tracked lesion of a patient (body frame, baseline size); ``states`` holds one entry per study."""

    track_id: int
    kind: str
    organ: str
    centre: np.ndarray
    radii: np.ndarray
    rotation: np.ndarray
    outline: Wobble
    spikes: np.ndarray | None
    pattern: str
    core: float
    hu: float
    texture: Wobble
    states: list[LesionState] = field(default_factory=list)

    @property
    def diameter_mm(self) -> float:
        """Nominal baseline diameter: twice the largest semi-axis."""
        return float(2 * self.radii.max())

    def bound_radius(self, scale: float = 1.0) -> float:
        """Radius of a sphere that holds the lesion at ``scale``."""
        spike = 0.0 if self.spikes is None else 0.45
        return float(self.radii.max() * scale * (1 + self.outline.bound + spike))

    @property
    def max_scale(self) -> float:
        return max((s.scale for s in self.states if s.present), default=1.0)

    def radius_field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, scale: float) -> np.ndarray:
        """Normalised radius: below 1 inside the lesion, 0 at its centre (body-frame points)."""
        d = np.stack([x - self.centre[0], y - self.centre[1], z - self.centre[2]], axis=-1)
        local = (d @ self.rotation) / (self.radii * scale)
        rho = np.sqrt((local**2).sum(axis=-1)) + 1e-6
        u = local / rho[..., None]
        boundary = 1.0 + self.outline(u[..., 0], u[..., 1], u[..., 2])
        if self.spikes is not None:
            boundary = boundary + 0.45 * (np.clip(u @ self.spikes.T, 0, 1) ** 24).sum(axis=-1)
        return rho / boundary

    def activity(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, rho: np.ndarray, suv_max: float
    ) -> np.ndarray:
        """True SUV inside the lesion (``rho`` < 1), scaled so that its maximum is ``suv_max``."""
        r = np.clip(rho, 0, 1)
        if self.pattern == "homogeneous":
            profile = 1.0 - 0.35 * r * r
        else:  # necrotic core (wide) or rim (narrow bright shell)
            width = 0.08 if self.pattern == "necrotic" else 0.05
            edge = 0.45 if self.pattern == "necrotic" else 0.62
            profile = (self.core + (1 - self.core) / (1 + np.exp(-(r - edge) / width))) * (1 - 0.25 * r * r)
        d = np.stack([x - self.centre[0], y - self.centre[1], z - self.centre[2]], axis=-1) / 8.0
        profile = profile * (1 + self.texture(d[..., 0], d[..., 1], d[..., 2]))
        inside = rho < 1
        top = float(profile[inside].max()) if inside.any() else 1.0
        return (suv_max * profile / top).astype(np.float32)


@dataclass
class LesionPlan:
    """A lesion before placement: kind, nominal diameter, baseline SUVmax (placement fills in the rest)."""

    kind: str
    diameter_mm: float
    suv_max: float
    states: list[LesionState] = field(default_factory=list)
    near_hot_spot: bool = False


def plan_lesions(anatomy: Anatomy, family: Family, rng: np.random.Generator) -> list[LesionPlan]:
    """Kinds, sizes and SUVmax of a positive patient's baseline lesions."""
    lo, hi = family.lesion_counts
    n = int(rng.integers(lo, hi + 1))
    has_breast = any(k.startswith("breast_") for k in anatomy.regions)
    kinds: list[str] = []
    if rng.random() < 0.45:  # loco-regional disease: primary and its nodes
        if has_breast:
            kinds.append("breast_primary")
        kinds += list(
            rng.choice(
                [
                    "axillary_node",
                    "axillary_node",
                    "internal_mammary_node",
                    "mediastinal_node",
                    "supraclavicular_node",
                ],
                size=max(n - len(kinds), 1),
            )
        )
    else:  # metastatic
        # bone is the commonest distant site of breast cancer, then liver and lung
        pool = (
            ["bone_metastasis"] * 6
            + ["liver_metastasis"] * 3
            + ["lung_metastasis"] * 2
            + ["axillary_node", "mediastinal_node", "supraclavicular_node"]
            + (["breast_primary"] if has_breast else [])
        )
        kinds += ["bone_metastasis"] + list(rng.choice(pool, size=max(n - 1, 1)))
    return [draw_plan(str(kind), family, rng) for kind in kinds]


def draw_plan(kind: str, family: Family, rng: np.random.Generator) -> LesionPlan:
    lo, hi = KINDS[kind]["diameter"]
    if family.name == "fapi" and rng.random() < 0.85:
        lo = max(lo, 8.0)  # most lesions at least 8 mm, so that a small model can learn them
    d = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return LesionPlan(kind, d, float(rng.uniform(*family.lesion_suv)), near_hot_spot=bool(rng.random() < 0.4))


def draw_lesion(
    plan: LesionPlan, track_id: int, centre: np.ndarray, family: Family, rng: np.random.Generator
) -> Lesion:
    """The lesion's shape, uptake pattern and CT number at a chosen centre."""
    r = plan.diameter_mm / 2
    radii = r * np.sort(rng.uniform(0.7, 1.0, 3))[::-1]
    radii[0] = r
    rotation = rotation_matrix(rng.uniform(-180, 180, 3))
    if family.lesion_shape == "spiculated":
        outline = Wobble.random(rng, 0.06, 2, 1.5)
        spikes = fibonacci_sphere(int(rng.integers(6, 14)))
        spikes = spikes @ rotation_matrix(rng.uniform(-180, 180, 3)).T
    else:
        outline = Wobble.random(rng, rng.uniform(0.08, 0.25), int(rng.integers(2, 5)), rng.uniform(2.0, 3.5))
        spikes = None
    pattern = "homogeneous"
    if plan.diameter_mm >= 18 and rng.random() < 0.45:
        pattern = str(rng.choice(["necrotic", "rim"]))
    if plan.kind == "bone_metastasis":
        hu = float(rng.choice([rng.uniform(450, 900), rng.uniform(60, 140), 260.0], p=[0.5, 0.3, 0.2]))
    else:
        hu = float(rng.uniform(*KINDS[plan.kind]["hu"]))
    organ = {
        "axilla": "fat",
        "internal_mammary": "fat",
        "mediastinum": "fat",
        "supraclavicular": "fat",
        "bone": "bone_marrow",
    }.get(KINDS[plan.kind]["organ"], KINDS[plan.kind]["organ"])
    return Lesion(
        track_id,
        plan.kind,
        organ,
        np.asarray(centre, float),
        radii,
        rotation,
        outline,
        spikes,
        pattern,
        float(rng.uniform(0.15, 0.4)),
        hu,
        Wobble.random(rng, 0.12, 3, 1.0),
        list(plan.states),
    )


# -- placement ----------------------------------------------------------------------------------------------

_SOFT = ("fat", "muscle", "soft_tissue")
_FORBIDDEN = {LABEL_OF[o] for o in PHYSIOLOGICAL_HOT} | {
    LABEL_OF[o] for o in ("aorta", "heart", "blood_pool", "airway", "spinal_canal")
}


def place_lesions(
    anatomy: Anatomy,
    plans: list[LesionPlan],
    family: Family,
    rng: np.random.Generator,
    z_range: tuple[float, float],
    first_track_id: int = 1,
    existing: list[Lesion] | None = None,
) -> list[Lesion]:
    """Place planned lesions in the body; a plan that finds no room after many tries is dropped."""
    placed: list[Lesion] = list(existing or [])
    out: list[Lesion] = []
    track = first_track_id
    for plan in sorted(plans, key=lambda p: -p.diameter_mm):
        max_scale = max([s.scale for s in plan.states if s.present] + [1.0])
        centre = _find_centre(anatomy, plan, max_scale, placed, rng, z_range)
        if centre is None:
            continue
        lesion = draw_lesion(plan, track, centre, family, rng)
        track += 1
        placed.append(lesion)
        out.append(lesion)
    return sorted(out, key=lambda les: les.track_id)


def _region(
    anatomy: Anatomy, kind: str, near: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """Body-frame box to sample a kind's centres from (near a hot spot when asked and possible)."""
    reg, lm = anatomy.regions, anatomy.landmarks
    side = str(rng.choice(["left", "right"]))
    sign = 1 if side == "right" else -1
    if kind == "breast_primary":
        sides = [s for s in ("left", "right") if f"breast_{s}" in reg]
        if not sides:
            return None
        return reg[f"breast_{rng.choice(sides)}"].bounds()
    if kind == "axillary_node":
        box = reg[f"axilla_{side}"].bounds()
        shoulder = [s.shape for s in anatomy.structures if s.name == f"joint_shoulder_{side}"]
        if near and shoulder:  # between the axilla and a hot shoulder joint
            c = shoulder[0].centre
            return np.minimum(c - [45, 40, 55], box[1]), c + [45, 40, 0]
        if near:  # high in the axilla, by the shoulder
            lo, hi = box[0].copy(), box[1].copy()
            lo[2] = hi[2] - 0.4 * (hi[2] - lo[2])
            return lo, hi
        return box
    if kind == "supraclavicular_node":  # above the clavicle, beside the thyroid
        thyroid = next(s.shape for s in anatomy.structures if s.organ == "thyroid")
        lo, hi = thyroid.bounds()
        c = (lo + hi) / 2
        return np.array([sign * 28 - 22, c[1] - 30, lo[2] - 25]), np.array(
            [sign * 28 + 22, c[1] + 15, hi[2] + 10]
        )
    if kind == "internal_mammary_node":
        st = next(s.shape for s in anatomy.structures if s.name == "sternum")
        c, r = st.centre, st.radii
        return (
            np.array([sign * 24 - 8, c[1] - 16, c[2] - 0.7 * r[2]]),
            np.array([sign * 24 + 8, c[1] - 2, c[2] + 0.6 * r[2]]),
        )
    if kind == "mediastinal_node":
        tr = next(s.shape for s in anatomy.structures if s.name == "trachea")
        y = float(np.interp(lm["carina"], tr.z, tr.y))
        return np.array([-35, y - 15, lm["carina"] - 55]), np.array([35, y + 45, lm["carina"] + 45])
    if kind == "liver_metastasis":
        if near and "kidney_right" in reg:
            k = reg["kidney_right"]
            top = k.centre + np.array([0, 0, k.radii[2] * 0.6])
            return top - [40, 40, 25], top + [40, 40, 45]
        return reg["liver"].shapes[0].bounds()
    if kind == "lung_metastasis":
        return reg[f"lung_{side}"].shapes[0].bounds()
    if kind == "bone_metastasis":
        joints = [s.shape for s in anatomy.structures if s.organ == "joint"]
        if near and joints:
            c = joints[int(rng.integers(len(joints)))].centre
            return c - 35, c + 35
        site = str(rng.choice(["spine", "spine", "spine", "ilium", "sacrum", "femur", "humerus", "sternum"]))
        if site == "spine":
            return reg["vertebral_marrow"].bounds()
        if site == "ilium":
            return reg[f"ilium_{side}"].bounds()
        if site == "sacrum":
            return reg["sacrum"].bounds()
        if site == "femur":
            return reg[f"femoral_head_{side}"].bounds()
        if site == "humerus":
            return reg[f"humeral_head_{side}"].bounds()
        st = next(s.shape for s in anatomy.structures if s.name == "sternal_marrow")
        return st.bounds()
    raise ValueError(f"unknown lesion kind {kind!r}")


def _hot_target_points(anatomy: Anatomy, names: tuple[str, ...]) -> np.ndarray:
    pts = [np.mean(s.shape.bounds(), axis=0) for s in anatomy.structures if s.name.startswith(names)]
    return np.array(pts).reshape(-1, 3)


def _hot_targets(anatomy: Anatomy, kind: str) -> np.ndarray | None:
    """Centres of the physiological hot spots a lesion of ``kind`` is drawn towards when placed 'near'."""
    if kind == "liver_metastasis":
        return _hot_target_points(anatomy, ("kidney_right",))
    if kind == "axillary_node":
        joints = _hot_target_points(anatomy, ("joint_shoulder", "joint_acromioclavicular"))
        return (
            joints
            if len(joints)
            else _hot_target_points(anatomy, ("humeral_head_right", "humeral_head_left"))
        )
    if kind == "bone_metastasis":
        return _hot_target_points(anatomy, ("joint_",))
    if kind == "supraclavicular_node":
        return _hot_target_points(anatomy, ("thyroid", "submandibular"))
    return None


def _find_centre(
    anatomy: Anatomy,
    plan: LesionPlan,
    max_scale: float,
    placed: list[Lesion],
    rng: np.random.Generator,
    z_range: tuple[float, float],
    tries: int = 6,
) -> np.ndarray | None:
    """A centre whose bounding sphere fits the kind's tissue rules, or None."""
    r_bound = plan.diameter_mm / 2 * max_scale * 1.3
    dirs = fibonacci_sphere(26)
    shells = np.concatenate([dirs * r_bound, dirs * 0.55 * r_bound])
    hot_shell = dirs * (r_bound + HOT_GAP_MM)
    for attempt in range(tries):
        near = plan.near_hot_spot and attempt < tries // 2
        box = _region(anatomy, plan.kind, near, rng)
        if box is None:
            return None
        lo, hi = box
        lo, hi = lo.copy(), hi.copy()
        lo[2], hi[2] = max(lo[2], z_range[0] + r_bound), min(hi[2], z_range[1] - r_bound)
        if np.any(hi <= lo):
            continue
        cands = rng.uniform(lo, hi, size=(96, 3))
        targets = _hot_targets(anatomy, plan.kind) if near else None
        if targets is not None and len(targets):  # the closest feasible centre to the hot spot wins
            gaps = np.linalg.norm(cands[:, None, :] - targets[None, :, :], axis=2).min(axis=1)
            cands = cands[np.argsort(gaps)]
        centre_labels = anatomy.labels_at(cands[:, 0], cands[:, 1], cands[:, 2])
        ok = np.isin(centre_labels, _centre_labels(plan.kind))
        for c in cands[ok]:
            if any(
                np.linalg.norm(c - les.centre) < r_bound + les.bound_radius(les.max_scale) + LESION_GAP_MM
                for les in placed
            ):
                continue
            pts = c + shells
            labels = anatomy.labels_at(pts[:, 0], pts[:, 1], pts[:, 2])
            hot = c + hot_shell
            hot_labels = anatomy.labels_at(hot[:, 0], hot[:, 1], hot[:, 2])
            if np.isin(hot_labels, list(_FORBIDDEN)).any() or np.isin(labels, list(_FORBIDDEN)).any():
                continue
            if _fits(plan.kind, labels, anatomy, pts):
                return c
    return None


def _centre_labels(kind: str) -> list[int]:
    names = {
        "breast_primary": ("breast", "fat"),
        "axillary_node": _SOFT,
        "supraclavicular_node": _SOFT,
        "internal_mammary_node": _SOFT,
        "mediastinal_node": ("fat",),
        "bone_metastasis": ("bone_marrow",),
        "liver_metastasis": ("liver",),
        "lung_metastasis": ("lung",),
    }[kind]
    return [LABEL_OF[n] for n in names]


def _fits(kind: str, labels: np.ndarray, anatomy: Anatomy, pts: np.ndarray) -> bool:
    """Tissue rules for the sphere points around a candidate centre."""
    share = lambda names: float(np.isin(labels, [LABEL_OF[n] for n in names]).mean())
    if kind == "breast_primary":
        breasts = [anatomy.regions[k] for k in ("breast_left", "breast_right") if k in anatomy.regions]
        inside = np.zeros(len(pts), bool)
        for b in breasts:
            inside |= b.inside(pts[:, 0], pts[:, 1], pts[:, 2])
        return inside.mean() >= 0.9
    if kind in ("axillary_node", "supraclavicular_node"):
        return share(_SOFT + ("breast",)) >= 0.95
    if kind in ("internal_mammary_node", "mediastinal_node"):
        return share(_SOFT) >= 0.6 and share(_SOFT + ("lung",)) >= 0.98
    if kind == "bone_metastasis":
        return share(BONE) >= 0.6 and share(("lung",)) == 0
    if kind == "liver_metastasis":
        return share(("liver",)) >= 0.97
    if kind == "lung_metastasis":
        return share(("lung",)) >= 0.9
    return False
