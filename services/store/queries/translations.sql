-- name: translation_input
-- The message to translate with what picks the languages, unless its translation is stored already
-- (a redelivered or retried task).
select m.text, m.at, t.merchant_id, t.state->>'customer_locale', t.state->>'merchant_locale',
       m.author, t.state->>'language'
  from messages m join tickets t on t.id = m.ticket_id
 where m.ticket_id = %s and m.message_id = %s and not exists (select 1 from translations x
       where x.ticket_id = m.ticket_id and x.message_id = m.message_id)

-- name: claim_translation
-- Idempotent on (ticket, message): a concurrent or repeated copy of the task gets no row back.
insert into translations (ticket_id, message_id, source_language, target_language, provider,
                          translated, text) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing returning 1
