"""TICKETFLOW_REFINE_NICE: the refine threads' OS priority is lowered per thread, once, never the process's.

Given a thread that runs refinements / When it lowers its priority (once per task) / I expect its nice
value raised by the setting, once, and the other threads' unchanged."""

from __future__ import annotations

import os
import threading

import pytest

from services.config import Settings
from workers.priority import lower_this_thread


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_thread_lowers_its_own_priority_once_and_no_other():
    base, seen = _nice(), []

    def refine_thread() -> None:
        seen.append(lower_this_thread(3))
        seen.append(lower_this_thread(3))  # a second task on the same thread: not lowered again
        seen.append(_nice())

    t = threading.Thread(target=refine_thread)
    t.start()
    t.join()
    assert seen == [min(19, base + 3)] * 3
    assert _nice() == base


def test_zero_leaves_the_thread_as_it_is():
    got = []
    t = threading.Thread(target=lambda: got.append((lower_this_thread(0), _nice())))
    base = _nice()
    t.start()
    t.join()
    assert got == [(None, base)]


def test_the_settings_read_and_check_the_refine_threads_and_nice():
    s = Settings.from_env({"TICKETFLOW_REFINE_THREADS": "1", "TICKETFLOW_REFINE_NICE": "0"})
    assert (s.refine_threads, s.refine_nice, s.worker_threads) == (1, 0, 4)
    assert (Settings().refine_threads, Settings().refine_nice) == (2, 10)
    with pytest.raises(ValueError, match="TICKETFLOW_REFINE_NICE"):
        Settings.from_env({"TICKETFLOW_REFINE_NICE": "-5"})
    assert Settings.from_env({"TICKETFLOW_REFINE_THREADS": "0"}).refine_threads == 0  # refines elsewhere
    with pytest.raises(ValueError, match="TICKETFLOW_REFINE_THREADS"):
        Settings.from_env({"TICKETFLOW_REFINE_THREADS": "-1"})
    with pytest.raises(ValueError, match="TICKETFLOW_WORKER_THREADS"):
        Settings.from_env({"TICKETFLOW_WORKER_THREADS": "0"})
