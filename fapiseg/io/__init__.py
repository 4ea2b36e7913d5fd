"""Reading and writing images; geometry (affines, spacing, world coordinates) lives here."""

from fapiseg.io.geometry import spacing_mm, voxel_to_world, voxel_volume_ml
from fapiseg.io.nifti import Volume, atomic_path, load_volume, save_volume

__all__ = [
    "Volume",
    "atomic_path",
    "load_volume",
    "save_volume",
    "spacing_mm",
    "voxel_to_world",
    "voxel_volume_ml",
]
