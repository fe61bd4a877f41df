-- Issue #11: timers set aside when their firing raises, per-source parking quota, retention.
--
-- Lines starting `-- cost:` are printed by `ticketflow migrate` when it applies this file.
-- cost: 008 adds columns (catalogue-only, instant) and indexes; `inbound_events_by_ticket` reads the
-- cost: whole dedupe ledger once and blocks ingest's writes to it while it builds (~1 s per million
-- cost: rows here): on a large ledger create it first with CREATE INDEX CONCURRENTLY (same name).
-- cost: Retention (TICKETFLOW_RETENTION_DAYS, default 400) then deletes closed tickets older than that,
-- cost: 200 per transaction in the scheduler's housekeeping: the first runs work through any backlog.

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
