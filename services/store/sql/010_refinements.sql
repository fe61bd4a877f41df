-- The refining classifier's answers (issue #17): one row per ticket and opening message, written in the
-- transaction that applies (or declines) the answer, so the row is the refine task's idempotency key:
-- a redelivered task finds it and does nothing.
create table refinements (
    ticket_id  text not null,
    message_id text not null,
    classifier text not null,
    category   text not null,
    urgent     boolean not null,
    confidence real not null,
    outcome    text not null,  -- applied | agreed | unsure | upstream
    at         timestamptz not null,
    primary key (ticket_id, message_id)
);
