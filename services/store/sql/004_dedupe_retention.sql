-- The dedupe ledger keeps event ids for a retention window (TICKETFLOW_DEDUPE_DAYS), not forever.
create index inbound_events_by_received on inbound_events (received_at);
