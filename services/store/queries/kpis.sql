-- name: add_policy_days
-- A batch's per-(merchant, policy, day) KPI deltas, appended (readers sum; no row lock is taken).
insert into kpi_merchant_policy_days (merchant_id, policy, day, rated, satisfied, responses, late, opened,
                                      answered_24h, first_responses, first_response_seconds)
select * from unnest(%b::text[], %b::text[], %b::date[], %b::int[], %b::int[], %b::int[], %b::int[], %b::int[],
                     %b::int[], %b::int[], %b::float8[])

-- name: merchant_policy_days
-- A merchant's per-policy counters, summed per day, over the days in [first, last].
select policy, day, sum(rated), sum(satisfied), sum(responses), sum(late), sum(opened), sum(answered_24h),
       sum(first_responses), sum(first_response_seconds)
  from kpi_merchant_policy_days
 where merchant_id = %(m)s and day between %(first)s and %(last)s
 group by policy, day order by policy, day

-- name: kpi_record
-- One call per batch: fold the facts in, move the watermark, re-read the touched merchants (002_kpis.sql).
select * from kpi_record(%s, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb, %s)

-- name: kpi_evaluate
select * from kpi_evaluate(%b::text[], %s)

-- name: change_kpi_health
-- Store the state changes (each only if the stored state is still the one evaluated) and move the
-- per-shard counts by state; returns the merchants whose state did change.
with ch as (select * from unnest(%(m)s::text[], %(prev)s::text[], %(state)s::text[]) as u(m, prev, state)),
sh as (select kpi_shard() as s),
upd as (update kpi_merchants k set state = ch.state, changed_at = %(at)s from ch
        where k.merchant_id = ch.m and k.state = ch.prev returning ch.m, ch.prev, ch.state),
cnt as (insert into kpi_health_counts as c (shard, state, n)
        select sh.s, x.st, sum(x.d) from (select state as st, 1 as d from upd union all select prev, -1 from upd) x, sh
        group by sh.s, x.st
        on conflict (shard, state) do update set n = c.n + excluded.n)
select m from upd

-- name: stale_kpi_merchants
-- Merchants last evaluated on an earlier watermark day than today's, oldest first.
select merchant_id from kpi_merchants
 where evaluated_day < (select (max(at) at time zone 'UTC')::date from kpi_watermark)
 order by evaluated_day, merchant_id limit %s

-- name: try_lock_kpi_merchants
-- The candidates no other transaction holds: 1263557716 is the merchants' advisory lock class, as in
-- kpi_record and kpi_evaluate (002_kpis.sql; kpi_shard() uses 1263557715).
select m from unnest(%b::text[]) as u(m) where pg_try_advisory_xact_lock(1263557716, hashtext(m))

-- name: mark_kpi_merchants_evaluated
update kpi_merchants set evaluated_day = (select (max(at) at time zone 'UTC')::date
  from kpi_watermark) where merchant_id = any(%s)

-- name: kpi_watermark
select max(at) from kpi_watermark

-- name: platform_kpis
-- The platform's counters over the last `days` days at the watermark (`now` before any fact) and its
-- pending young tickets; the counter columns in metrics_math.COUNTER_COLUMNS order.
with w as (select coalesce(max(at), %(now)s::timestamptz) as at from kpi_watermark)
select w.at, coalesce(sum(d.rated), 0), coalesce(sum(d.satisfied), 0), coalesce(sum(d.responses), 0),
       coalesce(sum(d.late), 0), coalesce(sum(d.opened), 0), coalesce(sum(d.answered_24h), 0),
       coalesce(sum(d.first_responses), 0), coalesce(sum(d.first_response_seconds), 0),
       (select coalesce(sum(p.n), 0) from kpi_pending_24h p where p.opened_at >= w.at - interval '24 hours')
       + (select coalesce(sum(o.pending), 0) from kpi_merchant_overflow o where o.opened_at >= w.at - interval '24 hours')
from w left join kpi_platform_days d
     on d.day between (w.at at time zone 'UTC')::date - (%(days)s - 1) and (w.at at time zone 'UTC')::date
group by w.at

-- name: merchants_by_health
select state, sum(n)::bigint from kpi_health_counts group by state

-- name: merchant_kpi_rows
-- Merchants' bucket rows and overflow rows in a window (counter columns in COUNTER_COLUMNS order).
select merchant_id, day, rated, satisfied, responses, late, opened, answered_24h, first_responses,
       first_response_seconds from kpi_merchant_days
 where merchant_id = any(%(merchants)s::text[]) and day between %(first)s and %(last)s
union all
select merchant_id, day, rated, satisfied, responses, late, opened, answered_24h, first_responses,
       first_response_seconds from kpi_merchant_overflow
 where merchant_id = any(%(merchants)s::text[]) and day between %(first)s and %(last)s

-- name: merchant_pending_24h
-- Merchants' pending young tickets (opened at or after `young`), buckets and overflow.
select merchant_id, sum(n)::bigint from (
    select merchant_id, n from kpi_pending_24h
     where merchant_id = any(%(merchants)s::text[]) and opened_at >= %(young)s
    union all
    select merchant_id, pending from kpi_merchant_overflow
     where merchant_id = any(%(merchants)s::text[]) and opened_at >= %(young)s
) x group by merchant_id

-- name: merchant_health
select policy, state, changed_at from kpi_merchants where merchant_id = %s

-- name: merchant_open_by_status
select status, count(*) from tickets where merchant_id = %s and status <> 'closed' group by status

-- name: merchant_has_tickets
select exists (select 1 from tickets where merchant_id = %s)

-- name: merchant_soonest_tickets
-- A merchant's tickets with a deadline, most urged first, then least time left.
select id, status, category, urgent, urges, due_at from tickets where merchant_id = %s
   and due_at is not null order by urges desc, due_at, id limit %s
