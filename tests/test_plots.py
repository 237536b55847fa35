"""The report's timing picture reads as plain text: a log axis's numbers are "1", "100", "1e4",
never raw mathtext (mathtext is off for every label, so that a submitter's name is drawn as
written), its labels do not run into each other, and it is as wide as the page."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from conformance.reporting import plots


def _timings(low: float, high: float, names=("reference_numpy", "x$\\frac$.ipynb")) -> pd.DataFrame:
    sizes = np.geomspace(low, high, 9).round()
    rows = [{"implementation": name, "phase": phase, "n_params": size, "ratio": 0.3 + 0.2 * number + size / high}
            for number, name in enumerate(names) for phase in ("forward", "backward") for size in sizes]
    return pd.DataFrame(rows)


SPANS = [
    pytest.param((20, 300_000), id="a grid from 20 to 300000 parameters (many decades)"),
    pytest.param((12, 90), id="a grid within one decade"),
    pytest.param((2, 5), id="a grid of tiny networks"),
]


def _numbered(figure) -> list:
    """Every axis that shows numbers: each panel's x-axis, the first panel's y-axis (they share it)."""
    return [ax.xaxis for ax in figure.axes] + [figure.axes[0].yaxis]


def _shown(axis) -> list:
    return [label for label in axis.get_ticklabels(which="both") if label.get_visible() and label.get_text()]


@pytest.fixture(scope="module", params=SPANS)
def figure(request):
    figure = plots.speed_figure(_timings(*request.param))
    yield figure
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_each_axis_numbers_its_ticks_in_plain_text(figure):
    for axis in _numbered(figure):
        texts = [label.get_text() for label in _shown(axis)]
        assert texts, f"{axis.axis_name}-axis of '{axis.axes.get_title()}' has no number"
        assert not [t for t in texts if "$" in t or "mathdefault" in t or "\\" in t], texts
        assert all(float(t) > 0 for t in texts), texts


def test_the_labels_of_an_axis_do_not_overlap(figure):
    renderer = figure.canvas.get_renderer()
    for axis in _numbered(figure):
        boxes = [(label.get_text(), label.get_window_extent(renderer)) for label in _shown(axis)]
        touching = [(a, b) for (a, one), (b, other) in itertools.combinations(boxes, 2) if one.overlaps(other)]
        assert not touching, f"{axis.axis_name}-axis of '{axis.axes.get_title()}': labels overlap: {touching}"


def test_the_picture_is_as_wide_as_the_page(figure):
    assert round(figure.get_figwidth() * plots.DPI) == plots.PAGE_PX


@pytest.mark.parametrize("value, text", [
    pytest.param(1.0, "1", id="one"), pytest.param(100.0, "100", id="a hundred"),
    pytest.param(1e4, "1e4", id="ten thousand"), pytest.param(0.1, "0.1", id="a tenth"),
    pytest.param(2e-5, "2e-5", id="a small number"),
])
def test_a_tick_number_reads_as_written(value, text):
    assert plots.plain_number(value) == text
