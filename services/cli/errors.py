"""What a command raises for an expected failure: printed as one line on stderr, exit 1."""


class Failure(Exception):
    """An expected failure: printed as one line, exit 1."""
