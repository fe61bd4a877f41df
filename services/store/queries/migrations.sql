-- name: migration_no_statement_timeout
-- A migration may rewrite a big table: no limit on its session.
set statement_timeout = 0

-- name: migration_no_lock_timeout
-- And it waits for a concurrent `migrate` to finish.
set lock_timeout = 0

-- name: migration_lock
-- Serialises concurrent `migrate` runs (a session advisory lock; db._LOCK_KEY).
select pg_advisory_lock(%s)

-- name: migration_unlock
select pg_advisory_unlock(%s)

-- name: create_schema_migrations
create table if not exists schema_migrations (version integer primary key, name text not null,
  applied_at timestamptz not null default now())

-- name: applied_migrations
select version from schema_migrations

-- name: record_migration
insert into schema_migrations (version, name) values (%s, %s)
