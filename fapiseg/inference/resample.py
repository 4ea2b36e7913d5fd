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
    When each input axis runs along one model axis (scalings, flips, axis orders: no obliquity), trilinear
    interpolation is done as three 1-D ones: the same values, in about half the time.
    """
    to_model = np.linalg.inv(np.asarray(model_affine, float)) @ np.asarray(input_affine, float)
    linear = to_model[:3, :3]
    source = np.argmax(np.abs(linear), axis=0)  # the model axis each input axis runs along
    if order == 1 and np.count_nonzero(linear) == 3 and len(set(source)) == 3:
        scale, offset = linear[source, [0, 1, 2]], to_model[source, 3]
        along = np.asarray(values, np.float32).transpose(source)
        return _separable_linear(along, scale, offset, input_shape)
    return ndimage.affine_transform(
        np.asarray(values, dtype=np.float32),
        to_model[:3, :3],
        offset=to_model[:3, 3],
        output_shape=tuple(int(n) for n in input_shape),
        order=order,
        mode="nearest",
        prefilter=False,
    )


def _separable_linear(
    values: np.ndarray, scale: np.ndarray, offset: np.ndarray, output_shape: tuple[int, int, int]
) -> np.ndarray:
    """Trilinear sampling of ``values`` at model coordinates ``scale * i + offset`` (per axis) for every
    output voxel ``i``, edge values beyond the edges: one linear interpolation along each axis in turn."""
    out = values
    for axis, (step, start, n) in enumerate(zip(scale, offset, output_shape)):
        size = values.shape[axis]
        coords = np.clip(step * np.arange(int(n)) + start, 0.0, size - 1)
        low = np.minimum(np.floor(coords).astype(np.intp), max(size - 2, 0))
        weight = (coords - low).astype(np.float32)
        high = np.minimum(low + 1, size - 1)
        shape = [1, 1, 1]
        shape[axis] = -1
        weight = weight.reshape(shape)
        out = out.take(low, axis=axis) * (1 - weight) + out.take(high, axis=axis) * weight
    return np.ascontiguousarray(out, dtype=np.float32)
