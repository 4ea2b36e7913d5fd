"""Pipelines across the packages: the end-to-end demo (``fapiseg demo``, ``make demo``)."""
