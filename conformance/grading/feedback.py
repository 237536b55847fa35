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

from conformance.reporting.verdicts import HEADINGS, TargetResult, diagnosis_line, problems
from conformance.grading.scores import Grade
from conformance.cases.spec import Case, generate

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


def case_code(case: Case) -> str:
    """The case written out as Python: network, parameters, input, and PyTorch's answer."""
    from conformance.oracles.torch import reference

    data, spec = generate(case), case.spec
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
    lines += ["", "# what PyTorch computes (float64):", _array("expected_output", ref.output)]
    if ref.loss is not None:
        lines.append(f"expected_loss = {float(ref.loss)!r}")
    grads = ref.gradients
    lines += [_array(f"expected_dW{i}", g) for i, g in enumerate(grads.weights)]
    lines += [_array(f"expected_db{i}", g) for i, g in enumerate(grads.biases) if g is not None]
    if grads.input is not None:
        lines.append(_array("expected_dx", grads.input))
    return "\n".join(lines)


def _scores(grade: Grade) -> list[str]:
    lines = ["| part | points | of | cases passing |", "|---|---|---|---|"]
    lines += [f"| {e.name} | {e.score:g} | {e.max_score:g} | {e.output} |" for e in grade.entries]
    return lines


def _wrong(result: TargetResult) -> list[str]:
    lines = []
    for problem in problems(result.rows)[:8]:
        word = "wrong" if problem.worst.verdict == "fail" else "an error"
        lines.append(f"- **{problem.check}**: {word} in {problem.cases} case{'s' * (problem.cases > 1)} — "
                     f"where: {where(problem.tensor)} (`{problem.tensor}`); e.g. `{problem.worst.case}`: {problem.worst.detail}")
    return lines


def markdown(result: TargetResult, grade: Grade, notes: Sequence[str], cases: Sequence[Case]) -> str:
    """The feedback file's text."""
    verdict = HEADINGS.get(result.verdict, result.verdict)
    lines = [f"# Feedback: {result.source}", "",
             f"**Verdict:** {verdict}  ", f"**Score:** {grade.score:g} / {grade.max_score:g}  ",
             f"**Seed:** {_seed(cases)} (the cases' data were drawn from it; `--seed {_seed(cases)}` reproduces them)",
             ""]
    if result.load_error:
        lines += ["Your submission could not be loaded, so nothing could be checked:", "",
                  f"> {result.load_error}", ""]
    lines += ["## Points", "", *_scores(grade), ""]
    if notes:
        lines += ["## While running your notebook", "", *[f"- {note}" for note in notes], ""]
    if result.load_error:
        return "\n".join(lines)
    wrong = _wrong(result)
    lines += ["## What is wrong", ""] + (wrong or ["Nothing: every case that was checked passes."]) + [""]
    if diagnosed := diagnosis_line(result.rows):
        lines += ["## Why", "", diagnosed.split("): ", 1)[-1], ""]
    if (case := smallest_failing(result, cases)) is not None:
        lines += ["## The smallest failing case", "",
                  "Run your network on this and compare with the expected values:", "",
                  "```python", case_code(case), "```", ""]
    return "\n".join(lines)


def _seed(cases: Sequence[Case]) -> str:
    return str(cases[0].seed) if cases else "none"


def file_name(source: str, taken: set[str]) -> str:
    """A file name for the student's feedback: their path, made safe and distinct."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.strip("/")).strip("._") or "submission"
    name, n = f"{stem}.md", 2
    while name in taken:
        name, n = f"{stem}-{n}.md", n + 1
    taken.add(name)
    return name
