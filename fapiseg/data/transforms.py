"""MONAI dictionary pipelines for PET/CT: training, validation and inference share one preprocessing.

Input: a dict ``{"pet": SUV.nii.gz, "ct": CTres.nii.gz}`` (plus ``"label": SEG.nii.gz`` for training
and validation). The deterministic steps, the same at training and inference, are:

1. load both images channel-first; put the CT on the PET grid when it is not (trilinear);
2. reorient to RAS and resample to the model's voxel size ``cfg_data["spacing_mm"]`` (x y z, mm;
   trilinear for images, nearest for the label);
3. scale intensities with fixed, physical constants, never per-image statistics:
   PET ``log1p(max(SUV, 0)) / pet.divisor`` (``pet.mode: log1p``) or ``SUV / pet.divisor`` (``linear``),
   so an SUV means the same input value in every scan; CT clipped to ``ct.window`` HU and mapped to [-1, 1];
4. stack to ``image`` (channel 0 PET, channel 1 CT), a MetaTensor whose ``affine`` is the resampled
   grid and whose ``applied_operations`` record the orientation and spacing steps, so that
   ``monai.transforms.Invertd(keys="pred", transform=inference_transforms(cfg), orig_keys="image")``
   maps a prediction back onto the input grid.

Training samples patches centred on lesions, on physiological hot spots (uptake above ``hot_suv`` outside
lesions: hard negatives) and anywhere, in the ratio ``pos``:``hot``:``neg`` (``RandCropByLabelClassesd``),
then augments them nnU-Net-style (rotation, scaling, optional elastic deformation, mirroring; Gaussian
noise and blur, brightness, contrast, gamma, simulated low resolution) and PET-specifically (global
uptake scaling and point-spread-function blur applied to SUV before scaling; CT-channel dropout, which
sets the scaled CT to 0 so the network learns to cope with a missing or poor CT).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import cc3d
import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import (
    AsDiscreted,
    ClassesToIndicesd,
    Compose,
    ConcatItemsd,
    DeleteItemsd,
    EnsureChannelFirstd,
    EnsureTyped,
    GaussianSmooth,
    LoadImaged,
    MapTransform,
    Orientationd,
    Rand3DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandCropByLabelClassesd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandomizableTransform,
    RandScaleIntensityd,
    RandSimulateLowResolutiond,
    RandSpatialCropd,
    ResampleToMatchd,
    ScaleIntensityRanged,
    Spacingd,
    SpatialPadd,
)
from scipy import ndimage

IMAGE, LABEL, PET, CT = "image", "label", "pet", "ct"
PET_CHANNEL, CT_CHANNEL = 0, 1
SAMPLING = "sampling"
#: CT numbers below this (HU) are air outside the body (lung parenchyma is -900 to -700 HU, air -1000): no
#: patch centre at training, no window at inference.
BODY_HU = -950.0
#: At most this many candidate centres are kept per sampling class and case (memory of the cache).
MAX_CENTRES_PER_CLASS = 200_000


class ScaleSUVd(MapTransform):
    """Fixed scaling of SUV: ``log1p(max(SUV, 0)) / divisor`` (mode ``log1p``) or ``SUV / divisor`` (``linear``).

    SUV is a physical unit (uptake relative to a uniform distribution), so one constant for every scan
    keeps "SUV 4" meaning the same input value everywhere; a per-image z-score would not.
    :meth:`to_suv` undoes the scaling, so PET augmentations can act on SUV itself.
    """

    def __init__(self, keys: KeysCollection, mode: str = "log1p", divisor: float = 3.0) -> None:
        super().__init__(keys)
        if mode not in ("log1p", "linear"):
            raise ValueError(f"pet mode must be 'log1p' or 'linear', got {mode!r}")
        self.mode, self.divisor = mode, float(divisor)

    def scale(self, suv: torch.Tensor) -> torch.Tensor:
        suv = torch.clamp(suv, min=0)
        return (torch.log1p(suv) if self.mode == "log1p" else suv) / self.divisor

    def to_suv(self, scaled: torch.Tensor) -> torch.Tensor:
        x = scaled * self.divisor
        return torch.expm1(x) if self.mode == "log1p" else x

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scale(d[key])
        return d


class RandSUVd(RandomizableTransform, MapTransform):
    """PET-specific augmentation of the PET channel in SUV units (the scaling is undone, then redone).

    With probability ``uptake_prob`` all SUVs are multiplied by one factor from ``1 ± uptake_scale``
    (other tracers' kinetics, uptake times, calibration); with probability ``psf_prob`` the PET is blurred
    by a Gaussian of sigma in ``psf_sigma_vox`` voxels (a scanner with a wider point-spread function).
    """

    def __init__(
        self,
        keys: KeysCollection,
        scaling: ScaleSUVd,
        uptake_scale: float,
        uptake_prob: float,
        psf_sigma_vox: Sequence[float],
        psf_prob: float,
    ) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, 1.0)
        self.scaling = scaling
        self.uptake_scale, self.uptake_prob = float(uptake_scale), float(uptake_prob)
        self.psf_sigma, self.psf_prob = tuple(float(s) for s in psf_sigma_vox), float(psf_prob)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        factor = (
            1.0 + self.R.uniform(-self.uptake_scale, self.uptake_scale)
            if self.R.rand() < self.uptake_prob
            else 1.0
        )
        sigma = self.R.uniform(*self.psf_sigma) if self.R.rand() < self.psf_prob else 0.0
        if factor == 1.0 and sigma == 0.0:
            return d
        for key in self.key_iterator(d):
            img = d[key].clone()
            suv = self.scaling.to_suv(img[PET_CHANNEL]) * factor
            if sigma > 0:
                suv = GaussianSmooth(sigma=sigma)(suv[None])[0]
            img[PET_CHANNEL] = self.scaling.scale(suv)
            d[key] = img
        return d


class HotSpotClassesd(MapTransform):
    """Adds ``sampling``, the map patch centres are drawn from: 1 lesion, 2 hot spot, 0 other body, 3 air.

    Class 2 holds the physiological hot spots (bladder, kidneys, joints, pancreas, uterus ...): uptake of at
    least ``hot_suv`` that is neither lesion nor the lesions' own spill-over (within ``margin_vox`` voxels of
    one), found without organ labels, so patches can be centred on them as hard negatives. Class 3 is air
    (CT below ``air_ct``, in scaled units), never a centre.

    Classes 1 and 2 are balanced per connected component (26-connected): each lesion and each hot spot keeps
    at most ``per_component`` candidate centres (a fixed random subset), so a 0.2 mL node or a wrist joint is
    drawn as often as a 20 mL primary or the bladder. Drawn per voxel instead, the bladder and kidneys take
    three quarters of the hard negatives and lesions under 1 mL (half of all lesions) a tenth of the
    positives. Hot spots smaller than ``min_hot_voxels`` are noise and stay class 0.
    """

    def __init__(
        self,
        scaling: ScaleSUVd,
        hot_suv: float,
        air_ct: float,
        per_component: int = 64,
        min_hot_voxels: int = 2,
        margin_vox: int = 2,
        name: str = SAMPLING,
    ) -> None:
        super().__init__(keys=[IMAGE, LABEL])
        self.threshold = float(scaling.scale(torch.tensor(float(hot_suv))))
        self.air_ct = float(air_ct)
        self.per_component, self.min_hot_voxels = int(per_component), int(min_hot_voxels)
        self.margin_vox = int(margin_vox)
        self.name = name

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        image = torch.as_tensor(d[IMAGE])
        lesion = (torch.as_tensor(d[LABEL])[0] > 0.5).numpy()
        # the lesions grown by a cube of margin_vox: scipy's separable filter, 19x faster than a 3-D max-pool
        near = ndimage.maximum_filter(lesion, size=2 * self.margin_vox + 1, mode="constant", cval=False)
        hot = (image[PET_CHANNEL] >= self.threshold).numpy() & ~near
        classes = np.where(image[CT_CHANNEL].numpy() < self.air_ct, 3, 0).astype(np.uint8)
        rng = np.random.default_rng(0)
        for value, mask, min_voxels in ((2, hot, self.min_hot_voxels), (1, lesion, 1)):
            keep = _per_component_subset(mask, self.per_component, min_voxels, rng)
            classes[keep] = value
        d[self.name] = classes[None]
        return d


def _per_component_subset(
    mask: np.ndarray, per_component: int, min_voxels: int, rng: np.random.Generator
) -> np.ndarray:
    """A random subset of ``mask``: at most ``per_component`` voxels of each 26-connected component of at
    least ``min_voxels`` voxels."""
    labels = cc3d.connected_components(mask, connectivity=26)
    flat = labels.ravel()
    index = np.flatnonzero(flat)
    keep = np.zeros(flat.shape, bool)
    if not len(index):
        return keep.reshape(mask.shape)
    order = index[np.lexsort((rng.random(len(index)), flat[index]))]  # grouped by component, shuffled within
    group = flat[order]
    starts = np.searchsorted(group, group, side="left")
    sizes = np.bincount(flat)[group]
    rank = np.arange(len(order)) - starts
    keep[order[(rank < per_component) & (sizes >= min_voxels)]] = True
    return keep.reshape(mask.shape)


class RandChannelDropoutd(RandomizableTransform, MapTransform):
    """With probability ``prob`` set one channel to ``value``: simulates a missing or useless CT."""

    def __init__(self, keys: KeysCollection, channel: int, prob: float = 0.1, value: float = 0.0) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.channel, self.value = int(channel), float(value)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        self.randomize(None)
        if self._do_transform:
            for key in self.key_iterator(d):
                img = d[key].clone()
                img[self.channel] = self.value
                d[key] = img
        return d


def scaled_hu(hu: float, window: Sequence[float]) -> float:
    """``hu`` through the CT scaling: the window clipped and mapped to [-1, 1]."""
    lo, hi = (float(v) for v in window)
    return float(np.clip((hu - lo) / (hi - lo), 0.0, 1.0) * 2.0 - 1.0)


def suv_scaling(cfg_data: Mapping) -> ScaleSUVd:
    """The configured PET scaling (``data.pet.mode``, ``data.pet.divisor``)."""
    return ScaleSUVd(keys=PET, mode=cfg_data["pet"]["mode"], divisor=cfg_data["pet"]["divisor"])


def _preprocessing(cfg_data: Mapping, with_label: bool, load: bool = True) -> list:
    """Load, CT onto the PET grid, fixed intensity scaling, stack, RAS, target spacing.

    The spatial steps act on ``image`` itself, so its ``applied_operations`` can be inverted. Without
    ``load`` the inputs are already MetaTensors (X, Y, Z) with their affines, as MONAI's loader gives them.
    """
    keys = [PET, CT] + ([LABEL] if with_label else [])
    spatial = [IMAGE] + ([LABEL] if with_label else [])
    lo, hi = (float(v) for v in cfg_data["ct"]["window"])
    spacing = tuple(float(s) for s in cfg_data["spacing_mm"])
    steps = [
        *([LoadImaged(keys=keys, image_only=True)] if load else []),
        EnsureChannelFirstd(keys=keys, channel_dim=None if load else "no_channel"),
        ResampleToMatchd(keys=CT, key_dst=PET, mode="bilinear", padding_mode="border"),
        suv_scaling(cfg_data),
        ScaleIntensityRanged(keys=CT, a_min=lo, a_max=hi, b_min=-1.0, b_max=1.0, clip=True),
        ConcatItemsd(keys=[PET, CT], name=IMAGE, dim=0),
        DeleteItemsd(keys=[PET, CT]),
        Orientationd(keys=spatial, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
        # float32 resampling: MONAI's float64 default took 1.6-1.8x as long on a whole-body scan, for values
        # that differ by less than 0.02 HU and 0.0003 SUV
        Spacingd(
            keys=spatial,
            pixdim=spacing,
            mode=["bilinear"] + (["nearest"] if with_label else []),
            dtype=torch.float32,
        ),
    ]
    if with_label:
        steps.append(AsDiscreted(keys=LABEL, threshold=0.5))
    return steps + [EnsureTyped(keys=spatial, dtype=torch.float32, track_meta=True)]


def inference_transforms(cfg_data: Mapping, load: bool = True) -> Compose:
    """Deterministic preprocessing of ``{"pet": path, "ct": path}`` into ``image`` (2, X, Y, Z), RAS, target
    spacing; with ``load=False`` of ``{"pet": MetaTensor, "ct": MetaTensor}`` (X, Y, Z, with affines) already read."""
    return Compose(_preprocessing(cfg_data, with_label=False, load=load))


def validation_transforms(cfg_data: Mapping) -> Compose:
    """The inference preprocessing plus the label (nearest-neighbour resampled, 0/1): whole volumes."""
    return Compose(_preprocessing(cfg_data, with_label=True))


def training_transforms(cfg_data: Mapping) -> Compose:
    """Preprocessing, patch sampling with foreground oversampling, augmentation (see the module docstring).

    The deterministic preprocessing comes first, so a ``CacheDataset`` keeps it (with the candidate
    patch centres of each class) and later epochs only crop and augment. Each case yields
    ``samples_per_case`` patches of ``patch_size`` voxels, centred on a lesion voxel, on a hot non-lesion
    voxel (SUV >= ``sampling.hot_suv``) or anywhere in the ratio ``pos : hot : neg``. With
    ``sampling.centre_shift`` s > 0 the drawn voxel is not the patch centre but lies anywhere within s half
    patches of it: a sliding window meets a lesion at any position, not only in its middle.
    """
    keys = [IMAGE, LABEL]
    patch = [int(p) for p in cfg_data["patch_size"]]
    aug, sampling = cfg_data["augmentation"], cfg_data["sampling"]
    indices = f"{SAMPLING}_cls_indices"
    shift = [int(p * float(sampling["centre_shift"]) / 2) for p in patch]
    crop = [p + 2 * s for p, s in zip(patch, shift)]
    steps = _preprocessing(cfg_data, with_label=True) + [
        SpatialPadd(keys=keys, spatial_size=crop, mode="edge"),
        HotSpotClassesd(
            suv_scaling(cfg_data),
            hot_suv=sampling["hot_suv"],
            air_ct=scaled_hu(BODY_HU, cfg_data["ct"]["window"]),
            per_component=int(sampling["per_component"]),
        ),
        ClassesToIndicesd(keys=SAMPLING, num_classes=4, max_samples_per_class=MAX_CENTRES_PER_CLASS),
        RandCropByLabelClassesd(
            keys=keys,
            label_key=SAMPLING,
            spatial_size=crop,
            ratios=[float(sampling["neg"]), float(sampling["pos"]), float(sampling["hot"]), 0.0],
            num_classes=4,
            num_samples=int(cfg_data["samples_per_case"]),
            indices_key=indices,
            allow_smaller=True,
            warn=False,
        ),
        DeleteItemsd(keys=[SAMPLING, indices]),
    ]
    if crop != patch:  # the drawn centre lands anywhere within +-shift of the patch centre, as in a window
        steps.append(RandSpatialCropd(keys=keys, roi_size=patch, random_size=False))
    steps += _spatial_augmentation(aug, keys, patch)
    steps.append(
        RandSUVd(
            keys=IMAGE,
            scaling=suv_scaling(cfg_data),
            uptake_scale=aug["uptake_scale"],
            uptake_prob=aug["uptake_prob"],
            psf_sigma_vox=aug["psf_sigma_vox"],
            psf_prob=aug["psf_prob"],
        )
    )
    steps += _intensity_augmentation(aug)
    if aug["ct_dropout_prob"] > 0:
        steps.append(RandChannelDropoutd(keys=IMAGE, channel=CT_CHANNEL, prob=aug["ct_dropout_prob"]))
    return Compose(steps + [EnsureTyped(keys=keys, dtype=torch.float32, track_meta=False)])


def _spatial_augmentation(aug: Mapping, keys: Sequence[str], patch: Sequence[int]) -> list:
    modes = ["bilinear", "nearest"]
    rotate = float(np.deg2rad(aug["rotate_deg"]))
    steps = [
        RandAffined(
            keys=keys,
            prob=aug["affine_prob"],
            rotate_range=(rotate,) * 3,
            scale_range=(aug["scale"],) * 3,
            mode=modes,
            padding_mode="border",
            spatial_size=patch,
            cache_grid=True,
        )
    ]
    if aug["elastic_prob"] > 0:
        steps.append(
            Rand3DElasticd(
                keys=keys,
                prob=aug["elastic_prob"],
                sigma_range=(5, 8),
                magnitude_range=(50, 150),
                mode=modes,
                padding_mode="border",
            )
        )
    return steps + [RandFlipd(keys=keys, prob=0.5, spatial_axis=int(axis)) for axis in aug["flip_axes"]]


def _intensity_augmentation(aug: Mapping) -> list:
    """nnU-Net-like intensity augmentation of both scaled channels."""
    b, (g_lo, g_hi) = float(aug["brightness"]), aug["gamma"]
    blur = (0.5, 1.0)
    return [
        RandGaussianNoised(keys=IMAGE, prob=aug["noise_prob"], std=aug["noise_std"]),
        RandGaussianSmoothd(keys=IMAGE, sigma_x=blur, sigma_y=blur, sigma_z=blur, prob=aug["blur_prob"]),
        RandScaleIntensityd(keys=IMAGE, factors=(-b, b), prob=aug["brightness_prob"]),
        RandAdjustContrastd(keys=IMAGE, gamma=(g_lo, g_hi), prob=aug["gamma_prob"]),
        RandSimulateLowResolutiond(keys=IMAGE, prob=aug["lowres_prob"], zoom_range=tuple(aug["lowres_zoom"])),
    ]
