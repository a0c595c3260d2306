"""`faceprint evaluate pad --report DIR`: report.json (every figure) and report.html (the rates at the
threshold, per attack type and per subject, APCER at fixed BPCERs, and the DET curve), one offline file."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from .report import _png, html_table, pct, to_json


def det_plot(det: dict, threshold: float, at: dict) -> str:
    """The DET curve (APCER of the worst attack type against BPCER) as a base64 PNG."""
    try:
        import matplotlib
    except ImportError:
        from ..errors import FaceprintError
        raise FaceprintError("the HTML report's DET plot needs matplotlib: pip install 'faceprint[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    apcer, bpcer = np.asarray(det["apcer"]), np.asarray(det["bpcer"])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    # Rates of 0 lie below what the counts resolve: drawn at the axis floor so the curve stays visible.
    floor = 1e-3
    ax.step(np.maximum(bpcer, floor), np.maximum(apcer, floor), where="post", label="DET (subject-averaged)")
    ax.plot([max(at["bpcer"] or 0, floor)], [max(at["apcer"] or 0, floor)], "o", color="C3",
            label=f"threshold {threshold:.3f}")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlim(floor * 0.8, 1.05), ax.set_ylim(floor * 0.8, 1.05)
    ax.set_xlabel("BPCER (live presentations rejected)"), ax.set_ylabel("APCER (worst attack type accepted)")
    ax.set_title("DET (values of 0 drawn at 0.001)"), ax.grid(True, which="both", alpha=0.3), ax.legend(fontsize=8)
    return _png(fig)


def write(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """report: pad.summary(...) plus "dataset", "model" and "counts" entries."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(to_json(report))
    rates = [["APCER (worst type)", pct(report["apcer"])], ["BPCER", pct(report["bpcer"])],
             ["ACER", pct(report["acer"])], ["live presentations", report["n_live"]],
             ["attack presentations", report["n_attack"]], ["subjects", report["n_subjects"]]]
    types = [[t, pct(v), pct(report["pooled"]["apcer_per_type"].get(t))] for t, v in report["apcer_per_type"].items()]
    at = [[b, f"{v['threshold']:.4f}", pct(v["apcer"]), pct(v["bpcer"])] for b, v in report["apcer_at_bpcer"].items()]
    subjects = [[s, v["n_live"], v["n_attack"], pct(v["bpcer"]), pct(v["apcer"])] for s, v in report["per_subject"].items()]
    plot = det_plot(report["det"], report["threshold"], report)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>faceprint PAD report: {html.escape(report['dataset'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%}}</style></head>
<body><h1>Presentation-attack detection: {html.escape(report['dataset'])}</h1>
<p>Model {html.escape(report['model'])}; threshold {report['threshold']:.4f} (live if the score is at least this).
ISO/IEC 30107-3 rates, each subject weighted equally (per subject first, then averaged); frame-pooled
APCER per type beside them. Counts: {html.escape(json.dumps(report['counts']))}</p>
<h2>At the threshold</h2>{html_table(["figure", "value"], rates)}
<h2>APCER per attack type</h2>{html_table(["attack type", "APCER (subject-averaged)", "APCER (frames pooled)"], types)}
<h2>APCER at fixed BPCER</h2><p>Thresholds chosen on this data (they show how far apart the classes lie,
not what a fixed threshold achieves).</p>{html_table(["BPCER", "threshold", "APCER", "BPCER reached"], at)}
<h2>DET</h2><figure><img alt="DET curve" src="data:image/png;base64,{plot}"></figure>
<h2>Per subject</h2>{html_table(["subject", "live", "attack", "BPCER", "APCER (worst type)"], subjects)}
</body></html>"""
    (out / "report.html").write_text(page)
    return out / "report.json", out / "report.html"
