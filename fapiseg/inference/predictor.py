"""The Predictor: trained checkpoint(s) in, a lesion mask on the case's own grid out.

Per case: validate the images (:func:`fapiseg.data.load_case`), preprocess the arrays it read exactly as in
training (:func:`fapiseg.data.transforms.inference_transforms` of the checkpoint's own ``data`` config:
RAS, model spacing, fixed SUV/HU scaling), run a Gaussian-blended sliding window that skips windows which
cannot hold a lesion (:mod:`fapiseg.inference.sliding`), average the networks of an ensemble and their
mirrored copies (:mod:`fapiseg.inference.ensemble`), put the lesion probability back onto the input
grid through the affines (:mod:`fapiseg.inference.resample`), threshold and post-process (with
``rescore=True``, the checkpoint's false-positive reduction, :mod:`fapiseg.inference.rescoring`).

``.network``, ``.roi_size``, ``.overlap`` and ``.spacing`` say what runs and how it windows, so an
outside benchmark can run a plain MONAI sliding window over ``.network`` with the same settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from fapiseg.data.cases import CT_NAME, PET_NAME, Case
from fapiseg.data.validation import CaseImages, load_case
from fapiseg.errors import CaseError, FapisegError
from fapiseg.inference.batch import CasePrediction, discover_cases
from fapiseg.inference.ensemble import WindowPredictor, autocast_dtype, mirror_axes, resolve_device
from fapiseg.inference.postprocess import PostProcessing, post_process
from fapiseg.inference.resample import to_input_grid
from fapiseg.inference.sliding import WindowCount, WindowSkip, sliding_window_lesion_probability
from fapiseg.io.nifti import Volume

#: Windows whose every voxel is below this SUV (or in air) are not run. FAP-avid lesions are by
#: definition above the blood pool (SUV about 1.5-2 in FAPI PET); the faintest lesion of the demo's
#: training cohort has SUVmax 2.9. Air is CT below fapiseg.data.transforms.BODY_HU.
DEFAULT_SKIP_SUV = 1.0
#: The settings ensemble members must share (they are preprocessed once).
SHARED_DATA_KEYS = ("spacing_mm", "pet", "ct")


@dataclass(frozen=True)
class PredictorOptions:
    """How to run: ``overlap``/``sw_batch_size`` None take the checkpoint's; ``skip_suv`` None runs every
    window; ``precision`` see :func:`~fapiseg.inference.ensemble.autocast_dtype`; ``rescore`` applies the
    false-positive reduction ``fapiseg rescore`` stored in a single checkpoint (infer.py does by default)."""

    overlap: float | None = None
    sw_batch_size: int | None = None
    tta: bool = False
    precision: str = "auto"
    skip_suv: float | None = DEFAULT_SKIP_SUV
    post: PostProcessing = field(default_factory=PostProcessing)
    rescore: bool = False


def training_flip_axes(models: Sequence) -> tuple[int, ...]:
    """The spatial axes every network of ``models`` was mirrored along in training (RAS, as at inference).

    TTA mirrors only along these: a network trained without, say, head-foot flips has never seen an
    upside-down body, and averaging in its prediction on one adds errors instead of removing them.
    Checkpoints whose config does not say were trained with the default flips (all three axes).
    """
    common = {0, 1, 2}
    for model in models:
        augmentation = model.cfg["data"].get("augmentation") or {}
        common &= {int(a) for a in augmentation.get("flip_axes", (0, 1, 2))}
    return tuple(sorted(common))


class Predictor:
    """Segments FAP-avid lesions with one trained network or an ensemble (see the module docstring)."""

    def __init__(
        self, models: Sequence, device: torch.device, options: PredictorOptions = PredictorOptions()
    ):
        from fapiseg.data.transforms import BODY_HU, inference_transforms, scaled_hu, suv_scaling

        if not models:
            raise FapisegError("no checkpoint given")
        _check_compatible(models)
        first = models[0]
        self.models = list(models)
        self.cfg = first.cfg
        self.device = device
        # a rescorer was fitted to one network's probabilities, not to an ensemble's average
        rescorer = first.rescorer if options.rescore and len(models) == 1 else None
        self.options = replace(options, post=replace(options.post, rescorer=rescorer))
        self.network: torch.nn.Module = first.network
        self.roi_size: tuple[int, int, int] = tuple(first.roi_size)
        self.overlap: float = float(first.overlap if options.overlap is None else options.overlap)
        self.spacing: tuple[float, float, float] = tuple(first.spacing_mm)
        inference_cfg = self.cfg["model"].get("inference", {})
        self.sw_batch_size = int(options.sw_batch_size or inference_cfg.get("sw_batch_size", 2))
        self.dtype = autocast_dtype(options.precision, device)
        self.transforms = inference_transforms(self.cfg["data"])
        self.loaded_transforms = inference_transforms(self.cfg["data"], load=False)
        self.window_predictor = WindowPredictor(
            [m.network for m in models],
            device,
            mirror_axes(options.tta, training_flip_axes(models)),
            self.dtype,
            fast=True,
            workers=min(torch.get_num_threads(), self.sw_batch_size),
            worker_threads=max(torch.get_num_threads() // self.sw_batch_size, 1),
        )
        self.skip = None
        if options.skip_suv is not None:
            scaling = suv_scaling(self.cfg["data"])
            self.skip = WindowSkip(
                pet_floor=float(scaling.scale(torch.tensor(float(options.skip_suv)))),
                ct_floor=scaled_hu(BODY_HU, self.cfg["data"]["ct"]["window"]),
                ct_channel=1,
            )
        self.last_windows = WindowCount()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike | Sequence[str | os.PathLike],
        device: str | torch.device = "auto",
        options: PredictorOptions = PredictorOptions(),
    ) -> Predictor:
        """A predictor from one checkpoint, or several (an ensemble, e.g. the folds of one experiment).

        ``device="auto"`` takes the GPU when there is one, else the CPU.
        """
        from fapiseg.models.checkpoint import load_model

        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        target = resolve_device(device)
        return cls([load_model(p, target) for p in paths], target, options)

    def describe(self) -> str:
        """One line: networks, spacing, window, overlap, device, precision, TTA, skipping."""
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        skip = "off" if self.skip is None else f"windows below SUV {self.options.skip_suv:g} or in air"
        rescorer = self.options.post.rescorer
        reduction = "off" if rescorer is None else f"on (candidates above {rescorer.candidate_threshold:g})"
        return (
            f"{len(self.models)} network(s), {'x'.join(f'{s:g}' for s in self.spacing)} mm, window "
            f"{'x'.join(map(str, self.roi_size))}, overlap {self.overlap:g}, {self.device.type} {precision}, "
            f"TTA {self._tta_description()}, skipping {skip}, false-positive reduction {reduction}"
        )

    def _tta_description(self) -> str:
        flips = self.window_predictor.flips
        if len(flips) == 1:
            return "off"
        axes = sorted({axis - 2 for flip in flips for axis in flip})
        return f"{len(flips)} mirrorings (spatial axes {', '.join(map(str, axes))})"

    def preprocess(self, case: Case, images: CaseImages | None = None) -> torch.Tensor:
        """The network input of ``case``: a MetaTensor (C, X, Y, Z), RAS, model spacing, with its affine.

        ``images`` (the case as :func:`load_case` read it) saves reading the files again: its arrays and
        affines enter the same transforms after MONAI's loader. A CT that ``load_case`` had to move onto
        the PET grid is read again, so that MONAI resamples the stored CT as in training.
        """
        transforms, source = self.transforms, {"pet": str(case.pet), "ct": str(case.ct)}
        if images is not None and images.ct is not None and _as_stored(images.ct, case.ct):
            transforms = self.loaded_transforms
            source = {"pet": _meta_tensor(images.pet, case.pet), "ct": _meta_tensor(images.ct, case.ct)}
        try:
            return transforms(source)["image"]
        except Exception as e:  # noqa: BLE001 - MONAI wraps reader errors in RuntimeError with the file name
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise CaseError(case.name, f"preprocessing failed ({last[:200]})") from None

    def lesion_probability(self, image: torch.Tensor) -> torch.Tensor:
        """Lesion probability (X, Y, Z) on the model grid of a preprocessed ``image`` (C, X, Y, Z)."""
        self.last_windows = WindowCount()
        with torch.inference_mode():
            probability = sliding_window_lesion_probability(
                image[None].float(),
                self.window_predictor.margin,
                self.roi_size,
                self.overlap,
                self.sw_batch_size,
                skip=self.skip,
                count=self.last_windows,
            )
        return torch.as_tensor(probability[0, 0])

    def case_probability(self, case: Case, seg: str = "skip") -> tuple[CaseImages, np.ndarray]:
        """Validate and read ``case`` (``seg`` as :func:`load_case`), and its lesion probability on the PET
        grid; raises :class:`CaseError`."""
        images = load_case(case, need_ct=True, seg=seg)
        image = self.preprocess(case, images)
        probability_model = self.lesion_probability(image).numpy()
        model_affine = np.asarray(image.affine, dtype=np.float64)
        pet = images.pet
        return images, to_input_grid(probability_model, model_affine, pet.shape, pet.affine)

    def predict_case(self, case: Case) -> CasePrediction:
        """Validate, preprocess, predict and post-process one case; raises :class:`CaseError`."""
        images, probability = self.case_probability(case)
        pet = images.pet
        post = post_process(probability, pet.array, pet.affine, self.options.post, ct=images.ct.array)
        return CasePrediction(
            images,
            Volume(post.mask, pet.affine.copy()),
            Volume(probability, pet.affine.copy()),
            post.detection_score,
        )

    def predict(self, case_dir: str | os.PathLike) -> nib.Nifti1Image:
        """The lesion mask (0/1, uint8) of the study folder ``case_dir`` (SUV.nii.gz, CTres.nii.gz) as a
        nibabel image on the case's own grid and affine."""
        folder = Path(case_dir)
        if not (folder / PET_NAME).exists():
            raise CaseError(
                folder.name, f"{PET_NAME} is missing (expected {folder / PET_NAME}, {CT_NAME} beside it)"
            )
        prediction = self.predict_case(discover_cases(folder)[0])
        img = nib.Nifti1Image(prediction.mask.array, prediction.mask.affine)
        img.set_sform(prediction.mask.affine, code=1)
        img.set_qform(prediction.mask.affine, code=1)
        return img


def _as_stored(volume: Volume, path: Path) -> bool:
    """True when ``volume`` has exactly the shape and affine stored in the header of ``path``."""
    header = nib.load(str(path))
    return tuple(header.shape[:3]) == volume.shape[:3] and np.array_equal(header.affine, volume.affine)


def _meta_tensor(volume: Volume, path: Path) -> torch.Tensor:
    """``volume`` as MONAI's loader gives it: a float32 MetaTensor (X, Y, Z) with its affine (RAS)."""
    from monai.data import MetaTensor

    return MetaTensor(
        torch.tensor(volume.array, dtype=torch.float32),  # a copy: the transforms may work in place
        affine=torch.as_tensor(volume.affine, dtype=torch.float64),
        meta={"filename_or_obj": str(path)},
    )


def _check_compatible(models: Sequence) -> None:
    """Ensemble members must share preprocessing and window size (they see one preprocessed image)."""
    first = models[0]
    for other in models[1:]:
        differs = [k for k in SHARED_DATA_KEYS if other.cfg["data"].get(k) != first.cfg["data"].get(k)]
        if tuple(other.roi_size) != tuple(first.roi_size):
            differs.append("roi_size")
        if differs:
            raise FapisegError(
                f"the checkpoints cannot be ensembled: they differ in {', '.join(differs)} "
                "(ensemble the folds of one experiment)"
            )
