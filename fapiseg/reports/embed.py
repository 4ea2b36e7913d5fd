"""Figures as base64 PNG, so an HTML report carries its images inside and opens without a server."""

from __future__ import annotations

import base64
import html
import io

from matplotlib.figure import Figure


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_to_base64_png(fig: Figure, dpi: int = 100) -> str:
    """The figure as a PNG data URI."""
    return png_data_uri(figure_to_png(fig, dpi))


def img_tag(png: bytes, alt: str, css_class: str = "") -> str:
    """An ``<img>`` element holding ``png`` inline."""
    cls = f' class="{html.escape(css_class)}"' if css_class else ""
    return f'<img{cls} alt="{html.escape(alt)}" src="{png_data_uri(png)}">'
