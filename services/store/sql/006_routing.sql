-- Chat routing (contract "Chat routing (003)").
-- One row per merchant: its desk (agents, open routed chats, the queue) as the core's document. Every
-- transaction that routes for a merchant locks this row (after its tickets, in merchant id order), so
-- two ingest processes or a scheduler never assign one chat twice or exceed a capacity.
create table routing_desks (
    merchant_id text primary key,
    state jsonb not null default '{}'::jsonb,
    agents integer not null default 0,
    queued integer not null default 0,
    updated_at timestamptz
);

-- Each time an agent answered a chat it held (a merchant act took it out of awaiting_merchant):
-- `show --merchant` counts the answers within 24 h and the CSAT of the chats each agent answered.
create table agent_answers (
    ticket_id text not null,
    answered_at timestamptz not null,
    merchant_id text not null,
    agent_id text not null,
    seconds double precision not null,
    primary key (ticket_id, answered_at)
);
create index agent_answers_by_agent on agent_answers (merchant_id, agent_id);
