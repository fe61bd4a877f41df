-- name: due_timers
-- SKIP LOCKED here too: several schedulers each take a different share of the due rows instead of
-- all reading the same first `limit` and then skipping each other's.
select ticket_id, kind, due_at from timers where due_at <= %s order by due_at, ticket_id, kind limit %s
for update skip locked

-- name: lock_live_timers
-- After the tickets (lock order: tickets, then timers); a row another scheduler holds is skipped.
select ticket_id, kind, due_at from timers where ticket_id = any(%s) and due_at <= %s for update skip locked

-- name: any_timer_due
select exists (select 1 from timers where due_at <= %s)

-- name: next_timer_due
select min(due_at) from timers

-- name: drop_timers
delete from timers where (ticket_id, kind) in (select * from unnest(%b::text[], %b::text[]))

-- name: upsert_timers
insert into timers (ticket_id, kind, due_at) select * from unnest(%b::text[], %b::text[], %b::timestamptz[])
on conflict (ticket_id, kind) do update set due_at = excluded.due_at
