-- name: claim_inbound_ids
-- Dedupe: the ids this batch is the first to see come back; the others are duplicates.
insert into inbound_events (id, ticket_id, type, time, received_at, outcome)
select * from unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[])
on conflict (id) do nothing returning id

-- name: set_inbound_outcome
update inbound_events set outcome = %s where id = %s

-- name: forget_old_inbound_ids
delete from inbound_events where id in (
    select id from inbound_events where received_at < %s and outcome <> 'parked'
    order by received_at limit %s)
