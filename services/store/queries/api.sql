-- The HTTP API's reads and writes (services/store/api_*.py).

-- name: list_tickets_priority
-- GET /v1/tickets sort=priority: urges first, then least time left (no deadline last), then id. Keyset: the page after (k1, k2, k3).
select id, status, policy, state->>'group', category, urgent, urges, opened_at, updated_at, due_at, order_id,
       channel, waiting_since, state->'labels'
from tickets
where merchant_id = %(merchant)s and status = any(%(statuses)s)
  and (%(grp)s::text is null or state->>'group' = %(grp)s)
  and (%(category)s::text is null or category = %(category)s)
  and (%(channel)s::text is null or channel = %(channel)s)
  and (%(label)s::text is null or state->'labels' ? %(label)s)
  and (%(order_id)s::text is null or order_id = %(order_id)s)
  and (%(urgent)s::bool is null or urgent = %(urgent)s)
  and (%(since)s::timestamptz is null or opened_at >= %(since)s)
  and (%(until)s::timestamptz is null or opened_at < %(until)s)
  and (%(q)s::text is null or id = %(q)s or order_id = %(q)s or exists (
       select 1 from messages m where m.ticket_id = tickets.id
          and to_tsvector('simple', m.text) @@ plainto_tsquery('simple', %(q)s)))
  and (%(k1)s::int is null or (-urges, coalesce(due_at, 'infinity'::timestamptz), id) > (%(k1)s::int, %(k2)s::timestamptz, %(k3)s::text))
order by -urges, coalesce(due_at, 'infinity'::timestamptz), id limit %(limit)s

-- name: list_tickets_waiting
-- GET /v1/tickets sort=waiting: longest waiting for the merchant first (since it entered awaiting_merchant),
-- then the tickets waiting on someone else; then id. Keyset: the page after (k1, k2, k3).
select id, status, policy, state->>'group', category, urgent, urges, opened_at, updated_at, due_at, order_id,
       channel, waiting_since, state->'labels'
from tickets
where merchant_id = %(merchant)s and status = any(%(statuses)s)
  and (%(grp)s::text is null or state->>'group' = %(grp)s)
  and (%(category)s::text is null or category = %(category)s)
  and (%(channel)s::text is null or channel = %(channel)s)
  and (%(label)s::text is null or state->'labels' ? %(label)s)
  and (%(order_id)s::text is null or order_id = %(order_id)s)
  and (%(urgent)s::bool is null or urgent = %(urgent)s)
  and (%(since)s::timestamptz is null or opened_at >= %(since)s)
  and (%(until)s::timestamptz is null or opened_at < %(until)s)
  and (%(q)s::text is null or id = %(q)s or order_id = %(q)s or exists (
       select 1 from messages m where m.ticket_id = tickets.id
          and to_tsvector('simple', m.text) @@ plainto_tsquery('simple', %(q)s)))
  and (%(k2)s::timestamptz is null
       or (coalesce(waiting_since, 'infinity'::timestamptz), id) > (%(k2)s::timestamptz, %(k3)s::text))
order by coalesce(waiting_since, 'infinity'::timestamptz), id limit %(limit)s

-- name: list_tickets_newest
-- GET /v1/tickets sort=newest: newest first, then id descending. Keyset: the page after (k1, k2, k3).
select id, status, policy, state->>'group', category, urgent, urges, opened_at, updated_at, due_at, order_id,
       channel, waiting_since, state->'labels'
from tickets
where merchant_id = %(merchant)s and status = any(%(statuses)s)
  and (%(grp)s::text is null or state->>'group' = %(grp)s)
  and (%(category)s::text is null or category = %(category)s)
  and (%(channel)s::text is null or channel = %(channel)s)
  and (%(label)s::text is null or state->'labels' ? %(label)s)
  and (%(order_id)s::text is null or order_id = %(order_id)s)
  and (%(urgent)s::bool is null or urgent = %(urgent)s)
  and (%(since)s::timestamptz is null or opened_at >= %(since)s)
  and (%(until)s::timestamptz is null or opened_at < %(until)s)
  and (%(q)s::text is null or id = %(q)s or order_id = %(q)s or exists (
       select 1 from messages m where m.ticket_id = tickets.id
          and to_tsvector('simple', m.text) @@ plainto_tsquery('simple', %(q)s)))
  and (%(k2)s::timestamptz is null or (opened_at, id) < (%(k2)s::timestamptz, %(k3)s::text))
order by opened_at desc, id desc limit %(limit)s
-- name: ticket_of_merchant
select state from tickets where id = %s and merchant_id = %s

-- name: ticket_messages
select message_id, author, text, at from messages where ticket_id = %s order by at, message_id

-- name: ticket_translations
select message_id, source_language, target_language, provider, translated, text
from translations where ticket_id = %s

-- name: add_user
insert into api_users (id, merchant_id, role, name, secret_hash) values (%s, %s, %s, %s, %s)

-- name: list_users
select id, role, name, created_at, revoked_at from api_users where merchant_id = %s order by created_at, id

-- name: revoke_user
update api_users set revoked_at = coalesce(revoked_at, now()) where id = %s returning merchant_id

-- name: user_for_token
select merchant_id, role, name, secret_hash from api_users where id = %s and revoked_at is null

-- name: merchant_recipients
-- notification.requested: every active user of each merchant's account (004).
select merchant_id, array_agg(id order by id) from api_users
where merchant_id = any(%s) and revoked_at is null group by merchant_id

-- name: record_command
insert into api_commands (event_id, user_id, merchant_id, ticket_id, type, idempotency_key, body)
values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing

-- name: command_by_key
-- A retried command: the event sent the first time, and whether the pipeline has seen it yet.
select c.event_id, c.ticket_id, c.type, c.body, i.id is not null from api_commands c
left join inbound_events i on i.id = c.event_id
where c.user_id = %s and c.idempotency_key = %s

-- name: command_status
select c.type, c.ticket_id, c.created_at, i.outcome from api_commands c
left join inbound_events i on i.id = c.event_id
where c.event_id = %s and c.merchant_id = %s

-- name: list_templates
select name, category, texts from api_templates where merchant_id = %s order by name

-- name: upsert_template
insert into api_templates (merchant_id, name, category, texts) values (%s, %s, %s, %s)
on conflict (merchant_id, name) do update set category = excluded.category, texts = excluded.texts,
    updated_at = now()

-- name: ping
select 1

-- name: claim_export
-- The merchant's export slot, on the database clock: taken only when the last one is 60 s old.
insert into merchant_exports as e (merchant_id, last_at, last_filters) values (%(m)s, now(), %(filters)s)
on conflict (merchant_id) do update
   set last_at = excluded.last_at, last_filters = excluded.last_filters, last_rows = null, exports = e.exports + 1
 where e.last_at <= excluded.last_at - make_interval(secs => %(cooldown)s)
returning last_at

-- name: last_export
select last_at, now() from merchant_exports where merchant_id = %s

-- name: export_rows
update merchant_exports set last_rows = %s where merchant_id = %s
