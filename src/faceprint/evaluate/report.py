"""Writes an evaluation as report.json (every figure) and report.html (tables + DET, score
histogram and CMC plots embedded as PNG, so the page works offline from a single file)."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(curves: dict) -> dict[str, str]:
    try:
        import matplotlib
    except ImportError:
        from ..errors import FaceprintError
        raise FaceprintError("the HTML report's plots need matplotlib: pip install 'faceprint[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    def measured(fmr, fnmr):
        # Rates of exactly 0 lie below what the comparison counts can resolve: leave them off a log plot.
        keep = (fmr > 0) & (fnmr > 0)
        return fmr[keep], fnmr[keep]

    for i, (m, (fmr, fnmr)) in enumerate(curves["det"].items()):
        colour = f"C{i}"
        ax.plot(*measured(fmr, fnmr), label=m, color=colour)
        if m in curves["det_masked"]:
            ax.plot(*measured(*curves["det_masked"][m]), "--", label=f"{m} (masked probes)", color=colour)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("FMR (false match rate)"), ax.set_ylabel("FNMR (false non-match rate)")
    ax.set_title("DET"), ax.grid(True, which="both", alpha=0.3), ax.legend(fontsize=8)
    out["det"] = _png(fig)

    n = len(curves["hist"])
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.5), squeeze=False)
    for ax, (m, (mated, non)) in zip(axes[0], curves["hist"].items()):
        bins = np.linspace(min(mated.min(), non.min()), max(mated.max(), non.max()), 60)
        ax.hist(non, bins=bins, alpha=0.6, density=True, label="non-mated")
        ax.hist(mated, bins=bins, alpha=0.6, density=True, label="mated")
        ax.set_title(m), ax.set_xlabel("score"), ax.legend(fontsize=8)
    out["hist"] = _png(fig)

    if curves["cmc"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for m, cmc in curves["cmc"].items():
            ax.plot(range(1, len(cmc) + 1), cmc, marker=".", label=m)
        ax.set_xlabel("rank"), ax.set_ylabel("identification rate"), ax.set_title("CMC")
        ax.grid(True, alpha=0.3), ax.legend(fontsize=8)
        out["cmc"] = _png(fig)
    return out


def pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def html_table(head: list[str], rows: list[list]) -> str:
    """An HTML table of these column heads and rows of cells (each escaped); the PAD report's too."""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return ("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + body + "</tbody></table>")


def _verification_table(report: dict, masked: bool = False) -> str:
    fmrs = sorted({k for r in report["models"].values() for k in r["fnmr_at_fmr"]}, key=float, reverse=True)
    head = ["model", "10-fold accuracy", "TAR@FAR=1e-3", "EER"] + [f"FNMR@FMR={f}" for f in fmrs] + ["failures to detect"]
    rows = []
    for m, r in report["models"].items():
        r = r.get("masked") if masked else r
        if r is None:
            continue
        acc = f"{pct(r.get('accuracy_mean'))} ± {100 * r.get('accuracy_std', 0):.2f}" if "accuracy_mean" in r else "–"
        rows.append([m, acc, pct(r["tar_at_far_1e-3"]), pct(r["eer"])] + [pct(r["fnmr_at_fmr"].get(f)) for f in fmrs]
                    + [r.get("failures_to_detect", "–")])
    return html_table(head, rows)


def _ident_table(report: dict) -> str:
    fpirs = ("0.003", "0.01", "0.1")
    rows = []
    for m, r in report["models"].items():
        ir = r.get("identification")
        if not ir:
            continue
        f = ir.get("fnir_at_fpir", {})
        rows.append([m, pct(ir["rank_1"]), pct(ir["rank_5"])] + [pct(f.get(k, {}).get("fnir")) for k in fpirs])
    if not rows:
        return ""
    return "<h2>1:N identification</h2>" + html_table(
        ["model", "rank-1", "rank-5"] + [f"FNIR@FPIR={k}" for k in fpirs], rows)


def _groups_table(report: dict) -> str:
    """Per model: FNMR and within-group FMR per group, and FMR across each two groups (evaluate --groups)."""
    out = []
    for m, r in report["models"].items():
        d = r.get("groups")
        if not d:
            continue
        rows = [[g, x["identities"], x["failed_to_enrol"], f"{pct(x['fnmr'])} of {x['mated_pairs']:,}",
                 f"{pct(x['fmr_within'])} of {x['nonmated_pairs_within']:,}"] for g, x in d["groups"].items()]
        rows += [[" x ".join(c["groups"]), "", "", "", f"{pct(c['fmr'])} of {c['nonmated_pairs']:,} (across)"]
                 for c in d["cross_groups"]]
        out.append(f"<h3>{html.escape(m)}: threshold {d['threshold']:.4f} ({html.escape(d['threshold_source'])})</h3>"
                   + html_table(["group", "identities", "failed to enrol", "FNMR", "FMR"], rows))
    if not out:
        return ""
    return ("<h2 id=\"groups\">Per group (the groups are the CSV's; faceprint classifies nobody)</h2>"
            + "".join(out))


def jsonable(obj):
    """Plain JSON types throughout; NaN and infinities (no such numbers in JSON) become null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def to_json(report: dict) -> str:
    return json.dumps(jsonable(report), indent=2, allow_nan=False, ensure_ascii=False)


def write(report: dict, curves: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(to_json(report))
    imgs = plots(curves)
    figs = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{v}"><figcaption>{k}</figcaption></figure>'
                   for k, v in imgs.items())
    masked = _verification_table(report, masked=True) if report.get("mask") else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>faceprint report: {html.escape(report['dataset'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:0 1em 1em 0}}img{{max-width:100%}}</style></head>
<body><h1>faceprint evaluation: {html.escape(report['dataset'])}</h1>
<p id="protocol">{html.escape(report['protocol'])}</p>
<p id="counts">{html.escape(json.dumps(report['counts']))}</p>
<h2>1:1 verification</h2>{_verification_table(report)}
{'<h2>Masked probes vs clean gallery</h2>' + masked if masked else ''}
{_ident_table(report)}
{_groups_table(report)}
<h2>Plots</h2>{figs}
<p>Software: {html.escape(json.dumps(report['software']))}; generated {html.escape(report['time'])}.
All figures with confidence intervals are in report.json.</p>
</body></html>"""
    (out / "report.html").write_text(page)
    return out / "report.json", out / "report.html"
