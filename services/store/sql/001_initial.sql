-- The backbone: tickets and their timeline, inbound dedupe, parking, timers, the outbox.

create table tickets (
    id          text primary key,
    merchant_id text not null,
    policy      text not null,
    status      text not null,
    category    text not null,
    urgent      boolean not null,
    urges       integer not null default 0,
    opened_at   timestamptz not null,
    updated_at  timestamptz not null,
    due_at      timestamptz,            -- running merchant_response deadline, for working the list
    state       jsonb not null          -- services.ticket.Ticket, owned by the pure core
);
create index tickets_by_merchant on tickets (merchant_id, status, opened_at);

-- One row per inbound event id ever seen: the idempotency key of every side effect.
create table inbound_events (
    id          text primary key,
    ticket_id   text,
    type        text,
    time        timestamptz,
    received_at timestamptz not null,
    outcome     text not null           -- applied | parked | rejected:<reason>
);

-- Events for a ticket whose ticket.opened has not arrived yet.
create table parked_events (
    event_id  text primary key,
    ticket_id text not null,
    time      timestamptz not null,
    body      bytea not null,
    parked_at timestamptz not null      -- processing time: parking is bounded in processing time
);
create index parked_by_ticket on parked_events (ticket_id, time);
create index parked_by_age on parked_events (parked_at);

-- Message text lives here only (never in logs or metrics); workers read it by id.
create table messages (
    ticket_id  text not null,
    message_id text not null,
    author     text not null,
    text       text not null,
    at         timestamptz not null,
    primary key (ticket_id, message_id)
);

create table translations (
    ticket_id       text not null,
    message_id      text not null,
    source_language text not null,
    target_language text not null,
    provider        text not null,
    translated      boolean not null,
    text            text not null,
    created_at      timestamptz not null default now(),
    primary key (ticket_id, message_id)
);

create table timeline (
    id        bigserial primary key,
    ticket_id text not null,
    at        timestamptz not null,
    kind      text not null,            -- in | out | timer | rejected
    type      text not null,
    event_id  text,
    detail    jsonb not null default '{}'
);
create index timeline_by_ticket on timeline (ticket_id, id);

-- Durable timers: one pending row per (ticket, kind); fired rows are deleted.
create table timers (
    ticket_id text not null,
    kind      text not null,
    due_at    timestamptz not null,
    primary key (ticket_id, kind)
);
create index timers_by_due on timers (due_at);

-- Transactional outbox: written with the state change, published by the relay, then deleted.
create table outbox (
    id          bigserial primary key,
    exchange    text not null,          -- '' = default exchange (queue name as routing key)
    routing_key text not null,
    body        bytea not null,
    headers     jsonb,
    message_id  text not null,
    created_at  timestamptz not null default now()
);

-- Counters and gauges shared by every process; the exporter reads them at scrape time.
create table metric_counters (
    name   text not null,
    labels text not null,               -- canonical JSON object of label values
    value  double precision not null default 0,
    primary key (name, labels)
);

create table dead_letters (
    id         bigserial primary key,
    queue      text not null,
    actor      text not null,
    message_id text not null,
    args       jsonb not null,
    error      text,
    failed_at  timestamptz not null default now()
);
