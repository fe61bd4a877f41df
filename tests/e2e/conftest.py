import pytest

from .harness import tapped


@pytest.fixture
def pipeline(amqp_url, database_url, namespace):
    with tapped(amqp_url, database_url, namespace) as p:
        yield p
