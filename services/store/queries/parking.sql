-- name: tickets_with_parked
select distinct ticket_id from parked_events where ticket_id = any(%s)

-- name: count_parked
select count(*) from parked_events

-- name: count_parked_from
select count(*) from parked_events where source = %s

-- name: park_event
insert into parked_events (event_id, ticket_id, time, body, parked_at, source) values (%s, %s, %s, %s, %s, %s)
on conflict do nothing

-- name: take_parked
delete from parked_events where ticket_id = %s returning event_id, time, body

-- name: take_expired_parked
delete from parked_events where event_id in (
    select event_id from parked_events where parked_at <= %s order by parked_at limit 1000
    for update skip locked)
returning event_id, ticket_id, body

-- name: parked_for_ticket
select count(*) from parked_events where ticket_id = %s
