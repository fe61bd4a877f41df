-- name: lock_subjects
-- Transaction-level advisory locks, one per ticket id (two-int key space: never meets the relay's or
-- migrate's one-bigint locks). Volatile functions in the select list run after ORDER BY, so every
-- writer takes them in one order: no deadlocks between ingest processes.
select pg_advisory_xact_lock(1414087756, h)
from (select distinct hashtext(s) as h from unnest(%s::text[]) as s) as keys order by h
