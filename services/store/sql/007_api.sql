-- The HTTP API (CONTRACT "HTTP API", `ticketflow users`): users of a merchant's account and their
-- tokens, the commands they sent, their reply templates, and the indexes of the ticket list.

-- A user of one merchant's account (004: every user of an account sees its tickets). Only a hash
-- of the token's secret is kept; a revoked user keeps its row (its commands still name it).
create table api_users (
    id          text primary key,
    merchant_id text not null,
    role        text not null check (role in ('owner', 'agent', 'viewer')),
    name        text not null,
    secret_hash bytea not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create index api_users_by_merchant on api_users (merchant_id) where revoked_at is null;

-- Every command the API published: who sent it (so only its account may ask for its status), the
-- Idempotency-Key that makes a retried command the same event id, and the event itself, so a retry
-- of a command whose publish failed publishes that same event again.
create table api_commands (
    event_id        text primary key,
    user_id         text not null,
    merchant_id     text not null,
    ticket_id       text not null,
    type            text not null,
    idempotency_key text,
    body            bytea not null,
    created_at      timestamptz not null default now()
);
create unique index api_commands_by_key on api_commands (user_id, idempotency_key)
    where idempotency_key is not null;

-- Reply templates of a merchant, texts per language (000, 001, 002, 003).
create table api_templates (
    merchant_id text not null,
    name        text not null,
    category    text not null,
    texts       jsonb not null,
    updated_at  timestamptz not null default now(),
    primary key (merchant_id, name)
);

-- The working list (GET /v1/tickets): one index per sort over the open tickets, the default view
-- (004: open only), so a page is an index range scan whatever the account's size. Keyset order:
-- `priority` = urges desc, then least time left (no deadline last), then id.
create index tickets_open_priority on tickets (merchant_id, (-urges), (coalesce(due_at, 'infinity')), id)
    where status <> 'closed';
create index tickets_open_waiting on tickets (merchant_id, (coalesce(waiting_since, 'infinity')), id)
    where status <> 'closed';
create index tickets_open_newest on tickets (merchant_id, opened_at, id) where status <> 'closed';
-- Any status (closed ones included): newest first, the usual way to browse history.
create index tickets_all_newest on tickets (merchant_id, opened_at, id);
-- `q`: words of the messages.
create index messages_words on messages using gin (to_tsvector('simple', text));
