"""Writing to and searching a gallery whose index is a Milvus server, against SQLite + FAISS Flat in
the same run.

    nice .venv/bin/python bench/milvus_server.py [--n 100000] [--chunk 10000] [--queries 20]

Starts the `milvus` package's standalone server on 127.0.0.1 (the tests' conftest.MilvusProcess,
every port free, data in a tempdir), then for each backend: Gallery.add_templates of --n random unit
128-d templates in chunks of --chunk (what the bulk enrolment writer does), Gallery.persist (a
Milvus flush), and search_batch of 1 and 100 probes at k=10. Saves bench/results/milvus_server.json.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from common import median_ms, save  # noqa: E402

from conftest import MilvusProcess  # noqa: E402
from faceprint.gallery import Gallery  # noqa: E402


def run(location: Path, index: str, vecs: np.ndarray, chunk: int, queries: int) -> dict:
    names = [f"s{i}" for i in range(len(vecs))]
    with Gallery.open(location, index=index, create=True) as g:
        t0 = time.perf_counter()
        for i in range(0, len(vecs), chunk):
            g.add_templates(names[i:i + chunk], vecs[i:i + chunk])
        add_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        g.persist()
        persist_s = time.perf_counter() - t0
        one, hundred = [], []
        for q in range(queries):
            t0 = time.perf_counter()
            g.search_batch(vecs[q:q + 1], k=10)
            one.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            hits = g.search_batch(vecs[q * 100:(q + 1) * 100], k=10)
            hundred.append((time.perf_counter() - t0) * 1000)
        self_top1 = float(np.mean([h[0].subject.name == names[q * 100 + j] for j, h in enumerate(hits)]))
    return {"templates": len(vecs), "add_templates_s": round(add_s, 2),
            "templates_per_s": round(len(vecs) / add_s), "persist_s": round(persist_s, 2),
            "search_1_probe_ms_median": median_ms(one), "search_100_probes_ms_median": median_ms(hundred),
            "self_top1_last_batch": self_top1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, 128), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    root = Path(tempfile.mkdtemp(prefix="faceprint-bench-milvus-"))
    server = MilvusProcess(root)
    try:
        t0 = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - t0
        flat = run(root / "flat.db", "Flat", vecs, args.chunk, args.queries)
        milvus = run(root / "milvus.db", f"milvus:{server.uri}", vecs, args.chunk, args.queries)
        from pymilvus import MilvusClient
        client = MilvusClient(server.uri, dedicated=True)
        version = client.get_server_version()
        client.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    import pymilvus
    figures = {"server": f"milvus-server {version} (standalone, embedded etcd, local storage)",
               "pymilvus": pymilvus.__version__, "server_start_s": round(start_s, 1),
               "chunk": args.chunk, "store": "SQLite", "baseline_faiss_flat": flat, "milvus_server": milvus}
    print(figures)
    save("milvus_server", figures)


if __name__ == "__main__":
    main()
