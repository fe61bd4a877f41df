CREATE FUNCTION public.kpi_evaluate(p_merchants text[], p_days integer) RETURNS TABLE(merchant_id text, policy text, state text, at timestamp with time zone, rated bigint, satisfied bigint, responses bigint, late bigint, opened bigint, answered_24h bigint, first_responses bigint, first_response_seconds double precision, pending bigint)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION public.kpi_record(p_newest timestamp with time zone, p_merchants jsonb, p_md jsonb, p_pd jsonb, p_pending jsonb, p_days integer) RETURNS TABLE(merchant_id text, policy text, state text, at timestamp with time zone, rated bigint, satisfied bigint, responses bigint, late bigint, opened bigint, answered_24h bigint, first_responses bigint, first_response_seconds double precision, pending bigint)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION public.kpi_shard() RETURNS smallint
    LANGUAGE plpgsql
    AS $$
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

CREATE TABLE public.chat_answers (
    merchant_id text NOT NULL,
    customer_id text NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE UNLOGGED TABLE public.component_heartbeats (
    component text NOT NULL,
    instance text NOT NULL,
    ready boolean NOT NULL,
    beat_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.dead_letters (
    id bigint NOT NULL,
    queue text NOT NULL,
    actor text NOT NULL,
    message_id text NOT NULL,
    args jsonb NOT NULL,
    error text,
    failed_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE SEQUENCE public.dead_letters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.dead_letters_id_seq OWNED BY public.dead_letters.id;

CREATE TABLE public.inbound_events (
    id text NOT NULL,
    ticket_id text,
    type text,
    "time" timestamp with time zone,
    received_at timestamp with time zone NOT NULL,
    outcome text NOT NULL
);

CREATE TABLE public.kpi_health_counts (
    shard smallint NOT NULL,
    state text NOT NULL,
    n bigint DEFAULT 0 NOT NULL
);

CREATE TABLE public.kpi_merchant_days (
    merchant_id text NOT NULL,
    day date NOT NULL,
    rated integer DEFAULT 0 NOT NULL,
    satisfied integer DEFAULT 0 NOT NULL,
    responses integer DEFAULT 0 NOT NULL,
    late integer DEFAULT 0 NOT NULL,
    opened integer DEFAULT 0 NOT NULL,
    answered_24h integer DEFAULT 0 NOT NULL,
    first_responses integer DEFAULT 0 NOT NULL,
    first_response_seconds double precision DEFAULT 0 NOT NULL
);

CREATE TABLE public.kpi_merchant_overflow (
    id bigint NOT NULL,
    merchant_id text NOT NULL,
    day date,
    rated integer DEFAULT 0 NOT NULL,
    satisfied integer DEFAULT 0 NOT NULL,
    responses integer DEFAULT 0 NOT NULL,
    late integer DEFAULT 0 NOT NULL,
    opened integer DEFAULT 0 NOT NULL,
    answered_24h integer DEFAULT 0 NOT NULL,
    first_responses integer DEFAULT 0 NOT NULL,
    first_response_seconds double precision DEFAULT 0 NOT NULL,
    opened_at timestamp with time zone,
    pending integer DEFAULT 0 NOT NULL
);

CREATE SEQUENCE public.kpi_merchant_overflow_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.kpi_merchant_overflow_id_seq OWNED BY public.kpi_merchant_overflow.id;

CREATE TABLE public.kpi_merchant_policy_days (
    merchant_id text NOT NULL,
    policy text NOT NULL,
    day date NOT NULL,
    rated integer DEFAULT 0 NOT NULL,
    satisfied integer DEFAULT 0 NOT NULL,
    responses integer DEFAULT 0 NOT NULL,
    late integer DEFAULT 0 NOT NULL,
    opened integer DEFAULT 0 NOT NULL,
    answered_24h integer DEFAULT 0 NOT NULL,
    first_responses integer DEFAULT 0 NOT NULL,
    first_response_seconds double precision DEFAULT 0 NOT NULL
);

CREATE TABLE public.kpi_merchants (
    merchant_id text NOT NULL,
    policy text NOT NULL,
    state text DEFAULT 'normal'::text NOT NULL,
    changed_at timestamp with time zone,
    evaluated_day date NOT NULL,
    CONSTRAINT kpi_merchants_state_check CHECK ((state = ANY (ARRAY['normal'::text, 'warning'::text, 'restricted'::text])))
);

CREATE TABLE public.kpi_pending_24h (
    merchant_id text NOT NULL,
    opened_at timestamp with time zone NOT NULL,
    n integer NOT NULL
);

CREATE TABLE public.kpi_platform_days (
    day date NOT NULL,
    shard smallint NOT NULL,
    rated bigint DEFAULT 0 NOT NULL,
    satisfied bigint DEFAULT 0 NOT NULL,
    responses bigint DEFAULT 0 NOT NULL,
    late bigint DEFAULT 0 NOT NULL,
    opened bigint DEFAULT 0 NOT NULL,
    answered_24h bigint DEFAULT 0 NOT NULL,
    first_responses bigint DEFAULT 0 NOT NULL,
    first_response_seconds double precision DEFAULT 0 NOT NULL
);

CREATE TABLE public.kpi_watermark (
    shard smallint NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE TABLE public.merchant_exports (
    merchant_id text NOT NULL,
    last_at timestamp with time zone NOT NULL,
    last_rows integer,
    last_filters jsonb DEFAULT '{}'::jsonb NOT NULL,
    exports bigint DEFAULT 1 NOT NULL
);

CREATE TABLE public.messages (
    ticket_id text NOT NULL,
    message_id text NOT NULL,
    author text NOT NULL,
    text text NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE TABLE public.metric_counters (
    name text NOT NULL,
    labels text NOT NULL,
    value double precision DEFAULT 0 NOT NULL
);

CREATE TABLE public.orders (
    order_id text NOT NULL,
    merchant_id text NOT NULL,
    customer_id text NOT NULL,
    amount numeric(22,4) NOT NULL,
    currency text NOT NULL,
    at timestamp with time zone NOT NULL,
    event_id text NOT NULL
);

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    exchange text NOT NULL,
    routing_key text NOT NULL,
    body bytea NOT NULL,
    headers jsonb,
    message_id text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE SEQUENCE public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.outbox_id_seq OWNED BY public.outbox.id;

CREATE TABLE public.parked_events (
    event_id text NOT NULL,
    ticket_id text NOT NULL,
    "time" timestamp with time zone NOT NULL,
    body bytea NOT NULL,
    parked_at timestamp with time zone NOT NULL
);

CREATE TABLE public.refinements (
    ticket_id text NOT NULL,
    message_id text NOT NULL,
    classifier text NOT NULL,
    category text NOT NULL,
    urgent boolean NOT NULL,
    confidence real NOT NULL,
    outcome text NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.tickets (
    id text NOT NULL,
    merchant_id text NOT NULL,
    policy text NOT NULL,
    status text NOT NULL,
    category text NOT NULL,
    urgent boolean NOT NULL,
    urges integer DEFAULT 0 NOT NULL,
    opened_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    due_at timestamp with time zone,
    state jsonb NOT NULL,
    order_id text,
    channel text,
    waiting_since timestamp with time zone
);

CREATE TABLE public.timeline (
    id bigint NOT NULL,
    ticket_id text NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text NOT NULL,
    type text NOT NULL,
    event_id text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL
);

CREATE SEQUENCE public.timeline_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.timeline_id_seq OWNED BY public.timeline.id;

CREATE TABLE public.timers (
    ticket_id text NOT NULL,
    kind text NOT NULL,
    due_at timestamp with time zone NOT NULL
);

CREATE TABLE public.translations (
    ticket_id text NOT NULL,
    message_id text NOT NULL,
    source_language text NOT NULL,
    target_language text NOT NULL,
    provider text NOT NULL,
    translated boolean NOT NULL,
    text text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.dead_letters ALTER COLUMN id SET DEFAULT nextval('public.dead_letters_id_seq'::regclass);

ALTER TABLE ONLY public.kpi_merchant_overflow ALTER COLUMN id SET DEFAULT nextval('public.kpi_merchant_overflow_id_seq'::regclass);

ALTER TABLE ONLY public.outbox ALTER COLUMN id SET DEFAULT nextval('public.outbox_id_seq'::regclass);

ALTER TABLE ONLY public.timeline ALTER COLUMN id SET DEFAULT nextval('public.timeline_id_seq'::regclass);

ALTER TABLE ONLY public.component_heartbeats
    ADD CONSTRAINT component_heartbeats_pkey PRIMARY KEY (component, instance);

ALTER TABLE ONLY public.dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.inbound_events
    ADD CONSTRAINT inbound_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.kpi_health_counts
    ADD CONSTRAINT kpi_health_counts_pkey PRIMARY KEY (shard, state);

ALTER TABLE ONLY public.kpi_merchant_days
    ADD CONSTRAINT kpi_merchant_days_pkey PRIMARY KEY (merchant_id, day);

ALTER TABLE ONLY public.kpi_merchant_overflow
    ADD CONSTRAINT kpi_merchant_overflow_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.kpi_merchants
    ADD CONSTRAINT kpi_merchants_pkey PRIMARY KEY (merchant_id);

ALTER TABLE ONLY public.kpi_pending_24h
    ADD CONSTRAINT kpi_pending_24h_pkey PRIMARY KEY (merchant_id, opened_at);

ALTER TABLE ONLY public.kpi_platform_days
    ADD CONSTRAINT kpi_platform_days_pkey PRIMARY KEY (day, shard);

ALTER TABLE ONLY public.kpi_watermark
    ADD CONSTRAINT kpi_watermark_pkey PRIMARY KEY (shard);

ALTER TABLE ONLY public.merchant_exports
    ADD CONSTRAINT merchant_exports_pkey PRIMARY KEY (merchant_id);

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (ticket_id, message_id);

ALTER TABLE ONLY public.metric_counters
    ADD CONSTRAINT metric_counters_pkey PRIMARY KEY (name, labels);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (order_id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.parked_events
    ADD CONSTRAINT parked_events_pkey PRIMARY KEY (event_id);

ALTER TABLE ONLY public.refinements
    ADD CONSTRAINT refinements_pkey PRIMARY KEY (ticket_id, message_id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.timeline
    ADD CONSTRAINT timeline_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.timers
    ADD CONSTRAINT timers_pkey PRIMARY KEY (ticket_id, kind);

ALTER TABLE ONLY public.translations
    ADD CONSTRAINT translations_pkey PRIMARY KEY (ticket_id, message_id);

CREATE INDEX chat_answers_by_customer ON public.chat_answers USING btree (merchant_id, customer_id, at);

CREATE INDEX inbound_events_by_received ON public.inbound_events USING btree (received_at);

CREATE INDEX kpi_merchant_overflow_by_merchant ON public.kpi_merchant_overflow USING btree (merchant_id);

CREATE INDEX kpi_merchant_overflow_by_opened ON public.kpi_merchant_overflow USING btree (opened_at) INCLUDE (pending) WHERE (opened_at IS NOT NULL);

CREATE INDEX kpi_merchant_policy_days_by_merchant ON public.kpi_merchant_policy_days USING btree (merchant_id, day);

CREATE INDEX kpi_merchants_by_evaluated ON public.kpi_merchants USING btree (evaluated_day);

CREATE INDEX kpi_pending_24h_by_opened ON public.kpi_pending_24h USING btree (opened_at) INCLUDE (n);

CREATE INDEX orders_by_merchant ON public.orders USING btree (merchant_id, at);

CREATE INDEX orders_by_time ON public.orders USING btree (at);

CREATE INDEX parked_by_age ON public.parked_events USING btree (parked_at);

CREATE INDEX parked_by_ticket ON public.parked_events USING btree (ticket_id, "time");

CREATE INDEX tickets_by_channel ON public.tickets USING btree (merchant_id, channel) WHERE (channel IS NOT NULL);

CREATE INDEX tickets_by_merchant ON public.tickets USING btree (merchant_id, status, opened_at);

CREATE INDEX tickets_by_merchant_due ON public.tickets USING btree (merchant_id, due_at) WHERE (due_at IS NOT NULL);

CREATE INDEX tickets_by_order ON public.tickets USING btree (merchant_id, order_id) WHERE (order_id IS NOT NULL);

CREATE INDEX tickets_by_waiting ON public.tickets USING btree (merchant_id, waiting_since) WHERE (waiting_since IS NOT NULL);

CREATE INDEX timeline_by_ticket ON public.timeline USING btree (ticket_id, id);

CREATE INDEX timers_by_due ON public.timers USING btree (due_at);
