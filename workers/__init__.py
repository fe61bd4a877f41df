"""dramatiq workers. Build the broker first (`workers.broker.make_broker`), then register the
actors on it (`workers.registry.register_all`): no actor is bound to a global broker at import."""
