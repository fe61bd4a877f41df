-- name: due_timers_savepoint
savepoint due_timers

-- name: due_timers
-- A timer set aside after a failed firing (retry_at) waits for its retry; the others go on.
-- SKIP LOCKED here too: several schedulers each take a different share of the due rows instead of
-- all reading the same first `limit` and then skipping each other's (locks released at once by
-- due_timers_release; services.store.timers.due).
select ticket_id, kind, due_at from timers where due_at <= %(until)s and (retry_at is null or retry_at <= %(until)s)
order by due_at, ticket_id, kind limit %(limit)s
for update skip locked

-- name: due_timers_release
rollback to savepoint due_timers

-- name: lock_live_timers
-- After the tickets (lock order: tickets, then timers); a row another scheduler holds is skipped.
select ticket_id, kind, due_at from timers
where ticket_id = any(%(ids)s) and due_at <= %(until)s and (retry_at is null or retry_at <= %(until)s)
for update skip locked

-- name: any_timer_due
select exists (select 1 from timers where due_at <= %(until)s and (retry_at is null or retry_at <= %(until)s))

-- name: next_timer_due
select least((select min(due_at) from timers where retry_at is null),
             (select min(retry_at) from timers where retry_at is not null))

-- name: set_timer_aside
-- A firing that raised: retried after 30 s, doubling up to 1 h, from the instant it was fired at
-- (the wall clock for the scheduler, T for `tick --now T`, which therefore does not retry it).
update timers set attempts = attempts + 1, last_error = %(error)s,
    retry_at = %(at)s::timestamptz + least(interval '1 hour', interval '30 seconds' * power(2, attempts))
where ticket_id = %(ticket_id)s and kind = %(kind)s and due_at = %(due_at)s

-- name: timers_set_aside
select ticket_id, kind, due_at, attempts, retry_at, last_error from timers where retry_at is not null
order by retry_at limit %s

-- name: count_timers
select count(*) from timers

-- name: count_timers_set_aside
select count(*) from timers where retry_at is not null

-- name: drop_timers
delete from timers where (ticket_id, kind) in (select * from unnest(%b::text[], %b::text[]))

-- name: upsert_timers
insert into timers (ticket_id, kind, due_at) select * from unnest(%b::text[], %b::text[], %b::timestamptz[])
on conflict (ticket_id, kind) do update set due_at = excluded.due_at,
    -- a timer moved to another instant is a new timer: a failure of the old one no longer holds
    attempts = case when timers.due_at = excluded.due_at then timers.attempts else 0 end,
    retry_at = case when timers.due_at = excluded.due_at then timers.retry_at end,
    last_error = case when timers.due_at = excluded.due_at then timers.last_error end
