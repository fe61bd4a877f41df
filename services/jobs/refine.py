"""Refine one ticket's inline classification with the stronger classifier, exactly once (issue #17).

The classifier runs outside any transaction (tens of ms); the answer is then applied through the core
(`Lifecycle.reclassify`) under the ticket's lock, in one transaction with its outbox rows, and the
`refinements` row written there is the task's idempotency key: a redelivered or duplicated task finds
it and does nothing. Every task ends counted in `refinements_total{outcome}`: `applied` (the ticket
changed), `agreed` (same answer), `unsure` (below the acceptance confidence, which is higher when
the inline answer was `other`), `upstream` (a person
classified it), `unavailable` (no refining model in this worker: logged and counted, never silent).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from psycopg_pool import ConnectionPool

from services.amqp.topology import Topology
from services.core.clock import Clock
from services.core.lifecycle import Lifecycle
from services.logs import log
from services.store import refinements, tickets
from services.store.outbox import Writes

#: The refiner's answer replaces the inline one only from this confidence on (below it the inline
#: answer stands). The refiner's own gate (services.language.refine.GATE): chosen on the held-out sets
#: with bench/bench_language.py --refine.
ACCEPT = 0.3
#: ... and from this one when the inline answer is `other`: greetings, thanks, spam and requests for a
#: person are `other` inline, and the refiner, trained mostly on the rarer support categories, tends to
#: name a category for them (blind set 2: `other` 66.7 % inline -> 53.3 % refined). Chosen on set 1,
#: set 2 and blind set 1 (bench/bench_language.py --refine; one embedding per message): gates 0.3 / 0.35
#: / 0.4 / 0.45 / 0.5 gave set 2 85.5 / 86.1 / 86.7 / 86.1 / 85.5 % (`other` 11 / 12 / 13 / 13 / 13 of 15),
#: set 1 97.8 / 97.5 / 97.5 / 97.2 / 97.2 % (its 30 `other` kept at every gate), blind set 1 96.7 % up
#: to 0.45, 95.8 % at 0.5. A gate on the refiner's own `other` probability instead (keep the inline answer
#: when it is >= 0.1 .. 0.3) did as well on set 2 but cost blind set 1 0.9-1.7 points.
ACCEPT_FROM_OTHER = 0.4


def replaces(inline_category: str, answer: Any) -> bool:
    """Whether the refiner's answer (a Classification) is sure enough to replace the inline category."""
    if answer.category == "other":
        return False  # not sure what it is: the inline category stands
    return answer.confidence >= (ACCEPT_FROM_OTHER if inline_category == "other" else ACCEPT)


@dataclass(frozen=True)
class _Unavailable:
    reason: str


class RefineJob:
    def __init__(self, pool: ConnectionPool, topology: Topology, lifecycle: Lifecycle, refiner: Any, clock: Clock):
        """`refiner`: a classifier with `classify(text, language)`, a callable that builds one on first use
        (so the worker starts at once and loads the model on its first task), or None."""
        self.pool, self.topology, self.lifecycle, self.clock = pool, topology, lifecycle, clock
        self._refiner, self._lock = refiner, threading.Lock()

    def refiner(self) -> Any:
        """The classifier, built once; an unavailable one is logged once and remembered."""
        with self._lock:
            r = self._refiner
            if r is not None and not hasattr(r, "classify") and callable(r):
                from services.language import ClassifierUnavailable

                try:
                    r = r()
                    log.info("refiner.loaded", classifier=r.name, load_ms=round(getattr(r, "load_seconds", 0) * 1000))
                except ClassifierUnavailable as exc:
                    r = _Unavailable(str(exc))
                    log.warning("refiner.unavailable", reason=r.reason, effect="inline classifications stand")
                self._refiner = r
            return r

    def run(self, ticket_id: str, message_id: str) -> str | None:
        """Returns the outcome recorded, or None when there was nothing to do (already refined)."""
        with self.pool.connection() as conn:
            row = refinements.pending_input(conn, ticket_id, message_id)
        if row is None:
            return None  # refined already (a redelivery), or no such message
        text, _locale, language = row
        refiner = self.refiner()
        if refiner is None or isinstance(refiner, _Unavailable):
            self._count_only("unavailable")
            log.warning("refine.skipped", ticket_id=ticket_id, message_id=message_id, reason="refiner unavailable")
            return "unavailable"
        answer = refiner.classify(text, language)  # a services.language Classification
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            t = tickets.lock(cur, [ticket_id]).get(ticket_id)
            if t is None:
                return None
            at = max(self.clock.now(), t.updated_at)  # never stamped before what the ticket has seen
            if t.category_source == "upstream":
                outcome, effective = "upstream", None
            elif not replaces(t.category, answer):
                # not sure what it is: the inline category stands; an urgency it found still counts
                outcome, effective = "unsure", replace(answer, category=t.category) if answer.urgent else None
            else:
                outcome, effective = "agreed", answer
            o = self.lifecycle.reclassify(t, effective, at) if effective is not None else None
            if o is not None and o.emits:
                outcome = "applied"
            a = answer
            if not refinements.claim(
                cur, ticket_id, message_id, a.classifier, a.category, a.urgent, a.confidence, outcome, at
            ):
                return None  # a concurrent copy of this task got here first
            w = Writes(self.topology)
            w.note(
                ticket_id,
                at,
                "refine",
                "classification.refined",
                None,
                {
                    "classifier": answer.classifier,
                    "category": answer.category,
                    "confidence": answer.confidence,
                    "urgent": answer.urgent,
                    "outcome": outcome,
                },
            )
            if o is not None and o.emits:
                w.record(t, o, f"refine:{ticket_id}:{message_id}", at)
                assert o.ticket is not None
                tickets.save(cur, [o.ticket])
            w.count("refinements_total", outcome=outcome)
            w.flush(cur)
        log.info(
            "refine.done",
            ticket_id=ticket_id,
            message_id=message_id,
            outcome=outcome,
            category=answer.category,
            confidence=answer.confidence,
        )
        return outcome

    def _count_only(self, outcome: str) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            w = Writes(self.topology)
            w.count("refinements_total", outcome=outcome)
            w.flush(cur)
