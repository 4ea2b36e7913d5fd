"""Case discovery, validation and patient-level splits (and, with training, the MONAI data pipeline)."""

from fapiseg.data.cases import Case, case_dir, find_cases
from fapiseg.data.splits import patient_folds, split_cases
from fapiseg.data.validation import CaseImages, load_case

__all__ = ["Case", "CaseImages", "case_dir", "find_cases", "load_case", "patient_folds", "split_cases"]
