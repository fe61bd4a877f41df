import pytest

from tests.conftest import delete_namespace

from .harness import Pipeline


@pytest.fixture
def pipeline(amqp_url, database_url, namespace):
    p = Pipeline(amqp_url, database_url, namespace)
    p.migrate_and_tap()
    yield p
    p.close()
    delete_namespace(amqp_url, namespace)
