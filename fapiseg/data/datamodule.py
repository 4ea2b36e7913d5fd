"""The Lightning DataModule: validated cases, a patient-level fold, cached MONAI pipelines.

Cases come from :func:`fapiseg.data.find_cases` and are split by patient with
:func:`fapiseg.data.split_cases`, so a patient's studies never sit on both sides. Every case is
checked with :func:`fapiseg.data.load_case` in :meth:`setup`; an unusable one is skipped with a
warning that names it. The deterministic preprocessing is cached (``cache: memory`` keeps it in RAM
with ``CacheDataset``; ``disk`` writes it under ``cache_dir`` with ``PersistentDataset``; ``none``
re-reads the NIfTI files every time), so later epochs only crop and augment.

A training step sees ``batch_size`` cases x ``samples_per_case`` patches. An epoch is
``iterations_per_epoch`` steps (cases drawn with replacement, as nnU-Net's fixed-length epochs), or
one pass over the training cases when that is null. Validation runs on whole volumes, one per step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from monai.data import CacheDataset, DataLoader, Dataset, PersistentDataset
from torch.utils.data import RandomSampler

from fapiseg.data.cases import Case, find_cases
from fapiseg.data.spacing import target_spacing_mm
from fapiseg.data.splits import split_cases
from fapiseg.data.transforms import training_transforms, validation_transforms
from fapiseg.data.validation import load_case
from fapiseg.errors import CaseError, FapisegError

log = logging.getLogger(__name__)

CACHE_MODES = ("memory", "disk", "none")


class PetCtDataModule(pl.LightningDataModule):
    """PET/CT cases under ``root`` as MONAI dictionaries; see the module docstring for the knobs.

    ``spacing_mm`` (x y z) is the model's voxel size; when None it is derived from the training cases
    (:func:`fapiseg.data.spacing.target_spacing_mm`) and available as :attr:`spacing_mm` right after
    construction, so the caller can write it into the saved configuration.
    """

    def __init__(
        self,
        root: str,
        patch_size: Sequence[int],
        pet: Mapping[str, Any],
        ct: Mapping[str, Any],
        sampling: Mapping[str, float],
        augmentation: Mapping[str, Any],
        spacing_mm: Sequence[float] | None = None,
        fold: int = 0,
        n_folds: int = 5,
        split_seed: int = 0,
        max_patients: int | None = None,
        batch_size: int = 1,
        samples_per_case: int = 2,
        iterations_per_epoch: int | None = None,
        cache: str = "memory",
        cache_dir: str | None = None,
        num_workers: int = 2,
        validate_cases: bool = True,
    ) -> None:
        super().__init__()
        if cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
        if cache == "disk" and not cache_dir:
            raise ValueError("cache: disk needs cache_dir")
        cases = [c for c in find_cases(root) if c.seg is not None]
        if max_patients is not None:
            keep = sorted({c.patient for c in cases})[: int(max_patients)]
            cases = [c for c in cases if c.patient in keep]
        if len({c.patient for c in cases}) < n_folds:
            raise FapisegError(
                f"{root}: {len({c.patient for c in cases})} patients with SEG.nii.gz; "
                f"{n_folds} folds need at least {n_folds}"
            )
        self.train_cases, self.val_cases = split_cases(cases, fold, n_folds, split_seed)
        if spacing_mm is None:
            spacing_mm = target_spacing_mm(c.pet for c in self.train_cases)
        self.spacing_mm = tuple(float(s) for s in spacing_mm)
        self.cfg = {
            "spacing_mm": list(self.spacing_mm),
            "patch_size": [int(p) for p in patch_size],
            "pet": dict(pet),
            "ct": dict(ct),
            "sampling": dict(sampling),
            "augmentation": dict(augmentation),
            "samples_per_case": int(samples_per_case),
        }
        self.batch_size, self.iterations_per_epoch = int(batch_size), iterations_per_epoch
        self.cache, self.cache_dir, self.num_workers = cache, cache_dir, int(num_workers)
        self.validate_cases = validate_cases
        self.skipped: list[str] = []
        self.train_ds = self.val_ds = None

    def counts(self) -> dict[str, int]:
        """Case and patient counts (safe to log: no names)."""
        return {
            "n_train_cases": len(self.train_cases),
            "n_val_cases": len(self.val_cases),
            "n_train_patients": len({c.patient for c in self.train_cases}),
            "n_val_patients": len({c.patient for c in self.val_cases}),
            "n_skipped_cases": len(self.skipped),
        }

    def setup(self, stage: str | None = None) -> None:
        if self.train_ds is not None:
            return
        train, val = self._usable(self.train_cases), self._usable(self.val_cases)
        if not train or not val:
            raise FapisegError("no usable training or validation case left after validation")
        self.train_ds = self._dataset(train, training_transforms(self.cfg), "train")
        self.val_ds = self._dataset(val, validation_transforms(self.cfg), "val")

    def train_dataloader(self) -> DataLoader:
        sampler = None
        if self.iterations_per_epoch:
            sampler = RandomSampler(
                self.train_ds, replacement=True, num_samples=int(self.iterations_per_epoch) * self.batch_size
            )
        return DataLoader(
            self.train_ds,
            batch_size=self.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_ds, batch_size=1, shuffle=False, num_workers=0)

    def _usable(self, cases: list[Case]) -> list[dict[str, str]]:
        """MONAI input dicts of the cases that pass validation, in order; the others are skipped by name.
        Cases are checked on ``num_workers`` threads (reading gzip and checking arrays release the GIL)."""
        problems: list[CaseError | None] = [None] * len(cases)
        if self.validate_cases:
            with ThreadPoolExecutor(max(self.num_workers, 1)) as pool:
                problems = list(pool.map(_problem, cases))
        items = []
        for case, problem in zip(cases, problems):
            if problem is not None:
                log.warning("skipping %s", problem)
                self.skipped.append(case.name)
                continue
            items.append({"pet": str(case.pet), "ct": str(case.ct), "label": str(case.seg)})
        return items

    def _dataset(self, items: list[dict], transform, part: str) -> Dataset:
        if self.cache == "memory":
            return CacheDataset(
                items, transform, cache_rate=1.0, num_workers=max(self.num_workers, 1), progress=False
            )
        if self.cache == "disk":
            return PersistentDataset(items, transform, cache_dir=Path(self.cache_dir, part))
        return Dataset(items, transform)


def _problem(case: Case) -> CaseError | None:
    """Why ``case`` cannot be trained on, or None when it can."""
    try:
        load_case(case, need_ct=True, seg="need")
    except CaseError as e:
        return e
    return None
