"""A gallery enrolled, closed, and reopened by another process finds the right subject, on every
backend. (pymilvus 3 / milvus-lite 3 reopen a collection released: it must be loaded on open.)"""
import subprocess
import sys

import numpy as np
import pytest

from faceprint.gallery import Gallery

TRAIN = "examples/knn_examples/train"

# A fresh interpreter reopens the gallery and prints the best subject for each probe vector.
REOPEN = """
import sys, numpy as np
from faceprint.gallery import Gallery
location, index, probes = sys.argv[1], sys.argv[2], np.load(sys.argv[3])
with Gallery.open(location, index=index) as g:
    print(",".join(hits[0].subject.name for hits in g.search_batch(probes, k=1)))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "milvus"])
def test_reopened_gallery_finds_the_right_subject(kind, engine, fr, tmp_path, request):
    location = request.getfixturevalue("postgres_url") if kind == "postgres" else str(tmp_path / "g.db")
    index = f"milvus:{tmp_path / 'm.milvus.db'}" if kind == "milvus" else "Flat"
    people = {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg", "biden2.jpg"],
              "kit_harington": ["john1.jpeg", "john2.jpeg"], "rose_leslie": ["img1.jpg", "img2.jpg"]}
    held_out = {}
    with Gallery.open(location, index=index, create=True) as g:
        for name, files in people.items():
            first, *rest = [engine.template(fr / TRAIN / name / f) for f in files]
            g.enroll(name, [first])
            held_out[name] = rest[0].vector
    probes = tmp_path / "probes.npy"
    np.save(probes, np.vstack(list(held_out.values())))
    out = subprocess.run([sys.executable, "-c", REOPEN, location, index, str(probes)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().split(",") == list(held_out)
    # And this process, reopening after the other one, still sees the same gallery.
    with Gallery.open(location, index=index) as g:
        assert [h[0].subject.name for h in g.search_batch(np.vstack(list(held_out.values())), k=1)] == list(held_out)
