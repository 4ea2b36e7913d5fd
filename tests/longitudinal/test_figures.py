"""Response figures: trajectories, the waterfall plot, MIPs of the studies side by side with track ids."""

import numpy as np
import pandas as pd

from fapiseg.longitudinal.figures import (
    StudyImage,
    mip_comparison_figure,
    trajectory_figure,
    waterfall_figure,
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
    assert len(fig.axes) == 2 and all("1" in [t.get_text() for t in ax.texts] for ax in fig.axes)
