"""Publish the contract: JSON Schema files and an AsyncAPI 3.0 document, generated from the models.

    python -m schemas.generate            # (re)write schemas/generated/
    python -m schemas.generate --check    # exit 1, naming the stale files, if they differ

Everything under `schemas/generated/` comes from here and from the pydantic models in
`schemas/`; never edit those files by hand. The output is deterministic (keys sorted where
their order carries no meaning, no timestamps), so tests/unit/test_schemas.py can compare
the committed files with what the models produce.

Published outbound schemas leave out the `additionalProperties: false` the producer-side
models use: the contract lets fields be added at any time, so consumers must ignore fields
they do not know, and a published schema must not tell them otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .envelope import CONTENT_TYPE, MAX_MESSAGE_BYTES, CloudEvent
from .inbound import INBOUND
from .outbound import OUTBOUND, RejectReason

GENERATED = Path(__file__).resolve().parent / "generated"
JSONSCHEMA_DIR = "jsonschema"
ASYNCAPI_FILE = "asyncapi.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
AMQP_BINDING_VERSION = "0.3.0"
DELIVERY_MODE_PERSISTENT = 2
DEFAULT_NAMESPACE = "ticketflow"
REJECT_REASONS: tuple[str, ...] = get_args(RejectReason)
HINT = "run `python -m schemas.generate` and commit schemas/generated/"


# --- what is published -----------------------------------------------------------------------


class _Event:
    """One event type as published: direction, exchange, data model and the schema mode to use."""

    def __init__(self, type_: str, direction: str, model: type[BaseModel]):
        self.type, self.direction, self.model = type_, direction, model
        self.inbound = direction == "in"
        # Inbound: what we accept (validation); outbound: what we emit (serialization, aliases).
        self.mode: Literal["validation", "serialization"] = "validation" if self.inbound else "serialization"
        self.channel = "inbound" if self.inbound else "outbound"
        self.exchange = f"{{namespace}}.{direction}"

    @property
    def subject(self) -> str:
        return "the merchant id" if self.type == "merchant.health_changed" else "the ticket id"

    def description(self) -> str:
        doc = (self.model.__doc__ or "").strip()
        if self.inbound:
            text = (
                f"CloudEvents 1.0 event `{self.type}`, published by upstream apps to the topic exchange "
                f"`<namespace>.in` with routing key `{self.type}` (structured JSON mode, content type "
                f"{CONTENT_TYPE}, persistent). A message that does not match (or is over "
                f"{MAX_MESSAGE_BYTES // 1024} KiB) is rejected and kept in `<namespace>.in.rejected`. "
                f"Fields of `data` not listed here are ignored."
            )
        else:
            text = (
                f"CloudEvents 1.0 event `{self.type}`, published by ticketflow to the topic exchange "
                f"`<namespace>.out` with routing key `{self.type}` (structured JSON mode, content type "
                f"{CONTENT_TYPE}, persistent). `subject` is {self.subject}. Delivery is at least once: "
                f"deduplicate on `id`. Fields may be added: ignore the ones you do not know."
            )
        return f"{text} Data: {self.model.__name__}." + (f" {doc}" if doc else "")


def events() -> list[_Event]:
    clash = sorted(set(INBOUND) & set(OUTBOUND))
    if clash:  # one file per type, one message per type: a type name must mean one thing
        raise SystemExit(f"event types both inbound and outbound: {', '.join(clash)}")
    found = [_Event(t, "in", m) for t, m in INBOUND.items()] + [_Event(t, "out", m) for t, m in OUTBOUND.items()]
    return sorted(found, key=lambda e: (e.direction, e.type))


def _sorted(value: Any) -> Any:
    """Sort mapping keys recursively (JSON Schema keywords and property maps); lists keep their order."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _published_data(schema: dict[str, Any], event: _Event) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    if not event.inbound and schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    return schema


def _envelope(event: _Event, data_schema: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent model's schema, with `type` fixed to the event type and `data` replaced."""
    schema = CloudEvent.model_json_schema(mode="validation")
    props = schema["properties"]
    props["type"] = {
        "const": event.type,
        "type": "string",
        "title": "Type",
        "description": "The event type; also the AMQP routing key.",
    }
    props["id"]["description"] = "Unique per event: the idempotency key."
    props["time"]["description"] = "When it happened (RFC 3339 with offset); deadlines count from it."
    props["subject"]["description"] = f"{event.subject[0].upper()}{event.subject[1:]}."
    props["data"] = data_schema
    schema["title"] = event.type
    schema["description"] = event.description()
    return schema


# --- JSON Schema files -----------------------------------------------------------------------


def event_json_schema(event: _Event) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) of the whole CloudEvent, its `data` schema inlined."""
    data = event.model.model_json_schema(mode=event.mode, ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    schema = _envelope(event, _published_data(data, event))
    if defs:
        schema["$defs"] = defs
    schema["$schema"] = JSON_SCHEMA_DIALECT
    return _sorted(schema)


# --- AsyncAPI 3.0 ----------------------------------------------------------------------------


def _camel(*parts: str) -> str:
    words = [w for p in parts for w in p.replace(".", "_").split("_") if w]
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _project_version() -> str:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0"


def _exchange_channel(direction: str, title: str, description: str, messages: list[_Event]) -> dict[str, Any]:
    address = f"{{namespace}}.{direction}"
    return {
        "address": address,
        "title": title,
        "description": description,
        "parameters": {"namespace": {"$ref": "#/components/parameters/namespace"}},
        "messages": {e.type: {"$ref": f"#/components/messages/{e.type}"} for e in messages},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": address, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def asyncapi_document() -> dict[str, Any]:
    evs = events()
    inbound = [e for e in evs if e.inbound]
    outbound = [e for e in evs if not e.inbound]
    refs, top = models_json_schema([(e.model, e.mode) for e in evs], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    for e in evs:
        ref = refs[(e.model, e.mode)]["$ref"]
        name = ref.rsplit("/", 1)[1]
        schemas[name] = _published_data(schemas[name], e)
    for e in evs:
        if e.type in schemas:
            raise SystemExit(f"schema name clash: event type {e.type!r} vs a model name")
        schemas[e.type] = _envelope(e, dict(refs[(e.model, e.mode)]))

    messages: dict[str, Any] = {}
    for e in evs:
        messages[e.type] = {
            "name": e.type,
            "title": e.type,
            "summary": f"{'Inbound' if e.inbound else 'Outbound'} `{e.type}` event ({e.model.__name__}).",
            "contentType": CONTENT_TYPE,
            "payload": {"$ref": f"#/components/schemas/{e.type}"},
            "bindings": {"amqp": {"messageType": e.type, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    messages["rejectedInbound"] = {
        "name": "rejectedInbound",
        "title": "Rejected inbound message",
        "summary": "An inbound message that could not be accepted, kept with the reason.",
        "description": (
            "The message exactly as it arrived on `{namespace}.in`: it may be anything, not even JSON. It is "
            "kept here with the reason it was rejected, never lost, counted in "
            "`ticketflow_events_rejected_total{reason}`, and an `event.rejected` event (data: `event_id` if "
            f"known, `reason`) is published on `{{namespace}}.out`. Reasons: {', '.join(REJECT_REASONS)}. "
            "AMQP headers: `x-ticketflow-reason` (the reason), `x-ticketflow-detail` (a readable explanation, "
            "at most 500 characters), `x-ticketflow-event-id` (when the event id could be read)."
        ),
        "headers": {
            "type": "object",
            "required": ["x-ticketflow-reason"],
            "properties": {
                "x-ticketflow-reason": {"type": "string", "enum": list(REJECT_REASONS)},
                "x-ticketflow-detail": {"type": "string", "maxLength": 500},
                "x-ticketflow-event-id": {"type": "string"},
            },
        },
        "payload": {"description": "The original message body, unchanged."},
    }

    operations: dict[str, Any] = {}
    for e in evs:
        action = "receive" if e.inbound else "send"
        operations[_camel(action, e.type)] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{e.channel}"},
            "title": f"{action.capitalize()} {e.type}",
            "summary": (
                f"ticketflow consumes `{e.type}` from `{{namespace}}.in` (routing key `{e.type}`)."
                if e.inbound
                else f"ticketflow publishes `{e.type}` to `{{namespace}}.out` (routing key `{e.type}`)."
            ),
            "messages": [{"$ref": f"#/channels/{e.channel}/messages/{e.type}"}],
            "bindings": {
                "amqp": {
                    "cc": [e.type],
                    "deliveryMode": DELIVERY_MODE_PERSISTENT,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    operations["keepRejected"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/rejected"},
        "title": "Keep a rejected inbound message",
        "summary": "ticketflow moves every inbound message it cannot accept to `{namespace}.in.rejected`.",
        "messages": [{"$ref": "#/channels/rejected/messages/rejectedInbound"}],
        "bindings": {"amqp": {"deliveryMode": DELIVERY_MODE_PERSISTENT, "bindingVersion": AMQP_BINDING_VERSION}},
    }

    channels = {
        "inbound": _exchange_channel(
            "in",
            "Inbound events",
            "Durable topic exchange that upstream apps publish CloudEvents to; the routing key is the event type.",
            inbound,
        ),
        "outbound": _exchange_channel(
            "out",
            "Outbound events",
            "Durable topic exchange ticketflow publishes its CloudEvents to; the routing key is the event type. "
            "Per ticket, events leave in the order their causes were applied.",
            outbound,
        ),
        "rejected": {
            "address": "{namespace}.in.rejected",
            "title": "Rejected inbound messages",
            "description": "Durable queue keeping every inbound message that could not be accepted, with the reason.",
            "parameters": {"namespace": {"$ref": "#/components/parameters/namespace"}},
            "messages": {"rejectedInbound": {"$ref": "#/components/messages/rejectedInbound"}},
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": "{namespace}.in.rejected",
                        "durable": True,
                        "exclusive": False,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        },
    }

    return {
        "asyncapi": "3.0.0",
        "id": "urn:ticketflow",
        "info": {
            "title": "ticketflow",
            "version": _project_version(),
            "description": (
                "Message-queue driven back office for marketplace support tickets. Every message in and out is a "
                f"CloudEvents 1.0 event in structured JSON mode (content type {CONTENT_TYPE}, persistent "
                "delivery). Every exchange and queue name starts with the deployment's namespace "
                "(TICKETFLOW_NAMESPACE, default `ticketflow`).\n\n"
                "Generated from the pydantic models in `schemas/` by `python -m schemas.generate`; do not edit."
            ),
        },
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "pathname": "/",
                "description": "The broker named by TICKETFLOW_AMQP_URL (default localhost:5672, vhost `/`).",
            },
        },
        "channels": channels,
        "operations": {k: operations[k] for k in sorted(operations)},
        "components": {
            "schemas": {k: _sorted(schemas[k]) for k in sorted(schemas)},
            "messages": {k: messages[k] for k in sorted(messages)},
            "parameters": {
                "namespace": {
                    "description": "Prefix of every exchange and queue (TICKETFLOW_NAMESPACE).",
                    "default": DEFAULT_NAMESPACE,
                    "examples": [DEFAULT_NAMESPACE],
                },
            },
        },
    }


# --- rendering, writing, checking ------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # no &id001 anchors: plain, diffable YAML
        return True


def _yaml(doc: dict[str, Any]) -> str:
    header = "# Generated by `python -m schemas.generate` from the models in schemas/. Do not edit.\n"
    return header + yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100, indent=2
    )


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every generated file: path relative to schemas/generated/ (POSIX) -> its exact text."""
    files = {f"{JSONSCHEMA_DIR}/{e.type}.json": _json(event_json_schema(e)) for e in events()}
    files[ASYNCAPI_FILE] = _yaml(asyncapi_document())
    return dict(sorted(files.items()))


def _on_disk(out: Path) -> set[str]:
    """Files under `out` that generation owns: anything in jsonschema/ and the AsyncAPI document."""
    found = {ASYNCAPI_FILE} if (out / ASYNCAPI_FILE).exists() else set()
    folder = out / JSONSCHEMA_DIR
    if folder.is_dir():
        found |= {p.relative_to(out).as_posix() for p in folder.rglob("*") if p.is_file()}
    return found


def stale(out: Path = GENERATED, expected: dict[str, str] | None = None) -> list[str]:
    """Relative paths whose committed content differs from the models' (missing and extra files too)."""
    expected = render() if expected is None else expected
    bad = []
    for rel in sorted(set(expected) | _on_disk(out)):
        path = out / rel
        want = expected.get(rel)
        try:
            have = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            have = None
        if want != have:
            bad.append(rel)
    return bad


def _iter_written(out: Path, files: dict[str, str]) -> Iterator[str]:
    for rel in sorted(_on_disk(out) - set(files)):
        (out / rel).unlink()
        yield f"removed {rel}"
    for rel, text in files.items():
        path = out / rel
        if path.exists() and path.read_bytes() == text.encode("utf-8"):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        yield f"wrote {rel}"


def _shown(out: Path, rel: str) -> str:
    path = out / rel
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming the files that differ from what the models produce",
    )
    parser.add_argument("--out", type=Path, default=GENERATED, help=f"output folder (default {GENERATED})")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        bad = stale(args.out, files)
        if bad:
            for rel in bad:
                print(f"stale: {_shown(args.out, rel)}", file=sys.stderr)
            print(f"{len(bad)} generated file(s) out of date: {HINT}", file=sys.stderr)
            return 1
        print(f"{len(files)} generated files up to date")
        return 0
    changes = list(_iter_written(args.out, files))
    for line in changes:
        print(line)
    print(f"{len(files)} files in {_shown(args.out, '')}, {len(changes)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
