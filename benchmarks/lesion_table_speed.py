"""How fast is the lesion table on a whole-body scan?

A synthetic whole-body PET (200 x 200 x 400 voxels = 16 M, 2 x 2 x 3 mm, one axis flipped) with 60
spherical and ellipsoidal lesions of 3-25 mm radius. It times, in the same run:

- plain: label once with cc3d, then for every lesion ``m = labels == i`` and its volume, SUVmax and
  SUVmean: the loop everyone writes first;
- fapiseg.metrics.lesion_table: the full table (SUVpeak, RECIST diameters, centroids, isocontour
  volumes; TBR against a given reference value);
- the same with the automatic TBR reference searched on a synthetic CT of the same grid (lungs, spine,
  aorta, liver: the test phantom of ``tests/metrics/synthetic.py``), a once-per-scan cost;

and prints the ratios to the plain loop (target <= 0.25) and each time in units of one read of the SUV
volume (``suv.sum()``). Run from the repository root:
``PYTHONPATH=$PWD .venv/bin/python benchmarks/lesion_table_speed.py``.
"""

from __future__ import annotations

import time

import cc3d
import numpy as np

from fapiseg.metrics import lesion_table
from tests.metrics.synthetic import thorax_phantom

SHAPE = (200, 200, 400)
AFFINE = np.array([[-2.0, 0, 0, 200.0], [0, 2.0, 0, -200.0], [0, 0, 3.0, -600.0], [0, 0, 0, 1]])
N_LESIONS = 60


def whole_body(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Background uptake (gamma noise around SUV 1.2) with hot ellipsoidal lesions; returns (suv, mask)."""
    rng = np.random.default_rng(seed)
    suv = rng.gamma(6.0, 0.2, SHAPE).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    spacing = np.abs(np.diag(AFFINE)[:3])
    for _ in range(N_LESIONS):
        radii_mm = rng.uniform(3.0, 25.0) * rng.uniform(0.7, 1.3, 3)
        centre = rng.uniform(0.1, 0.9, 3) * SHAPE
        reach = np.ceil(radii_mm / spacing).astype(int) + 1
        box = tuple(
            slice(max(int(c) - r, 0), min(int(c) + r + 1, n)) for c, r, n in zip(centre, reach, SHAPE)
        )
        grid = np.ogrid[box]
        inside = sum(((g - c) * s / r) ** 2 for g, c, s, r in zip(grid, centre, spacing, radii_mm)) <= 1.0
        mask[box][inside] = 1
        suv[box][inside] += rng.uniform(2.0, 12.0) * rng.uniform(0.8, 1.2, int(inside.sum())).astype(
            np.float32
        )
    return suv, mask


def plain_loop(suv: np.ndarray, mask: np.ndarray) -> list[tuple[float, float, float]]:
    labels, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
    rows = []
    for i in range(1, n + 1):
        m = labels == i
        rows.append((float(m.sum()), float(suv[m].max()), float(suv[m].mean())))
    return rows


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    suv, mask = whole_body()
    read = best_of(lambda: suv.sum(), 5)
    plain = best_of(lambda: plain_loop(suv, mask))
    table = best_of(lambda: lesion_table(suv, mask, AFFINE, background=1.2))
    n = len(lesion_table(suv, mask, AFFINE, background=1.2))
    print(
        f"whole body {SHAPE} = {suv.size / 1e6:.1f} M voxels, {n} lesions; "
        f"one read of the SUV volume {read * 1e3:.1f} ms"
    )
    print(f"plain loop (volume, max, mean): {plain:.3f} s = {plain / read:.0f} reads")
    print(f"lesion_table (all columns):     {table:.3f} s = {table / read:.0f} reads")
    print(f"ratio lesion_table / plain loop: {table / plain:.3f} (target <= 0.25)")
    ct = thorax_phantom(shape=SHAPE, affine=AFFINE)[0]
    with_ct = best_of(lambda: lesion_table(suv, mask, AFFINE, ct=ct))
    reference = lesion_table(suv, mask, AFFINE, ct=ct)["tbr_reference"].iloc[0]
    print(
        f"lesion_table with the automatic TBR reference ({reference} found on CT): {with_ct:.3f} s = "
        f"{with_ct / read:.0f} reads; ratio {with_ct / plain:.3f}"
    )


if __name__ == "__main__":
    main()
