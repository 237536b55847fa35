"""One thread per process in the suite's own processes, unless the user chose a number."""

from __future__ import annotations

import os

import pytest
import torch

from conformance.running import launch
from conformance.running.threads import THREAD_VARIABLES, one_thread_per_process, unset_thread_variables


@pytest.fixture
def no_thread_variables(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(before)


@pytest.mark.parametrize("chosen", [
    pytest.param({}, id="nothing chosen: every variable is one"),
    pytest.param({"OMP_NUM_THREADS": "3"}, id="the user's OpenMP number is kept, the others are one"),
    pytest.param({name: "2" for name in THREAD_VARIABLES}, id="every number the user chose is kept"),
])
def test_only_the_variables_nobody_set_are_set_to_one(chosen):
    environ = dict(chosen, PATH="/bin")
    filled = unset_thread_variables(environ)
    assert filled == tuple(name for name in THREAD_VARIABLES if name not in chosen)
    assert {name: environ[name] for name in THREAD_VARIABLES} == {name: chosen.get(name, "1")
                                                                   for name in THREAD_VARIABLES}


def test_a_process_with_torch_loaded_goes_to_one_thread(no_thread_variables):
    torch.set_num_threads(2)
    one_thread_per_process()
    assert torch.get_num_threads() == 1
    assert all(os.environ[name] == "1" for name in THREAD_VARIABLES)


def test_the_users_openmp_number_leaves_torch_alone(no_thread_variables):
    no_thread_variables.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    one_thread_per_process()
    assert torch.get_num_threads() == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"


def test_a_worker_runs_on_one_thread_unless_the_user_chose(no_thread_variables):
    assert all(launch.worker_environment()[name] == "1" for name in THREAD_VARIABLES)
    no_thread_variables.setenv("MKL_NUM_THREADS", "4")
    assert launch.worker_environment()["MKL_NUM_THREADS"] == "4"



def test_workers_started_for_timing_get_one_thread_and_the_variables_are_given_back(monkeypatch):
    from conformance.running.threads import THREAD_VARIABLES
    from conformance.running.timing import single_threaded_workers

    first, *others = THREAD_VARIABLES
    monkeypatch.setenv(first, "3")  # the user's own choice
    for name in others:
        monkeypatch.delenv(name, raising=False)
    with single_threaded_workers():
        assert all(os.environ[name] == "1" for name in THREAD_VARIABLES)
    assert os.environ[first] == "3" and not any(name in os.environ for name in others)
