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
