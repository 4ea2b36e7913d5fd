"""fapiseg: find, measure and follow FAP-avid lesions on PET/CT."""

__version__ = "0.1.0"
