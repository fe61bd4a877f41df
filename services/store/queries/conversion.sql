-- name: insert_chat_answers
-- A batch's chat answers (merchant, customer, at): append-only, read by the conversion join.
insert into chat_answers (merchant_id, customer_id, at)
select * from unnest(%b::text[], %b::text[], %b::timestamptz[])

-- name: insert_order
-- One order.placed; a second event for the same order id changes nothing (the first one counts).
insert into orders (order_id, merchant_id, customer_id, amount, currency, at, event_id)
values (%s, %s, %s, %s, %s, %s, %s) on conflict (order_id) do nothing

-- name: merchant_conversion
-- A merchant's converted orders in (since, until]: the same customer's chat answered by this merchant
-- in the 7 days before the order's time (003). Revenue and count per currency.
select o.currency, count(*), sum(o.amount)
  from orders o
 where o.merchant_id = %(m)s and o.at > %(since)s and o.at <= %(until)s
   and exists (select 1 from chat_answers a
                where a.merchant_id = o.merchant_id and a.customer_id = o.customer_id
                  and a.at <= o.at and a.at >= o.at - interval '7 days')
 group by o.currency order by o.currency

-- name: platform_conversion
-- The same, platform-wide, for the `conversion_revenue{currency}` gauge (currency is the only label).
select o.currency, count(*), sum(o.amount)
  from orders o
 where o.at > %(since)s and o.at <= %(until)s
   and exists (select 1 from chat_answers a
                where a.merchant_id = o.merchant_id and a.customer_id = o.customer_id
                  and a.at <= o.at and a.at >= o.at - interval '7 days')
 group by o.currency order by o.currency

-- name: newest_order
-- The newest order time seen: with the KPI watermark, where "the last 7 days" of conversion end.
select max(at) from orders
