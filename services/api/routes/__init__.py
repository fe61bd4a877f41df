"""One router per resource: tickets (reads), commands, templates, kpis, health."""
