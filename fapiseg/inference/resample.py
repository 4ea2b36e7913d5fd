"""Put a map computed on the model's grid back onto the input's grid, through the two affines.

The model grid (RAS, model spacing) and the input grid (any spacing, flips, axis order) are related
only by their affines: input voxel ``v`` sits at world point ``A_in @ v``, which is model voxel
``inv(A_model) @ A_in @ v``. Interpolating there places every value on the right world voxel whatever
the storage order; nothing is inferred from transform histories.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def to_input_grid(
    values: np.ndarray,
    model_affine: np.ndarray,
    input_shape: tuple[int, int, int],
    input_affine: np.ndarray,
    order: int = 1,
) -> np.ndarray:
    """``values`` (on ``model_affine``'s grid) sampled at the input grid's voxel centres, float32.

    ``order`` 1 is trilinear (probabilities), 0 nearest (labels). Input voxels beyond the model grid's
    edge take the nearest edge value (the model grid covers the same field of view, up to half a voxel).
    """
    to_model = np.linalg.inv(np.asarray(model_affine, float)) @ np.asarray(input_affine, float)
    return ndimage.affine_transform(
        np.asarray(values, dtype=np.float32),
        to_model[:3, :3],
        offset=to_model[:3, 3],
        output_shape=tuple(int(n) for n in input_shape),
        order=order,
        mode="nearest",
        prefilter=False,
    )
