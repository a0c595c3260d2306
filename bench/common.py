"""Helpers shared by the benchmarks: machine/commit facts and JSON output."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "python": platform.python_version(),
            "platform": platform.platform(), "cpu_info": cpu_info(),
            # 1/5/15-minute load at save time: on a shared machine, how busy it was while timing.
            "load_average": [round(x, 2) for x in os.getloadavg()]}


# The caps that make this machine run the code an older CPU would: oneDNN and OpenVINO's own kernels
# (both must be set, each library reads its own), FAISS's dynamic dispatch. Read once at library load,
# so emulate_isa() re-executes the benchmark with them set.
ISA_CAPS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "OV_CPU_MAX_ISA": "AVX2", "FAISS_SIMD_LEVEL": "AVX2"}}


def cpu_info() -> dict:
    """CPU model, its instruction sets (AVX2, AVX-512 F/VNNI/BF16, AMX), the CPU class the figures
    stand for ("avx2 (emulated)" under emulate_isa) and what OpenVINO and FAISS actually use."""
    from dataclasses import asdict

    from faceprint.runtime import cpu_report
    report = cpu_report()
    return {**asdict(report), "class": report.cpu_class, "emulated": bool(report.caps)}


def emulate_isa() -> str | None:
    """`--isa avx2` on the command line: re-run this process with the AVX2 caps (call it before
    OpenVINO or FAISS is imported). Returns the emulated class, or None for the native one."""
    argv = sys.argv[1:]
    isa = next((a.split("=", 1)[1] for a in argv if a.startswith("--isa=")), None)
    if "--isa" in argv and argv.index("--isa") + 1 < len(argv):
        isa = argv[argv.index("--isa") + 1]
    if isa in (None, "native"):
        return None
    if isa not in ISA_CAPS:
        sys.exit(f"--isa must be native or one of {', '.join(ISA_CAPS)}, not {isa!r}")
    caps = ISA_CAPS[isa]
    if any(os.environ.get(k) != v for k, v in caps.items()):
        os.environ.update(caps)
        os.execv(sys.executable, [sys.executable, *sys.argv])
    return isa


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def median_ms(samples: list[float]) -> float:
    return round(float(np.median(samples)), 2) if samples else float("nan")


def p99_ms(samples: list[float]) -> float:
    return round(float(np.percentile(samples, 99)), 3) if samples else float("nan")


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000


def save(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "commit": commit(), "machine": machine(), **figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2))
    print(f"saved {path}")
    return path
