"""Figures (maximum-intensity projections with outlines) and the self-contained HTML report.

The names below load their module on first use, so that ``fapiseg --help`` does not import matplotlib.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "Marker": "mip",
    "Outline": "mip",
    "display_position": "mip",
    "MipImage": "mip",
    "draw_mip": "mip",
    "mip_figure": "mip",
    "mip_image": "mip",
    "figure_to_base64_png": "embed",
    "figure_to_png": "embed",
    "img_tag": "embed",
    "png_data_uri": "embed",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
