"""Load on `faceprint serve --workers 2`: 50 concurrent clients identifying real photos against a
100,000-template gallery, and the same photos through the in-process Engine + Gallery in the same
run (as many processes as the server has workers), so the service overhead is a ratio.

    .venv/bin/python bench/service_load.py [--seconds 300] [--clients 50] [--workers 2] [--templates 100000]

Gallery: real LFW people (first photo of each person with 2+ photos, up to --people) plus random
unit vectors up to --templates (bulk add_templates); probes: those people's second photos.
Figures: p50/p95/p99 latency, requests/s, errors (must be 0), server RSS at the start and end of the
load (sum over its processes), in-process requests/s and the throughput ratio, and CPU ms per
request of the server (its process tree), of the load client (this process, which shares the
cores) and in-process, whose ratio is the service's cost per request without the client's share. JSON goes to
bench/results/service_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from common import DATA, save  # noqa: E402


def rss_tree_mib(pid: int) -> float:
    """Resident memory of a process and all of its descendants, in MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def cpu_tree_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and all of its descendants."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick      # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def build_gallery(path: str, templates: int, people: int) -> list[bytes]:
    from faceprint import Engine, Gallery
    root = DATA / "lfw" / "lfw-deepfunneled"
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2][:people]
    eng = Engine()
    probes = []
    with Gallery.open(path, create=True, engine=eng) as g:
        for d in folders:
            photos = sorted(d.glob("*.jpg"))
            try:
                g.enroll(d.name, [eng.template(photos[0])])
            except Exception:       # a photo without a detectable face: leave that person out
                continue
            probes.append(photos[1].read_bytes())
        n = templates - g.stats()["templates"]
        rng = np.random.default_rng(0)
        vecs = rng.standard_normal((n, eng.embedder.dim)).astype(np.float32)
        g.add_templates([f"synthetic-{i}" for i in range(n)], vecs)
    return probes


def _inproc_worker(path: str, probes: list[bytes], seconds: float, threads: int, out) -> None:
    import faiss

    from faceprint import Engine, Gallery
    eng = Engine(threads=threads)        # the same threads per process as each service worker uses
    faiss.omp_set_num_threads(threads)
    with Gallery.open(path, engine=eng, readonly=True) as g:
        g.identify(eng.templates(probes[0]))
        n, t0, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            g.identify(eng.templates(probes[n % len(probes)]), k=5)
            n += 1
        out.put((n / (time.perf_counter() - t0), (time.process_time() - cpu0) * 1000 / max(n, 1)))


def in_process(path: str, probes: list[bytes], seconds: float, procs: int) -> tuple[float, float]:
    """(identifications/s over all processes, CPU ms per identification)."""
    q = mp.get_context("spawn").Queue()
    threads = max(1, (os.cpu_count() or 1) // procs)
    ps = [mp.get_context("spawn").Process(target=_inproc_worker, args=(path, probes, seconds, threads, q))
          for _ in range(procs)]
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(r for r, _ in results), float(np.mean([c for _, c in results]))


async def load(url: str, key: str, probes: list[bytes], seconds: float, clients: int, pid: int) -> dict:
    import httpx
    lat, errors, codes = [], 0, {}
    rss = {}
    t_end = time.perf_counter() + seconds

    async def client(c, seed):
        nonlocal errors
        rng = random.Random(seed)
        while time.perf_counter() < t_end:
            data = rng.choice(probes)
            t0 = time.perf_counter()
            try:
                r = await c.post("/v1/identify", files={"file": ("p.jpg", data, "image/jpeg")})
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code != 200:
                    errors += 1
                    continue
            except Exception:
                errors += 1
                continue
            lat.append((time.perf_counter() - t0) * 1000)

    async def sample_rss():
        await asyncio.sleep(min(10, seconds / 10))
        rss["start"] = rss_tree_mib(pid)
        while time.perf_counter() < t_end - 1:
            await asyncio.sleep(1)
        rss["end"] = rss_tree_mib(pid)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=120, limits=limits) as c:
        t0, server_cpu0, client_cpu0 = time.perf_counter(), cpu_tree_s(pid), time.process_time()
        await asyncio.gather(sample_rss(), *[client(c, i) for i in range(clients)])
        elapsed = time.perf_counter() - t0
        server_cpu, client_cpu = cpu_tree_s(pid) - server_cpu0, time.process_time() - client_cpu0
    a = np.asarray(lat)
    return {"requests": len(lat), "errors": errors, "status_codes": {str(k): v for k, v in codes.items()},
            "seconds": round(elapsed, 1), "requests_per_s": round(len(lat) / elapsed, 2),
            "latency_ms": {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
                           "p99": round(float(np.percentile(a, 99)), 1)},
            "cpu_ms_per_request": {"server": round(server_cpu * 1000 / max(len(lat), 1), 2),
                                   "load_client": round(client_cpu * 1000 / max(len(lat), 1), 2)},
            "rss_mib": {"start": round(rss.get("start", 0), 1), "end": round(rss.get("end", 0), 1),
                        "growth": round(rss.get("end", 0) - rss.get("start", 0), 1)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--templates", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=300)
    args = ap.parse_args()
    from service_server import Server, make_key

    tmp = tempfile.mkdtemp(prefix="faceprint-load-")
    path = os.path.join(tmp, "g.db")
    t0 = time.perf_counter()
    probes = build_gallery(path, args.templates, args.people)
    build_s = time.perf_counter() - t0
    print(f"gallery: {args.templates} templates, {len(probes)} real people, built in {build_s:.0f} s")

    # The in-process baseline runs before and after the service (a sixth of its time each), so a
    # change in the machine's other load during the run weighs on both sides alike.
    base_s = max(5.0, args.seconds / 6)
    before, cpu_before = in_process(path, probes, base_s, args.workers)
    key = make_key(path, "recognize")
    s = Server([path], "--workers", str(args.workers), "--max-pending", str(4 * args.clients)).start()
    try:
        res = asyncio.run(load(s.url, key, probes, args.seconds, args.clients, s.proc.pid))
    finally:
        s.stop()
    after, cpu_after = in_process(path, probes, base_s, args.workers)
    base = (before + after) / 2
    print(f"in-process ({args.workers} processes): {before:.1f} before, {after:.1f} after the service, identifications/s")
    res["in_process_before_after"] = [round(before, 2), round(after, 2)]
    res["in_process_requests_per_s"] = round(base, 2)
    res["throughput_ratio"] = round(res["requests_per_s"] / base, 3)
    # The load client shares the 2 cores; CPU per request is what the service costs on its own.
    res["in_process_cpu_ms_per_request"] = round((cpu_before + cpu_after) / 2, 2)
    res["cpu_efficiency_ratio"] = round(res["in_process_cpu_ms_per_request"] / res["cpu_ms_per_request"]["server"], 3)
    res["load_client_cpu_share"] = round(res["cpu_ms_per_request"]["load_client"] / (
        res["cpu_ms_per_request"]["load_client"] + res["cpu_ms_per_request"]["server"]), 3)
    print(res)
    save("service_load", {"command": "bench/service_load.py " + " ".join(sys.argv[1:]),
                          "gallery_templates": args.templates, "real_people": len(probes), "clients": args.clients,
                          "workers": args.workers, "service": res,
                          "note": "2-core machine shared with other jobs; the ratio compares runs made minutes apart"})


if __name__ == "__main__":
    main()
