-- name: closed_tickets_before
-- A slice of tickets closed (last changed) before the cutoff; one another transaction holds is
-- skipped (a reopen in flight wins), so a purge never waits on ingest.
select id from tickets where status = 'closed' and updated_at < %s
order by updated_at limit %s for update skip locked

-- name: purge_messages
delete from messages where ticket_id = any(%s)

-- name: purge_translations
delete from translations where ticket_id = any(%s)

-- name: purge_timeline
delete from timeline where ticket_id = any(%s)

-- name: purge_refinements
-- The refining worker's answers (issue #17): its idempotency keys go with the ticket, as the dedupe ids do.
delete from refinements where ticket_id = any(%s)

-- name: purge_timers
delete from timers where ticket_id = any(%s)

-- name: purge_inbound_ids
-- The ticket's dedupe ids go with it: until now a duplicate of any of its events had no effect.
delete from inbound_events where ticket_id = any(%s)

-- name: purge_tickets
delete from tickets where id = any(%s)

-- name: purge_orphan_timeline
-- Timeline rows of subjects that are no ticket (what went out about rejected input: `event.rejected`
-- under the subject given, or "unknown"), older than the cutoff. By ticket id: the timeline's index.
delete from timeline tl where tl.ticket_id = any(%s) and tl.at < %s
and not exists (select 1 from tickets t where t.id = tl.ticket_id)
