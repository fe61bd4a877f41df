"""Lower the OS priority of the thread that runs an actor (Linux: nice is per thread).

The refining worker embeds messages for tens of milliseconds each; on a box it shares with ingest, the
relay and PostgreSQL, that background work should yield the cores to them (TICKETFLOW_REFINE_NICE).
Only ever raised (an unprivileged process may not lower it back), once per thread.
"""

from __future__ import annotations

import os
import threading

from services.logs import log

_state = threading.local()


def lower_this_thread(increment: int) -> int | None:
    """Add `increment` to this thread's nice value (up to 19), once per thread; returns the nice value the
    thread runs at, or None where per-thread priorities are not available (logged once per thread)."""
    if getattr(_state, "nice", None) is not None or increment <= 0:
        return getattr(_state, "nice", None)
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        target = min(19, current + increment)
        if target != current:
            os.setpriority(os.PRIO_PROCESS, tid, target)
        _state.nice = os.getpriority(os.PRIO_PROCESS, tid)
    except (OSError, AttributeError) as exc:  # not Linux, or refused: run at the process's priority
        _state.nice = None
        log.warning("worker.nice_unavailable", error=str(exc)[:200], effect="refine runs at the process's priority")
        return None
    log.info("worker.nice", thread=threading.current_thread().name, nice=_state.nice)
    return _state.nice
