"""Who may say what: `TICKETFLOW_SOURCES` restricts each CloudEvent `source` to the inbound types it
may publish, and ties it to the broker user that may speak for it.

The `source` attribute is whatever the publisher wrote, so on its own it proves nothing; the
AMQP `user_id` property does: RabbitMQ refuses a message whose `user_id` differs from the
user the connection authenticated as. A restricted deployment therefore gives every upstream
its own broker user (deploy/rabbitmq/definitions.json, with topic permissions on `<ns>.in`
as a first line) and maps its source to that user here:

    {"https://shop.example/app": {"user": "shop-app", "types": ["ticket.opened", "message.posted"]},
     "ticketflow-api": {"user": "ticketflow-api", "types": ["*"]},
     "survey-service": ["survey.answered"]}

A bare list means the broker user has the source's own name. An event from a source not in the
map, without the mapped `user_id`, or of a type not listed is rejected `forbidden`. Without
`TICKETFLOW_SOURCES` nothing is restricted (the contract's default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas import Inbound, Rejected


@dataclass(frozen=True)
class Grant:
    user: str
    types: frozenset[str]  # "*" = every type

    def allows(self, type_: str) -> bool:
        return "*" in self.types or type_ in self.types


class SourcesError(ValueError):
    """TICKETFLOW_SOURCES is not a valid map (a startup error, named precisely)."""


class Sources:
    def __init__(self, grants: dict[str, Grant]):
        self.grants = grants

    @classmethod
    def parse(cls, text: str) -> Sources:
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise SourcesError(f"TICKETFLOW_SOURCES is not JSON: {e}") from None
        if not isinstance(raw, dict) or not raw:
            raise SourcesError("TICKETFLOW_SOURCES must be a non-empty object: source -> types")
        grants = {}
        for source, g in raw.items():
            if isinstance(g, list):
                g = {"user": source, "types": g}
            if (
                not isinstance(g, dict)
                or not isinstance(g.get("user"), str)
                or not isinstance(g.get("types"), list)
                or not all(isinstance(t, str) for t in g["types"])
            ):
                raise SourcesError(f"TICKETFLOW_SOURCES[{source!r}]: expected a list of types or {{user, types}}")
            grants[source] = Grant(g["user"], frozenset(g["types"]))
        return cls(grants)

    def verdict(self, source: str, type_: str, user_id: str | None) -> str | None:
        """None when allowed, else why not (the rejection's detail; no customer text in it)."""
        g = self.grants.get(source)
        if g is None:
            return "source not allowed to publish"
        if user_id != g.user:
            return (
                "source not vouched for by the broker user_id" if user_id is None else "user_id does not match source"
            )
        if not g.allows(type_):
            return f"source may not publish {type_}"
        return None

    def screen(self, decoded: list[tuple[bytes, Inbound | Rejected]], user_ids: list[str | None]) -> int:
        """Replace, in place, each decoded event its sender may not publish by a `forbidden` rejection;
        returns how many."""
        n = 0
        for i, ((body, ev), user_id) in enumerate(zip(decoded, user_ids, strict=True)):
            if isinstance(ev, Rejected):
                continue
            why = self.verdict(ev.envelope.source, ev.type, user_id)
            if why is not None:
                decoded[i] = (body, Rejected("forbidden", why, ev.id, ev.subject, ev.type))
                n += 1
        return n
