-- Working the list (DOMAIN, seeds 002/004): find a merchant's tickets by order id.
alter table tickets add column order_id text;
create index tickets_by_order on tickets (merchant_id, order_id) where order_id is not null;
