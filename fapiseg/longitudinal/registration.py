"""Align a follow-up study to the baseline on CT: rigid, then affine, by Mattes mutual information (SimpleITK).

Patients lie differently on each scan (shifted along the table, rolled, tilted), so lesions can only be
matched once both studies share one frame. The steps:

1. Both CTs are resampled onto axis-aligned grids of ``spacing_mm`` in the NIfTI world (RAS+, mm), from
   their own affines (any voxel size, axis order, flip or shear), and clipped to [-1000, 1500] HU.
2. The body mask (CT > -500 HU, opened by one voxel to cut it from the table, largest component, holes
   filled slice by slice) dilated by two voxels restricts the metric to the patient and the skin edge;
   the lesions (dilated by :data:`EXCLUDE_MARGIN_MM`) are left out, since they change by design, and so
   are the :data:`FOV_END_MARGIN_MM` at both axial ends of the field of view: where it cuts the body,
   the metric would reward transforms that change how the two fields of view overlap (on rigidly moved
   phantoms a free affine then shrinks z by 3 % and misplaces lesions by 2-3 mm).
3. Start: the body centroids' offset in x and y; also in z when both bodies end inside their fields of
   view (otherwise the field of view, not the patient, sets the z centroid).
4. Rigid (``Euler3DTransform``), then affine (``AffineTransform``, started from the rigid result):
   Mattes mutual information (32 bins, about :data:`SAMPLES_PER_LEVEL` random samples per level with a
   fixed seed), a three-level pyramid (shrink
   4, 2, 1; smoothing 2, 1, 0 voxels), regular-step gradient descent with steps of about 1 mm per unit
   for every parameter (rotations and matrix elements scaled by the body's radius).
   The affine result is kept only when it lowers the metric by at least :data:`MIN_AFFINE_GAIN` of the
   rigid value and scales no axis by more than :data:`MAX_AFFINE_SCALING`; otherwise the rigid one
   (recorded in ``Alignment.method``): the nine extra parameters must earn their keep.

The result maps baseline world points to follow-up world points; :meth:`Alignment.to_baseline` maps back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from fapiseg.io.geometry import spacing_mm as voxel_spacing_mm
from fapiseg.io.geometry import voxel_to_world

HU_RANGE = (-1000.0, 1500.0)
BODY_MIN_HU = -500.0
#: The affine stage may scale an axis by at most this fraction (body habitus changes, not a squashed patient).
MAX_AFFINE_SCALING = 0.15
#: ... and must lower the metric by at least this fraction of the rigid one to earn its nine extra parameters.
MIN_AFFINE_GAIN = 0.01
#: Lesions, which change between studies by design, are left out of the metric with this margin.
EXCLUDE_MARGIN_MM = 8.0
#: The metric ignores the first and last slices of the field of view, this far (mm).
FOV_END_MARGIN_MM = 30.0
SHRINK_FACTORS = (4, 2, 1)
#: Voxels the metric samples on each pyramid level (about; inside the mask): the cost per iteration
#: does not grow with the field of view.
SAMPLES_PER_LEVEL = 10000
SMOOTHING_SIGMAS = (2.0, 1.0, 0.0)


@dataclass
class Alignment:
    """A follow-up aligned to its baseline: ``matrix`` (4x4) maps baseline world points to follow-up ones.

    ``method`` is ``"affine"``, ``"rigid"`` or ``"identity"``; ``metric`` is the Mattes mutual information
    (lower is better) at the end of the kept stage.
    """

    matrix: np.ndarray
    method: str
    metric: float
    seconds: float

    def to_followup(self, xyz: np.ndarray) -> np.ndarray:
        """Baseline world points (..., 3) in the follow-up's world."""
        return np.asarray(xyz, float) @ self.matrix[:3, :3].T + self.matrix[:3, 3]

    def to_baseline(self, xyz: np.ndarray) -> np.ndarray:
        """Follow-up world points (..., 3) in the baseline's world."""
        inverse = np.linalg.inv(self.matrix)
        return np.asarray(xyz, float) @ inverse[:3, :3].T + inverse[:3, 3]

    def displacement_mm(self, xyz: np.ndarray) -> np.ndarray:
        """Distance (mm) each baseline point moves to reach its follow-up position."""
        xyz = np.asarray(xyz, float)
        return np.linalg.norm(self.to_followup(xyz) - xyz, axis=-1)

    @property
    def rotation_deg(self) -> float:
        """Angle of the rotation closest to the linear part (polar decomposition), degrees."""
        u, _, vt = np.linalg.svd(self.matrix[:3, :3])
        rotation = u @ vt
        return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0))))


def identity_alignment() -> Alignment:
    """The baseline aligned to itself."""
    return Alignment(np.eye(4), "identity", float("nan"), 0.0)


def register_ct(
    baseline_ct: np.ndarray,
    baseline_affine: np.ndarray,
    followup_ct: np.ndarray,
    followup_affine: np.ndarray,
    spacing_mm: float = 4.0,
    iterations: int = 100,
    samples: int = SAMPLES_PER_LEVEL,
    seed: int = 1,
    affine_stage: bool = True,
    baseline_exclude: np.ndarray | None = None,
    followup_exclude: np.ndarray | None = None,
) -> Alignment:
    """Register the follow-up CT (moving) to the baseline CT (fixed); see the module docstring.

    ``spacing_mm`` is the finest registration grid (the pyramid starts 4 times coarser), ``iterations``
    the gradient-descent budget per level and stage, ``samples`` the number of voxels (about) the metric
    samples on each level, ``seed`` their random draw (not 0: SimpleITK reads 0 as "seed from the
    clock"). ``*_exclude`` are masks on each CT's grid (the lesions) that the metric ignores: they change
    by design.
    """
    if seed == 0:
        raise ValueError("seed 0 makes SimpleITK draw its samples from the clock; use a positive seed")
    start = time.perf_counter()
    fixed, fixed_body = _registration_image(baseline_ct, baseline_affine, spacing_mm, baseline_exclude)
    moving, moving_body = _registration_image(followup_ct, followup_affine, spacing_mm, followup_exclude)
    in_mask = max(int(np.count_nonzero(sitk.GetArrayViewFromImage(fixed_body))), 1)
    shares = [min(1.0, samples * f**3 / in_mask) for f in SHRINK_FACTORS]
    radius = _body_radius_mm(fixed_body)
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(_centroid(fixed_body))
    rigid.SetTranslation(_initial_translation(fixed_body, moving_body))
    _optimise(rigid, fixed, moving, fixed_body, moving_body, iterations, shares, seed, radius)
    metric_rigid = _metric(rigid, fixed, moving, fixed_body, moving_body, shares[-1], seed)
    kept, kept_metric, name = rigid, metric_rigid, "rigid"
    if affine_stage:
        affine = sitk.AffineTransform(3)
        affine.SetCenter(rigid.GetCenter())
        affine.SetMatrix(rigid.GetMatrix())
        affine.SetTranslation(rigid.GetTranslation())
        _optimise(affine, fixed, moving, fixed_body, moving_body, iterations, shares, seed, radius)
        metric_affine = _metric(affine, fixed, moving, fixed_body, moving_body, shares[-1], seed)
        scaling = np.linalg.svd(np.reshape(affine.GetMatrix(), (3, 3)), compute_uv=False)
        gain = metric_rigid - metric_affine
        if gain >= MIN_AFFINE_GAIN * abs(metric_rigid) and np.all(np.abs(scaling - 1) <= MAX_AFFINE_SCALING):
            kept, kept_metric, name = affine, metric_affine, "affine"
    return Alignment(_to_matrix(kept), name, kept_metric, time.perf_counter() - start)


def _scales(transform: sitk.Transform, radius_mm: float) -> list[float]:
    """Optimizer scales that make a unit step move the body about 1 mm whatever the parameter: a rotation
    (radian) or a matrix element moves a point ``radius_mm`` from the centre by about ``radius_mm``, a
    translation by 1 mm. (SimpleITK's estimate from physical shift samples only the grid's central voxels,
    which makes rotation steps of several degrees.)"""
    n = transform.GetNumberOfParameters()
    return [radius_mm**2] * (n - 3) + [1.0] * 3


def _body_radius_mm(body: sitk.Image) -> float:
    """Root-mean-square distance of the mask's voxels from their centroid (mm)."""
    ijk = np.argwhere(sitk.GetArrayViewFromImage(body) > 0)[:, ::-1].astype(float)
    spacing = np.asarray(body.GetSpacing())
    return (
        float(np.sqrt(((ijk - ijk.mean(axis=0)) ** 2 * spacing**2).sum(axis=1).mean())) if len(ijk) else 100.0
    )


def _method(fixed_body, moving_body, shares: list[float], seed: int) -> sitk.ImageRegistrationMethod:
    """Mattes mutual information inside the two masks, sampled at random with ``seed``."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(shares, seed)
    method.SetMetricFixedMask(fixed_body)
    method.SetMetricMovingMask(moving_body)
    method.SetInterpolator(sitk.sitkLinear)
    # Gradients at the samples only: filtering whole images for them costs more than all the iterations.
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    return method


def _optimise(
    transform,
    fixed,
    moving,
    fixed_body,
    moving_body,
    iterations: int,
    shares: list[float],
    seed: int,
    radius_mm: float,
) -> None:
    """Optimise ``transform`` in place over the pyramid."""
    method = _method(fixed_body, moving_body, shares, seed)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=4.0,
        minStep=0.02,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScales(_scales(transform, radius_mm))
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_SIGMAS))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)


def _metric(transform, fixed, moving, fixed_body, moving_body, share: float, seed: int) -> float:
    """The metric of ``transform`` on the finest grid, on the same samples for every transform compared."""
    method = _method(fixed_body, moving_body, [share], seed)
    method.SetInitialTransform(transform, inPlace=False)
    return float(method.MetricEvaluate(fixed, moving))


def _registration_image(
    ct: np.ndarray, affine: np.ndarray, spacing_mm: float, exclude: np.ndarray | None
) -> tuple[sitk.Image, sitk.Image]:
    """The CT on an axis-aligned RAS grid of ``spacing_mm`` (SimpleITK image, physical = NIfTI world) and
    the metric mask: the body dilated by two voxels, less ``exclude`` dilated by :data:`EXCLUDE_MARGIN_MM`."""
    affine = np.asarray(affine, float)
    corners = np.array(np.meshgrid(*[[-0.5, n - 0.5] for n in ct.shape], indexing="ij")).reshape(3, -1).T
    world = voxel_to_world(affine, corners)
    origin = world.min(axis=0) + spacing_mm / 2
    shape = tuple(np.maximum(np.floor((world.max(axis=0) - world.min(axis=0)) / spacing_mm).astype(int), 1))
    inverse = np.linalg.inv(affine)
    matrix, offset = inverse[:3, :3] * spacing_mm, inverse[:3, :3] @ origin + inverse[:3, 3]
    source = np.clip(np.asarray(ct, np.float32), *HU_RANGE)
    step = spacing_mm / voxel_spacing_mm(affine)
    sigma = np.where(step > 1.2, 0.4 * step, 0.0)  # against aliasing when the CT is finer than the grid
    if sigma.any():
        source = ndimage.gaussian_filter(source, sigma)
    grid = ndimage.affine_transform(
        source, matrix, offset=offset, output_shape=shape, order=1, cval=HU_RANGE[0]
    )
    mask = _body_mask(grid)
    ends = min(round(FOV_END_MARGIN_MM / spacing_mm), (shape[2] - 1) // 4)
    if ends:  # where the field of view cuts the body, its overlap with the other one biases the metric
        mask[:, :, :ends] = mask[:, :, -ends:] = False
    if exclude is not None and np.any(exclude):
        lesions = ndimage.affine_transform(
            np.asarray(exclude, np.uint8), matrix, offset=offset, output_shape=shape, order=0
        )
        margin = max(round(EXCLUDE_MARGIN_MM / spacing_mm), 1)
        mask &= ~ndimage.binary_dilation(lesions > 0, iterations=margin)
    images = []
    for array in (grid.astype(np.float32), mask.astype(np.uint8)):
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
        image.SetSpacing([spacing_mm] * 3)
        image.SetOrigin(origin.tolist())
        images.append(image)
    return images[0], images[1]


def _body_mask(ct: np.ndarray) -> np.ndarray:
    """The patient: CT above :data:`BODY_MIN_HU`, opened, largest component, filled per axial slice, dilated."""
    body = ndimage.binary_opening(ct > BODY_MIN_HU, iterations=1)
    if not body.any():
        return np.ones(ct.shape, bool)
    labels, n = cc3d.connected_components(body, connectivity=6, return_N=True)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    for z in range(body.shape[2]):
        body[:, :, z] = ndimage.binary_fill_holes(body[:, :, z])
    return ndimage.binary_dilation(body, iterations=2)


def _centroid(body: sitk.Image) -> tuple[float, float, float]:
    """Physical centre of a mask image's voxels."""
    index = np.argwhere(sitk.GetArrayViewFromImage(body) > 0)[:, ::-1].mean(axis=0)
    return body.TransformContinuousIndexToPhysicalPoint(index.tolist())


def _initial_translation(fixed_body: sitk.Image, moving_body: sitk.Image) -> tuple[float, float, float]:
    """Offset of the body centroids; z only when both bodies end inside their fields of view."""
    offset = np.subtract(_centroid(moving_body), _centroid(fixed_body))
    inside = all(
        not (a := sitk.GetArrayViewFromImage(b))[0].any() and not a[-1].any()
        for b in (fixed_body, moving_body)
    )
    if not inside:
        offset[2] = 0.0
    return tuple(float(v) for v in offset)


def _to_matrix(transform: sitk.Transform) -> np.ndarray:
    """A SimpleITK matrix transform about a centre as a 4x4 world matrix: x -> A (x - c) + c + t."""
    a = np.reshape(transform.GetMatrix(), (3, 3))
    c = np.asarray(transform.GetCenter())
    t = np.asarray(transform.GetTranslation())
    matrix = np.eye(4)
    matrix[:3, :3] = a
    matrix[:3, 3] = c + t - a @ c
    return matrix
