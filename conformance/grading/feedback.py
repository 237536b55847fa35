"""The feedback a student reads: one Markdown file per submission.

It says the verdict and the score (each part's points), what loading the
notebook noticed, what is wrong — the check, the layer and tensor, the worst
element with both values and the tolerance — and why, in the diagnosis' words,
and writes out the smallest failing case (the network, its parameters in
PyTorch's layout, the input, the upstream gradient or targets, and the values
PyTorch computes) so that the student can reproduce it in their own notebook.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from conformance.reporting import escape
from conformance.reporting.escape import markdown as md
from conformance.reporting.markdown import cell
from conformance.reporting.verdicts import HEADINGS, TargetResult, diagnosis_line, problems
from conformance.grading import reproduce
from conformance.grading.scores import Grade
from conformance.cases.layer_data import generate_case
from conformance.cases.spec import Case

#: Where a tensor lives, in words.
_TENSOR = re.compile(r"(weight|bias)\[(\d+)\]")


def where(tensor: str) -> str:
    """``bias[0]`` → ``layer 0 (the first), its bias``; others as they are."""
    if match := _TENSOR.fullmatch(tensor):
        kind, layer = match[1], int(match[2])
        return f"layer {layer}{' (the first)' if layer == 0 else ''}, its {'weights' if kind == 'weight' else 'bias'}"
    return {"input": "the gradient with respect to the input", "output": "the network's output",
            "loss": "the loss value", "*": "the case as a whole"}.get(tensor, tensor)


def _array(name: str, value: np.ndarray) -> str:
    return f"{name} = np.array({np.asarray(value).tolist()!r}, dtype=np.{np.asarray(value).dtype})"


def smallest_failing(result: TargetResult, cases: Sequence[Case]) -> Case | None:
    failing = {r.case for r in result.rows if r.verdict in ("fail", "error") and r.check != "coverage"}
    chosen = [c for c in cases if c.id in failing]
    return min(chosen, key=lambda c: (c.spec.n_params * c.batch, c.spec.depth, c.id), default=None)


def case_code(case: Case, given: tuple[tuple[str, str], ...] = ()) -> str:
    """The case written out as Python: network, parameters, input, the calls of the student's
    own functions where the assignment says how (``reproduce``), and PyTorch's answer."""
    from conformance.oracles.torch import reference

    data, spec = generate_case(case), case.spec
    ref = reference(data)
    lines = [f"# case {case.id}",
             f"# layer sizes {list(spec.sizes)}, hidden activation {spec.hidden_activation}, "
             f"output activation {spec.output_activation}, biases: {spec.bias}, batch {case.batch}, {case.dtype}",
             "# weights in PyTorch's layout, (n_out, n_in): layer l computes x @ W[l].T + b[l]",
             "import numpy as np"]
    lines += [_array(f"W{i}", w) for i, w in enumerate(data.params.weights)]
    lines += [_array(f"b{i}", b) for i, b in enumerate(data.params.biases) if b is not None]
    lines.append(_array("x", data.x))
    if spec.loss is None:
        lines += ["# backward from this upstream gradient dL/d(output):", _array("grad_output", data.upstream)]
    else:
        lines += [f"# loss {spec.loss}, with these targets:", _array("targets", data.targets)]
    run, compare = reproduce.calls(given, case) or ([], [])
    if run:
        lines += ["", "# your code, called as the assignment calls it:", *run]
    lines += ["", "# what PyTorch computes (float64):", _array("expected_output", ref.output)]
    if ref.loss is not None:
        lines.append(f"expected_loss = {float(ref.loss)!r}")
    grads = ref.gradients
    lines += [_array(f"expected_dW{i}", g) for i, g in enumerate(grads.weights)]
    lines += [_array(f"expected_db{i}", g) for i, g in enumerate(grads.biases) if g is not None]
    if grads.input is not None:
        lines.append(_array("expected_dx", grads.input))
    if compare:
        lines += ["", "# yours next to PyTorch's:", *compare]
    return "\n".join(lines)


def _scores(grade: Grade) -> list[str]:
    lines = ["| part | points | of | cases passing |", "|---|---|---|---|"]
    lines += [f"| {cell(e.name)} | {e.score:g} | {e.max_score:g} | {cell(e.output)} |" for e in grade.entries]
    return lines


#: How a note's cell numbers count, said wherever the notes are shown.
CELL_NUMBERS = "cells are counted from the top of the notebook, Markdown cells included: cell 1 is the first cell"


def wrong_lines(result: TargetResult, limit: int = 8) -> list[str]:
    """A Markdown item per kind of problem: the check, how many cases, where, and the worst row."""
    lines = []
    for problem in problems(result.rows)[:limit]:
        word = "wrong" if problem.worst.verdict == "fail" else "an error"
        lines.append(f"- **{problem.check}**: {word} in {problem.cases} case{'s' * (problem.cases > 1)} — "
                     f"where: {md(where(problem.tensor))} (`{problem.tensor}`); e.g. `{problem.worst.case}`: "
                     f"{md(problem.worst.detail)}")
    return lines


def markdown(result: TargetResult, grade: Grade, notes: Sequence[str], cases: Sequence[Case],
             given: tuple[tuple[str, str], ...] = ()) -> str:
    """The feedback file's text (``given``: the assignment's ``REPRODUCE`` templates)."""
    verdict = HEADINGS.get(result.verdict, result.verdict)
    lines = [f"# Feedback: {md(result.source)}", "",
             f"**Verdict:** {verdict}  ", f"**Score:** {grade.score:g} / {grade.max_score:g}  ",
             f"**Seed:** {_seed(cases)} (the cases' data were drawn from it; `--seed {_seed(cases)}` reproduces them)",
             ""]
    if result.load_error:
        lines += ["Your submission could not be loaded, so nothing could be checked:", "",
                  f"> {md(result.load_error)}", ""]
    lines += ["## Points", "", *_scores(grade), ""]
    if notes:
        lines += ["## While running your notebook", "", f"({CELL_NUMBERS}.)", "",
                  *[f"- {md(note)}" for note in notes], ""]
    if result.load_error:
        return "\n".join(lines)
    wrong = wrong_lines(result)
    lines += ["## What is wrong", ""] + (wrong or ["Nothing: every case that was checked passes."]) + [""]
    if diagnosed := diagnosis_line(result.rows):
        lines += ["## Why", "", md(diagnosed.split("): ", 1)[-1]), ""]
    if (case := smallest_failing(result, cases)) is not None:
        lines += ["## The smallest failing case", "",
                  "Run your network on this and compare with the expected values:", "",
                  "```python", case_code(case, given), "```", ""]
    return "\n".join(lines)


def _seed(cases: Sequence[Case]) -> str:
    return str(cases[0].seed) if cases else "none"


def file_name(source: str) -> str:
    """The student's feedback file: derived from their path, one per path (``escape``)."""
    return escape.feedback_file(source)
