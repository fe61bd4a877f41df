-- name: refine_input
-- The opening message to refine, unless a refinement of it is recorded already (a redelivered task).
select m.text, t.state->>'customer_locale', t.state->>'language'
from messages m join tickets t on t.id = m.ticket_id
where m.ticket_id = %s and m.message_id = %s
  and not exists (select 1 from refinements r where r.ticket_id = m.ticket_id and r.message_id = m.message_id)

-- name: claim_refinement
-- Inside the ticket's lock: the first writer wins, a concurrent duplicate gets no row back.
insert into refinements (ticket_id, message_id, classifier, category, urgent, confidence, outcome, at)
values (%s, %s, %s, %s, %s, %s, %s, %s)
on conflict (ticket_id, message_id) do nothing returning 1

-- name: refinement_counts
-- The refine tasks' outcomes so far (the demo's report; /metrics reads every counter).
select labels::jsonb->>'outcome', value from metric_counters where name = 'refinements_total'
