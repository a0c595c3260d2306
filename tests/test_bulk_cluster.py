"""Bulk enrolment on a Ray cluster of three nodes on loopback (ray.cluster_utils.Cluster), into a
PostgreSQL gallery with a Milvus-server index: a driver killed mid-job and started again finishes
without enrolling anything twice, a worker node killed mid-job changes nothing, and the result
equals a local single-process enrolment of the same folder. Real LFW photos, real servers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprint.bulk import EngineSpec, JobOptions, LocalRunner, run_job
from faceprint.gallery import Gallery

PHOTOS = 200


def _need_ray():
    try:
        import ray.cluster_utils  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail("Ray is not installed and FACEPRINT_REQUIRE_DATA is set (CI installs faceprint[cluster])")
        pytest.skip("Ray is not installed: pip install 'faceprint[cluster]'")


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes, one CPU each: a pool of two actors always has a node to restart
    an actor on when one worker node is killed."""
    _need_ray()
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    from ray.cluster_utils import Cluster
    small = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
    # Node deaths are noticed within about a second (Ray's default is several).
    fast = {"health_check_period_ms": 300, "health_check_failure_threshold": 3, "health_check_timeout_ms": 300}
    c = Cluster(initialize_head=True, head_node_args={**small, "include_dashboard": False, "_system_config": fast})
    for _ in range(2):
        c.add_node(**small)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def people(lfw, tmp_path_factory) -> Path:
    """PHOTOS LFW photos (linked, not copied), at most 4 per person, one folder per person."""
    root = tmp_path_factory.mktemp("people")
    n = 0
    for person in sorted((lfw / "lfw-deepfunneled").iterdir()):
        photos = sorted(person.iterdir())[:min(4, PHOTOS - n)]
        (root / person.name).mkdir()
        for p in photos:
            (root / person.name / p.name).symlink_to(p)
        n += len(photos)
        if n >= PHOTOS:
            return root
    return root


@pytest.fixture(scope="module")
def reference(people, engine, lfw, tmp_path_factory):
    """The same folder enrolled by a local single-process job (SQLite, exact FAISS index); and 100
    probe vectors (70 of its templates, 30 people not in the folder)."""
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    with Gallery.open(db, create=True) as g:
        report = run_job(g, people, LocalRunner(EngineSpec(), engine), JobOptions(), show_progress=False)
        probes = [g.example_vector(i) for i in range(1, 2 * 70, 2)]                  # 70 enrolled photos
    strangers = sorted((lfw / "lfw-deepfunneled").glob("Z*/*"))[:30]
    probes += [t[0].vector for t in engine.templates_batch(strangers, select="largest") if t]
    assert report.accounted == report.photos == PHOTOS and len(probes) == 100
    return db, report, np.array(probes)


def content(location: str, index: str, probes) -> tuple[dict[str, set[str]], list]:
    """({subject: SHA-256s of its photos}, top-5 (subject, score) per probe); no photo twice."""
    with Gallery.open(location, index=index, readonly=True) as g:
        examples, total = g.examples(limit=100_000)
        assert g.stats()["indexed"] == total
        found = [[(m.subject.name, m.score) for m in ms] for ms in g.search_batch(probes, k=5)]
    by_subject: dict[str, set[str]] = {}
    for e in examples:
        by_subject.setdefault(e.subject, set()).add(e.source_sha256)
    assert sum(map(len, by_subject.values())) == total, "a photo was enrolled twice"
    return by_subject, found


def same_gallery(got, want) -> None:
    assert got[0] == want[0]
    for a, b in zip(got[1], want[1]):
        assert [s for s, _ in a] == [s for s, _ in b]
        assert np.allclose([x for _, x in a], [x for _, x in b], atol=1e-4)


def enrol_cli(url: str, index: str, people: Path, address: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "faceprint.cli", "enroll", "--gallery", url, "--index", index, "--from-folders",
           str(people), "--cluster", address, "--workers", "2", "--commit-every", "16", "--batch-size", "16", "--json", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def templates_in(url: str) -> int:
    import psycopg
    try:
        with psycopg.connect(url) as c:
            return c.execute("SELECT count(*) FROM templates").fetchone()[0]
    except psycopg.Error:
        return 0


def wait_for_first_commit(url: str, proc: subprocess.Popen, after: int = 0, timeout: float = 60) -> None:
    """Until the job has committed templates (more than `after`)."""
    deadline = time.monotonic() + timeout
    while templates_in(url) <= after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the job ended before its first commit was seen: {proc.communicate()[1][-2000:]}"


def node_with_maker(cluster):
    """A worker node running a TemplateMaker actor (a child process of its raylet)."""
    import psutil
    from ray._private import ray_constants
    def title(p):
        try:
            return " ".join(p.cmdline())
        except psutil.Error:        # exited (or a zombie) since it was listed
            return ""

    for node in cluster.worker_nodes:
        raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
        if any("TemplateMaker" in title(p) for p in psutil.Process(raylet).children(recursive=True)):
            return node
    raise AssertionError("no worker node runs a TemplateMaker actor")


def test_killed_driver_then_killed_worker_node_end_with_the_local_gallery(cluster, people, reference, postgres_url,
                                                                         milvus_server, tmp_path):
    """The driver is SIGKILLed after its first commit; the same command run again loses a worker
    node mid-job, finishes, enrols only what was missing, and leaves the local job's gallery."""
    ref_db, ref_report, probes = reference
    index = "milvus:" + milvus_server          # the gallery gets its own collection on the shared server
    first = enrol_cli(postgres_url, index, people, cluster.address)
    wait_for_first_commit(postgres_url, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    partial = templates_in(postgres_url)
    assert 0 < partial < ref_report.enrolled

    again = enrol_cli(postgres_url, index, people, cluster.address, "--report", str(tmp_path / "report.json"))
    wait_for_first_commit(postgres_url, again, after=partial)
    cluster.remove_node(node_with_maker(cluster), allow_graceful=False)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-3000:]
    assert len(cluster.worker_nodes) == 1
    done = json.loads(out)
    assert done["runner"].startswith(f"ray {cluster.address}, 2 worker(s)")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["photos"] == PHOTOS
    assert report["already_enrolled"] == partial and report["enrolled"] == ref_report.enrolled - partial
    assert report["skipped_by_reason"] == dict(ref_report.skipped)
    same_gallery(content(postgres_url, index, probes), content(str(ref_db), "Flat", probes))
