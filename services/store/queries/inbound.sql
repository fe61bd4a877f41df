-- name: claim_inbound_ids
-- Dedupe: the ids this batch is the first to see come back; the others are duplicates.
insert into inbound_events (id, ticket_id, type, time, received_at, outcome)
select * from unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[])
on conflict (id) do nothing returning id

-- name: set_inbound_outcome
update inbound_events set outcome = %s where id = %s

-- name: forget_old_inbound_ids
-- Ids of no existing ticket (rejected input, events of tickets already purged or never opened),
-- received before the cutoff. An id whose ticket exists stays as long as the ticket does.
delete from inbound_events where id in (
    select i.id from inbound_events i where i.received_at < %s and i.outcome <> 'parked'
    and not exists (select 1 from tickets t where t.id = i.ticket_id)
    order by i.received_at limit %s)
returning ticket_id
