"""Liveness and readiness of the components of one process, told truthfully.

Each component loop holds a `Probe`: it calls `beat()` every time its loop turns (live = it
turned within `liveness_seconds`) and `ready(True/False)` as its connections come and go. The
process serves them on `/healthz` (every component live) and `/readyz` (every component live
and connected), JSON bodies saying which one is not, and writes a row per live component to
PostgreSQL every few seconds, from which the exporter derives `ticketflow_component_up`
across all processes (services.store.heartbeats). A stalled loop therefore shows up both in
its own probe and in the "component down" alert, instead of a constant 1.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from services.logs import log
from services.store import heartbeats
from services.store.db import connect


class Probe:
    """One component's health. A probe that is never registered (tests, tools) costs nothing."""

    def __init__(self, name: str, liveness_seconds: float = 60.0, check: Callable[[], tuple[bool, bool]] | None = None):
        self.name, self.liveness_seconds, self.check = name, liveness_seconds, check
        self._beat = time.monotonic()
        self._ready = False

    def beat(self) -> None:
        self._beat = time.monotonic()

    def ready(self, ok: bool = True) -> None:
        self._ready = ok

    def state(self) -> dict:
        """{live, ready, quiet_seconds}; a `check` (threads we do not own, e.g. dramatiq's) overrides both."""
        quiet = time.monotonic() - self._beat
        if self.check is not None:
            live, ready = self.check()
        else:
            live, ready = quiet <= self.liveness_seconds, self._ready
        return {"live": live, "ready": live and ready, "quiet_seconds": round(quiet, 1)}


class Health:
    """The probes of this process, its HTTP endpoints and its heartbeat rows."""

    def __init__(self, liveness_seconds: float = 60.0):
        self.liveness_seconds = liveness_seconds
        self.probes: dict[str, Probe] = {}
        self.instance = f"{socket.gethostname()}:{os.getpid()}"

    def probe(self, name: str, check: Callable[[], tuple[bool, bool]] | None = None) -> Probe:
        p = self.probes[name] = Probe(name, self.liveness_seconds, check)
        return p

    def report(self) -> tuple[bool, bool, dict]:
        states = {n: p.state() for n, p in self.probes.items()}
        return (
            all(s["live"] for s in states.values()),
            all(s["ready"] for s in states.values()),
            states,
        )

    # -- HTTP ------------------------------------------------------------------------------------
    def serve(self, port: int, metrics: Callable[[], bytes] | None = None) -> Callable[[], None]:
        """`/healthz`, `/readyz` (and `/metrics` when given) on `port`; returns the closer."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path in ("/healthz", "/readyz"):
                    live, ready, states = health.report()
                    ok = live if path == "/healthz" else ready
                    self._send(200 if ok else 503, "application/json", json.dumps(states).encode())
                elif path == "/metrics" and metrics is not None:
                    self._send(200, "text/plain; version=0.0.4; charset=utf-8", metrics())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # probes every few seconds: not worth a log line each
                pass

        server = ThreadingHTTPServer(("", port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="health-http", daemon=True)
        thread.start()
        log.info("health.listening", port=port, components=sorted(self.probes))

        def close() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return close

    # -- heartbeat rows --------------------------------------------------------------------------
    def run_heartbeats(self, database_url: str, stop: threading.Event, every: float = 5.0) -> None:
        """Write this process's live components to PostgreSQL every `every` seconds (the exporter's
        `component_up`); its rows go on a clean stop. A database that is away means no rows, which
        is what the exporter should see then too."""
        conn, first = None, True
        while not stop.wait(0 if first else every):
            first = False
            try:
                if conn is None or conn.closed:
                    conn = connect(database_url, autocommit=True)
                states = {n: s for n, s in ((n, p.state()) for n, p in self.probes.items()) if s["live"]}
                heartbeats.beat(conn, self.instance, {n: s["ready"] for n, s in states.items()})
            except psycopg.Error as e:
                log.warning("health.heartbeat_failed", error=str(e)[:200])
                conn = None
        try:
            if conn is not None and not conn.closed:
                heartbeats.forget(conn, self.instance)
                conn.close()
        except psycopg.Error:
            pass


def workers_state(worker) -> tuple[bool, bool]:
    """(live, ready) of a dramatiq Worker, whose loops are dramatiq's threads, not ours: live while
    every consumer and worker thread runs, ready while every consumer holds an open connection.
    (A consumer that lost its broker reconnects by itself, once a second.)"""
    consumers = list(worker.consumers.values())
    live = all(t.is_alive() for t in consumers) and all(t.is_alive() for t in worker.workers)
    ready = all(_consumer_open(t) for t in consumers)
    return live, ready


def _consumer_open(thread) -> bool:
    conn = getattr(getattr(thread, "consumer", None), "connection", None)
    return bool(conn is not None and conn.is_open)
