"""The finite-difference oracle measured: on smooth networks, its estimates' error against
float64 autograd, next to the theoretical floor of its scheme (``fd_accuracy.csv`` and the
report's table of it).
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import pandas as pd

from conformance.cases.spec import Case, KINKED_ACTIVATIONS, NetworkSpec, rng_for
from conformance.cases.mlp_data import generate
from conformance.oracles.fd_scheme import Estimates, Settings
from conformance.oracles.finite_difference import FiniteDifferences, directions, flat_offsets
from conformance.running.driver import Driver


#: Smooth cases a run measures the oracle's accuracy on, at most (``grid_accuracy``): spread
#: over the grid's, they give its figures in a few seconds; all 564 of the full grid took 15 s
#: in every run, whatever was checked.
ACCURACY_CASES = 48


def accuracy(cases, dtypes: Sequence[str] = ("float64", "float32"), settings: Settings = Settings(),
             target=None) -> pd.DataFrame:
    """The oracle's own error, measured: for each case and evaluation dtype, the
    directional and per-entry estimates on ``target`` (the reference
    implementation by default) against float64 autograd at the same numbers.

    Errors are relative to the magnitude of what is differentiated: for a
    direction, sum |v_i g_i|; for an entry, the largest |g| of its tensor.
    ``floor`` is the scheme's theoretical best, ``bound_held`` whether every
    estimate's own error bound covered its actual error.
    """
    from conformance.oracles.torch import reference
    from conformance.running.targets import Target

    if target is None:
        from conformance.implementations.reference_numpy import ReferenceNumpy
        target = Target("reference_numpy", ReferenceNumpy, "builtin")
    driver = Driver(target)
    rows = []
    for case in cases:
        for dtype in dtypes:
            data = generate(case).astype(dtype)
            truth = reference(data).gradients.tensors()
            flat_truth = np.concatenate([np.ravel(truth[name]) for name in data.tensors()])
            fd = FiniteDifferences(driver, data, settings, dtype)
            vectors = directions(data, settings.directions)
            along = fd.along(vectors)
            offsets, entries, scales = flat_offsets(data), [], []
            for name, tensor in data.tensors().items():
                picks = rng_for(case, f"fd_accuracy/{name}").choice(
                    tensor.size, min(settings.entries_per_tensor, tensor.size), replace=False)
                entries += [offsets[name] + int(p) for p in picks]
                scales += [float(np.abs(truth[name]).max())] * len(picks)
            at = fd.at_entries(entries)
            for mode, estimates, exact, scale in (
                ("directional", along, vectors @ flat_truth, np.abs(vectors) @ np.abs(flat_truth)),
                ("entry", at, flat_truth[entries], np.array(scales)),
            ):
                rows.append(_accuracy_row(case, dtype, mode, estimates, exact, scale))
    return pd.DataFrame(rows)


def _accuracy_row(case, dtype: str, mode: str, estimates: Estimates, exact: np.ndarray, scale: np.ndarray) -> dict:
    got = np.array([e.derivative for e in estimates])
    bound = np.array([e.error for e in estimates])
    reliable = ~np.isnan(got)
    absolute = np.abs(got - exact)[reliable]
    relative = absolute / np.maximum(scale[reliable], np.finfo(float).tiny)
    return dict(
        case=case.id, dtype=dtype, mode=mode, scheme=str(estimates.scheme),
        step=min((e.step for e in estimates if not e.unreliable), default=np.nan),
        estimates=int(reliable.sum()),
        median_relative_error=float(np.median(relative)) if relative.size else np.nan,
        worst_relative_error=float(relative.max()) if relative.size else np.nan,
        floor=estimates.scheme.floor(dtype),
        bound_held=bool(np.all(absolute <= bound[reliable])),
    )


def accuracy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median and worst relative error over the cases, by dtype and mode, with the floor."""
    grouped = table.groupby(["dtype", "mode", "scheme"], sort=False)
    return grouped.agg(
        cases=("case", "nunique"),
        median_relative_error=("median_relative_error", "median"),
        worst_relative_error=("worst_relative_error", "max"),
        floor=("floor", "first"),
        bound_held=("bound_held", "all"),
    ).reset_index()


def grid_accuracy(cases: Sequence[Case]) -> pd.DataFrame | None:
    """The finite-difference oracle's own accuracy, measured on up to ``ACCURACY_CASES``
    smooth VJP cases of the grid (float64 data, evenly spread over them), where that oracle
    measures it; None otherwise."""
    smooth = [c for c in cases if isinstance(c.spec, NetworkSpec) and c.spec.loss is None and c.dtype == "float64"
              and not any(layer.activation in KINKED_ACTIVATIONS for layer in c.spec.layers)]
    spread = smooth[::max(1, -(-len(smooth) // ACCURACY_CASES))]
    return _measured(tuple(spread)).copy() if spread else None


@functools.lru_cache(maxsize=4)
def _measured(cases: tuple[Case, ...]) -> pd.DataFrame:
    """``accuracy`` of the reference on ``cases``: the same figures every time (the cases' own
    data, the reference's arithmetic), so measured once per process for every run on those cases."""
    return accuracy(cases)
