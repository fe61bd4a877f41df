"""Private server processes for tests and the soak that must break things: a PostgreSQL cluster
(`initdb` + `pg_ctl`) and a RabbitMQ node (`rabbitmq-server` with its own node name, ports and
data directory), each on ports of its own, so restarting, killing or locking them never touches
the shared services other tests use. No Docker needed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a server restarted mid-test must find its port
    again, which an outgoing connection may take meanwhile when the port is an ephemeral one."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def self_signed(directory: Path, name: str = "server", host: str | None = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate and its key for `host` (CN and subjectAltName; `host=None`: a CN
    only, which a client checking the name refuses), for the TLS tests."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
    if host:
        cmd += ["-addext", f"subjectAltName=DNS:{host}"]
    subprocess.run([*cmd, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """initdb and postgres refuse to run as root: run them as the `postgres` user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class PrivatePostgres:
    """A throwaway cluster on `port`, trust authentication; `listen` may add addresses (a veth)."""

    def __init__(self, port: int | None = None, listen: str = "127.0.0.1", ssl: tuple[str, str] | None = None):
        if PG_BIN is None:
            raise RuntimeError("no /usr/lib/postgresql/*/bin: install postgresql to run private clusters")
        self.port, self.listen, self.ssl = port or free_port(), listen, ssl
        self.root = Path(tempfile.mkdtemp(prefix="tf-pg-"))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, db: str, host: str = "127.0.0.1") -> str:
        return f"postgresql://postgres@{host}:{self.port}/{db}"

    def init(self) -> PrivatePostgres:
        r = _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"])
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr[-500:]}")
        conf = [
            f"port = {self.port}",
            f"listen_addresses = '{self.listen}'",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",  # a test cluster: speed over durability of the host's disk
            "max_connections = 200",
            "shared_buffers = 64MB",
        ]
        if self.ssl:
            cert, key = self.ssl
            for src, name in ((cert, "server.crt"), (key, "server.key")):
                shutil.copy(src, self.data / name)
                if os.geteuid() == 0:
                    shutil.chown(self.data / name, "postgres", "postgres")
                os.chmod(self.data / name, 0o600)
            conf += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n".join(conf) + "\n")
        if self.ssl:  # TLS or nothing over TCP
            (self.data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 0.0.0.0/0 trust\n")
        else:
            with (self.data / "pg_hba.conf").open("a") as f:
                f.write("host all all 0.0.0.0/0 trust\n")
        return self

    def start(self, timeout: float = 60) -> None:
        r = _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        if r.returncode:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr[-300:]} {self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "log").read_text()[-1500:]
        return ""

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.init().start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PrivateRabbit:
    """A RabbitMQ node of our own: node name, AMQP and distribution ports, data and log directories;
    no plugins, as a stock broker (no management port to collide with; ticket partitions need none). guest/guest from loopback."""

    def __init__(self, port: int | None = None, definitions: str | None = None, tls: tuple[str, str] | None = None):
        """`tls`: (certificate, key) of the server: AMQP over TLS on `tls_port` as well (no client
        certificate asked for), for the one test that exercises amqps:// for real."""
        self.port = port or free_port()
        self.dist_port = free_port()
        self.tls_port = free_port() if tls else None
        self.root = Path(tempfile.mkdtemp(prefix="tf-rmq-"))
        self.node = f"tf{self.port}@localhost"
        (self.root / "enabled_plugins").write_text("[].\n")
        conf = (
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users.guest = true\n"
            "vm_memory_high_watermark.relative = 0.2\ndisk_free_limit.absolute = 50MB\n"
            + (f"load_definitions = {self.root / 'definitions.json'}\n" if definitions else "")
        )
        if tls:
            shutil.copy(tls[0], self.root / "server.crt")
            shutil.copy(tls[1], self.root / "server.key")
            conf += (
                f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
                f"ssl_options.cacertfile = {self.root / 'server.crt'}\n"
                f"ssl_options.certfile = {self.root / 'server.crt'}\n"
                f"ssl_options.keyfile = {self.root / 'server.key'}\n"
                "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n"
                # guest may log in over the TLS listener on loopback too
            )
        (self.root / "rabbitmq.conf").write_text(conf)
        if definitions:
            shutil.copy(definitions, self.root / "definitions.json")
        self.env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq"),
            RABBITMQ_PID_FILE=str(self.root / "pid"),
            ERL_CRASH_DUMP=str(self.root / "erl_crash.dump"),
        )
        if os.geteuid() == 0:  # the rabbitmq-server wrapper drops to the `rabbitmq` user
            for p in self.root.iterdir():
                shutil.chown(p, "rabbitmq", "rabbitmq")
            shutil.chown(self.root, "rabbitmq", "rabbitmq")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self, timeout: float = 120) -> None:
        self.proc = subprocess.Popen(
            ["rabbitmq-server"],
            env=self.env,
            stdout=(self.root / "stdout").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {(self.root / 'stdout').read_text()[-800:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                if self._ctl("await_startup", timeout=30).returncode == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError("private rabbitmq did not start in time")

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            self._ctl("shutdown", timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivateRabbit:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
