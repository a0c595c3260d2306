"""faceprint watch on generated clips with known ground truth (LFW people walking through a scene):
analysed frames per second on 1 and 2 cores (720p, 1080p files), event precision, recall on clean
and masked faces, duplicate events, false alarms on people not enrolled, and on a live MJPEG stream
served in real time: dropped frames, decision latency and RSS growth.

    .venv/bin/python bench/watch.py                 # writes bench/results/watch.json
    .venv/bin/python bench/watch.py --quick         # small sizes, to check the script

Ground truth: each appearance is one LFW photo not used for enrolment (clean or with a drawn mask),
or a person not in the gallery; latency is the event's wall time minus the moment the whole face
was first inside the frame.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import DATA, save  # noqa: E402

from stream_clips import Appearance, Clip, MJPEGServer, enrol_people, lfw_photos  # noqa: E402

LFW = DATA / "lfw"


def people(seed: int, n_known: int, n_strangers: int, n_distractors: int):
    """Known people (4+ photos: 2 enrolled, later ones appear), distractors (enrolled, never appear)
    and strangers (appear, never enrolled), disjoint, chosen by a seeded shuffle."""
    rng = random.Random(seed)
    counts = {p.name: len(list(p.glob("*.jpg"))) for p in (LFW / "lfw-deepfunneled").iterdir()}
    many = sorted(n for n, c in counts.items() if c >= 4)
    rng.shuffle(many)
    known = many[:n_known]
    rest = sorted(n for n in counts if n not in set(known))
    rng.shuffle(rest)
    return known, rest[:n_distractors], rest[n_distractors:n_distractors + n_strangers]


def schedule(known, strangers, *, masked_share: float, lanes: list[float], seed: int, dur=(3.0, 4.0)):
    """Appearances in `lanes`, each lane busy one person at a time with short gaps: so up to
    len(lanes) people are in view at once."""
    rng = random.Random(seed)
    items = [(n, True) for n in known] + [(n, False) for n in strangers]
    rng.shuffle(items)
    n_masked = round(masked_share * len(known))
    masked = set(rng.sample(known, n_masked))
    free = [rng.uniform(0, 1.5) for _ in lanes]
    apps = []
    for name, enrolled in items:
        li = int(np.argmin(free))
        start = free[li]
        end = start + rng.uniform(*dur)
        photos = lfw_photos(LFW, name)
        photo = rng.choice(photos[2:]) if enrolled else rng.choice(photos)
        apps.append(Appearance(name, photo, start, end, lane=lanes[li], leftward=rng.random() < 0.5,
                               masked=name in masked, enrolled=enrolled))
        free[li] = end + rng.uniform(0.3, 1.2)
    return apps


def score(clip: Clip, events: list[dict], *, latency_from: float | None = None, period: float | None = None,
          until: float | None = None) -> dict:
    """Appearance-level outcomes. Live runs pass latency_from (wall time of clip time 0) and, for a
    looping stream, the loop period (event times are folded back onto the clip) and `until`, the
    clip time the run stopped: appearances not over by then are not counted."""
    recs = [e for e in events if e["event"] == "recognized"]
    outcome = [[] for _ in clip.appearances]
    lat = []
    unplaced = wrong = 0
    for e in recs:
        t = e["time"] % period if period else e["time"]
        i = clip.appearance_at(t, e["box"])
        if i is None:
            unplaced += 1
            continue
        a = clip.appearances[i]
        ok = a.enrolled and e["subject"] == a.name
        wrong += not ok
        loop = int(e["time"] // period) if period else 0
        outcome[i].append((loop, ok))
        if ok and latency_from is not None and not np.isnan(a.visible_at):
            lat.append(e["wall"] - (latency_from + loop * (period or 0) + a.visible_at))
    loops = int(until // period) + 1 if period else 1
    kinds = {"clean": [], "masked": [], "stranger": []}
    dup = 0
    missed, alarms = [], []
    for a, got in zip(clip.appearances, outcome):
        for loop in range(loops):
            if until is not None and loop * (period or 0) + a.end > until:
                continue
            mine = [ok for lp, ok in got if lp == loop]
            kind = "stranger" if not a.enrolled else "masked" if a.masked else "clean"
            kinds[kind].append(any(mine) if a.enrolled else bool(mine))
            dup += max(0, sum(mine) - 1) if a.enrolled else 0
            if a.enrolled and not any(mine):
                missed.append(f"{a.photo.name}{' masked' if a.masked else ''} at {a.start:.1f}s" + (f" loop {loop}" if period else ""))
            if not a.enrolled and mine:
                alarms.append(a.photo.name)
    n_known = len(kinds["clean"]) + len(kinds["masked"])
    out = {
        "appearances": {k: len(v) for k, v in kinds.items()},
        "recognized_events": len(recs),
        "precision": round(1 - (wrong + unplaced) / len(recs), 4) if recs else None,
        "recall_clean": round(float(np.mean(kinds["clean"])), 4) if kinds["clean"] else None,
        "recall_masked": round(float(np.mean(kinds["masked"])), 4) if kinds["masked"] else None,
        "duplicates_per_appearance": round(dup / n_known, 4) if n_known else None,
        "false_alarm_rate": round(float(np.mean(kinds["stranger"])), 4) if kinds["stranger"] else None,
        "unknown_events": sum(e["event"] == "unknown" for e in events),
        "missed": missed, "wrong_or_unplaced_events": wrong + unplaced, "false_alarms": alarms,
    }
    if latency_from is not None:
        out["latency_s"] = {"median": round(float(np.median(lat)), 3) if lat else None,
                            "p90": round(float(np.percentile(lat, 90)), 3) if lat else None,
                            "max": round(float(np.max(lat)), 3) if lat else None, "n": len(lat)}
    return out


def run_file(path: str, gallery_path: str, threads: int, fps: float) -> dict:
    """One watcher over a file in this process: events and throughput."""
    from faceprint import Engine, Gallery
    from faceprint.stream import watch
    eng = Engine(threads=threads)
    with Gallery.open(gallery_path, engine=eng, readonly=True) as g:
        w = watch(path, gallery=g, engine=eng, fps=fps, threads=threads)
        t0, c0 = time.perf_counter(), _cpu()
        events = [e.to_dict() for e in w]
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"events": events, "frames": w.stats["frames"], "seconds": round(secs, 2),
            "analysed_fps": round(w.stats["frames"] / secs, 2),
            "cpu_ms_per_frame": round(1000 * cpu / max(1, w.stats["frames"]), 1)}


def _cpu() -> float:
    """CPU seconds (user + system) this process has used: unlike wall time, not inflated by other
    jobs on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_pinned(path: Path, gallery_path: Path, cores: int, fps: float) -> dict:
    """run_file in a child process pinned to `cores` CPUs (taskset), threads = cores."""
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:cores])
    cmd = ["taskset", "-c", cpus, sys.executable, __file__, "--one", str(path), "--gallery", str(gallery_path),
           "--threads", str(cores), "--fps", str(fps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _serve(clip: Clip, port_q, t0, stop) -> None:
    server = MJPEGServer(clip, loop=True).start()
    port_q.put(server.port)
    while not stop.is_set():
        if server.t0 is not None and t0.value == 0:
            t0.value = server.t0
        time.sleep(0.01)
    server.stop()


def run_live(clip: Clip, gallery_path: Path, seconds: float, fps: float, threads: int) -> dict:
    """The clip served as MJPEG in real time, in a loop, by another process; one watcher reads it
    for `seconds`. RSS of the watcher's process sampled every 5 s."""
    from faceprint import Engine, Gallery
    from faceprint.stream import watch
    ctx = mp.get_context("fork")
    port_q, t0, stop = ctx.Queue(), ctx.Value("d", 0.0), ctx.Event()
    proc = ctx.Process(target=_serve, args=(clip, port_q, t0, stop), daemon=True)
    proc.start()
    port = port_q.get(timeout=300)
    eng = Engine(threads=threads)
    rss = []

    def sample(stopped):
        while not stopped.wait(5.0):
            rss.append((round(time.time() - started, 1), _rss_mb()))

    with Gallery.open(gallery_path, engine=eng, readonly=True) as g:
        w = watch(f"http://127.0.0.1:{port}/stream.mjpg", gallery=g, engine=eng, fps=fps, threads=threads)
        started, c0 = time.time(), _cpu()
        stopped = threading.Event()
        threading.Thread(target=sample, args=(stopped,), daemon=True).start()
        threading.Timer(seconds, w.stop).start()
        events = [e.to_dict() for e in w]
        cpu = _cpu() - c0
        stopped.set()
    stop.set()
    proc.join(10)
    offset = w.source.started - t0.value          # watcher media time 0 vs the server's clip time 0
    for e in events:
        e["time"] += offset
    base = next((m for s, m in rss if s >= 30), rss[0][1] if rss else None)
    return {
        "seconds": seconds, "frames": w.stats["frames"], "dropped_due_frames": w.stats["dropped"],
        "frames_read": w.source.frames_read, "analysed_fps": round(w.stats["frames"] / seconds, 2),
        "cpu_ms_per_analysed_frame": round(1000 * cpu / max(1, w.stats["frames"]), 1),
        "cpu_share_of_2_cores": round(cpu / seconds / 2, 3),
        "source_lost_events": w.stats["events"].get("source_lost", 0),
        "rss_mb": {"after_30s": base, "end": rss[-1][1] if rss else None,
                   "growth": round(rss[-1][1] - base, 1) if rss and base else None, "samples": rss},
        "events": events, "clip_t0": t0.value, "until": seconds + offset,
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--live-seconds", type=float, default=240.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--gallery", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        r = run_file(args.one, args.gallery, args.threads, args.fps)
        print(json.dumps(r))
        return

    from faceprint import Engine, Gallery
    q = args.quick
    n_known, n_strangers, n_distractors = (12, 4, 20) if q else (90, 30, 200)
    known, distractors, strangers = people(args.seed, n_known, n_strangers, n_distractors)
    eng = Engine()
    work = Path(tempfile.mkdtemp(prefix="faceprint-watch-bench-"))
    gpath = work / "gallery.db"
    t = time.perf_counter()
    with Gallery.open(gpath, create=True, engine=eng) as g:
        enrol_people(g, eng, LFW, known + distractors)
        size = g.stats()["subjects"]
    print(f"gallery: {size} subjects ({time.perf_counter() - t:.0f} s)", flush=True)

    # 720p: most appearances, three lanes (up to three people in view); 1080p: a third of them.
    cut = len(known) * 2 // 3
    s_cut = len(strangers) * 2 // 3
    clips = {
        "720p": Clip(schedule(known[:cut], strangers[:s_cut], masked_share=0.33, lanes=[0.22, 0.5, 0.78],
                              seed=args.seed), size=(1280, 720), fps=15, engine=eng, scale=1.0, seed=1),
        "1080p": Clip(schedule(known[cut:], strangers[s_cut:], masked_share=0.33, lanes=[0.3, 0.7],
                               seed=args.seed + 1), size=(1920, 1080), fps=15, engine=eng, scale=1.5, seed=2),
    }
    results: dict = {"gallery_subjects": size, "fps_analysed_target": args.fps, "files": {}}
    for name, clip in clips.items():
        t = time.perf_counter()
        path = clip.write(work / f"{name}.mp4")
        print(f"{name}: {len(clip.appearances)} appearances, {clip.duration:.0f} s of video "
              f"(written in {time.perf_counter() - t:.0f} s)", flush=True)
        per_cores = {}
        for cores in (1, 2):
            r = run_pinned(path, gpath, cores, args.fps)
            per_cores[cores] = r
            print(f"  {cores} core(s): {r['analysed_fps']} analysed frames/s "
                  f"({r['frames']} frames in {r['seconds']} s)", flush=True)
        acc = score(clip, per_cores[2]["events"])
        same = [(e["track"], e["subject"], e["frame"]) for e in per_cores[1]["events"] if e["event"] == "recognized"] == \
               [(e["track"], e["subject"], e["frame"]) for e in per_cores[2]["events"] if e["event"] == "recognized"]
        results["files"][name] = {
            "video_seconds": round(clip.duration, 1), "source_fps": clip.fps,
            "analysed_fps_1_core": per_cores[1]["analysed_fps"], "analysed_fps_2_cores": per_cores[2]["analysed_fps"],
            "cpu_ms_per_frame_1_core": per_cores[1]["cpu_ms_per_frame"],
            "cpu_ms_per_frame_2_cores": per_cores[2]["cpu_ms_per_frame"],
            "realtime_factor_2_cores": round(per_cores[2]["analysed_fps"] / args.fps, 2),
            "same_events_1_and_2_cores": same, **acc}
        print(f"  {json.dumps(acc)}", flush=True)

    # Live: a 60 s (quick: 20 s) 720p scene served in real time, looping.
    live_known = known[:16] if not q else known[:4]
    live_strangers = strangers[:6] if not q else strangers[:2]
    clip = Clip(schedule(live_known, live_strangers, masked_share=0.25, lanes=[0.3, 0.7], seed=args.seed + 2),
                size=(1280, 720), fps=25, engine=eng, scale=1.0, seed=3)
    seconds = 40.0 if q else args.live_seconds
    print(f"live: {len(clip.appearances)} appearances per {clip.duration:.0f} s loop, for {seconds:.0f} s", flush=True)
    live = run_live(clip, gpath, seconds, args.fps, threads=2)
    acc = score(clip, live["events"], latency_from=live["clip_t0"], period=round(clip.duration * clip.fps) / clip.fps,
                until=live.pop("until"))
    if q:
        Path(work / "live_events.json").write_text(json.dumps(live["events"]))
        print(f"live events in {work / 'live_events.json'}")
    live.pop("events")
    live.pop("clip_t0")
    results["live_720p"] = {**live, "loop_seconds": round(clip.duration, 1), **acc}
    print(f"  {json.dumps(results['live_720p'])}", flush=True)

    files = list(results["files"].values())
    live = results["live_720p"]
    clean = sum(r["appearances"]["clean"] for r in files)
    results["files_pooled"] = {
        "clean_appearances": clean,
        "recall_clean": round(sum(r["recall_clean"] * r["appearances"]["clean"] for r in files) / clean, 4)}
    targets = {
        "live_720p_never_behind": live["dropped_due_frames"] == 0,
        "median_latency_le_0.5s": (live["latency_s"]["median"] or 99) <= 0.5,
        "p90_latency_le_1s": (live["latency_s"]["p90"] or 99) <= 1.0,
        "precision_ge_0.99": all((r["precision"] or 0) >= 0.99 for r in [*files, live]),
        # The files' appearances are distinct photos; the live loop shows the same ones every pass.
        "recall_clean_ge_0.95_files": results["files_pooled"]["recall_clean"] >= 0.95,
        "recall_clean_ge_0.95_live_loop": (live["recall_clean"] or 0) >= 0.95,
        "duplicates_le_2pct": all((r["duplicates_per_appearance"] or 0) <= 0.02 for r in [*files, live]),
        "false_alarms_le_1pct": all((r["false_alarm_rate"] or 0) <= 0.01 for r in [*files, live]),
        "rss_growth_le_50MB": (live["rss_mb"]["growth"] or 0) <= 50,
    }
    results["targets_met"] = targets
    results["notes"] = ("Shared 2-core machine (other jobs running): absolute speeds are noisy. Live run is "
                        f"{seconds:.0f} s, not 30 minutes, because the machine is shared.")
    if not q:
        save("watch", results)
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
