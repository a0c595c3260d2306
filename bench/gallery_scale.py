"""1:N search at scale: FAISS index configurations vs numpy brute force, in one run.

    .venv/bin/python bench/gallery_scale.py [--sizes 10000,100000,1000000] [--queries 500] [--ten-million]
        [--indexes "Flat;PQ32x4fs,RFlat"] [--isa avx2]

Gallery = random unit vectors (filler) + real LFW SFace templates (the first image of every person
with 2+ images, 1,680 mates); probes = other LFW images of those people, so recall@1 is measured on
real faces against exact search. Latency: one query at a time on one thread (median, p99); throughput:
all probes in one batched call on all cores. Baseline: what face_recognition does per query
(np.linalg.norm(gallery - probe, axis=1) then argmin), timed on the same machine in the same run.
Also: the full Gallery.add_templates bulk path (SQLite store + index) at the largest size.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, emulate_isa, median_ms, p99_ms, save  # noqa: E402

ISA = emulate_isa()        # before FAISS loads: --isa avx2 runs FAISS's AVX2 kernels

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.protocols import identification_split, identity_folders  # noqa: E402
from faceprint.evaluate.runner import image_templates  # noqa: E402
from faceprint.gallery import Gallery  # noqa: E402
from faceprint.gallery.index_faiss import LARGE_GALLERY_INDEX, LARGE_GALLERY_PARAMS, FaissIndex  # noqa: E402

# Each index is built once and searched with each of its parameter settings.
CONFIGS = [("Flat", [None]), ("HNSW32", ["efSearch=64", "efSearch=256"]),
           ("IVF1024,Flat", ["nprobe=32", "nprobe=128"]),
           ("IVF256,PQ64x4fs,RFlat", ["nprobe=32,k_factor_rf=32", "nprobe=64,k_factor_rf=32"]),
           ("PQ32x4fs,RFlat", ["k_factor_rf=32", "k_factor_rf=128", "k_factor_rf=256", "k_factor_rf=512"]),
           ("PQ64x4fs,RFlat", ["k_factor_rf=8", "k_factor_rf=32"])]


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def real_templates(n_queries: int):
    engine = Engine()
    split = identification_split(identity_folders(DATA / "lfw" / "lfw-deepfunneled"))
    probes = split.mated[:: max(1, len(split.mated) // n_queries)][:n_queries]
    paths = sorted({*split.gallery.values(), *(p for _, p in probes)})
    tpl = image_templates(engine, paths, cache=TemplateCache()).vectors
    multi = {n for n, _ in split.mated}
    mates = [(n, tpl[split.gallery[n]]) for n in sorted(multi) if tpl[split.gallery[n]] is not None]
    q = [(n, tpl[p]) for n, p in probes if tpl[p] is not None]
    return mates, q


def fillers(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def single_query_ms(search, queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        search(q[None])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ten-million", action="store_true", help="also 10M templates with the large-gallery index")
    ap.add_argument("--indexes", help="';'-separated factory strings to run (default: all of CONFIGS)")
    ap.add_argument("--isa", default="native", help="native, or avx2 (emulated: FAISS_SIMD_LEVEL=AVX2)")
    args = ap.parse_args()
    mates, queries = real_templates(args.queries)
    mate_vecs = np.vstack([v for _, v in mates])
    q = np.ascontiguousarray(np.vstack([v for _, v in queries]))
    dim = q.shape[1]
    mate_row = {n: i for i, (n, _) in enumerate(mates)}
    truth_mate = np.array([mate_row.get(n, -1) for n, _ in queries])
    results = []
    sizes = [int(s) for s in args.sizes.split(",")]
    wanted = [w.strip() for w in args.indexes.split(";")] if args.indexes else None
    chosen = [c for c in CONFIGS if wanted is None or c[0] in wanted]
    configs = {s: chosen for s in sizes}
    if args.ten_million:
        sizes.append(10_000_000)
        configs[10_000_000] = [(LARGE_GALLERY_INDEX, [LARGE_GALLERY_PARAMS])]
    for n in sizes:
        base = np.vstack([mate_vecs, fillers(n - len(mate_vecs), dim, seed=n)]) if n <= 2_000_000 else None
        ids = np.arange(n, dtype=np.int64)
        exact_top1 = None
        if base is not None:
            faiss.omp_set_num_threads(1)
            brute = single_query_ms(lambda x, b=base: int(np.argmin(np.linalg.norm(b - x, axis=1))), q[:50])
            faiss.omp_set_num_threads(os.cpu_count())
            exact = faiss.IndexFlatIP(dim)
            exact.add(base)
            exact_top1 = exact.search(q, 1)[1][:, 0]
            del exact
            row = {"size": n, "index": "numpy brute force (face_recognition style)",
                   "median_ms": median_ms(brute), "p99_ms": p99_ms(brute)}
            results.append(row)
            print(row)
        brute_row = next((r for r in results if r["size"] == n and "brute" in r["index"]), None)
        for factory, param_list in configs[n]:
            rss0 = rss_mib()
            t0 = time.perf_counter()
            idx = FaissIndex(dim, factory, search_params=param_list[0])
            if base is not None:
                idx.add(ids, base)
            else:       # 10M: train on a sample, add in chunks; exact top-1 found chunk by chunk
                idx.train(np.vstack([mate_vecs, fillers(200_000, dim, seed=1)]))
                best = np.full(len(q), -np.inf)
                exact_top1 = np.zeros(len(q), np.int64)
                for start in range(0, n, 1_000_000):
                    stop = min(n, start + 1_000_000)
                    chunk = (np.vstack([mate_vecs, fillers(stop - len(mate_vecs), dim, seed=n)]) if start == 0
                             else fillers(stop - start, dim, seed=start))
                    idx.add(ids[start:stop], chunk)
                    s_, i_ = faiss.knn(q, chunk, 1, faiss.METRIC_INNER_PRODUCT)
                    better = s_[:, 0] > best
                    best[better], exact_top1[better] = s_[better, 0], i_[better, 0] + start
                    del chunk
            build_s = time.perf_counter() - t0
            rss = rss_mib() - rss0
            for params in param_list:
                idx.set_search_params(params)
                faiss.omp_set_num_threads(1)
                lat = single_query_ms(lambda x, i=idx: i.search(x, 1), q)
                faiss.omp_set_num_threads(os.cpu_count())
                t0 = time.perf_counter()
                _, top = idx.search(q, 1)
                qps = len(q) / (time.perf_counter() - t0)
                top1 = top[:, 0]
                row = {"size": n, "index": f"{factory}" + (f" ({params})" if params else ""),
                       "build_s": round(build_s, 2), "rss_delta_mib": round(rss, 1),
                       "median_ms": median_ms(lat), "p99_ms": p99_ms(lat), "batched_qps": round(qps, 1),
                       "recall_at_1_vs_exact": float(np.mean(top1 == exact_top1)) if exact_top1 is not None else None,
                       "mate_at_rank_1": float(np.mean(top1 == truth_mate))}
                if brute_row:
                    row["speedup_vs_numpy"] = round(brute_row["median_ms"] / row["median_ms"], 1)
                results.append(row)
                print(row, flush=True)
            del idx
        del base
    # The whole bulk path at the largest in-memory size: SQLite store + default exact index.
    n = max(s for s in sizes if s <= 2_000_000)
    vecs = np.vstack([mate_vecs, fillers(n - len(mate_vecs), dim, seed=n)])
    names = [n_ for n_, _ in mates] + [f"filler{i}" for i in range(n - len(mates))]
    bulk = {}
    with tempfile.TemporaryDirectory() as tmp:
        for factory, params in (("Flat", None), (LARGE_GALLERY_INDEX, LARGE_GALLERY_PARAMS)):
            t0 = time.perf_counter()
            g = Gallery.open(Path(tmp) / f"bulk{factory[:2]}.db", index=factory, search_params=params, create=True)
            g.add_templates(names, vecs)
            add_s = time.perf_counter() - t0
            faiss.omp_set_num_threads(1)
            lat = single_query_ms(lambda x, g=g: g.search(x, k=5), q[:200])
            faiss.omp_set_num_threads(os.cpu_count())
            g.close()
            bulk[factory] = {"templates": n, "bulk_add_s": round(add_s, 1), "gallery_search_median_ms": median_ms(lat),
                             "gallery_search_p99_ms": p99_ms(lat)}
            print("Gallery.add_templates", factory, bulk[factory])
    save("gallery_scale" + (f"_{ISA}_emulated" if ISA else ""), {
        "doc": __doc__.strip().split("\n\n")[1], "dim": dim, "queries": len(q), "isa": ISA or "native",
        "large_gallery_default": f"{LARGE_GALLERY_INDEX} ({LARGE_GALLERY_PARAMS})",
                           "mates": len(mates), "results": results, "gallery_bulk": bulk})


if __name__ == "__main__":
    main()
