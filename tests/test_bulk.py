"""Bulk enrolment in this process (faceprint.bulk): every photo of a folder of people accounted for,
bad photos reported not fatal, a rerun adds nothing, and a job killed after its first commit and run
again ends with the gallery an uninterrupted run makes. Real LFW photos, real SQLite galleries."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceprint.bulk import EngineSpec, JobOptions, LocalRunner, run_job
from faceprint.gallery import Gallery

LFW_SUBJECTS = ["Abdullah_Gul", "Adrien_Brody", "Al_Sharpton", "Alejandro_Toledo", "Ann_Veneman", "Ari_Fleischer",
                "Angela_Bassett", "Aaron_Eckhart", "AJ_Cook", "Abba_Eban"]


def lfw_folder(lfw: Path, root: Path, names=LFW_SUBJECTS, cap: int = 6) -> Path:
    """root/<name>/ linking (not copying) the first `cap` LFW photos of each person."""
    for name in names:
        (root / name).mkdir(parents=True)
        for photo in sorted((lfw / "lfw-deepfunneled" / name).iterdir())[:cap]:
            (root / name / photo.name).symlink_to(photo)
    return root


def gallery_content(db: Path) -> dict[str, set[str]]:
    """{subject: SHA-256s of its enrolled photos}; and no photo is enrolled twice for a subject."""
    with Gallery.open(db, readonly=True) as g:
        examples, total = g.examples(limit=100_000)
        assert total == len(examples) == g.stats()["indexed"]
    content: dict[str, set[str]] = {}
    for e in examples:
        content.setdefault(e.subject, set()).add(e.source_sha256)
    assert sum(map(len, content.values())) == total, "a photo was enrolled twice"
    return content


def job(db: Path, folder: Path, engine, **options):
    with Gallery.open(db, create=True) as g:
        return run_job(g, folder, LocalRunner(EngineSpec(), engine), JobOptions(**options), show_progress=False)


def test_every_photo_accounted_for_and_a_rerun_adds_nothing(tmp_path, lfw, engine, fr):
    folder = lfw_folder(lfw, tmp_path / "people", cap=4)
    bad = folder / "Mallory"
    bad.mkdir()
    cv2.imwrite(str(bad / "blank.png"), np.zeros((120, 120, 3), np.uint8))              # no face
    (bad / "notes.txt").write_text("not a photo")                                        # unreadable
    (bad / "cut.jpg").write_bytes((fr / "examples/obama.jpg").read_bytes()[:3000])       # unreadable (truncated)
    twice = folder / "Barack"
    twice.mkdir()
    shutil.copy(fr / "examples/obama.jpg", twice / "a.jpg")
    shutil.copy(fr / "examples/obama.jpg", twice / "b.jpg")                              # the same photo again
    photos = sum(1 for _ in folder.glob("*/*"))

    db = tmp_path / "g.db"
    first = job(db, folder, engine, commit_every=8)
    assert first.photos == first.accounted == photos
    assert first.skipped == {"no_face": 1, "unreadable": 2, "duplicate": 1}
    assert first.already_enrolled == 0
    assert {p.code for p in first.subjects["Mallory"].skipped} == {"no_face", "unreadable"}
    assert first.subjects["Barack"].enrolled == [str(twice / "a.jpg")]
    content = gallery_content(db)
    assert set(content) == set(LFW_SUBJECTS) | {"Barack"}          # Mallory, with no usable photo, is not created
    assert sum(map(len, content.values())) == first.enrolled == photos - 4
    summary = first.summary()
    assert f"{first.enrolled} photo(s) added" in summary and "no_face 1" in summary and "photos/s" in summary

    again = job(db, folder, engine, commit_every=8)
    assert again.enrolled == 0 and again.accounted == photos
    assert again.already_enrolled == first.enrolled + 1            # b.jpg: the same SHA-256 as a.jpg
    assert again.skipped == {"no_face": 1, "unreadable": 2}
    assert gallery_content(db) == content


def _templates(db: Path) -> int:
    """Templates committed so far (read with sqlite3: cheap enough to poll while the job runs)."""
    import sqlite3
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return c.execute("SELECT count(*) FROM templates").fetchone()[0]
    except sqlite3.Error:       # not created, or not yet initialised by the job
        return 0


def test_killed_job_run_again_ends_with_the_uninterrupted_gallery(tmp_path, lfw, engine):
    folder = lfw_folder(lfw, tmp_path / "people", cap=8)
    photos = sum(1 for _ in folder.glob("*/*"))
    whole = tmp_path / "whole.db"
    reference = job(whole, folder, engine, best=3)
    assert reference.skipped["not_best"] > 0        # --best matters here, and must survive the restart

    db = tmp_path / "killed.db"
    cli = [sys.executable, "-m", "faceprint.cli", "enroll", "--gallery", str(db), "--from-folders", str(folder),
           "--best", "3", "--commit-every", "3", "--batch-size", "4", "--threads", "1", "--json"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while _templates(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the job ended before it could be killed mid-way"
    partial = _templates(db)
    assert 0 < partial < reference.enrolled

    rerun = subprocess.run(cli[:-1] + ["--report", str(tmp_path / "report.json")], capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "already enrolled" in rerun.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["photos"] == photos
    assert report["already_enrolled"] == partial and report["enrolled"] == reference.enrolled - partial
    assert report["skipped_by_reason"]["not_best"] == reference.skipped["not_best"]
    assert gallery_content(db) == gallery_content(whole)


def test_cluster_without_folders_is_a_usage_error(tmp_path, fr):
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "enroll", "--gallery", str(tmp_path / "g.db"), "x",
                        str(fr / "examples/obama.jpg"), "--cluster", "local"], capture_output=True, text=True)
    assert r.returncode == 2 and "--from-folders" in r.stderr and not (tmp_path / "g.db").exists()


def test_unreachable_cluster_is_a_clear_error(tmp_path, fr):
    address = "127.0.0.1:1"
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail("Ray is not installed and FACEPRINT_REQUIRE_DATA is set (CI installs faceprint[cluster])")
        pytest.skip("Ray is not installed: pip install 'faceprint[cluster]'")
    folder = tmp_path / "people" / "obama"
    folder.mkdir(parents=True)
    shutil.copy(fr / "examples/obama.jpg", folder / "a.jpg")
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "enroll", "--gallery", str(tmp_path / "g.db"),
                        "--from-folders", str(folder.parent), "--cluster", address], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and f"cannot connect to the Ray cluster at '{address}'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
