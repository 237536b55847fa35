"""``--shard I/N`` and ``conformance merge``: the shards of a run, merged, give the report of
the run unsharded (the same rows, cases that did not apply and verdicts, targets in the
order named), and folders that are not all the shards of one run are refused in one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from dataclasses import replace

import pandas as pd
import pytest

from conformance import pipeline
from conformance.api import Options
from conformance.reporting.read_back import ShardError
from conformance.reporting.shards import Shard, merge
from conformance.reporting.verdicts import target_results
from conformance.running.targets import builtin
from helpers import PINNED

NAMES = ("reference_numpy", "class_layers", "two_layer_sgd", "cached_input", "single_layer_relu")
OPTIONS = Options(isolate=False, timing=False)


def _check(folder, shard=None):
    folder.mkdir()
    checked = pipeline.check_targets([builtin(n) for n in NAMES], list(PINNED), replace(OPTIONS, shard=shard),
                                     folder=folder)
    checked.report.write(folder)
    return checked


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    whole = _check(root / "whole")
    shards = [_check(root / f"shard{i}", Shard(i, 2)) for i in (1, 2)]
    return root, whole, shards


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    table = table.astype(str)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def test_each_shard_runs_its_share_of_the_targets_named_and_together_they_run_each_once(runs):
    _, _, shards = runs
    ran = [[r.source for r in checked.results] for checked in shards]
    assert ran == [list(NAMES[0::2]), list(NAMES[1::2])]


def test_two_shards_merged_give_the_report_of_one_run(runs):
    root, whole, _ = runs
    merged = merge([root / "shard2", root / "shard1"])
    pd.testing.assert_frame_equal(_sorted(merged.results), _sorted(whole.report.results))
    assert merged.not_applicable.entries == whole.report.not_applicable.entries
    assert merged.not_applicable.order == NAMES
    verdicts = [(r.source, r.verdict, r.cases) for r in target_results(merged.results, merged.not_applicable)]
    assert verdicts == [(r.source, r.verdict, r.cases) for r in whole.results]


def _tamper(root, name, old, new):
    path = root / name
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize("folders, change, words", [
    pytest.param(("shard1",), None, "shard 2 of 2 is missing", id="a shard missing"),
    pytest.param(("shard1", "shard1"), None, "are both shard 1/2", id="a shard given twice"),
    pytest.param(("shard1", "whole"), None, "not the report folder of a run with --shard", id="an unsharded folder"),
    pytest.param(("shard1", "shard2"), ("shard2/results.csv", ",pass,", ",excellent,"),
                 "a verdict or check the suite does not give", id="a verdict changed by hand"),
    pytest.param(("shard1", "shard2"), ("shard2/shard.json", '"fingerprint": "', '"fingerprint": "0'),
                 "not run alike", id="a shard of another run"),
    pytest.param(("shard1", "shard2"), ("shard2/not_applicable.csv", ",3,", ",2,"),
                 "does not match", id="a count of cases changed by hand"),
])
def test_folders_that_are_not_the_shards_of_one_run_are_refused_in_one_line(runs, tmp_path, folders, change, words):
    import shutil

    root, _, _ = runs
    for name in set(folders):
        shutil.copytree(root / name, tmp_path / name)
    if change is not None:
        _tamper(tmp_path, *change)
    with pytest.raises(ShardError) as raised:
        merge([tmp_path / name for name in folders])
    assert words in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("text", [pytest.param(t, id=f"--shard {t}") for t in ("0/2", "3/2", "1/0", "a/b", "1", "")])
def test_a_shard_that_is_not_I_of_N_is_a_one_line_error(text):
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        Shard.parse(text)
    assert "--shard" in str(raised.value) and "\n" not in str(raised.value)


def test_merge_on_the_command_line_writes_the_report_and_refuses_bad_folders_in_one_line(runs, tmp_path, capsys):
    from conformance import cli

    root, whole, _ = runs
    code = cli.main(["merge", str(root / "shard1"), str(root / "shard2"), "--out", str(tmp_path / "merged")])
    assert code == whole.report.exit_code
    merged = pd.read_csv(tmp_path / "merged" / "results.csv", keep_default_na=False)
    assert len(merged) == len(whole.report.results)
    capsys.readouterr()
    for argv in (["merge", str(root / "shard1"), "--out", str(tmp_path / "other")],
                 ["merge", str(root / "shard1"), str(root / "shard2"), "--out", str(root / "shard1")],
                 ["run", "--shard", "2/1"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_a_shard_left_without_a_target_writes_an_empty_report_and_sheet(tmp_path):
    from conformance.reporting.verdicts import summary_table

    tmp_path.joinpath("report").mkdir()
    checked = pipeline.check_targets([builtin("reference_numpy")], list(PINNED[:2]),
                                     replace(OPTIONS, shard=Shard(2, 2)), folder=tmp_path / "report")
    assert checked.results == () and checked.report.empty
    assert list(summary_table(checked.results).columns[:3]) == ["target", "implementation", "verdict"]


@pytest.mark.e2e  # grades notebooks, each in its sandboxed worker
def test_two_shards_of_a_grading_merged_give_its_grade_sheet_and_its_mistakes_in_the_class(tmp_path, capsys):
    import shutil

    from conformance.cli import main
    from conformance.examples.assignment_004 import students

    example = Path(students.__file__).parent
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("correct", "bias_mean", "seed"):
        shutil.copy(example / "students" / f"{name}.ipynb", folder)
    grade = ["grade", str(example / "assignment.py"), str(folder), "--quick", "--jobs", "1", "--seed", "0"]
    codes = [main([*grade, "--out", str(tmp_path / "whole")])]
    codes += [main([*grade, "--shard", f"{i}/2", "--out", str(tmp_path / f"shard{i}")]) for i in (1, 2)]
    codes += [main(["merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "merged")])]
    assert codes[0] == codes[3] != 0, codes
    for sheet in ("targets.csv", "grades.csv"):
        tables = [pd.read_csv(tmp_path / run / sheet) for run in ("whole", "merged")]
        pd.testing.assert_frame_equal(tables[1], tables[0])

    def students_and_mistakes(run):
        summary = (tmp_path / run / "summary.md").read_text()
        return summary.split("## Students", 1)[1].split("\n## Implementations", 1)[0]

    assert "## Mistakes in the class" in students_and_mistakes("whole")
    assert students_and_mistakes("merged") == students_and_mistakes("whole")
    assert sorted(p.name for p in (tmp_path / "merged" / "feedback").iterdir()) == \
        sorted(p.name for p in (tmp_path / "whole" / "feedback").iterdir())
    # a score that is no number is a shard that is not one: one line, no traceback
    sheet = tmp_path / "shard1" / "targets.csv"
    sheet.write_text(sheet.read_text().replace(",10.0,", ",lots,", 1))
    assert ",lots," in sheet.read_text()
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "m2")]) == 2
    assert "holds a score that is not a number" in capsys.readouterr().err
