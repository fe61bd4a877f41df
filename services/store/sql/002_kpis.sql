-- Merchant KPIs and health (CONTRACT "Metrics", "Merchant health"), maintained incrementally by
-- services/kpis.py inside the ingest/timer transactions; and the export rate limit.
-- Every window is by EVENT time: "now" is the watermark, the newest event time seen.
--
-- No KPI write ever waits for a row lock, so ingest and scheduler transactions (which call
-- kpis.record once per event, in no global merchant order) cannot deadlock on these tables:
-- * platform-wide rows are sharded, and each transaction writes only a shard it holds an
--   advisory try-lock on (kpi_shard()); readers sum the shards;
-- * a merchant's rows are written only under an advisory try-lock on the merchant; a
--   transaction that cannot get it (another in-flight transaction is writing that merchant)
--   appends its deltas to kpi_merchant_overflow instead, which the next lock holder folds in.

-- One row per (merchant, UTC day) with activity: health reads <= 30 of them per merchant.
create table kpi_merchant_days (
    merchant_id            text not null,
    day                    date not null,
    rated                  integer not null default 0,   -- surveys answered this day
    satisfied              integer not null default 0,   -- of those, rating 4 or 5
    responses              integer not null default 0,   -- merchant_response clocks ended this day
    late                   integer not null default 0,   -- of those, late (fulfilled late or breached)
    opened                 integer not null default 0,   -- tickets opened this day: the 24 h rate's cohort
    answered_24h           integer not null default 0,   -- of this day's tickets, first response within 24 h
    first_responses        integer not null default 0,   -- first responses made this day
    first_response_seconds double precision not null default 0,
    primary key (merchant_id, day)
);

-- The same counters platform-wide, per (UTC day, shard): a scrape sums <= 7 x 32 rows.
create table kpi_platform_days (
    day                    date not null,
    shard                  smallint not null,
    rated                  bigint not null default 0,
    satisfied              bigint not null default 0,
    responses              bigint not null default 0,
    late                   bigint not null default 0,
    opened                 bigint not null default 0,
    answered_24h           bigint not null default 0,
    first_responses        bigint not null default 0,
    first_response_seconds double precision not null default 0,
    primary key (day, shard)
);

-- Tickets opened at most 24 h before the watermark and not answered yet, counted per
-- (merchant, opened_at): left out of the 24 h rate until answered or over 24 h old. Rows opened
-- before the watermark - 24 h are irrelevant and pruned whenever their merchant is touched.
create table kpi_pending_24h (
    merchant_id text not null,
    opened_at   timestamptz not null,
    n           integer not null,
    primary key (merchant_id, opened_at)
);
create index kpi_pending_24h_by_opened on kpi_pending_24h (opened_at) include (n);

-- The newest event time seen, per shard (the watermark is the max over shards).
create table kpi_watermark (
    shard smallint primary key,
    at    timestamptz not null
);

-- Deltas of merchants whose lock another transaction held: a day-bucket delta (day set) or a
-- pending-ticket delta (opened_at set). Readers add them; the next lock holder folds them in.
create table kpi_merchant_overflow (
    id                     bigserial primary key,
    merchant_id            text not null,
    day                    date,
    rated                  integer not null default 0,
    satisfied              integer not null default 0,
    responses              integer not null default 0,
    late                   integer not null default 0,
    opened                 integer not null default 0,
    answered_24h           integer not null default 0,
    first_responses        integer not null default 0,
    first_response_seconds double precision not null default 0,
    opened_at              timestamptz,
    pending                integer not null default 0
);
create index kpi_merchant_overflow_by_merchant on kpi_merchant_overflow (merchant_id);
create index kpi_merchant_overflow_by_opened on kpi_merchant_overflow (opened_at) include (pending)
    where opened_at is not null;

-- The shard this transaction writes platform rows to: the first of 32 it can hold (re-entrant,
-- so later calls in the transaction get it back at once); blocks only with 32 writers in flight.
create function kpi_shard() returns smallint language plpgsql volatile as $$
declare
    first integer := pg_backend_pid() % 32;
begin
    for i in 0..31 loop
        if pg_try_advisory_xact_lock(1263557715, (first + i) % 32) then   -- class: kpis shards
            return ((first + i) % 32)::smallint;
        end if;
    end loop;
    perform pg_advisory_xact_lock(1263557715, first);
    return first::smallint;
end
$$;

-- Current health per merchant; every merchant starts normal.
create table kpi_merchants (
    merchant_id   text primary key,
    policy        text not null,              -- of its latest fact: whose thresholds apply
    state         text not null default 'normal' check (state in ('normal', 'warning', 'restricted')),
    changed_at    timestamptz,                -- watermark when the state last changed
    evaluated_day date not null               -- watermark day of the last evaluation (for refresh_stale)
);
create index kpi_merchants_by_evaluated on kpi_merchants (evaluated_day);

-- Merchants by state, maintained with the state changes (sum over shards; a shard may go negative).
create table kpi_health_counts (
    shard smallint not null,
    state text not null,
    n     bigint not null default 0,
    primary key (shard, state)
);

-- `ticketflow show --merchant`: the open tickets with the least time left.
create index tickets_by_merchant_due on tickets (merchant_id, due_at) where due_at is not null;

-- `ticketflow export`: one row per merchant with its last export (DB clock); the conditional
-- upsert both checks and claims the 60 s slot, so two racing exports cannot both pass.
create table merchant_exports (
    merchant_id  text primary key,
    last_at      timestamptz not null,
    last_rows    integer,
    last_filters jsonb not null default '{}',
    exports      bigint not null default 1
);

-- The merchants' state, summed last p_days days (buckets and overflow) and pending young
-- tickets, at the watermark: what health is decided on (kpi_record's read-back, refresh_stale).
create function kpi_evaluate(p_merchants text[], p_days integer)
returns table (merchant_id text, policy text, state text, at timestamptz, rated bigint, satisfied bigint,
               responses bigint, late bigint, opened bigint, answered_24h bigint, first_responses bigint,
               first_response_seconds float8, pending bigint)
language plpgsql stable
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
    with r as (
        select w.at, (w.at at time zone 'UTC')::date as last from (select max(k.at) as at from kpi_watermark k) w
    ), b as (
        select d.merchant_id, d.rated, d.satisfied, d.responses, d.late, d.opened, d.answered_24h,
               d.first_responses, d.first_response_seconds
        from kpi_merchant_days d, r
        where d.merchant_id = any(p_merchants) and d.day between r.last - (p_days - 1) and r.last
        union all
        select o.merchant_id, o.rated, o.satisfied, o.responses, o.late, o.opened, o.answered_24h,
               o.first_responses, o.first_response_seconds
        from kpi_merchant_overflow o, r
        where o.merchant_id = any(p_merchants) and o.day between r.last - (p_days - 1) and r.last
    ), bs as (
        select b.merchant_id, sum(b.rated) as rated, sum(b.satisfied) as satisfied, sum(b.responses) as responses,
               sum(b.late) as late, sum(b.opened) as opened, sum(b.answered_24h) as answered_24h,
               sum(b.first_responses) as first_responses, sum(b.first_response_seconds) as first_response_seconds
        from b group by b.merchant_id
    ), p as (
        select x.merchant_id, sum(x.n) as n
        from (select q.merchant_id, q.n from kpi_pending_24h q, r
               where q.merchant_id = any(p_merchants) and q.opened_at >= r.at - interval '24 hours'
              union all
              select o.merchant_id, o.pending from kpi_merchant_overflow o, r
               where o.merchant_id = any(p_merchants) and o.opened_at >= r.at - interval '24 hours') x
        group by x.merchant_id
    )
    select k.merchant_id, k.policy, k.state, r.at,
           coalesce(bs.rated, 0)::bigint, coalesce(bs.satisfied, 0)::bigint, coalesce(bs.responses, 0)::bigint,
           coalesce(bs.late, 0)::bigint, coalesce(bs.opened, 0)::bigint, coalesce(bs.answered_24h, 0)::bigint,
           coalesce(bs.first_responses, 0)::bigint, coalesce(bs.first_response_seconds, 0)::float8,
           coalesce(p.n, 0)::bigint
    from r cross join kpi_merchants k
    left join bs on bs.merchant_id = k.merchant_id
    left join p on p.merchant_id = k.merchant_id
    where k.merchant_id = any(p_merchants)
    order by k.merchant_id;
end
$$;

-- kpis.record's write, one call per fact batch: a function so its plans are cached per backend
-- (client-side prepared statements are off for PgBouncer; planning one big statement from the
-- client cost ~5 ms, and a custom plan per call ~1 ms: generic plans are forced). Simple steps,
-- each skipped when it has nothing to do. Deltas come as JSON arrays of objects:
--   p_merchants [{m, policy}], p_md [{m, day, <counters>}], p_pd [{day, <counters>}],
--   p_pending [{m, at, n}] (net per key: + opened, - answered)
-- Returns kpi_evaluate(p_days) of the merchants this transaction holds; the others are evaluated
-- by the transaction holding them, or at their next fact. One round trip per call.
create function kpi_record(p_newest timestamptz, p_merchants jsonb, p_md jsonb, p_pd jsonb, p_pending jsonb,
                           p_days integer)
returns table (merchant_id text, policy text, state text, at timestamptz, rated bigint, satisfied bigint,
               responses bigint, late bigint, opened bigint, answered_24h bigint, first_responses bigint,
               first_response_seconds float8, pending bigint)
language plpgsql
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
    v_shard  smallint := kpi_shard();
    v_at     timestamptz;
    v_young  timestamptz;            -- tickets opened at or after this are at most 24 h old
    v_held   text[];
    v_others text[];
begin
    insert into kpi_watermark as k (shard, at) values (v_shard, p_newest)
    on conflict (shard) do update set at = excluded.at where k.at < excluded.at;
    select max(k.at) into v_at from kpi_watermark k;
    v_young := v_at - interval '24 hours';

    insert into kpi_platform_days as d (day, shard, rated, satisfied, responses, late, opened, answered_24h,
                                         first_responses, first_response_seconds)
    select u.day, v_shard, u.rated, u.satisfied, u.responses, u.late, u.opened, u.answered_24h, u.first_responses,
           u.first_response_seconds
    from jsonb_to_recordset(p_pd) as u(day date, rated int, satisfied int, responses int, late int, opened int,
                                       answered_24h int, first_responses int, first_response_seconds float8)
    on conflict (day, shard) do update set
        rated = d.rated + excluded.rated, satisfied = d.satisfied + excluded.satisfied,
        responses = d.responses + excluded.responses, late = d.late + excluded.late,
        opened = d.opened + excluded.opened, answered_24h = d.answered_24h + excluded.answered_24h,
        first_responses = d.first_responses + excluded.first_responses,
        first_response_seconds = d.first_response_seconds + excluded.first_response_seconds;

    select array_agg(x.m order by x.m) filter (where x.ok), array_agg(x.m) filter (where not x.ok)
      into v_held, v_others
    from (select u.m, pg_try_advisory_xact_lock(1263557716, hashtext(u.m)) as ok
          from jsonb_to_recordset(p_merchants) as u(m text)) x;

    if v_others is not null then   -- another in-flight transaction writes these: append, never wait
        insert into kpi_merchant_overflow (merchant_id, day, rated, satisfied, responses, late, opened,
                                           answered_24h, first_responses, first_response_seconds)
        select u.m, u.day, u.rated, u.satisfied, u.responses, u.late, u.opened, u.answered_24h, u.first_responses,
               u.first_response_seconds
        from jsonb_to_recordset(p_md) as u(m text, day date, rated int, satisfied int, responses int, late int,
                                           opened int, answered_24h int, first_responses int,
                                           first_response_seconds float8)
        where u.m = any(v_others);
        insert into kpi_merchant_overflow (merchant_id, opened_at, pending)
        select u.m, u.at, u.n from jsonb_to_recordset(p_pending) as u(m text, at timestamptz, n int)
        where u.m = any(v_others) and u.at >= v_young;
    end if;
    if v_held is null then
        return;
    end if;

    if exists (select 1 from kpi_merchant_overflow o where o.merchant_id = any(v_held)) then
        -- fold what others appended while they held these merchants (committed rows only)
        with folded as (
            delete from kpi_merchant_overflow o where o.merchant_id = any(v_held) returning o.*
        ), days as (
            insert into kpi_merchant_days as d (merchant_id, day, rated, satisfied, responses, late, opened,
                                                answered_24h, first_responses, first_response_seconds)
            select f.merchant_id, f.day, sum(f.rated), sum(f.satisfied), sum(f.responses), sum(f.late),
                   sum(f.opened), sum(f.answered_24h), sum(f.first_responses), sum(f.first_response_seconds)
            from folded f where f.day is not null group by f.merchant_id, f.day
            on conflict (merchant_id, day) do update set
                rated = d.rated + excluded.rated, satisfied = d.satisfied + excluded.satisfied,
                responses = d.responses + excluded.responses, late = d.late + excluded.late,
                opened = d.opened + excluded.opened, answered_24h = d.answered_24h + excluded.answered_24h,
                first_responses = d.first_responses + excluded.first_responses,
                first_response_seconds = d.first_response_seconds + excluded.first_response_seconds
        )
        insert into kpi_pending_24h as p (merchant_id, opened_at, n)
        select f.merchant_id, f.opened_at, sum(f.pending) from folded f
        where f.opened_at >= v_young group by f.merchant_id, f.opened_at having sum(f.pending) <> 0
        on conflict (merchant_id, opened_at) do update set n = p.n + excluded.n;
    end if;

    insert into kpi_merchant_days as d (merchant_id, day, rated, satisfied, responses, late, opened,
                                        answered_24h, first_responses, first_response_seconds)
    select u.m, u.day, u.rated, u.satisfied, u.responses, u.late, u.opened, u.answered_24h, u.first_responses,
           u.first_response_seconds
    from jsonb_to_recordset(p_md) as u(m text, day date, rated int, satisfied int, responses int, late int,
                                       opened int, answered_24h int, first_responses int,
                                       first_response_seconds float8)
    where u.m = any(v_held)
    on conflict (merchant_id, day) do update set
        rated = d.rated + excluded.rated, satisfied = d.satisfied + excluded.satisfied,
        responses = d.responses + excluded.responses, late = d.late + excluded.late,
        opened = d.opened + excluded.opened, answered_24h = d.answered_24h + excluded.answered_24h,
        first_responses = d.first_responses + excluded.first_responses,
        first_response_seconds = d.first_response_seconds + excluded.first_response_seconds;

    if jsonb_array_length(p_pending) > 0 then   -- answered tickets may take n to 0 (or below: folded
        insert into kpi_pending_24h as p (merchant_id, opened_at, n)   -- overflow), cleaned up next
        select u.m, u.at, u.n from jsonb_to_recordset(p_pending) as u(m text, at timestamptz, n int)
        where u.m = any(v_held) and u.at >= v_young
        on conflict (merchant_id, opened_at) do update set n = p.n + excluded.n;
    end if;
    -- rows of answered tickets, and of tickets over 24 h old, no longer matter
    delete from kpi_pending_24h p where p.merchant_id = any(v_held) and (p.n <= 0 or p.opened_at < v_young);

    with mer as (
        insert into kpi_merchants as k (merchant_id, policy, evaluated_day)
        select u.m, u.policy, (v_at at time zone 'UTC')::date
        from jsonb_to_recordset(p_merchants) as u(m text, policy text) where u.m = any(v_held)
        on conflict (merchant_id) do update set policy = excluded.policy, evaluated_day = excluded.evaluated_day
        where k.policy <> excluded.policy or k.evaluated_day <> excluded.evaluated_day
        returning (xmax = 0) as inserted
    )
    insert into kpi_health_counts as c (shard, state, n)
    select v_shard, 'normal', count(*) from mer where mer.inserted having count(*) > 0
    on conflict (shard, state) do update set n = c.n + excluded.n;

    return query select * from kpi_evaluate(v_held, p_days);   -- new commands: they see the writes above
end
$$;
