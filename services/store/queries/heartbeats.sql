-- name: beat_components
-- The database's clock, not the process's: every process's rows are compared on one clock.
insert into component_heartbeats (component, instance, ready, beat_at)
select c, %s, r, now() from unnest(%s::text[], %s::boolean[]) as t (c, r)
on conflict (component, instance) do update set ready = excluded.ready, beat_at = excluded.beat_at

-- name: forget_instance
delete from component_heartbeats where instance = %s

-- name: forget_stale_heartbeats
delete from component_heartbeats where beat_at < now() - interval '1 day'

-- name: components_up
select component, count(*) filter (where ready) as ready, count(*) as live
from component_heartbeats where beat_at > now() - make_interval(secs => %s)
group by component
