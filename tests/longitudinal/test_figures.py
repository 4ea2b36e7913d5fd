"""Response figures: lesion positions on the coronal MIP, trajectories and the waterfall plot."""

import numpy as np
import pandas as pd
import pytest

from fapiseg.longitudinal.figures import (
    StudyImage,
    coronal_position_mm,
    mip_comparison_figure,
    trajectory_figure,
    waterfall_figure,
)
from fapiseg.reports.mip import mip_image
from tests.metrics.synthetic import flip_and_permute


@pytest.mark.parametrize("flips, order", [((), (0, 1, 2)), ((0, 2), (2, 0, 1))])
def test_a_lesion_is_labelled_where_the_mip_shows_it(flips, order):
    affine = np.array([[2.0, 0, 0, -20.0], [0, 3.0, 0, 5.0], [0, 0, 4.0, -40.0], [0, 0, 0, 1]])
    suv = np.zeros((20, 12, 16), np.float32)
    suv[4, 6, 11] = 10.0
    world = affine[:3, :3] @ np.array([4, 6, 11]) + affine[:3, 3]
    suv, affine = flip_and_permute(suv, affine, flips=flips, order=order)
    image = mip_image(suv, affine, "coronal")
    row, col = np.unravel_index(np.argmax(image.pixels), image.pixels.shape)
    col_mm, row_mm = coronal_position_mm(affine, suv.shape, world)
    assert col_mm == pytest.approx((col + 0.5) * image.col_mm) and row_mm == pytest.approx(
        (row + 0.5) * image.row_mm
    )


def test_figures_draw_one_line_per_track_and_one_bar_per_patient():
    changes = pd.DataFrame(
        {
            "study": ["t0", "t0", "t1", "t1"],
            "track_id": [1, 2, 1, 2],
            "suv_max": [8.0, 6.0, 4.0, np.nan],
            "volume_ml": [5.0, 2.0, 1.0, 0.0],
        }
    )
    fig = trajectory_figure(changes, ["t0", "t1"], targets=[1])
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    best = pd.DataFrame(
        {
            "patient": ["a", "b", "c"],
            "best_sum_diameters_change_pct": [-40.0, 25.0, np.nan],
            "best_recist": ["PR", "PD", "NE"],
        }
    )
    bars = [p for p in waterfall_figure(best).axes[0].patches if np.isfinite(p.get_height())]
    assert sorted(b.get_height() for b in bars) == [-40.0, 25.0]


def test_mips_side_by_side_with_track_labels():
    suv = np.zeros((10, 10, 10), np.float32)
    suv[5, 5, 5] = 5.0
    mask = suv > 0
    images = [StudyImage(s, suv, np.eye(4), mask, "", [(1, np.array([5.0, 5.0, 5.0]))]) for s in ("t0", "t1")]
    fig = mip_comparison_figure(images)
    assert len(fig.axes) == 2 and all(ax.texts[-1].get_text() == "1" for ax in fig.axes)
