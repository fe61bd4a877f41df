-- Liveness of every component process (services.components.health): one row per process and
-- component, rewritten every few seconds while its loop turns; the exporter's component_up
-- counts the recent ones. Unlogged: a heartbeat is worthless after a crash, and not worth WAL.
create unlogged table component_heartbeats (
    component text not null,
    instance text not null,
    ready boolean not null,
    beat_at timestamptz not null default now(),
    primary key (component, instance)
);
