"""`faceprint calibrate` on the shipped SFace file as a bring-your-own .onnx model: the card it writes
is what Engine(embedder=path), scoring and `faceprint models` then use."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from faceprint import Engine, models, scoring
from faceprint.cli.app import main
from faceprint.errors import ModelChecksumError


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, att):
    """SFace copied out of its package, calibrated on AT&T (40 people, 4 photos each)."""
    root = tmp_path_factory.mktemp("calibrate")
    model = root / "mine.onnx"
    shutil.copy(models.get("sface").path(), model)
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CONFIG_HOME", str(root / "config"))
    rc = main(["-q", "calibrate", "--embedder", str(model), "--data", str(att), "--per-identity", "4",
               "--mean", "0", "--std", "1", "--license", "Apache-2.0 (as stated)"])
    yield model, rc
    mp.undo()


def test_card_written_and_monotone(calibrated):
    model, rc = calibrated
    assert rc == 0
    card = json.loads(model.with_suffix(".card.json").read_text())
    assert card["sha256"] == models.get("sface").files["weights"]["sha256"]
    assert card["model"] == "onnx:mine" and card["license"] == "Apache-2.0 (as stated)"
    assert card["data"][0]["identities"] == 40 and card["pairs"] == card["data"][0]["nonmated_pairs"] > 10_000
    table = card["thresholds"]["plain"]["table"]
    # Stricter FMR, higher threshold: the table is monotone from FMR 1e-1 to 1e-10.
    assert np.all(np.diff(table["threshold"]) > 0) and np.all(np.diff(table["fmr"]) < 0)
    lo, hi = card["quality_norm"]
    assert 0 < lo < hi


def test_engine_uses_the_card(calibrated, att):
    model, _ = calibrated
    card = json.loads(model.with_suffix(".card.json").read_text())
    engine = Engine(embedder=str(model))
    assert engine.model_id == "onnx:mine"
    assert engine.threshold == card["thresholds"]["plain"]["value"]
    assert scoring.threshold_for_fmr(engine.model_id, 1e-3) == pytest.approx(engine.threshold)
    assert scoring.threshold_for_fpir(engine.model_id, 1e-3, 100) > engine.threshold
    # The card's preprocessing (SFace: no normalisation) reproduces the shipped model's templates.
    photo = att / "s1" / "1.pgm"
    mine = engine.analyse(engine.load(photo)).template.vector
    shipped = Engine(embedder="sface", flip=False).analyse(engine.load(photo)).template.vector
    assert float(mine @ shipped) > 0.99


def test_mismatched_card_refused(calibrated, tmp_path):
    model, _ = calibrated
    other = tmp_path / "mine.onnx"
    data = bytearray(model.read_bytes())
    data[-1] ^= 1              # another file under the same name: not the model the card was fitted on
    other.write_bytes(bytes(data))
    shutil.copy(model.with_suffix(".card.json"), tmp_path / "mine.card.json")
    with pytest.raises(ModelChecksumError, match="mine.card.json.*mine.onnx"):
        Engine(embedder=str(other))


def test_bad_data_exits_2_with_one_line(tmp_path, capsys, calibrated):
    model, _ = calibrated
    with pytest.raises(SystemExit) as exit_:
        main(["-q", "calibrate", "--embedder", str(model), "--data", str(tmp_path / "missing")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err
    (tmp_path / "empty").mkdir()
    assert main(["-q", "calibrate", "--embedder", str(model), "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "empty" in err


def test_models_lists_card_folder(calibrated, tmp_path, monkeypatch, capsys):
    model, _ = calibrated
    cards = tmp_path / "faceprint" / "cards"
    cards.mkdir(parents=True)
    shutil.copy(model.with_suffix(".card.json"), cards / "mine.card.json")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["onnx:mine"]["license"] == "Apache-2.0 (as stated)" and rows["onnx:mine"]["ok"]
    assert scoring.threshold_for_fmr("onnx:mine", 1e-3) == rows["onnx:mine"]["thresholds"]["plain"]["value"]


def test_gallery_of_calibrated_model_reopens_and_identifies(calibrated, att, tmp_path, monkeypatch):
    """Enrol with the calibrated file, then, as a later process would (no card loaded yet), reopen the
    gallery's engine from its model id alone: the card in the card folder names the file."""
    from faceprint import Gallery
    from faceprint.models import cards

    model, _ = calibrated
    enrol = Engine(embedder=str(model))
    db = tmp_path / "g.db"
    with Gallery.open(db, engine=enrol, create=True) as g:
        for i in range(1, 6):
            g.enroll(f"s{i}", [att / f"s{i}" / "1.pgm"])
    monkeypatch.setattr(cards, "_loaded", {})          # a fresh process: nothing remembered
    with Gallery.open(db, readonly=True) as g:
        engine = Engine.for_model(g.model)
        assert engine.model_id == "onnx:mine" and engine.threshold == pytest.approx(enrol.threshold)
    with Gallery.open(db, engine=engine, readonly=True) as g:
        [result] = g.identify(att / "s3" / "5.pgm")
        assert result.decision is not None and result.decision.subject.name == "s3"


def test_uncalibrated_model_id_names_the_card_folder(tmp_path, monkeypatch):
    from faceprint.errors import ModelNotFoundError
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="no model card for 'onnx:nobody'.*--embedder"):
        Engine.for_model("onnx:nobody")


def test_builtin_embedder_gives_a_table_beside_the_manifest(att, tmp_path, monkeypatch):
    """`--embedder sface` (a built-in name, as for dlib): a card-shaped table with the manifest's
    thresholds beside it; nothing goes to the card folder (the engine keeps the manifest's table)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    out = tmp_path / "sface.calibration.json"
    assert main(["-q", "calibrate", "--embedder", "sface", "--data", str(att), "--per-identity", "2",
                 "--out", str(out), "--no-cache"]) == 0
    card = json.loads(out.read_text())
    assert card["builtin"] and card["model"] == "sface" and card["license"] == models.get("sface").license
    assert card["sha256"] == models.get("sface").files["weights"]["sha256"] and card["data"][0]["identities"] == 40
    rows = {r["fmr"]: r for r in card["manifest_comparison"]}
    assert rows[1e-3]["manifest"] == models.get("sface").thresholds["plain"]["value"]
    assert rows[1e-3]["difference"] == pytest.approx(rows[1e-3]["fitted"] - rows[1e-3]["manifest"], abs=1e-5)
    assert not (tmp_path / "config").exists()
