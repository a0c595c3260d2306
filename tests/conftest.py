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
