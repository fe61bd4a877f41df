"""TLS to PostgreSQL, once, for real: a private server with `ssl=on` and a self-signed certificate,
reached with `sslmode=verify-full` through the one place connections are made."""

from __future__ import annotations

import psycopg
import pytest

from services.store.db import connect, migrate
from tests.private import PrivatePostgres, self_signed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    with PrivatePostgres(ssl=(str(cert), str(key))) as pg:
        with psycopg.connect(f"{pg.url('postgres', 'localhost')}?sslmode=require", autocommit=True) as c:
            c.execute("create database tls")
        yield pg, cert


def test_verify_full_connects_encrypted_and_migrates(tls_server):
    pg, cert = tls_server
    # Given the server's own certificate as the trusted root and its name as the host
    url = f"{pg.url('tls', 'localhost')}?sslmode=verify-full&sslrootcert={cert}"
    # When ticketflow migrates and connects through services.store.db
    migrate(url)
    with connect(url) as conn:
        # I expect an encrypted session that verified the server
        assert conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0] is True
        assert conn.execute("select count(*) from schema_migrations").fetchone()[0] >= 1


def test_a_name_the_certificate_does_not_carry_is_refused(tls_server):
    pg, cert = tls_server
    # 127.0.0.1 is the same server, but the certificate names only `localhost`
    with pytest.raises(psycopg.OperationalError):
        connect(f"{pg.url('tls', '127.0.0.1')}?sslmode=verify-full&sslrootcert={cert}").close()


def test_plain_text_is_refused_by_the_server(tls_server):
    pg, _ = tls_server
    with pytest.raises(psycopg.OperationalError):
        connect(f"{pg.url('tls', 'localhost')}?sslmode=disable").close()
