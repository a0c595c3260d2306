"""`faceprint models`: installed models, their licences, runtime and checksum status."""
from __future__ import annotations

from .common import add_command, print_json


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "models", "installed models, licences, checksum status", run)
    sp.add_argument("--json", action="store_true")


def run(args) -> int:
    from .. import models, runtime
    default = runtime.resolve(None)

    def runs_in(spec) -> str:
        if "parts" in spec.extra:
            return "+".join(runs_in(models.get(p)) for p in spec.extra["parts"])
        return "dlib" if "dlib" in spec.impl else default
    cpu = runtime.cpu_report()

    def precision(spec, runs: str) -> str:
        # OpenVINO computes fp32 embedders in bf16 where the CPU has it; detectors are pinned to f32.
        if spec.extra.get("precision"):
            return spec.extra["precision"]
        return (cpu.openvino_precision or "f32") if runs == "openvino" and spec.task == "embed" else "f32"
    rows = []
    # Shipped models, then bring-your-own ones calibrated into the card folder (faceprint calibrate).
    for spec in [*models.manifest().values(), *models.cards.in_dir()]:
        status = spec.status()
        ok = all(s["ok"] for s in status.values())
        rows.append({"name": spec.name, "task": spec.task, "license": spec.license,
                     "package": f"{spec.package}=={spec.package_version}", "ok": ok, "runtime": runs_in(spec),
                     "precision": precision(spec, runs_in(spec)), "files": status, "thresholds": spec.thresholds})
    if args.json:
        print_json(rows)
        return 0
    print(f"runtime: {default} (installed: "
          + ", ".join(f"{r} {runtime.version(r)}" for r in runtime.available()) + ")")
    print("\n".join(runtime.describe(cpu, default)))
    for r in rows:
        state = "OK (sha256 verified)" if r["ok"] else "; ".join(
            s["problem"] for s in r["files"].values() if s["problem"])
        print(f"{r['name']:<11} {r['task']:<7} {r['runtime']:<14} {r['precision']:<5} {r['package']:<32} "
              f"{r['license']:<14} {state}")
    return 0
