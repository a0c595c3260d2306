"""The library under hostile input: only typed faceprint exceptions, and the gallery unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from faceprint import FaceprintError, Gallery, ImageError, UsageError
from hostile import bad_files, tree_digest


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, fr):
    return bad_files(tmp_path_factory.mktemp("bad"), fr / "examples/obama.jpg")


def test_engine_raises_only_typed_errors(engine, hostile):
    for label, path in hostile.items():
        for call in (engine.detect, engine.template, engine.templates):
            with pytest.raises(ImageError) as info:
                call(path)
            assert path.name in str(info.value), label
        with pytest.raises(ImageError):
            engine.detect(path.read_bytes() if path.is_file() else b"")
    for arr in (np.zeros((0, 0, 3), np.uint8), np.zeros((5, 5, 7), np.uint8), np.full((9, 9), np.nan),
                np.zeros((9000, 10, 3), np.uint8)):
        with pytest.raises(ImageError):
            engine.detect(arr)


def test_gallery_refuses_hostile_photos_and_stays_unchanged(tmp_path, engine, hostile, fr):
    g = Gallery.open(tmp_path / "g.db", engine=engine, create=True)
    g.enroll("obama", [fr / "examples/obama.jpg"])
    g.close()
    before = tree_digest(tmp_path)
    g = Gallery.open(tmp_path / "g.db", engine=engine)
    for path in hostile.values():
        with pytest.raises(FaceprintError):
            g.enroll("Mallory", [path])
        with pytest.raises(FaceprintError):
            g.identify(path)
    for bad_call in (lambda: g.enroll("", [fr / "examples/obama.jpg"]), lambda: g.enroll("x", []),
                     lambda: g.identify(fr / "examples/obama.jpg", k=0),
                     lambda: g.identify(fr / "examples/obama.jpg", fpir=1.5),
                     lambda: g.identify(fr / "examples/obama.jpg", fpir=0.01, threshold=0.5),
                     lambda: g.add_templates(["a"], np.full((1, 128), np.nan, np.float32)),
                     lambda: g.add_templates(["a", "b"], np.ones((1, 128), np.float32))):
        with pytest.raises(FaceprintError):
            bad_call()
    assert [s.name for s in g.subjects()] == ["obama"]
    g.close()
    assert tree_digest(tmp_path) == before


def test_gallery_without_engine_says_how_to_use_photos(tmp_path, fr):
    g = Gallery.open(tmp_path / "g.db", create=True)
    with pytest.raises(UsageError, match="engine="):
        g.enroll("obama", [fr / "examples/obama.jpg"])
    g.close()


def test_a_list_of_photos_where_one_is_expected_is_a_typed_error(tmp_path, engine, fr):
    photos = [fr / "examples/obama.jpg", fr / "examples/biden.jpg"]
    with Gallery.open(tmp_path / "g.db", engine=engine, create=True) as g:
        g.enroll("obama", photos[:1])
        with pytest.raises(ImageError, match="from a list"):
            g.identify(photos)
        assert [r.decision.subject.name for p in photos[:1] for r in g.identify(p)] == ["obama"]
