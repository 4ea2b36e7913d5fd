"""A patient's body: parameterised organ and bone shapes in the body frame, with their CT numbers.

The body frame has its origin midway between the femoral heads; x runs to the patient's right, y
anterior, z superior (mm). A patient is drawn from a few numbers (sex, age, height, width, depth,
subcutaneous fat, arm position, organ sizes and offsets) and every organ gets its own smooth random
bend (:class:`~fapiseg.phantom.shapes.Wobble`), so no two patients share a template. The proportions
follow an adult of about 165 cm: hips at 0, iliac crest +150, kidneys +240, diaphragm +320, carina
+420, shoulders +505, thyroid +550, skull base +670.

A :class:`Structure` is one painted solid: its organ label (``ORGANS.nii.gz``), CT number and, set
later by :mod:`fapiseg.phantom.uptake`, its SUV. Structures are painted in list order, later ones over
earlier ones; an uptake-only structure (a degenerative joint) changes the PET and the organ label but
keeps the CT of what lies beneath.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fapiseg.phantom.family import Family
from fapiseg.phantom.shapes import (
    AboveDome,
    Capsules,
    Difference,
    Ellipsoid,
    HalfSpace,
    Intersection,
    Shape,
    Union,
    Wobble,
    ZTube,
    rotation_matrix,
)

#: Organ labels of ``ORGANS.nii.gz`` (0 is outside the body). Written into truth.json as its legend.
ORGAN_LABELS: dict[int, str] = {
    1: "lung",
    2: "airway",
    3: "fat",
    4: "muscle",
    5: "soft_tissue",
    6: "bowel",
    7: "stomach",
    8: "liver",
    9: "spleen",
    10: "pancreas",
    11: "kidney",
    12: "ureter",
    13: "bladder",
    14: "heart",
    15: "aorta",
    16: "blood_pool",
    17: "bone_cortical",
    18: "bone_marrow",
    19: "spinal_canal",
    20: "breast",
    21: "uterus",
    22: "salivary_gland",
    23: "thyroid",
    24: "joint",
    25: "scar",
    26: "fibrosis",
}
LABEL_OF: dict[str, int] = {name: label for label, name in ORGAN_LABELS.items()}
#: Organs with physiological (non-tumour) FAPI uptake that a reader must not call a lesion.
PHYSIOLOGICAL_HOT = (
    "kidney",
    "ureter",
    "bladder",
    "pancreas",
    "uterus",
    "salivary_gland",
    "thyroid",
    "joint",
    "scar",
    "fibrosis",
)
BONE = ("bone_cortical", "bone_marrow")

#: Mean CT number (HU) and texture (HU, standard deviation of a smooth field) of each tissue.
TISSUE_HU: dict[str, tuple[float, float]] = {
    "lung": (-840.0, 35.0),
    "airway": (-960.0, 10.0),
    "fat": (-100.0, 12.0),
    "muscle": (50.0, 6.0),
    "soft_tissue": (38.0, 8.0),
    "bowel": (30.0, 12.0),
    "stomach": (28.0, 8.0),
    "liver": (58.0, 5.0),
    "spleen": (48.0, 4.0),
    "pancreas": (38.0, 6.0),
    "kidney": (32.0, 5.0),
    "ureter": (10.0, 3.0),
    "bladder": (8.0, 3.0),
    "heart": (42.0, 4.0),
    "aorta": (42.0, 3.0),
    "blood_pool": (40.0, 3.0),
    "bone_cortical": (750.0, 80.0),
    "bone_marrow": (260.0, 30.0),
    "spinal_canal": (15.0, 4.0),
    "breast": (25.0, 10.0),
    "uterus": (45.0, 5.0),
    "salivary_gland": (30.0, 5.0),
    "thyroid": (90.0, 8.0),
    "joint": (0.0, 0.0),  # uptake only: the CT of the bone or capsule beneath is kept
    "scar": (25.0, 8.0),
    "fibrosis": (-420.0, 60.0),
}


@dataclass
class Structure:
    """One painted solid. ``suv`` is the true activity (SUVbw) before texture; ``paints_ct`` False keeps
    the CT beneath (uptake-only hot spots). ``study_jitter`` is the relative change of ``suv`` from scan
    to scan (bladder filling, renal excretion); ``volume_jitter`` scales an ellipsoid per scan."""

    name: str
    organ: str
    shape: Shape
    hu: float
    hu_texture: float
    suv: float = 1.0
    suv_texture: float = 0.08
    paints_ct: bool = True
    study_jitter: float = 0.05
    volume_jitter: float = 0.0
    mottle_fat: float = 0.0  # share of the structure that a smooth random pattern turns into fat (bowel)
    visible_share: float = 1.0  # share of scans in which it holds its activity (a ureter between boluses)

    @property
    def label(self) -> int:
        return LABEL_OF[self.organ]


@dataclass
class Anatomy:
    """A patient's body: the structures in paint order plus the landmarks lesion placement needs."""

    sex: str
    age: int
    premenopausal: bool
    height_scale: float
    width_scale: float
    depth_scale: float
    fat_mm: float
    arms: str
    structures: list[Structure]
    landmarks: dict[str, float] = field(default_factory=dict)
    regions: dict[str, Shape] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def structure(self, name: str) -> Structure:
        return next(s for s in self.structures if s.name == name)

    def labels_at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Organ label (uint8) at body-frame points, painted in order like the images."""
        out = np.zeros(np.shape(x), np.uint8)
        for s in self.structures:
            lo, hi = s.shape.bounds()
            near = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2])
            if near.any():
                hit = np.zeros_like(near)
                hit[near] = s.shape.inside(x[near], y[near], z[near])
                out[hit] = s.label
        return out


def _tissue(name: str, organ: str, shape: Shape, **kw) -> Structure:
    hu, tex = TISSUE_HU[organ]
    return Structure(name, organ, shape, kw.pop("hu", hu), kw.pop("hu_texture", tex), **kw)


def draw_anatomy(rng: np.random.Generator, family: Family, sex: str | None = None) -> Anatomy:
    """A new patient's body, drawn from the family's ranges."""
    f = family
    sex = sex or ("F" if rng.random() < f.female_fraction else "M")
    age = int(rng.integers(f.age_range[0], f.age_range[1] + 1))
    premenopausal = sex == "F" and age < rng.uniform(46, 54)
    H = rng.uniform(*f.height_scale) * (1.0 if sex == "F" else 1.07)
    W = rng.uniform(*f.width_scale) * (1.0 if sex == "F" else 1.05)
    D = np.clip(W * rng.uniform(0.92, 1.08), *f.depth_clip)
    fat = rng.uniform(*f.fat_mm) * (W / 1.0) ** 2
    arms = str(rng.choice(list(f.arm_poses), p=list(f.arm_weights)))
    b = _Builder(rng, f, sex, premenopausal, H, W, D, fat, arms)
    b.build()
    return Anatomy(
        sex,
        age,
        premenopausal,
        float(H),
        float(W),
        float(D),
        float(fat),
        arms,
        b.structures,
        b.landmarks,
        b.regions,
        b.missing,
    )


class _Builder:
    """Draws one body; each method adds the structures of one region in paint order."""

    def __init__(self, rng, family, sex, premenopausal, H, W, D, fat, arms) -> None:
        self.rng, self.f, self.sex, self.pre = rng, family, sex, premenopausal
        self.H, self.W, self.D, self.fat, self.arms = H, W, D, fat, arms
        self.structures: list[Structure] = []
        self.landmarks: dict[str, float] = {}
        self.regions: dict[str, Shape] = {}
        self.missing: list[str] = []

    # -- helpers ----------------------------------------------------------------------------------------
    def z(self, z: float) -> float:
        return z * self.H

    def jitter(self, scale: float) -> float:
        return float(self.rng.normal(0.0, scale))

    def size(self, spread: float = 0.12) -> float:
        return float(np.clip(self.rng.normal(1.0, spread), 1 - 2.5 * spread, 1 + 2.5 * spread))

    def wobble(self, amplitude: float = 0.12, modes: int = 3, frequency: float = 2.0) -> Wobble:
        return Wobble.random(self.rng, amplitude, modes, frequency)

    def add(self, name: str, organ: str, shape: Shape, **kw) -> Structure:
        s = _tissue(name, organ, shape, **kw)
        self.structures.append(s)
        return s

    def spine_y(self, z: np.ndarray | float) -> np.ndarray:
        """Vertebral body centre (y, mm) along z: sacral tilt, lumbar lordosis, thoracic kyphosis."""
        knots = np.array([0, 60, 120, 200, 290, 400, 500, 580, 680]) * self.H
        ys = np.array([-85, -70, -45, -32, -40, -58, -48, -28, -25]) * self.D
        return np.interp(z, knots, ys)

    # -- the body ----------------------------------------------------------------------------------------
    def build(self) -> None:
        self.outline()
        self.skeleton_levels()
        self.thorax()
        self.abdomen()
        self.pelvis_organs()
        self.skeleton()
        self.vessels()
        self.neck()
        if self.sex == "F":
            self.breasts()
        self.arms_and_shoulders()

    def outline(self) -> None:
        """Skin (fat inside), the muscle envelope, the cavities, thighs."""
        z = np.array([-70, -20, 40, 140, 200, 260, 330, 400, 470, 515, 540, 570, 620, 670, 720]) * self.H
        a = np.array([175, 180, 172, 160, 145, 150, 155, 160, 160, 150, 90, 62, 60, 72, 80]) * self.W
        back = np.array([-130, -122, -108, -98, -98, -112, -126, -134, -128, -110, -75, -60, -58, -70, -85])
        front = np.array([82, 92, 100, 108, 108, 104, 100, 96, 84, 64, 52, 45, 55, 78, 90])
        belly = self.rng.uniform(0.0, 1.0) * (self.W - 0.85) * 120  # obese abdomens bulge forward
        front = front + belly * np.exp(-((((z / self.H) - 190) / 90) ** 2))
        back, front = back * self.D, front * self.D
        for k in range(len(z)):  # smooth per-patient irregularity of the outline
            a[k] *= 1 + self.jitter(0.025)
        yc, ry = (front + back) / 2, (front - back) / 2
        bulge = (float(np.clip(self.jitter(0.025), -0.06, 0.06)), float(self.rng.uniform(0, 2 * np.pi)))
        body = ZTube(z, 0.0, yc, a, ry, squareness=0.5, bulge=bulge)
        fat = self.fat * np.interp(
            z / self.H, [-70, 140, 200, 330, 520, 560, 720], [1.3, 1.1, 1.3, 0.9, 0.8, 0.4, 0.3]
        )
        muscle_env = ZTube(z, 0.0, yc, a - fat, ry - fat, squareness=0.5, bulge=bulge)
        # back muscles are thick, the abdominal wall thin: the cavity sits forward in the envelope
        wall_side = np.interp(z / self.H, [-70, 140, 330, 520, 720], [40, 18, 14, 14, 60]) * self.W
        wall_back = np.interp(z / self.H, [-70, 140, 260, 360, 520, 720], [55, 55, 40, 12, 12, 60]) * self.D
        wall_front = np.interp(z / self.H, [-70, 140, 330, 520, 720], [25, 12, 14, 22, 50]) * self.D
        cav_back, cav_front = back + fat + wall_back, front - fat - wall_front
        cavity = ZTube(
            z,
            0.0,
            (cav_back + cav_front) / 2,
            a - fat - wall_side,
            (cav_front - cav_back) / 2,
            squareness=0.3,
        )
        self.landmarks.update(body_half_width=float(a.max()), fat_mm=float(self.fat))
        self.regions.update(body=body, cavity=cavity)
        thighs = [
            ZTube(np.array([-260, -40]) * self.H, s * 92 * self.W, -10 * self.D, 82 * self.W, 84 * self.D)
            for s in (1, -1)
        ]
        self.add("body", "fat", Union([body] + thighs))
        thigh_muscle = [ZTube(t.z, t.x, t.y, t.rx - self.fat, t.ry - self.fat) for t in thighs]
        self.add("muscle", "muscle", Union([muscle_env] + thigh_muscle))
        self._muscle_env = muscle_env
        self._cavity_z = z
        self._front, self._back = front, back
        self._cavity = cavity

    def skeleton_levels(self) -> None:
        """Vertebral levels: S1 top at +95, 5 lumbar (35 mm), 12 thoracic (23 mm), 6 cervical (18 mm)."""
        heights = [35.0] * 5 + [23.0] * 12 + [18.0] * 6
        names = (
            [f"L{5 - k}" for k in range(5)]
            + [f"T{12 - k}" for k in range(12)]
            + [f"C{7 - k}" for k in range(6)]
        )
        z0 = 95.0 * self.H
        levels = []
        for name, h in zip(names, heights):
            h *= self.H
            levels.append((name, z0, z0 + h))
            z0 += h
        self.levels = levels
        self.landmarks.update({f"{n}_mid": (lo + hi) / 2 for n, lo, hi in levels})

    def thorax(self) -> None:
        H, W, D = self.H, self.W, self.D
        dome_r = AboveDome(55 * W, 15 * D, self.z(322) + self.jitter(8), 70 * W, 80 * D)
        dome_l = AboveDome(-55 * W, 15 * D, self.z(306) + self.jitter(8), 70 * W, 80 * D)
        self.regions.update(dome_right=dome_r, dome_left=dome_l)
        self.landmarks.update(dome_right=dome_r.top, dome_left=dome_l.top)
        above = _DomePair(dome_r, dome_l)
        self.add("mediastinal_fat", "fat", Intersection([self._cavity, above]))
        self.add(
            "abdominal_cavity", "bowel", Difference(self._cavity, above), suv_texture=0.15, mottle_fat=0.45
        )
        apex = self.z(555) + self.jitter(6)
        lungs = []
        for side, sign in (("right", 1), ("left", -1)):
            dome = dome_r if sign > 0 else dome_l
            centre = np.array([sign * 72 * W, self.spine_y(430) + 62 * D, (apex + dome.top - 50) / 2])
            radii = np.array([75 * W, 88 * D, (apex - dome.top + 60) / 2])
            lung = Intersection(
                [
                    Ellipsoid(centre, radii, wobble=self.wobble(0.06)),
                    self._cavity,
                    dome,
                    HalfSpace(np.array([sign, 0, 0]), 18 * W),
                ]
            )
            lungs.append(lung)
            self.regions[f"lung_{side}"] = lung
            self.add(f"lung_{side}", "lung", lung, suv_texture=0.10)
        self.landmarks["lung_apex"] = apex
        # Back muscles beside the spine (erector spinae) give the chest its kidney-shaped section.
        zs = np.array([60, 150, 300, 450, 560]) * H
        for sign in (1, -1):
            erector = ZTube(
                zs,
                sign * np.array([32, 36, 34, 30, 24]) * W,
                self.spine_y(zs) - np.array([54, 54, 54, 52, 40]) * D,
                np.array([22, 26, 24, 20, 16]) * W,
                np.array([18, 18, 17, 15, 13]) * D,
            )
            self.add(f"erector_spinae_{sign}", "muscle", Intersection([erector, self._muscle_env]))
        # Peri-aortic fat keeps the descending aorta round on CT (lung or fat all around it).
        self.aorta_tube = self._aorta_descending()
        self.add(
            "periaortic_fat",
            "fat",
            ZTube(
                self.aorta_tube.z,
                self.aorta_tube.x,
                self.aorta_tube.y,
                self.aorta_tube.rx + 4,
                self.aorta_tube.ry + 4,
            ),
        )
        s = self.size(0.08)
        heart_c = np.array([-14 * W, self.spine_y(360) + 90 * D, self.z(358)])
        rot = rotation_matrix((self.jitter(4), 18 + self.jitter(5), -30 + self.jitter(6)))
        heart = Ellipsoid(heart_c, np.array([56, 52, 40]) * s, rot, wobble=self.wobble(0.05))
        self.add("heart", "heart", heart)
        self.add("heart_chambers", "blood_pool", heart.scaled(0.72))
        self.regions["heart"] = heart
        self.landmarks["carina"] = self.z(420)

    def _aorta_descending(self) -> ZTube:
        H, W, D = self.H, self.W, self.D
        z = np.array([155, 240, 320, 380, 440]) * H
        x = np.array([-8, -12, -20, -27, -28]) * W + self.jitter(2)
        r = np.array([9.5, 10, 11.5, 12.5, 13]) * self.size(0.08)
        y = self.spine_y(z) + np.array([30, 30, 22, 18, 18]) * D
        return ZTube(z, x, y, r, r)

    def abdomen(self) -> None:
        H, W, D, _rng = self.H, self.W, self.D, self.rng
        dome_r, dome_l = self.regions["dome_right"], self.regions["dome_left"]
        s = self.size(0.12)
        liver_main = Ellipsoid(
            np.array([60 * W, self.spine_y(280) + 75 * D, dome_r.top - 72 * s]),
            np.array([92 * W, 85 * D, 80]) * s,
            rotation_matrix((0, 0, self.jitter(5))),
            wobble=self.wobble(0.10),
        )
        liver_left = Ellipsoid(
            np.array([-22 * W, self.spine_y(300) + 115 * D, dome_l.top - 45 * s]),
            np.array([55 * W, 32 * D, 34]) * s,
            wobble=self.wobble(0.12),
        )
        below = _Below(_DomePair(dome_r, dome_l), 4.0)
        liver = Intersection([Union([liver_main, liver_left]), below, self._cavity])
        self.add("liver", "liver", liver, suv_texture=0.07)
        self.regions["liver"] = liver
        self.landmarks["liver_bottom"] = float(liver_main.centre[2] - liver_main.radii[2])
        self.add(
            "stomach",
            "stomach",
            Intersection(
                [
                    Ellipsoid(
                        np.array([-48 * W, self.spine_y(280) + 95 * D, dome_l.top - 55]),
                        np.array([38 * W, 32 * D, 48]) * self.size(),
                        rotation_matrix((0, 20, 20)),
                        wobble=self.wobble(0.1),
                    ),
                    below,
                ]
            ),
            suv_texture=0.15,
        )
        s = self.size(0.15)
        spleen = Ellipsoid(
            np.array([-82 * W, self.spine_y(300) + 20 * D, dome_l.top - 62]),
            np.array([28, 55, 50]) * s,
            rotation_matrix((0, 0, 35 + self.jitter(8))),
            wobble=self.wobble(0.08),
        )
        self.add("spleen", "spleen", Intersection([spleen, below, self._cavity]))
        # Kidneys: retroperitoneal, upper poles medial and back; the right one sits lower.
        self.kidneys: dict[str, Ellipsoid] = {}
        for side, sign, zc in (("right", 1, 232), ("left", -1, 250)):
            if side in self.f_missing_kidney():
                self.missing.append(f"kidney_{side}")
                continue
            s = self.size(0.10)
            c = np.array(
                [sign * 68 * W + self.jitter(4), self.spine_y(240) + 8 * D, self.z(zc) + self.jitter(10)]
            )
            rot = rotation_matrix((12, -sign * 14 + self.jitter(4), sign * 32 + self.jitter(6)))
            kid = Ellipsoid(c, np.array([27, 21, 52]) * s, rot, wobble=self.wobble(0.05))
            self.kidneys[side] = kid
            self.regions[f"kidney_{side}"] = kid
            self.add(
                f"perirenal_fat_{side}", "fat", Ellipsoid(c, kid.radii + 9, rot, wobble=self.wobble(0.08))
            )
            self.add(f"kidney_{side}", "kidney", kid, suv_texture=0.12, study_jitter=0.2)
            pelvis_c = c + rot @ np.array([-sign * 12 * s, 6, -4])
            self.add(
                f"renal_pelvis_{side}",
                "kidney",
                Ellipsoid(pelvis_c, np.array([9, 8, 16]) * s, rot),
                study_jitter=0.5,
            )
        # Pancreas: head right of the midline in the duodenal loop, tail at the splenic hilum.
        ys = self.spine_y(240)
        pts = np.array([[30, ys + 68, 222], [2, ys + 78, 234], [-38, ys + 72, 246], [-76, ys + 42, 262]])
        pts[:, 0] *= W
        pts[:, 2] = pts[:, 2] * H + self.jitter(10)
        pts[:, 1] += self.jitter(4)
        radii = np.array([16, 11, 11, 10]) * self.size(0.12)
        self.add("pancreas", "pancreas", Capsules(pts, radii), suv_texture=0.15, study_jitter=0.1)
        self.regions["pancreas"] = Capsules(pts, radii)
        # Psoas muscles beside the lumbar spine.
        zs = np.array([40, 120, 200, 275]) * H
        for sign in (1, -1):
            self.add(
                f"psoas_{sign}",
                "muscle",
                ZTube(
                    zs,
                    sign * np.array([70, 58, 45, 32]) * W,
                    self.spine_y(zs) + np.array([40, 20, 8, 4]),
                    np.array([22, 22, 16, 9]) * W,
                    np.array([22, 22, 16, 9]) * W,
                ),
            )

    def f_missing_kidney(self) -> tuple[str, ...]:
        if self.rng.random() < self.f.nephrectomy_fraction:
            return (str(self.rng.choice(["left", "right"])),)
        return ()

    def pelvis_organs(self) -> None:
        _H, W, D = self.H, self.W, self.D
        fill = self.rng.uniform(0.6, 1.4)
        bladder = Ellipsoid(
            np.array([self.jitter(5), 30 * D, self.z(24)]),
            np.array([44, 34, 32]) * fill ** (1 / 3),
            wobble=self.wobble(0.05),
        )
        self.add("bladder", "bladder", bladder, suv_texture=0.04, study_jitter=0.45, volume_jitter=0.3)
        self.regions["bladder"] = bladder
        for side, sign in (("right", 1), ("left", -1)):
            kid = self.regions.get(f"kidney_{side}")
            if kid is None:
                continue
            top = kid.centre + np.array([-sign * 20, 5, -15])
            pts = np.array(
                [
                    top,
                    [sign * 45 * W, self.spine_y(150) + 35 * D, self.z(150)],
                    [sign * 52 * W, 10 * D, self.z(70)],
                    [sign * 22, 18 * D, self.z(28)],
                ]
            )
            self.add(
                f"ureter_{side}",
                "ureter",
                Capsules(pts, 3.5),
                study_jitter=0.5,
                suv_texture=0.3,
                visible_share=0.5,
            )
        if self.sex == "F":
            s = self.size(0.12) * (1.0 if self.pre else 0.72)
            uterus = Ellipsoid(
                np.array([self.jitter(8), -8 * D, self.z(82)]),
                np.array([30, 22, 42]) * s,
                rotation_matrix((-35 + self.jitter(10), self.jitter(10), 0)),
                wobble=self.wobble(0.06),
            )
            self.add("uterus", "uterus", uterus, suv_texture=0.15, study_jitter=0.25)
            self.regions["uterus"] = uterus

    def skeleton(self) -> None:
        """Spine, ribs, sternum, clavicles, scapulae, pelvis and femora (cortical shell, marrow core)."""
        H, W, D = self.H, self.W, self.D
        spine = _Spine(self.levels, self.spine_y, W)
        self.spine = spine
        self.add("vertebrae", "bone_cortical", spine.part("body"))
        self.add("vertebral_marrow", "bone_marrow", spine.part("marrow"))
        self.add("vertebral_arches", "bone_cortical", spine.part("arch"), hu=500.0)
        self.add("spinal_canal", "spinal_canal", spine.part("canal"))
        self.add("discs", "soft_tissue", spine.part("disc"), hu=85.0)
        self.regions["vertebral_marrow"] = spine.part("marrow")
        ribcage = ZTube(self._cavity.z, self._cavity.x, self._cavity.y, self._cavity.rx, self._cavity.ry)
        t1 = self.landmarks["T1_mid"]
        self.add("ribs", "bone_cortical", _Ribs(ribcage, t1, 23.0 * H, 5.0, 9.0, 55.0 * H), hu=520.0)
        front = np.interp(self.z(450), self._cavity_z, self._front)
        sternum = Ellipsoid(
            np.array([0, front - self.fat - 20, self.z(452)]), np.array([20, 9, 66 * H]), power=2.5
        )
        self.add("sternum", "bone_cortical", sternum)
        self.add("sternal_marrow", "bone_marrow", sternum.scaled(0.6))
        notch = np.interp(self.z(515), self._cavity_z, self._front) - self.fat
        for sign in (1, -1):
            self.add(
                f"clavicle_{sign}",
                "bone_cortical",
                Capsules(
                    np.array(
                        [
                            [sign * 14, notch - 18, self.z(516)],
                            [sign * 80 * W, notch - 12, self.z(528)],
                            [sign * 148 * W, -18 * D, self.z(530)],
                        ]
                    ),
                    8.0,
                ),
            )
            back = np.interp(self.z(450), self._cavity_z, self._back)
            scapula = Ellipsoid(
                np.array([sign * 100 * W, back + self.fat + 20, self.z(455)]),
                np.array([46 * W, 6, 60 * H]),
                rotation_matrix((0, 0, sign * 24)),
            )
            self.add(
                f"scapula_{sign}",
                "bone_cortical",
                Difference(Intersection([scapula, self._muscle_env]), self._cavity),
                hu=450.0,
            )
        # Pelvis: sacrum, iliac wings, acetabula, pubic and ischial rami.
        sacrum = Ellipsoid(
            np.array([0, self.spine_y(60) + 8, self.z(58)]),
            np.array([46 * W, 17, 52 * H]),
            rotation_matrix((-28, 0, 0)),
        )
        self.add("sacrum", "bone_cortical", sacrum)
        self.add("sacral_marrow", "bone_marrow", sacrum.scaled(0.7))
        self.regions["sacrum"] = sacrum.scaled(0.7)
        for sign, side in ((1, "right"), (-1, "left")):
            wing = Ellipsoid(
                np.array([sign * 96 * W, -38 * D, self.z(108)]),
                np.array([66 * W, 11, 55 * H]),
                rotation_matrix((0, sign * 12, sign * 38)),
                wobble=self.wobble(0.05),
            )
            self.add(f"ilium_{side}", "bone_cortical", wing)
            self.add(
                f"ilium_marrow_{side}",
                "bone_marrow",
                Ellipsoid(wing.centre, wing.radii * [0.85, 0.55, 0.85], wing.rotation),
            )
            self.regions[f"ilium_{side}"] = Ellipsoid(
                wing.centre, wing.radii * [0.85, 0.55, 0.85], wing.rotation
            )
            hip = np.array([sign * 86 * W, 24 * D, 0.0])
            self.landmarks[f"hip_{side}_x"] = float(hip[0])
            self.add(
                f"acetabulum_{side}", "bone_cortical", Ellipsoid(hip + [sign * 4, 0, 6], np.full(3, 32.0))
            )
            self.add(
                f"pubis_{side}",
                "bone_cortical",
                Capsules(np.array([hip + [-sign * 10, 22, -4], [sign * 12, 68 * D, self.z(-14)]]), 10.0),
            )
            self.add(
                f"ischium_{side}",
                "bone_cortical",
                Capsules(np.array([hip + [-sign * 4, -8, -10], [sign * 58 * W, -12 * D, self.z(-52)]]), 13.0),
            )
            self.add(f"femoral_head_{side}", "bone_cortical", Ellipsoid(hip, np.full(3, 24.0)))
            self.add(f"femoral_head_marrow_{side}", "bone_marrow", Ellipsoid(hip, np.full(3, 19.0)))
            self.regions[f"femoral_head_{side}"] = Ellipsoid(hip, np.full(3, 19.0))
            troch = np.array([sign * 124 * W, 12 * D, self.z(-22)])
            self.add(
                f"femoral_neck_{side}",
                "bone_cortical",
                Capsules(np.array([hip, troch]), np.array([16, 20.0])),
            )
            self.add(
                f"femur_{side}",
                "bone_cortical",
                ZTube(np.array([-260, -22]) * H, np.array([sign * 102 * W, troch[0]]), 16 * D, 14, 14),
            )
            self.add(
                f"femoral_marrow_{side}",
                "fat",
                ZTube(np.array([-255, -40]) * H, np.array([sign * 102 * W, troch[0]]), 16 * D, 8, 8),
                hu=-60.0,
            )

    def vessels(self) -> None:
        _H, W, D = self.H, self.W, self.D
        tube = self.aorta_tube
        top = np.array([tube.x[-1], tube.y[-1], tube.z[-1]])
        heart = self.regions["heart"]
        arch = np.array(
            [
                top,
                [top[0] + 10, top[1] + 18, self.z(462)],
                [4, top[1] + 48, self.z(458)],
                [14 * W, heart.centre[1] + 8, self.z(425)],
                [12 * W, heart.centre[1] + 5, heart.centre[2]],
            ]
        )
        aorta = Union([tube, Capsules(arch, np.array([12, 12, 13, 14, 14]) * tube.rx[-1] / 12)])
        self.regions["aorta"] = aorta
        self.add("aorta", "aorta", aorta, suv_texture=0.03)
        ys = self.spine_y(np.array([150, 330]))
        self.add(
            "ivc",
            "blood_pool",
            Capsules(
                np.array([[20 * W, ys[0] + 30 * D, self.z(150)], [24 * W, ys[1] + 40 * D, self.z(335)]]), 10.0
            ),
        )
        self.add(
            "svc",
            "blood_pool",
            Capsules(
                np.array(
                    [[26 * W, heart.centre[1] + 5, self.z(410)], [24 * W, heart.centre[1] - 5, self.z(505)]]
                ),
                9.0,
            ),
        )
        bif = np.array([tube.x[0], tube.y[0], tube.z[0]])
        for sign in (1, -1):
            self.add(
                f"iliac_{sign}",
                "blood_pool",
                Capsules(
                    np.array(
                        [
                            bif,
                            [sign * 55 * W, 5 * D, self.z(70)],
                            [sign * 78 * W, 55 * D, self.z(-20)],
                            [sign * 90 * W, 40 * D, self.z(-200)],
                        ]
                    ),
                    np.array([8, 7, 6, 6.0]),
                ),
            )

    def neck(self) -> None:
        _H, W, D = self.H, self.W, self.D
        carina = self.landmarks["carina"]
        zs = np.array([carina, self.z(520), self.z(600), self.z(700)])
        ty = self.spine_y(zs) + np.array([38, 32, 30, 34]) * D
        self.add("tracheal_wall", "soft_tissue", ZTube(zs, 0.0, ty, 11.5, 11.0))
        self.add("trachea", "airway", ZTube(zs, 0.0, ty, 9.0, 8.5))
        for sign in (1, -1):
            self.add(
                f"bronchus_{sign}",
                "airway",
                Capsules(np.array([[0, ty[0], carina + 4], [sign * 38 * W, ty[0] - 6, carina - 32]]), 6.0),
            )
        zt = self.z(550) + self.jitter(6)
        tyz = float(np.interp(zt, zs, ty))
        s = self.size(0.18)
        lobes = [
            Ellipsoid(np.array([sign * 17, tyz + 6, zt]), np.array([9, 10, 22]) * s, wobble=self.wobble(0.08))
            for sign in (1, -1)
        ]
        self.add(
            "thyroid",
            "thyroid",
            Union(lobes + [Capsules(np.array([[-14, tyz + 12, zt - 8], [14, tyz + 12, zt - 8]]), 4.5)]),
            suv_texture=0.1,
        )
        front = np.interp(self.z(625), self._cavity_z, self._front)
        for sign in (1, -1):
            s = self.size(0.15)
            self.add(
                f"submandibular_{sign}",
                "salivary_gland",
                Ellipsoid(
                    np.array([sign * 38 * W, front * 0.55, self.z(622)]),
                    np.array([15, 13, 11]) * s,
                    wobble=self.wobble(0.08),
                ),
                suv_texture=0.1,
            )
            self.add(
                f"parotid_{sign}",
                "salivary_gland",
                Ellipsoid(
                    np.array([sign * 54 * W, self.spine_y(660) + 40, self.z(664)]),
                    np.array([13, 19, 24]) * s,
                    wobble=self.wobble(0.08),
                ),
                suv_texture=0.1,
            )
            self.add(
                f"mandible_{sign}",
                "bone_cortical",
                Capsules(
                    np.array(
                        [
                            [sign * 52 * W, self.spine_y(660) + 30, self.z(690)],
                            [sign * 48 * W, self.spine_y(640) + 48, self.z(628)],
                            [sign * 28 * W, front * 0.8, self.z(616)],
                            [0, front * 0.95, self.z(620)],
                        ]
                    ),
                    7.0,
                ),
                hu=650.0,
            )

    def breasts(self) -> None:
        W, D = self.W, self.D
        size = self.rng.uniform(*self.f.breast_size)
        zb = self.z(400) - size * 25 + self.jitter(8)
        front = np.interp(zb, self._cavity_z, self._front)
        mastectomy = self.rng.random() < self.f.mastectomy_fraction
        removed = str(self.rng.choice(["left", "right"])) if mastectomy else None
        dense = self.rng.uniform(0.45, 0.7) if self.pre else self.rng.uniform(0.3, 0.5)
        for side, sign in (("right", 1), ("left", -1)):
            proj = 40 * size * D
            c = np.array([sign * 84 * W, front - 0.2 * proj, zb])
            ellipsoid = Ellipsoid(
                c,
                np.array([70 * W * size**0.4, proj, 62 * size**0.4]),
                rotation_matrix((8 * size, 0, -sign * 20)),
                wobble=self.wobble(0.06),
            )
            shape = Difference(ellipsoid, self._muscle_env)  # on the chest wall, not in it
            self.landmarks[f"breast_{side}_z"] = float(zb)
            if side == removed:
                self.missing.append(f"breast_{side}")
                self.regions[f"mastectomy_{side}"] = ellipsoid
                continue
            self.regions[f"breast_{side}"] = shape
            self.regions[f"breast_{side}_ellipsoid"] = ellipsoid
            self.add(f"breast_{side}", "fat", shape)
            gland = Intersection(
                [
                    Ellipsoid(
                        c + np.array([0, proj * 0.3, 0]),
                        ellipsoid.radii * dense,
                        ellipsoid.rotation,
                        wobble=self.wobble(0.25, 4, 3.0),
                    ),
                    shape,
                ]
            )
            self.add(f"gland_{side}", "breast", gland, suv_texture=0.2)

    def arms_and_shoulders(self) -> None:
        H, W, D = self.H, self.W, self.D
        for side, sign in (("right", 1), ("left", -1)):
            head = np.array([sign * 162 * W, -22 * D, self.z(506)])
            self.landmarks[f"shoulder_{side}_x"] = float(head[0])
            self.landmarks["shoulder_z"] = float(head[2])
            up = self.arms == "up" or (self.arms == "one_up" and side == "right")
            if up:
                path = np.array([head, head + [-sign * 25, 5, 160], head + [-sign * 60, 10, 330]])
            else:
                elbow = np.array([sign * (self.landmarks["body_half_width"] + 42), -20 * D, self.z(265)])
                path = np.array(
                    [
                        head + [sign * 12, 0, -15],
                        elbow,
                        [sign * (self.landmarks["body_half_width"] + 38), 25 * D, self.z(30)],
                    ]
                )
            arm_r = 44 * W**1.3
            self.add(
                f"shoulder_fat_{side}", "fat", Ellipsoid(head + [sign * 8, 0, 4], np.array([46, 52, 50]) * W)
            )
            self.add(
                f"deltoid_{side}",
                "muscle",
                Ellipsoid(head + [sign * 4, 0, 2], np.array([38, 44, 44]) * W**0.7),
            )
            self.add(f"arm_{side}", "fat", Capsules(path, np.array([arm_r, arm_r * 0.82, arm_r * 0.7])))
            self.add(
                f"arm_muscle_{side}",
                "muscle",
                Capsules(path, np.array([arm_r, arm_r * 0.82, arm_r * 0.7]) - self.fat * 0.6),
            )
            self.add(f"humerus_{side}", "bone_cortical", Capsules(path[:2], np.array([12.0, 10.0])))
            self.add(f"humeral_head_{side}", "bone_cortical", Ellipsoid(head, np.full(3, 24.0)))
            self.add(f"humeral_marrow_{side}", "bone_marrow", Ellipsoid(head, np.full(3, 19.0)))
            self.regions[f"humeral_head_{side}"] = Ellipsoid(head, np.full(3, 19.0))
            if not up:
                self.add(f"forearm_bones_{side}", "bone_cortical", Capsules(path[1:], np.array([9.0, 8.0])))
            axilla = Ellipsoid(
                np.array([sign * (self.landmarks["body_half_width"] - 28), -12 * D, self.z(455)]),
                np.array([32 * W, 42 * D, 52 * H]),
                wobble=self.wobble(0.06),
            )
            self.regions[f"axilla_{side}"] = axilla
            self.structures.insert(self._index_of("ribs"), _tissue(f"axillary_fat_{side}", "fat", axilla))

    def _index_of(self, name: str) -> int:
        return next(k for k, s in enumerate(self.structures) if s.name == name)


@dataclass
class _DomePair(Shape):
    """Above either diaphragm dome (right for x > 0, left for x < 0)."""

    right: AboveDome
    left: AboveDome

    def bounds(self):
        return self.right.bounds()

    def height(self, x, y):
        return np.where(x >= 0, self.right.height(x, y), self.left.height(x, y))

    def inside(self, x, y, z):
        return z > self.height(x, y)


@dataclass
class _Below(Shape):
    """Below a dome by ``margin`` mm."""

    dome: _DomePair
    margin: float

    def bounds(self):
        return self.dome.bounds()

    def inside(self, x, y, z):
        return z < self.dome.height(x, y) - self.margin


class _Spine:
    """Vertebral bodies (elliptic cylinders with discs between them), arches and the spinal canal."""

    def __init__(self, levels: list[tuple[str, float, float]], spine_y, W: float) -> None:
        self.lo = np.array([lo for _, lo, _ in levels])
        self.hi = np.array([hi for _, _, hi in levels])
        self.names = [n for n, _, _ in levels]
        n = len(levels)
        # half widths / depths of the bodies, cervical small to lumbar large
        self.rx = np.interp(np.arange(n), [0, 5, 17, n - 1], [24, 19, 11, 9]) * W**0.5
        self.ry = np.interp(np.arange(n), [0, 5, 17, n - 1], [18, 15, 9, 8]) * W**0.3
        self.spine_y = spine_y

    def part(self, name: str) -> Shape:
        return _SpinePart(self, name)

    def level_at(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.clip(np.searchsorted(self.lo, z, side="right") - 1, 0, len(self.lo) - 1)
        t = (z - self.lo[k]) / (self.hi[k] - self.lo[k])
        return k, t


@dataclass
class _SpinePart(Shape):
    spine: _Spine
    name: str

    def bounds(self):
        s = self.spine
        ys = s.spine_y(np.array([s.lo[0], s.hi[-1]]))
        return (
            np.array([-s.rx.max() - 30, min(ys.min(), -140) - 60, s.lo[0]]),
            np.array([s.rx.max() + 30, max(ys.max(), 0) + 30, s.hi[-1]]),
        )

    def inside(self, x, y, z):
        s = self.spine
        k, t = s.level_at(z)
        valid = (z >= s.lo[0]) & (z <= s.hi[-1])
        yc = s.spine_y(z).astype(np.float32)
        rx, ry = s.rx[k].astype(np.float32), s.ry[k].astype(np.float32)
        if self.name == "disc":
            u, v = x / rx, (y - yc) / ry
            return valid & (u * u + v * v < 1) & ((t <= 0.11) | (t >= 0.89))
        if self.name in ("body", "marrow"):
            shrink = 0.0 if self.name == "body" else 3.0
            margin = 0.11 if self.name == "body" else 0.2  # discs between bodies; marrow inside the endplates
            u, v = x / (rx - shrink), (y - yc) / (ry - shrink)
            return valid & (u * u + v * v < 1) & (t > margin) & (t < 1 - margin)
        canal_y = yc - ry - 9.0
        cu, cv = x / 8.5, (y - canal_y) / 7.5
        in_canal = cu * cu + cv * cv < 1
        if self.name == "canal":
            return valid & in_canal
        # arch: a ring round the canal, and the spinous process behind it
        ru, rv = x / 15.0, (y - canal_y) / 13.0
        ring = (ru * ru + rv * rv < 1) & ~in_canal & (y < yc - ry + 2)
        spinous = (np.abs(x) < 4.0) & (y < canal_y) & (y > canal_y - 30.0 * (rx / 24.0) ** 0.5)
        return valid & (ring | spinous)


@dataclass
class _Ribs(Shape):
    """Twelve rib pairs in the chest wall just outside ``cage``: each leaves its vertebra at
    ``first_z - (k - 1) * spacing`` and drops by ``drop`` mm towards the front; ribs 8-12 stop short
    of the sternum."""

    cage: ZTube
    first_z: float
    spacing: float
    half_width: float
    thickness: float
    drop: float

    def bounds(self):
        lo, hi = self.cage.bounds()
        lo = lo - self.thickness - 2
        hi = hi + self.thickness + 2
        lo[2] = self.first_z - 12 * self.spacing - self.drop
        hi[2] = self.first_z + self.half_width + 5
        return lo, hi

    def inside(self, x, y, z):
        cx, cy, rx, ry = self.cage.section(z)
        dx, dy = x - cx, y - cy
        rho = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
        depth = (rho - 1.0) * np.sqrt(rx * ry)
        shell = (depth > 0) & (depth < self.thickness)
        phi = np.arccos(np.clip(-dy / np.maximum(np.hypot(dx, dy), 1e-3), -1, 1)) / np.pi  # 0 back, 1 front
        k = (self.first_z - (z + self.drop * phi**1.5)) / self.spacing
        rib = np.rint(k)
        band = np.abs(k - rib) * self.spacing < self.half_width
        reach = np.where(rib < 7, 0.86, np.where(rib < 10, 0.75, 0.5))
        beside_spine = np.abs(dx) > 0.18 * rx  # ribs start at the transverse processes, not behind the spine
        return shell & band & beside_spine & (rib >= 0) & (rib <= 11) & (phi < reach)
