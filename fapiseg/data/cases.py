"""Find cases on disk: the contract's autoPET-style layout, or an nnU-Net v2 ``dataset.json`` folder.

A case is one PET/CT study of one patient, named ``<patient>/<study>``. Discovery only locates
files; :mod:`fapiseg.data.validation` decides whether a case can be used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fapiseg.errors import FapisegError

PET_NAME, CT_NAME, SEG_NAME = "SUV.nii.gz", "CTres.nii.gz", "SEG.nii.gz"
#: The prediction layout (the contract): infer.py writes these into OUT/<patient>/<study>/, and evaluation,
#: the reports and the longitudinal module read them there.
PRED_NAME, PROB_NAME, LESIONS_NAME = "PRED.nii.gz", "PROB.nii.gz", "lesions.csv"


@dataclass(frozen=True)
class Case:
    """Where one study's images are. ``seg`` is None when there is no reference mask."""

    patient: str
    study: str
    pet: Path
    ct: Path
    seg: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.patient}/{self.study}"


def find_cases(root: str | Path) -> list[Case]:
    """All cases under ``root``, sorted by patient then study (studies sort in time order by name).

    ``root`` is either ``DATA/<patient>/<study>/SUV.nii.gz`` (CTres, SEG beside it) or an nnU-Net v2
    dataset folder with ``dataset.json``. A study folder counts as a case when it holds SUV or CTres,
    so that a case missing one of them is reported by validation instead of silently dropped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FapisegError(f"{root}: not a folder")
    if (root / "dataset.json").exists():
        return _find_nnunet_cases(root)
    cases = []
    for study_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
        if not ((study_dir / PET_NAME).exists() or (study_dir / CT_NAME).exists()):
            continue
        seg = study_dir / SEG_NAME
        cases.append(
            Case(
                study_dir.parent.name,
                study_dir.name,
                study_dir / PET_NAME,
                study_dir / CT_NAME,
                seg if seg.exists() else None,
            )
        )
    return cases


def case_dir(root: str | Path, case: Case | str) -> Path:
    """The folder ``root/<patient>/<study>`` that holds a case's outputs (or inputs)."""
    name = case.name if isinstance(case, Case) else case
    return Path(root, *name.split("/"))


def _find_nnunet_cases(root: Path) -> list[Case]:
    """nnU-Net v2 layout: ``imagesTr/<id>_<channel:04d><ext>``, ``labelsTr/<id><ext>``; channel names
    say which channel is CT and which PET. Each id is its own patient with one study, ``scan``."""
    meta = json.loads((root / "dataset.json").read_text())
    ext = meta.get("file_ending", ".nii.gz")
    channels = {
        str(v).upper(): int(k) for k, v in meta.get("channel_names", meta.get("modality", {})).items()
    }
    ct_ch = next((i for n, i in channels.items() if "CT" in n and "PET" not in n), None)
    pet_ch = next((i for n, i in channels.items() if "PET" in n or "SUV" in n), None)
    if ct_ch is None or pet_ch is None:
        raise FapisegError(
            f"{root}/dataset.json: channel_names must name a CT and a PET channel, got {channels}"
        )
    cases = []
    for images, labels in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs")):
        for pet in sorted((root / images).glob(f"*_{pet_ch:04d}{ext}")):
            cid = pet.name[: -len(f"_{pet_ch:04d}{ext}")]
            seg = root / labels / f"{cid}{ext}"
            cases.append(
                Case(
                    cid, "scan", pet, root / images / f"{cid}_{ct_ch:04d}{ext}", seg if seg.exists() else None
                )
            )
    return cases
