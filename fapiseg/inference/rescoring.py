"""False-positive reduction: a learned second look at every lesion candidate the network proposes.

Detection pipelines (the LUNA16 challenge's "false-positive reduction" stage, nnDetection's rescoring)
separate finding candidates from judging them. Here the network's lesion probability is thresholded low
(``candidate_threshold``, so faint small lesions become candidates too), each 26-connected candidate is
described by a few measurements a reader would look at — size, uptake, contrast to its surroundings, the
CT inside and around it, the network's confidence — and a logistic regression fitted on the network's own
candidates in training patients (:func:`fit_rescorer`; ``fapiseg rescore``) keeps or drops it. A degenerative
joint, for instance, is as hot as a bone metastasis but leaves the CT unchanged.

A kept candidate's mask is its voxels above the usual probability threshold, or above half its peak
probability where that peak is lower (a faint lesion is delineated, not dropped). Geometry (volume,
the shells around a candidate) comes from the affine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from fapiseg.io.geometry import spacing_mm, voxel_volume_ml
from fapiseg.metrics.components import Components, label_components

#: What describes a candidate, in the order of :func:`candidate_features`' columns (HU in hundreds).
FEATURE_NAMES: tuple[str, ...] = (
    "log10_volume_ml",
    "suv_max",
    "suv_mean",
    "log_suv_max_to_surround",
    "probability_max",
    "probability_mean",
    "ct_mean",
    "ct_shell_mean",
    "ct_contrast",
    "ct_std",
    "ct_surround_mean",
    "bone_fraction",
)
#: Where a checkpoint keeps its rescorer (:meth:`Rescorer.to_dict`).
CHECKPOINT_KEY = "fapiseg_rescorer"
#: The shell (CT just outside) and the surround (background uptake and CT) around a candidate, mm.
SHELL_MM = 6.0
SURROUND_MM = 14.0
#: CT above this counts as bone (HU).
BONE_HU = 150.0
#: Defaults of ``fapiseg rescore``: the lesion probability that makes a candidate, and the false positives
#: per training scan at the operating point (README, "False-positive reduction").
CANDIDATE_THRESHOLD = 0.05
TARGET_FP_PER_SCAN = 0.5


@dataclass(frozen=True)
class Rescorer:
    """A fitted candidate classifier: standardise the features, then logistic regression.

    Stored in a checkpoint as :meth:`to_dict` (plain numbers, so ``weights_only=True`` loads it).
    ``threshold`` is the score a candidate needs; ``candidate_threshold`` the lesion probability that
    makes candidates.
    """

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    candidate_threshold: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probability that each row of ``features`` (n, len(FEATURE_NAMES)) is a lesion."""
        z = (np.asarray(features, np.float64) - self.mean) / self.scale @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        """Plain Python lists, strings and floats (what ``torch.load(weights_only=True)`` accepts)."""
        d = asdict(self)
        return {
            "feature_names": [str(n) for n in d.pop("feature_names")],
            **{k: [float(x) for x in v] if isinstance(v, tuple) else float(v) for k, v in d.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> Rescorer:
        if tuple(d["feature_names"]) != FEATURE_NAMES:
            raise ValueError(f"rescorer features {d['feature_names']} are not this version's {FEATURE_NAMES}")
        return cls(
            tuple(d["feature_names"]),
            *(tuple(float(x) for x in d[k]) for k in ("mean", "scale", "weights")),
            *(float(d[k]) for k in ("bias", "threshold", "candidate_threshold")),
        )


def candidates(probability: np.ndarray, affine: np.ndarray, candidate_threshold: float) -> Components:
    """The 26-connected regions of lesion probability above ``candidate_threshold``."""
    return label_components(probability > candidate_threshold, 26, affine)


def candidate_features(
    found: Components, probability: np.ndarray, suv: np.ndarray, ct: np.ndarray, affine: np.ndarray
) -> np.ndarray:
    """One row of :data:`FEATURE_NAMES` per candidate (float32, shape (n, 12)); arrays on one grid."""
    spacing = spacing_mm(affine)
    voxel_ml = voxel_volume_ml(affine)
    pad = np.ceil(SURROUND_MM / spacing).astype(int) + 1
    rows = []
    for c in found:
        box = tuple(
            slice(max(s.start - p, 0), min(s.stop + p, n)) for s, p, n in zip(c.bbox, pad, probability.shape)
        )
        inside = found.labels[box] == c.label
        distance = distance_transform_edt(~inside, sampling=spacing)
        shell = (distance > 0) & (distance <= SHELL_MM)
        surround = (distance > SHELL_MM) & (distance <= SURROUND_MM)
        s, h, q = suv[box], ct[box] / 100.0, probability[box]
        s_in, h_in = s[inside], h[inside]
        background = float(s[surround].mean()) if surround.any() else float(s_in.min())
        ct_in = float(h_in.mean())
        ct_shell = float(h[shell].mean()) if shell.any() else ct_in
        ct_surround = float(h[surround].mean()) if surround.any() else ct_in
        rows.append(
            [
                np.log10(inside.sum() * voxel_ml),
                s_in.max(),
                s_in.mean(),
                np.log(s_in.max() / max(background, 0.1)),
                q[inside].max(),
                q[inside].mean(),
                ct_in,
                ct_shell,
                ct_in - ct_shell,
                h_in.std(),
                ct_surround,
                (h_in > BONE_HU / 100.0).mean(),
            ]
        )
    return np.asarray(rows, np.float32).reshape(len(rows), len(FEATURE_NAMES))


def rescored_scores(
    probability: np.ndarray,
    suv: np.ndarray,
    ct: np.ndarray,
    affine: np.ndarray,
    rescorer: Rescorer,
    threshold: float = 0.5,
) -> np.ndarray:
    """The kept candidates (see the module docstring) as a float32 map: each of their voxels holds its
    candidate's score (> 0), every other voxel 0."""
    found = candidates(probability, affine, rescorer.candidate_threshold)
    score_map = np.zeros(probability.shape, np.float32)
    if not len(found):
        return score_map
    scores = rescorer.scores(candidate_features(found, probability, suv, ct, affine))
    for c, score in zip(found, scores):
        if score >= rescorer.threshold:
            inside, q = c.crop(found.labels), probability[c.bbox]
            level = min(threshold, float(q[inside].max()) / 2)
            # > 0 even where the score underflows float32, so that "kept" stays "score > 0"
            score_map[c.bbox][inside & (q >= level)] = max(float(score), float(np.finfo(np.float32).tiny))
    return score_map


def fit_rescorer(
    features: np.ndarray,
    is_lesion: np.ndarray,
    n_scans: int,
    candidate_threshold: float,
    target_fp_per_scan: float = TARGET_FP_PER_SCAN,
    l2: float = 1e-3,
) -> Rescorer:
    """Fit the logistic regression on training candidates and set the threshold at the operating point.

    The threshold is the lowest score at which the training candidates give at most
    ``target_fp_per_scan`` false positives per scan (candidates that touch no reference lesion).
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(is_lesion, bool)
    if len(x) < 2 or y.all() or not y.any():
        raise ValueError(
            f"need lesion and non-lesion candidates to fit on, got {int(y.sum())} and {int((~y).sum())}"
        )
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / scale)
    yt = torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w[:-1] + w[-1], yt)
        loss = loss + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    weights = w.detach().numpy()
    rescorer = Rescorer(
        FEATURE_NAMES,
        tuple(mean),
        tuple(scale),
        tuple(weights[:-1]),
        float(weights[-1]),
        0.0,
        candidate_threshold,
    )
    scores = rescorer.scores(x)
    negatives = np.sort(scores[~y])[::-1]
    allowed = int(np.floor(target_fp_per_scan * n_scans))  # the false positives the budget allows
    threshold = float(np.nextafter(negatives[allowed], 1.0)) if allowed < len(negatives) else 0.0
    return replace(rescorer, threshold=threshold)
