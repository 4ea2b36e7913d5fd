"""Lesion quantification (the lesion table) and evaluation metrics (autoPET, detection, diagnostic accuracy)."""

from fapiseg.metrics.table import LESION_COLUMNS, lesion_table

__all__ = ["LESION_COLUMNS", "lesion_table"]
