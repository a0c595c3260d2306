"""Shared fixtures. Tests read ../shared/data in place and skip, saying so, when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data")).resolve()
SMALL = DATA / "small"
FR = SMALL / "face_recognition_examples"
LFW = DATA / "lfw"


def need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"test data {path} is absent and FACEPRINT_REQUIRE_DATA is set (CI must have it)")
        pytest.skip(f"test data {path} is absent (set FACEPRINT_DATA or place shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def fr() -> Path:
    return need(FR)


@pytest.fixture(scope="session")
def att() -> Path:
    return need(SMALL / "att_faces")


@pytest.fixture(scope="session")
def lfw() -> Path:
    return need(LFW / "pairs.txt").parent


@pytest.fixture(scope="session")
def engine():
    from faceprint import Engine
    return Engine()


def _pg_bin() -> Path | None:
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for this test session (Debian's postgresql package)."""
    import shutil
    import socket
    import subprocess

    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    import tempfile
    # Not under pytest's tmp dir: that is private to root, and the server runs as user postgres.
    root = Path(tempfile.mkdtemp(prefix="faceprint-pg-"))
    data = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:   # postgres refuses to run as root
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "faceprint"],
                   check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start",
                    "-o", f"-h 127.0.0.1 -p {port} -k {root}"], check=True, capture_output=True)
    yield f"postgresql://faceprint@127.0.0.1:{port}"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


_db_counter = iter(range(1_000_000))


@pytest.fixture
def postgres_url(postgres_server):
    import psycopg
    name = f"g{next(_db_counter)}_{os.getpid()}"
    with psycopg.connect(postgres_server + "/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


# Starts the `milvus` package's standalone server on the given ports (the CLI cannot set the metrics
# port, and its port check refuses a port a stopped server left in TIME_WAIT, which Go servers reuse)
# and exits with the server's status, stopping it on SIGTERM.
_MILVUS_LAUNCH = """
import json, signal, socket, sys
import milvus
def bind_reusing(self, port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None
milvus.MilvusServerConfig.try_bind_port = bind_reusing
cfg = json.loads(sys.argv[1])
data_dir, metrics_port = cfg.pop("data_dir"), cfg.pop("metrics_port")
server = milvus.MilvusServer(milvus.MilvusServerConfig(**cfg), wait_for_started=False)
server.set_base_dir(data_dir)
server.webservice_port = metrics_port
def stop(*_):
    proc = server.server_proc
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=5)    # its graceful stop can hang; what it acknowledged is on disk
        except Exception:
            proc.kill()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
server.start()
sys.exit(server.server_proc.wait())
"""
_MILVUS_PORTS = ("etcd_port", "root_coord_port", "proxy_port", "proxy_internal_port", "query_coord_port",
                 "query_node_port", "index_coord_port", "index_node_port", "data_coord_port", "data_node_port",
                 "metrics_port")


def _free_ports(n: int) -> list[int]:
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class MilvusProcess:
    """A standalone Milvus server (the `milvus` PyPI package) on 127.0.0.1, every port free and fixed
    for its life, so stop() + start() brings it back at the same URI on the same data."""

    def __init__(self, root: Path):
        self.root = root
        ports = _free_ports(len(_MILVUS_PORTS) + 1)
        self.config = {"data_dir": str(root / "milvus"), **dict(zip(_MILVUS_PORTS, ports))}
        self.uri = f"http://127.0.0.1:{self.config['proxy_port']}"
        # The embedded etcd ignores --etcd-port: its client and peer URLs come from its own config file.
        etcd, peer = self.config["etcd_port"], ports[-1]
        (root / "etcd.yaml").write_text(
            f"name: default\nlisten-client-urls: http://127.0.0.1:{etcd}\nadvertise-client-urls: http://127.0.0.1:{etcd}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\ninitial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n")
        self.proc = None

    def start(self, timeout: float = 180) -> None:
        import json
        import subprocess
        import sys
        import time
        env = {**os.environ, "ETCD_CONFIG_PATH": str(self.root / "etcd.yaml")}
        with open(self.root / "launch.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _MILVUS_LAUNCH, json.dumps(self.config)], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.connects():
                return
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"Milvus server did not start in {timeout:.0f} s: {self.log_tail()}")

    def connects(self) -> bool:
        from pymilvus import MilvusClient

        from faceprint.gallery.index_milvus import GRPC_OPTIONS
        client = None
        try:    # own connection: a shared one to a stopped server waits out gRPC's reconnect backoff
            client = MilvusClient(self.uri, timeout=5, dedicated=True, grpc_options=GRPC_OPTIONS)
            client.list_collections(timeout=5)
            return True
        except Exception:
            return False
        finally:
            if client is not None:
                client.close()

    def stop(self) -> None:
        """SIGTERM to the whole process group (launcher and server), SIGKILL for what is left."""
        import signal
        import subprocess
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def log_tail(self) -> str:
        logs = [self.root / "launch.log", self.root / "milvus" / "logs" / "milvus-stdout.log"]
        text = "".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())
        return text[-3000:] or "(no log)"


@pytest.fixture(scope="session")
def milvus_process():
    """The session's Milvus server process (tests that restart it use this; others use milvus_server)."""
    import shutil
    import sys
    import tempfile

    def unavailable(why: str):
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"Milvus server unavailable and FACEPRINT_REQUIRE_DATA is set (CI must have it): {why}")
        pytest.skip(f"Milvus server unavailable: {why}")

    if not sys.platform.startswith("linux"):
        unavailable("the milvus package's server runs on Linux only")
    try:
        import milvus  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as e:
        unavailable(f"{e} (pip install -e '.[test]' installs milvus and pymilvus)")
    root = Path(tempfile.mkdtemp(prefix="faceprint-milvus-"))
    server = MilvusProcess(root)
    try:
        server.start()
    except (RuntimeError, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(str(e))
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def milvus_server(milvus_process) -> str:
    """URI ("http://127.0.0.1:PORT") of a real standalone Milvus server for this test session."""
    return milvus_process.uri
