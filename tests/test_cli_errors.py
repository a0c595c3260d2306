"""The CLI's error contract under hostile input: exit 2, one line on stderr naming the input, no
traceback, under 10 s and 1.5 GB, and the gallery byte-identical after every failed command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import bad_files, odd_valid_files, tree_digest

HERE = Path(__file__).parent


def run_table(tmp_path: Path, cases: list[list[str]]) -> tuple[list[dict], float]:
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    r = subprocess.run([sys.executable, str(HERE / "cli_table.py"), str(spec)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    return out["results"], out["peak_rss_mb"]


def assert_clean_failure(res: dict) -> None:
    what = " ".join(res["argv"])
    assert res["code"] == 2, f"{what}: exit {res['code']}: {res['stderr']}"
    lines = res["stderr"].strip().splitlines()
    assert len(lines) == 1, f"{what}: expected one line, got {lines}"
    assert "Traceback" not in res["stderr"] and "unexpected" not in res["stderr"], f"{what}: {lines[0]}"
    assert res["seconds"] < 10, f"{what} took {res['seconds']:.1f} s"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, fr):
    """A small real gallery (made through the CLI itself) that failed commands must leave untouched."""
    folder = tmp_path_factory.mktemp("gal")
    db = folder / "staff.db"
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "enroll", "--gallery", str(db), "--from-folders",
                        str(fr / "examples/knn_examples/train")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return db


def test_hostile_files_through_every_command(tmp_path, fr, gallery):
    face = fr / "examples/obama.jpg"
    bad = bad_files(tmp_path / "bad", face)
    before = tree_digest(gallery.parent)
    cases, labels = [], []
    for label, path in bad.items():
        p = str(path)
        for argv in (["detect", p], ["detect", "--json", p], ["verify", p, str(face)], ["verify", str(face), p],
                     ["enroll", "--gallery", str(gallery), "Mallory", p], ["identify", "--gallery", str(gallery), p]):
            cases.append(argv)
            labels.append((label, path))
    results, peak_mb = run_table(tmp_path, cases)
    for (label, path), res in zip(labels, results):
        assert_clean_failure(res)
        assert path.name in res["stderr"], f"{label}: the message does not name the input: {res['stderr']}"
    assert peak_mb < 1536, f"peak memory {peak_mb:.0f} MB"
    assert tree_digest(gallery.parent) == before, "a failed command changed the gallery"


def test_bad_arguments_one_line_each(tmp_path, fr, gallery):
    face = str(fr / "examples/obama.jpg")
    g = str(gallery)
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not a database\n")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        ["identify", "--gallery", g, face, "--fpir", "1"],
        ["identify", "--gallery", g, face, "--fpir", "2"],
        ["identify", "--gallery", g, face, "--fpir", "0"],
        ["identify", "--gallery", g, face, "--fpir", "-0.1"],
        ["identify", "--gallery", g, face, "--k", "0"],
        ["identify", "--gallery", g, face, "--k", "-3"],
        ["identify", "--gallery", g, face, "--threshold", "0.5", "--fpir", "0.01"],
        ["identify", "--gallery", g, face, "--threshold", "nan"],
        ["identify", "--gallery", g, face, "--threads", "0"],
        ["identify", "--gallery", str(tmp_path / "typo.db"), face],
        ["gallery", "--gallery", str(tmp_path / "typo.db"), "list"],
        ["gallery", "--gallery", g, "show", "nobody"],
        ["gallery", "--gallery", g, "delete", "nobody"],
        ["gallery", "--gallery", str(not_a_db), "list"],
        ["enroll", "--gallery", g, "Ada", face, "--metadata", "{bad json"],
        ["enroll", "--gallery", g, "Ada", face, "--metadata", "[1, 2]"],
        ["enroll", "--gallery", g, "--from-folders", str(tmp_path / "no-such-dir")],
        ["enroll", "--gallery", g, "--from-folders", str(a_file)],
        ["enroll", "--gallery", str(tmp_path / "no/such/dir/g.db"), "Ada", face],
        ["enroll", "--gallery", g],
        ["evaluate", "lfw", "--folds", "12"],
        ["evaluate", "lfw", "--folds", "x"],
        ["identify", "--gallery", g, face, "--search-params", "nprobe"],
        ["identify", "--gallery", g, face, "--search-params", "noSuchParam=3"],
        ["identify", "--gallery", g, face, "--index", "NoSuchIndex99"],
        ["no-such-command"],
    ]
    before = tree_digest(gallery.parent)
    results, _ = run_table(tmp_path, cases)
    for res in results:
        assert_clean_failure(res)
    assert not (tmp_path / "typo.db").exists(), "a reading command created a gallery"
    assert not (tmp_path / "no").exists()
    assert tree_digest(gallery.parent) == before


def test_odd_but_valid_photos_work(tmp_path, fr):
    face = fr / "examples/obama.jpg"
    odd = odd_valid_files(tmp_path / "odd", face)
    cases = [["detect", "--json", str(p)] for p in odd.values()]
    cases += [["verify", "--json", str(p), str(fr / "examples/obama2.jpg")] for p in odd.values()]
    results, _ = run_table(tmp_path, cases)
    for res in results[:len(odd)]:
        assert res["code"] == 0, res["stderr"]
        assert len(json.loads(res["stdout"])["faces"]) == 1
    for res in results[len(odd):]:
        assert res["code"] == 0 and json.loads(res["stdout"])["same"] is True, res["stderr"]


def test_detect_batch_goes_on_past_a_bad_file(tmp_path, fr):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    cases = [["detect", "--json", str(fr / "examples/obama.jpg"), str(bad), str(fr / "examples/two_people.jpg")],
             ["detect", str(bad), str(tmp_path / "missing.jpg")]]
    (ok, none), _ = run_table(tmp_path, cases)
    assert ok["code"] == 0
    out = json.loads(ok["stdout"])
    assert [len(r["faces"]) for r in out["images"]] == [1, 2]
    assert [s["input"] for s in out["skipped"]] == [str(bad)] and "empty" in out["skipped"][0]["reason"]
    assert none["code"] == 2 and "none of the 2 images" in none["stderr"]


def test_verify_reports_every_face_and_warns_when_it_chose(tmp_path, fr):
    cases = [["verify", "--json", str(fr / "examples/two_people.jpg"), str(fr / "examples/biden.jpg")],
             ["verify", str(fr / "examples/two_people.jpg"), str(fr / "examples/biden.jpg")]]
    (js, text), _ = run_table(tmp_path, cases)
    assert js["code"] == 0 and "holds 2 faces" in js["stderr"]
    out = json.loads(js["stdout"])
    assert len(out["image_a"]["faces"]) == 2 and len(out["image_b"]["faces"]) == 1
    assert "2 face(s), used #" in text["stdout"]


def test_json_keeps_non_ascii_names(tmp_path, fr):
    db = str(tmp_path / "g.db")
    cases = [["enroll", "--gallery", db, "Zoë Ångström", str(fr / "examples/biden.jpg"), "--json"],
             ["enroll", "--gallery", db, "Zoë Ångström", str(fr / "examples/biden.jpg"), "--json"],
             ["gallery", "--gallery", db, "list", "--json"]]
    (first, again, listed), _ = run_table(tmp_path, cases)
    assert first["code"] == 0 and "Zoë Ångström" in first["stdout"]
    assert json.loads(again["stdout"])["added_templates"] == 0        # the same photo adds nothing
    assert json.loads(listed["stdout"])[0]["templates"] == 1
    assert "created a new gallery" in first["stderr"] and "created" not in again["stderr"]


def test_broken_pipe_is_quiet(fr):
    p = subprocess.Popen(f"{sys.executable} -m faceprint.cli detect {fr / 'examples/obama.jpg'} "
                         f"{fr / 'examples/two_people.jpg'} --json | head -c 10", shell=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    assert len(out) == 10 and "Traceback" not in err and "Broken pipe" not in err, err


def test_version_and_quiet(tmp_path, fr):
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("faceprint ")
    (res,), _ = run_table(tmp_path, [["verify", "--quiet", str(fr / "examples/two_people.jpg"),
                                      str(fr / "examples/biden.jpg")]])
    assert res["code"] == 0 and res["stderr"] == ""


def test_a_missing_optional_package_names_its_extra():
    from faceprint.cli.common import error_line
    line = error_line(ModuleNotFoundError("No module named 'psycopg'", name="psycopg"))
    assert line == "faceprint: error: this needs the optional package psycopg: pip install 'faceprint[postgres]'"
    assert "unexpected" in error_line(ModuleNotFoundError("No module named 'nosuch'", name="nosuch"))
