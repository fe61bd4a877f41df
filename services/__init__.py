"""ticketflow services: the pure domain core, its ports and adapters, and the CLI."""
