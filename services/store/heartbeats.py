"""Component heartbeats in PostgreSQL: each process says which of its components are alive (and
connected); the exporter reads who beat recently. Time is the database's `now()`, so processes
on machines with skewed clocks still compare on one clock."""

from __future__ import annotations

from services.store.queries import Q


def beat(conn, instance: str, components: dict[str, bool]) -> None:
    """Mark `components` ({name: ready}) of `instance` alive now."""
    if components:
        names = sorted(components)
        conn.execute(Q["beat_components"], (instance, names, [components[n] for n in names]))


def forget(conn, instance: str) -> None:
    """A clean stop: this process's rows go at once rather than aging out."""
    conn.execute(Q["forget_instance"], (instance,))


def recent(conn, within_seconds: float) -> dict[str, tuple[int, int]]:
    """{component: (ready instances, live instances)} that beat within the last `within_seconds`;
    rows older than a day (processes killed without a clean stop) are deleted on the way."""
    conn.execute(Q["forget_stale_heartbeats"])
    return {c: (ready, live) for c, ready, live in conn.execute(Q["components_up"], (within_seconds,))}
