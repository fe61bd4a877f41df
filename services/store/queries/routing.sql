-- name: lock_desks
-- The merchants' desks, created when missing and locked, in merchant id order (an upsert locks the
-- existing rows too, in the order it meets them, so no second statement can interleave the order).
insert into routing_desks (merchant_id)
select m from unnest(%s::text[]) as m order by m
on conflict (merchant_id) do update set merchant_id = excluded.merchant_id
returning merchant_id, state::text

-- name: save_desks
update routing_desks d set state = s.state, agents = s.agents, queued = s.queued, updated_at = s.updated_at
from unnest(%b::text[], %b::jsonb[], %b::int[], %b::int[], %b::timestamptz[])
    as s (merchant_id, state, agents, queued, updated_at)
where d.merchant_id = s.merchant_id

-- name: insert_agent_answers
insert into agent_answers (ticket_id, answered_at, merchant_id, agent_id, seconds)
select * from unnest(%b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::float8[])
on conflict do nothing

-- name: desk_state
select state::text from routing_desks where merchant_id = %s

-- name: agent_answer_stats
-- Per agent: answers, answers within 24 h of the chat starting to wait, and the ratings of the chats
-- it answered (each chat once).
select a.agent_id,
       count(*) as answers,
       count(*) filter (where a.seconds <= 86400) as within_24h,
       count(distinct a.ticket_id) filter (where (t.state->>'rating')::int >= 4) as satisfied,
       count(distinct a.ticket_id) filter (where t.state->>'rating' is not null) as rated
from agent_answers a left join tickets t on t.id = a.ticket_id
where a.merchant_id = %s
group by a.agent_id

-- name: desk_merchants
select merchant_id from routing_desks order by merchant_id

-- name: existing_desks
select merchant_id from routing_desks where merchant_id = any(%s)

-- name: lock_desks_skip_locked
-- The scheduler's variant (it already holds timer rows others may wait for): never waits for a desk.
select merchant_id, state::text from routing_desks where merchant_id = any(%s) order by merchant_id
for update skip locked
