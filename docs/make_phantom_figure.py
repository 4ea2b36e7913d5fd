"""Make docs/phantom_mip.png: coronal MIP of one synthetic patient's PET, lesions outlined, beside a CT slice.

Run from the repository root: ``python docs/make_phantom_figure.py [--seed S] [--patient K] [--out PNG]``.
The MIP is computed in world orientation from the affine (head up, the patient's right on the image's
left, as radiologists read coronal images), whatever the storage orientation of the scan.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from PIL import Image

from fapiseg.phantom import generate_patient, generate_study


def coronal(array: np.ndarray, affine: np.ndarray, reduce=np.max) -> tuple[np.ndarray, list[float]]:
    """Coronal projection (rows head to feet, columns patient's right to left) and its extent in mm."""
    img = nib.as_closest_canonical(nib.Nifti1Image(array, affine))
    ras = np.asarray(img.dataobj)
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    proj = reduce(ras, axis=1)  # along anterior-posterior
    view = proj[::-1, ::-1].T  # columns: right (high x) first; rows: superior (high z) first
    return view, [0, ras.shape[0] * spacing[0], 0, ras.shape[2] * spacing[2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--patient", type=int, default=2)
    parser.add_argument("--course", default="PR")
    parser.add_argument("--studies", type=int, default=2)
    parser.add_argument("--family", default="fapi")
    parser.add_argument("--out", default=str(Path(__file__).with_name("phantom_mip.png")))
    args = parser.parse_args()
    patient = generate_patient(
        args.patient, seed=args.seed, course=args.course, n_studies=args.studies, family=args.family
    )
    fig, axes = plt.subplots(1, 2 * args.studies, figsize=(3.9 * args.studies * 2, 6.8), dpi=64)
    for k in range(args.studies):
        study = generate_study(patient, k)
        mip, extent = coronal(study.suv, study.affine)
        seg, _ = coronal(study.seg, study.affine)
        ct, _ = coronal(
            study.ct.astype(np.float32), study.affine, reduce=lambda a, axis: a[:, a.shape[1] // 2 + 4, :]
        )
        ax = axes[2 * k]
        ax.imshow(mip, cmap="gray_r", vmin=0, vmax=7, extent=extent, interpolation="bilinear")
        ax.contour(seg[::-1], levels=[0.5], colors="#e0301e", linewidths=0.9, extent=extent)
        n = len(study.truth.lesions)
        ax.set_title(f"{study.truth.case}: PET MIP (SUV 0-7), {n} lesion{'s' * (n != 1)}", fontsize=9)
        ax = axes[2 * k + 1]
        ax.imshow(ct, cmap="gray", vmin=-350, vmax=450, extent=extent, interpolation="bilinear")
        ax.set_title(f"CT, coronal slice ({patient.sex}, arms {patient.anatomy.arms})", fontsize=9)
        for a in axes[2 * k : 2 * k + 2]:
            a.set_xticks([])
            a.set_yticks([])
            a.text(0.02, 0.98, "R", transform=a.transAxes, va="top", color="#1f77b4", fontsize=9)
            a.text(0.98, 0.98, "L", transform=a.transAxes, va="top", ha="right", color="#1f77b4", fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()  # a 128-colour palette keeps the PNG small
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    rgb.quantize(128).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
