"""The report's picture, and the table its error grid is drawn from.

* ``where_wrong_table``: implementations × tensors (output, loss, input, weight[0],
  bias[0], …), each cell the worst error ÷ tolerance of that tensor against
  PyTorch over every case (``error_grid`` draws it as an HTML table).
* ``speed``: each implementation's time as a multiple of PyTorch's on the same
  cases, against the network's size, one line per implementation, as a PNG in
  base64 text (or None when there is nothing to draw).
Labels are target names, which submitters choose: they are drawn as plain
text, mathtext off (``x$\\frac$.ipynb`` is a name, not a formula); so are the numbers of
a log axis (``plain_number``: matplotlib's own log labels are mathtext, shown raw when it is off).
"""

from __future__ import annotations

import base64
import functools
import io
import math

import pandas as pd

from conformance.reporting.brief import RATIO

#: The checks compared with PyTorch, whose rows carry an error and a tolerance at the worst element.
AGAINST_PYTORCH = ("forward", "loss", "gradient")
#: The widest the report's page is (``html.STYLE``), and the resolution pictures are drawn at.
PAGE_PX, DPI = 1300, 110


def error_ratio(detail: str) -> float:
    """|error| ÷ tolerance at the worst element, as a row's detail states it (NaN when it does not)."""
    found = RATIO.search(str(detail))
    if not found:
        return math.nan
    error, tolerance = float(found.group(1)), float(found.group(3))
    return error / tolerance if tolerance > 0 else math.inf


def tensor_key(tensor: str) -> tuple:
    """output, loss, input, then weight[0], bias[0], weight[1], … (layer by layer)."""
    fixed = {"output": (0, 0, 0), "loss": (1, 0, 0), "input": (2, 0, 0)}
    if tensor in fixed:
        return fixed[tensor]
    name, _, rest = tensor.partition("[")
    layer = int(rest.rstrip("]")) if rest.rstrip("]").isdigit() else 99
    return (3, layer, 0 if name == "weight" else 1)


def where_wrong_table(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(worst error ÷ tolerance, failing) per implementation × tensor, over the rows compared with
    PyTorch; a failing row whose detail gives no figure (a wrong shape, None) counts as infinite."""
    rows = results[results["check"].isin(AGAINST_PYTORCH) & results["verdict"].isin(["pass", "fail", "expected_fail"])]
    rows = rows.assign(failing=rows["verdict"] != "pass", ratio=rows["detail"].map(error_ratio))
    rows.loc[rows["failing"] & rows["ratio"].isna(), "ratio"] = math.inf
    names = list(dict.fromkeys(results["implementation"]))
    tensors = sorted(set(rows["tensor"]), key=tensor_key)
    ratio = rows.pivot_table(index="implementation", columns="tensor", values="ratio", aggfunc="max")
    failing = rows.pivot_table(index="implementation", columns="tensor", values="failing", aggfunc="max")
    return ratio.reindex(index=names, columns=tensors), failing.reindex(index=names, columns=tensors)


def plain_text(draw):
    """Run a drawing function with every label taken as plain text (no mathtext)."""
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)
    return drawn


def plain_number(value: float) -> str:
    """A tick's number as plain text: 0.5, 1, 20, 5000, then 1e4, 1e-4 past them."""
    if 1e-3 <= abs(value) < 1e4 or value == 0:
        return f"{value:g}"
    mantissa, _, exponent = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def plain_log_labels(axis) -> None:
    """Label a log axis in plain text at the ticks matplotlib would label (decades; a few
    others when the axis spans less than one)."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def __call__(self, value, pos=None):
            return plain_number(value) if super().__call__(value, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(minor_thresholds=(1, 0.4)))


def png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def speed_table(timings: pd.DataFrame) -> pd.DataFrame:
    """Median × PyTorch per implementation, phase and parameter count."""
    ok = timings[timings["ratio"].notna()]
    return (ok.groupby(["implementation", "phase", "n_params"], sort=False)["ratio"].median()
            .reset_index().sort_values(["implementation", "phase", "n_params"], kind="stable"))


@plain_text
def speed(timings: pd.DataFrame) -> str | None:
    """Time as a multiple of PyTorch's against parameters, one line per implementation,
    forward and backward side by side (``speed_figure``), as a PNG: drawn once, by the
    saving, inside ``plain_text``'s settings."""
    figure = _speed_lines(timings)
    return None if figure is None else png(figure)


@plain_text
def speed_figure(timings: pd.DataFrame):
    """The picture ``speed`` draws, as a matplotlib figure drawn (its labels made), None when
    nothing was timed."""
    figure = _speed_lines(timings)
    if figure is not None:
        figure.canvas.draw()  # the labels are made while drawing: inside plain_text's rc_context
    return figure


def _speed_lines(timings: pd.DataFrame):
    """The figure of ``speed``, not drawn yet (None when nothing was timed)."""
    table = speed_table(timings)
    if table.empty:
        return None
    plt = _pyplot()
    names = list(dict.fromkeys(timings.loc[timings["ratio"].notna(), "implementation"]))
    phases = [p for p in ("forward", "backward") if (table["phase"] == p).any()]
    # as wide as the page, so that the page shows it at its own size
    figure, axes = plt.subplots(1, len(phases), figsize=(PAGE_PX / DPI, 4.2), sharey=True, squeeze=False,
                                layout="constrained")
    colours = plt.get_cmap("tab10")
    for ax, phase in zip(axes[0], phases):
        for number, name in enumerate(names):
            line = table[(table["implementation"] == name) & (table["phase"] == phase)]
            ax.plot(line["n_params"], line["ratio"], marker="o", markersize=3.5, linewidth=1.6,
                    color=colours(number % 10), label=name)
        ax.axhline(1, color="black", linewidth=1, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_labels(ax.xaxis)
        plain_log_labels(ax.yaxis)
        ax.set_title(phase if phase == "forward" else "backward (or loss and gradients)", fontsize=12)
        ax.set_xlabel("parameters in the network", fontsize=11)
        ax.grid(alpha=0.3, which="major")
        ax.tick_params(which="both", labelsize=10)
        ax.tick_params(axis="x", which="both", labelrotation=35)
    axes[0][0].set_ylabel("time ÷ PyTorch's (1 = as fast)", fontsize=11)
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(names), 6),
                  fontsize=10, frameon=False)
    return figure
