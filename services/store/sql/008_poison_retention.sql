-- Issue #11: timers set aside when their firing raises, per-source parking quota, retention.
--
-- Cost on an existing deployment (documented for `migrate`; the statements run in one transaction):
-- * the ALTER TABLEs add columns with constant defaults: catalogue-only in PostgreSQL 11+, instant;
-- * `inbound_events_by_ticket` reads the whole dedupe ledger once and blocks writes to it (so ingest
--   waits) while it builds: about 1 s per million rows here. On a very large ledger, create it first
--   by hand with CREATE INDEX CONCURRENTLY (same name) and this migration skips it;
-- * `tickets_closed_by_update` and `parked_by_source` read tickets / parked_events once (small).
-- Retention itself (TICKETFLOW_RETENTION_DAYS, default 400) then runs in the scheduler's housekeeping,
-- 200 tickets per transaction; the first run on an old database deletes a backlog slice by slice.

-- A timer whose firing raised: retried at retry_at (exponential backoff), the others fire meanwhile.
alter table timers add column attempts integer not null default 0;
alter table timers add column retry_at timestamptz;
alter table timers add column last_error text;
create index timers_set_aside on timers (retry_at) where retry_at is not null;

-- The CloudEvent source of a parked event: one upstream may not fill the whole parking lot.
alter table parked_events add column source text not null default '';
create index parked_by_source on parked_events (source);

-- Retention: closed tickets by age, and every ledger row of a ticket purged with it.
create index tickets_closed_by_update on tickets (updated_at) where status = 'closed';
create index if not exists inbound_events_by_ticket on inbound_events (ticket_id);
