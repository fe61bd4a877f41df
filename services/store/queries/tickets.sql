-- name: lock_tickets
-- The batch's tickets, locked in id order: every writer locks tickets before timers, in id order.
select id, state from tickets where id = any(%s) order by id for update

-- name: lock_tickets_skip_locked
-- The scheduler's variant: a ticket another transaction holds is left for the next round.
select id, state from tickets where id = any(%s) order by id for update skip locked

-- name: save_tickets
-- One statement for the batch's tickets (without prepared statements an executemany costs a parse
-- and plan per row). Binary arrays: psycopg's text-array escaping is slow in Python.
insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at, updated_at,
                     due_at, order_id, state, channel, waiting_since)
select * from unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bool[], %b::int[],
                     %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::jsonb[],
                     %b::text[], %b::timestamptz[])
on conflict (id) do update set status = excluded.status, category = excluded.category,
    urgent = excluded.urgent, urges = excluded.urges, updated_at = excluded.updated_at,
    due_at = excluded.due_at, state = excluded.state, waiting_since = excluded.waiting_since

-- name: ticket_state
select state from tickets where id = %s

-- name: ticket_timers
select kind, due_at from timers where ticket_id = %s order by due_at

-- name: ticket_timeline
select at, kind, type, event_id, detail from timeline where ticket_id = %s order by id

-- name: demo_ticket_states
-- The demo's closing report: every ticket's state, in id order (a demo holds a handful).
select state from tickets order by id

-- name: tickets_by_status
select status, count(*) from tickets group by status
