-- name: insert_messages
insert into messages (ticket_id, message_id, author, text, at)
select * from unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
on conflict do nothing

-- name: copy_outbox
copy outbox (exchange, routing_key, body, headers, message_id) from stdin (format binary)

-- name: copy_timeline
copy timeline (ticket_id, at, kind, type, event_id, detail) from stdin (format binary)

-- name: add_counters
-- Sorted rows, so concurrent writers take the counter rows' locks in one order.
insert into metric_counters (name, labels, value) select * from unnest(%b::text[], %b::text[], %b::float8[])
on conflict (name, labels) do update set value = metric_counters.value + excluded.value

-- name: metric_counters
-- Every counter row, for /metrics (services.components.exporter): labels as stored (JSON text).
select name, labels, value from metric_counters

-- name: notify_outbox
select pg_notify('ticketflow_outbox', '')

-- name: listen_outbox
-- The relay's side of notify_outbox: the same channel.
listen ticketflow_outbox

-- name: count_outbox
select count(*) from outbox

-- name: outbox_batch
select id, exchange, routing_key, body, headers::text, message_id from outbox order by id limit %s

-- name: delete_outbox
delete from outbox where id = any(%s)

-- name: try_relay_leadership
select pg_try_advisory_lock(%s)

-- name: relay_still_leads
-- The leader's lock, held by this very session: false behind a pooler that hands each
-- transaction another server connection (PgBouncer transaction mode), or after a takeover.
select exists (
    select 1 from pg_locks
    where locktype = 'advisory' and pid = pg_backend_pid() and granted
      and classid = %s::bigint::oid and objid = %s::bigint::oid and objsubid = 1
)

-- name: insert_dead_letter
insert into dead_letters (queue, actor, message_id, args, error) values (%s, %s, %s, %s, %s)
