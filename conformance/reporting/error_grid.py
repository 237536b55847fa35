"""``report.html``'s "where it is wrong" grid as an HTML table, readable at any width.

Implementations × tensors (``plots.where_wrong_table``): each cell the worst error ÷
tolerance of that tensor against PyTorch over every case. A pass is green (✓); an
unexpected failure red, darker the larger the factor (log scale); a recorded known
defect orange, so that a run that exits 0 shows no red; a tensor never compared grey.
The page's text scales with the browser, the table scrolls sideways inside its box on
a narrow window with the implementation's name kept in view, and names are escaped.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from conformance.reporting.plots import AGAINST_PYTORCH, where_wrong_table

#: Hue and the lightness of the mildest and the worst failure (``hsl``), by kind of failure.
_SHADES = {"fail": (0, 88, 38), "known": (30, 86, 52)}
#: Factors at or beyond this are the darkest shade.
_TOP = 1e6

STYLE = """
table.grid { font-size: 12px; }
table.grid th, table.grid td { padding: 3px 6px; text-align: center; }
table.grid th:first-child, table.grid td:first-child { position: sticky; left: 0; background: #fff;
  text-align: left; z-index: 1; }
table.grid td.pass { background: #c8e6c9; } table.grid td.blank { background: #f2f2f2; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid #ccc; }
"""


def _known(results: pd.DataFrame) -> pd.DataFrame:
    """Per implementation × tensor: every failing row compared with PyTorch is a recorded known defect."""
    rows = results[results["check"].isin(AGAINST_PYTORCH) & results["verdict"].isin(["fail", "expected_fail"])]
    known = rows.assign(known=rows["verdict"] == "expected_fail")
    return known.pivot_table(index="implementation", columns="tensor", values="known", aggfunc="min")


def _shade(kind: str, ratio: float) -> str:
    hue, mild, dark = _SHADES[kind]
    share = 1.0 if ratio == math.inf else min(max(math.log10(max(ratio, 1.0)) / math.log10(_TOP), 0.0), 1.0)
    lightness = mild - (mild - dark) * share
    text = "#fff" if lightness < 60 else "#000"
    return f"background: hsl({hue}, 75%, {lightness:.0f}%); color: {text}"


def label(ratio: float) -> str:
    """A failing cell's text: the factor by which it exceeds its tolerance, or ``shape``."""
    return "shape" if ratio == math.inf else f"×{ratio:.0e}".replace("e+0", "e").replace("e+", "e")


def _flag(value) -> bool:
    """A pivot's cell as a flag (NaN, where there was no row, is False)."""
    return bool(value) if value == value else False


def _cell(ratio: float, failing: bool, known: bool) -> str:
    if ratio != ratio:
        return '<td class="blank" title="never compared"></td>'
    if not failing:
        return '<td class="pass" title="within tolerance in every case">✓</td>'
    kind = "known" if known else "fail"
    title = "recorded known defect" if known else "unexpected failure"
    return f'<td style="{_shade(kind, ratio)}" title="{title}">{label(ratio)}</td>'


def where_wrong_html(results: pd.DataFrame) -> str:
    """The grid and its legend ('' when no tensor was compared with PyTorch)."""
    ratio, failing = where_wrong_table(results)
    if ratio.empty or ratio.isna().all().all():
        return ""
    known = _known(results).reindex(index=ratio.index, columns=ratio.columns)
    head = "<th>implementation</th>" + "".join(f"<th>{html.escape(str(t))}</th>" for t in ratio.columns)
    body = []
    for name in ratio.index:
        cells = "".join(_cell(ratio.at[name, t], _flag(failing.at[name, t]), _flag(known.at[name, t]))
                        for t in ratio.columns)
        body.append(f"<tr><td>{html.escape(str(name))}</td>{cells}</tr>")
    legend = ("<p class='legend muted'><span style='background:#c8e6c9'>✓ pass</span>"
              f"<span style='{_shade('fail', 1e3)}'>unexpected failure</span>"
              f"<span style='{_shade('known', 1e3)}'>recorded known defect</span>"
              "<span style='background:#f2f2f2'>never compared</span></p>")
    return (f'<div class="scroll"><table class="grid"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{legend}')
