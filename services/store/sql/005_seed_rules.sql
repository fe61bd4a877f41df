-- Issue #13, faithful to the seeds: the storefront channel and "waiting for the merchant since" on the
-- ticket row (export filter and sort, 003), per-policy KPI buckets (Douyin is out of merchant health
-- but still reported, 002), and chat conversion (003): orders and the chat answers they convert from.

alter table tickets add column channel text;
alter table tickets add column waiting_since timestamptz;   -- entered awaiting_merchant; null otherwise
update tickets set channel = state->>'channel',
                   waiting_since = (state->'clock'->>'started_at')::timestamptz
 where status = 'awaiting_merchant' or state ? 'channel';
create index tickets_by_channel on tickets (merchant_id, channel) where channel is not null;
create index tickets_by_waiting on tickets (merchant_id, waiting_since) where waiting_since is not null;

-- A merchant's KPI counters per policy and UTC day (same columns as kpi_merchant_days). Append-only:
-- each batch inserts its deltas and readers sum them, so no KPI write ever waits for a row lock.
create table kpi_merchant_policy_days (
    merchant_id            text not null,
    policy                 text not null,
    day                    date not null,
    rated                  integer not null default 0,
    satisfied              integer not null default 0,
    responses              integer not null default 0,
    late                   integer not null default 0,
    opened                 integer not null default 0,
    answered_24h           integer not null default 0,
    first_responses        integer not null default 0,
    first_response_seconds double precision not null default 0
);
create index kpi_merchant_policy_days_by_merchant on kpi_merchant_policy_days (merchant_id, day);

-- Chat answers (a merchant message on a chat ticket) by customer: what an order converts from.
create table chat_answers (
    merchant_id text not null,
    customer_id text not null,
    at          timestamptz not null
);
create index chat_answers_by_customer on chat_answers (merchant_id, customer_id, at);

-- `order.placed` (subject = the order id). Whether it converted is decided when read, by joining the
-- answers of the 7 days before `at`, so an order and the answer it follows may arrive in any order.
create table orders (
    order_id    text primary key,
    merchant_id text not null,
    customer_id text not null,
    amount      numeric(22, 4) not null,
    currency    text not null,
    at          timestamptz not null,
    event_id    text not null
);
create index orders_by_merchant on orders (merchant_id, at);
create index orders_by_time on orders (at);

-- chat_inactivity corrected (CONTRACT): it runs only while a chat is awaiting_merchant. Clocks the old
-- reading left on chats waiting on someone else go (their timers would fire and do nothing).
delete from timers t using tickets k
 where t.kind = 'chat_inactivity' and k.id = t.ticket_id and k.status <> 'awaiting_merchant';
update tickets set state = jsonb_set(state, '{inactivity_due_at}', 'null'::jsonb)
 where status <> 'awaiting_merchant' and state->>'inactivity_due_at' is not null;
