"""Probes: live while the loop turns, ready while connected; a stalled loop is reported, not hidden."""

from __future__ import annotations

from services.components.health import Health


def test_a_probe_is_live_after_a_beat_and_ready_only_when_told():
    h = Health(liveness_seconds=60)
    p = h.probe("ingest")
    p.beat()
    assert h.report()[:2] == (True, False)  # live, not yet connected
    p.ready(True)
    assert h.report()[:2] == (True, True)


def test_a_loop_quiet_longer_than_the_liveness_window_is_not_live_nor_ready():
    h = Health(liveness_seconds=-1)  # any quiet time is too long
    p = h.probe("relay")
    p.beat()
    p.ready(True)
    live, ready, states = h.report()
    assert (live, ready) == (False, False)
    assert states["relay"]["live"] is False


def test_a_check_speaks_for_threads_we_do_not_own():
    h = Health()
    h.probe("workers", check=lambda: (True, False))
    h.probe("ingest").ready(True)
    live, ready, states = h.report()
    assert (live, ready) == (True, False)
    assert states["workers"] == {**states["workers"], "live": True, "ready": False}
