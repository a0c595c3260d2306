"""Load on `faceprint serve --workers 2` identifying real photos against a 100,000-template
gallery, in two phases: saturation (50 clients in a closed loop: the capacity), cut into --rounds
slices that alternate with runs of the same photos through the in-process Engine + Gallery (as many
processes as the server has workers), so the overhead is a ratio measured under the same machine
load; then an open loop at a fixed arrival rate of half the capacity (latency as users see it when
the server is not overloaded).

    .venv/bin/python bench/service_load.py [--seconds 300] [--rounds 3] [--clients 50] [--load 0.5] [--workers 2]

Gallery: real LFW people (first photo of each person with 2+ photos, up to --people) plus random
unit vectors up to --templates (bulk add_templates); probes: those people's second photos.
Both sides do the same work per photo: every face analysed, with liveness judged as `faceprint
serve` does by default (--no-liveness: on neither side), and identified (k=5).
Figures per phase: p50/p95/p99 latency (open loop: from the moment each request was due),
requests/s, errors (must be 0); at saturation also server RSS at the start and end and CPU ms per
request of the server (its process tree) and of the load client (this process, which shares the
cores); in-process requests/s, the throughput ratio (each slice against the in-process runs on
either side of it), and the CPU ratio (the service's cost per request without the client's share).
JSON goes to bench/results/service_load.json.
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


def _inproc_worker(path: str, probes: list[bytes], seconds: float, threads: int, liveness: bool, out) -> None:
    import faiss

    from faceprint import Engine, Gallery
    # The same work as the service's /v1/identify: every face analysed (with liveness when the
    # service judges it) and identified; the same threads per process as each service worker uses.
    eng = Engine(threads=threads, liveness=liveness)
    faiss.omp_set_num_threads(threads)
    with Gallery.open(path, engine=eng, readonly=True) as g:
        g.identify(eng.analyse(probes[0], select=None).templates)
        n, t0, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            g.identify(eng.analyse(probes[n % len(probes)], select=None).templates, k=5)
            n += 1
        out.put((n / (time.perf_counter() - t0), (time.process_time() - cpu0) * 1000 / max(n, 1)))


def in_process(path: str, probes: list[bytes], seconds: float, procs: int, liveness: bool) -> tuple[float, float]:
    """(identifications/s over all processes, CPU ms per identification)."""
    q = mp.get_context("spawn").Queue()
    threads = max(1, (os.cpu_count() or 1) // procs)
    ps = [mp.get_context("spawn").Process(target=_inproc_worker, args=(path, probes, seconds, threads, liveness, q))
          for _ in range(procs)]
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(r for r, _ in results), float(np.mean([c for _, c in results]))


def _summary(lat: list[float], errors: int, codes: dict, elapsed: float) -> dict:
    a = np.asarray(lat) if lat else np.asarray([float("nan")])
    return {"requests": len(lat), "errors": errors, "status_codes": {str(k): v for k, v in codes.items()},
            "seconds": round(elapsed, 1), "requests_per_s": round(len(lat) / elapsed, 2),
            "latency_ms": {q: round(float(np.percentile(a, int(q[1:]))), 1) for q in ("p50", "p95", "p99")}}


def multipart(data: bytes) -> tuple[bytes, dict]:
    """A photo as a ready multipart body (and its header), encoded once: the load client shares the
    cores with the server, and encoding every request again would be its cost, not the service's."""
    boundary = "faceprint-bench-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), {"content-type": f"multipart/form-data; boundary={boundary}"}


async def _identify(c, body: tuple[bytes, dict], codes: dict) -> bool:
    try:
        r = await c.post("/v1/identify", content=body[0], headers=body[1])
    except Exception as exc:          # a refused or dropped connection is an error, counted by its kind
        codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
        return False
    codes[r.status_code] = codes.get(r.status_code, 0) + 1
    return r.status_code == 200


async def saturate(url: str, key: str, probes: list[tuple[bytes, dict]], seconds: float, clients: int, pid: int) -> dict:
    """Closed loop: `clients` clients each sending the next request as soon as the last answers;
    the throughput is the server's capacity."""
    import httpx
    lat, codes, rss, errors = [], {}, {}, 0
    t_end = time.perf_counter() + seconds

    async def client(c, seed):
        nonlocal errors
        rng = random.Random(seed)
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            if await _identify(c, rng.choice(probes), codes):
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

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
    out = _summary(lat, errors, codes, elapsed)
    out["cpu_ms_per_request"] = {"server": round(server_cpu * 1000 / max(len(lat), 1), 2),
                                 "load_client": round(client_cpu * 1000 / max(len(lat), 1), 2)}
    out["rss_mib"] = {"start": round(rss.get("start", 0), 1), "end": round(rss.get("end", 0), 1),
                      "growth": round(rss.get("end", 0) - rss.get("start", 0), 1)}
    return out


async def open_loop(url: str, key: str, probes: list[tuple[bytes, dict]], seconds: float, rate: float) -> dict:
    """Open loop: requests sent at a fixed rate whatever the answers do; a request's latency runs
    from the moment it was due, so a stalled server shows in the figures (no coordinated omission)."""
    import httpx
    lat, codes, errors = [], {}, 0
    rng = random.Random(1)
    n = int(seconds * rate)

    async def one(c, due: float, data: tuple[bytes, dict]):
        nonlocal errors
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if await _identify(c, data, codes):
            lat.append((time.perf_counter() - due) * 1000)
        else:
            errors += 1

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=120, limits=limits) as c:
        t0 = time.perf_counter() + 0.5
        await asyncio.gather(*[one(c, t0 + i / rate, rng.choice(probes)) for i in range(n)])
        elapsed = time.perf_counter() - t0
    out = _summary(lat, errors, codes, elapsed)
    out["arrival_rate_per_s"] = round(rate, 2)
    return out


def _ratios(sats: list[dict], bases: list[tuple[float, float]]) -> dict:
    """Each saturation slice against the mean of the in-process runs just before and after it."""
    rps = [sat["requests_per_s"] for sat in sats]
    around = [(bases[i][0] + bases[i + 1][0]) / 2 for i in range(len(sats))]
    cpu_in = float(np.median([c for _, c in bases]))
    cpu_server = float(np.median([sat["cpu_ms_per_request"]["server"] for sat in sats]))
    cpu_client = float(np.median([sat["cpu_ms_per_request"]["load_client"] for sat in sats]))
    return {"rounds": [{"service_requests_per_s": r, "in_process_requests_per_s": round(b, 2),
                        "throughput_ratio": round(r / b, 3)} for r, b in zip(rps, around, strict=True)],
            "in_process_runs_requests_per_s": [round(b, 2) for b, _ in bases],
            "throughput_ratio": round(sum(rps) / sum(around), 3),
            "throughput_ratio_median_round": round(float(np.median([r / b for r, b in zip(rps, around, strict=True)])), 3),
            # The load client shares the cores; CPU per request is what the service costs on its own.
            "in_process_cpu_ms_per_request": round(cpu_in, 2), "server_cpu_ms_per_request": round(cpu_server, 2),
            "cpu_efficiency_ratio": round(cpu_in / cpu_server, 3),
            "load_client_cpu_share": round(cpu_client / (cpu_client + cpu_server), 3)}


def _merge(sats: list[dict]) -> dict:
    """The saturation slices as one phase (latency percentiles: the median over the slices)."""
    total_s = sum(x["seconds"] for x in sats)
    return {"requests": sum(x["requests"] for x in sats), "errors": sum(x["errors"] for x in sats),
            "seconds": round(total_s, 1), "requests_per_s": round(sum(x["requests"] for x in sats) / total_s, 2),
            "latency_ms": {q: round(float(np.median([x["latency_ms"][q] for x in sats])), 1) for q in ("p50", "p95", "p99")},
            "slices": sats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300, help="saturation time in all, and the open loop's length")
    ap.add_argument("--rounds", type=int, default=3, help="saturation slices, each between two in-process runs")
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients of the saturation phase")
    ap.add_argument("--load", type=float, default=0.5, help="open-loop arrival rate as a fraction of the capacity")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--templates", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=300)
    ap.add_argument("--no-liveness", action="store_true", help="serve with --no-liveness (and skip it in-process)")
    args = ap.parse_args()
    live = not args.no_liveness
    from service_server import Server, make_key

    path = os.path.join(tempfile.mkdtemp(prefix="faceprint-load-"), "g.db")
    t0 = time.perf_counter()
    probes = build_gallery(path, args.templates, args.people)
    print(f"gallery: {args.templates} templates, {len(probes)} real people, built in {time.perf_counter() - t0:.0f} s")
    key, bodies = make_key(path, "recognize"), [multipart(p) for p in probes]
    # In-process runs and saturation slices alternate (the server idles during the former), so a
    # change in the machine's other load weighs on both sides alike.
    slice_s, load_start = args.seconds / args.rounds, os.getloadavg()[0]
    s = Server([path], "--workers", str(args.workers), "--max-pending", str(4 * args.clients),
               *([] if live else ["--no-liveness"])).start()
    try:
        bases, sats = [in_process(path, probes, slice_s / 2, args.workers, live)], []
        for _ in range(args.rounds):
            sats.append(asyncio.run(saturate(s.url, key, bodies, slice_s, args.clients, s.proc.pid)))
            bases.append(in_process(path, probes, slice_s / 2, args.workers, live))
            print("saturation:", sats[-1]["requests_per_s"], "in-process:", round(bases[-1][0], 2))
        rate = args.load * float(np.median([x["requests_per_s"] for x in sats]))
        part = asyncio.run(open_loop(s.url, key, bodies, args.seconds, rate))
        print(f"open loop at {args.load:.0%} of capacity:", part)
    finally:
        s.stop()
    res = {"saturation": _merge(sats), f"open_loop_{round(100 * args.load)}pct": part, **_ratios(sats, bases),
           "errors": sum(x["errors"] for x in sats) + part["errors"],
           # other jobs on the machine weigh on both sides; a high load average makes every figure noisy
           "load_average_1min": {"start": round(load_start, 1), "end": round(os.getloadavg()[0], 1)}}
    print({k: v for k, v in res.items() if not isinstance(v, (dict, list))})
    save("service_load", {"command": "bench/service_load.py " + " ".join(sys.argv[1:]),
                          "gallery_templates": args.templates, "real_people": len(probes), "clients": args.clients,
                          "workers": args.workers, "liveness": live, "service": res,
                          "note": "the load client runs on the same cores as the server; the in-process "
                                  "baseline runs alone, alternating with the service's saturation slices"})


if __name__ == "__main__":
    main()
