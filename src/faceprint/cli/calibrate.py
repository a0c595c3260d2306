"""`faceprint calibrate`: fit an embedder's FMR -> threshold table and quality norm range on labelled
photos. For a bring-your-own .onnx file it writes the model card (models.cards) that Engine(embedder=path)
loads; for a built-in embedder (e.g. dlib) a card-shaped report beside the manifest's own table."""
from __future__ import annotations

import json
from pathlib import Path

from .common import add_command, existing_dir, finite_float, positive_int

# Photos per identity at most (bench/calibrate.py's --per-identity): a few people with hundreds of
# photos would otherwise make up most of the non-mated pairs.
PER_IDENTITY = 10
NORM_PERCENTILES = (1, 99)


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "calibrate", "fit an embedder's thresholds and write its model card", run)
    sp.add_argument("--embedder", required=True,
                    help="the .onnx face embedding model, or a built-in embedder's name (e.g. dlib: a table to "
                         "compare with the manifest's; the manifest stays the one used)")
    sp.add_argument("--data", type=existing_dir, action="append", required=True,
                    help="labelled photos: DIR/<identity>/*.jpg, an LFW folder (pairs.txt) or a CFP folder "
                         "(Protocol/, Data/); repeat for several sets (the stricter threshold at each FMR wins)")
    sp.add_argument("--out", help="card file (default: <model>.card.json beside the model; for a built-in "
                                  "embedder <name>.calibration.json in the current folder)")
    sp.add_argument("--license", default="", help="the model's licence, as you state it")
    sp.add_argument("--per-identity", type=positive_int, default=PER_IDENTITY, help="photos per identity at most")
    sp.add_argument("--mean", type=finite_float, default=127.5, help="input = (pixel - mean) / std (ArcFace: 127.5)")
    sp.add_argument("--std", type=finite_float, default=127.5)
    sp.add_argument("--bgr", action="store_true", help="the model reads BGR (default RGB)")
    sp.add_argument("--crop", default="arcface-112", help="aligned crop (faceprint.align; default arcface-112)")
    sp.add_argument("--runtime", default=None)
    sp.add_argument("--threads", type=positive_int, default=None)
    sp.add_argument("--no-cache", action="store_true", help="recompute templates (cache: ~/.cache/faceprint)")


def photos_of(root: Path) -> dict[str, list[Path]]:
    """{identity: photos} of a labelled folder, an LFW folder or a CFP folder (evaluate.datasets)."""
    from ..evaluate import datasets, protocols
    if (root / "pairs.txt").is_file():
        return datasets.lfw_dataset(root).identities
    if (root / "Protocol").is_dir():
        return datasets.cfp_dataset(root, "FP").identities
    return protocols.identity_folders(root)


def templates_of(engine, root: Path, per_identity: int, progress: bool, cache=None):
    """(vectors, identities, raw norms) of the photos of one set, at most per_identity each."""
    import numpy as np

    from ..errors import UsageError
    from ..evaluate.runner import image_templates
    paths, ids = [], []
    for name, imgs in photos_of(root).items():
        for p in imgs[:per_identity]:
            paths.append(p)
            ids.append(name)
    ts = image_templates(engine, paths, progress=progress, cache=cache)
    keep = [i for i, p in enumerate(paths) if ts.vectors[p] is not None]
    if len({ids[i] for i in keep}) < 2:
        raise UsageError(f"{root}: faces found for fewer than 2 identities; calibration needs labelled photos "
                         "of many people (DIR/<identity>/*.jpg, LFW or CFP)")
    vectors = np.stack([ts.vectors[paths[i]] for i in keep])
    # A model without a quality_norm in its spec (e.g. dlib) has no raw norm in the quality record.
    norms = np.array([ts.quality[paths[i]].get("embedding_norm", np.nan) for i in keep], float)
    return vectors, np.array([ids[i] for i in keep]), norms, len(paths) - len(keep)


def is_builtin(embedder: str) -> bool:
    """A registry embedder name (not a file): calibrated for comparison with its manifest table."""
    from .. import models
    return not embedder.endswith(".onnx") and embedder in models.manifest() \
        and models.manifest()[embedder].task == "embed"


def _onnx_engine(args):
    """(engine, card fields) of a bring-your-own .onnx file with the preprocessing given on the command line."""
    from ..embed.onnx_generic import OnnxEmbedder
    from ..engine import Engine
    from ..models import cards
    from ..util import sha256
    model = Path(args.embedder)
    embedder = OnnxEmbedder.from_path(str(model), card=False, mean=args.mean, std=args.std, rgb=not args.bgr,
                                      crop=args.crop, runtime=args.runtime, threads=args.threads)
    # A provisional spec whose norm range makes the quality stage report each raw embedding norm.
    embedder.spec = cards.to_spec({"model": embedder.name, "path": str(model), "sha256": sha256(model),
                                   "thresholds": {}, "quality_norm": [0.0, 1.0]}, model)
    engine = Engine(embedder=embedder, threshold=0.0, runtime=args.runtime, threads=args.threads, unmask=False)
    fields = {"model": embedder.name, "path": str(model.resolve()), "sha256": sha256(model),
              "dim": embedder.dim, "input": {"size": list(embedder.size), "crop": args.crop, "mean": args.mean,
                                            "std": args.std, "rgb": not args.bgr}}
    return engine, fields, cards.beside(model)


def _builtin_engine(args):
    """(engine, card fields) of a built-in embedder, flip off: the manifest's "plain" table is the one
    compared (its own preprocessing; the shipped thresholds stay the manifest's)."""
    from ..engine import Engine
    engine = Engine(embedder=args.embedder, flip=False, threshold=0.0, runtime=args.runtime,
                    threads=args.threads, unmask=False)
    spec = engine.embedder.spec
    weights = spec.files.get("weights", {}) if spec else {}
    fields = {"model": engine.model_id, "builtin": True, "sha256": weights.get("sha256"), "dim": engine.embedder.dim,
              "license": spec.license if spec else ""}
    return engine, fields, Path(f"{args.embedder}.calibration.json")


def add_to_card_folder(out: Path, card: dict) -> None:
    """Also put the card in the card folder, where a gallery of this model id finds it in a later
    process (Engine.for_model, `faceprint watch`): the card names the model file."""
    from ..models import cards
    home = cards.in_card_dir(card["model"])
    if home.resolve() != out.resolve():
        home.parent.mkdir(parents=True, exist_ok=True)
        home.write_text(out.read_text())


def manifest_comparison(model_id: str, table: dict) -> list[dict]:
    """Per FMR of the fitted table that the manifest's table also lists: both thresholds and the difference."""
    from .. import models
    shipped = (models.get(model_id).thresholds or {}).get("plain", {}).get("table", {})
    known = dict(zip(shipped.get("fmr", []), shipped.get("threshold", [])))
    return [{"fmr": f, "fitted": t, "manifest": known[f], "difference": round(t - known[f], 5)}
            for f, t in zip(table["fmr"], table["threshold"]) if f in known]


def run(args) -> int:
    import numpy as np

    from ..evaluate import calibration
    from ..evaluate.cache import TemplateCache
    engine, fields, default_out = _builtin_engine(args) if is_builtin(args.embedder) else _onnx_engine(args)
    cache = None if args.no_cache else TemplateCache()
    tables, norms, used = {}, [], []
    for root in args.data:
        vectors, ids, n, failed = templates_of(engine, root, args.per_identity, not getattr(args, "quiet", False),
                                               cache)
        nm = calibration.nonmated_scores(vectors, ids)
        tables[root.name if root.name not in tables else str(root)] = calibration.calibrate(nm)
        norms.append(n)
        used.append({"folder": str(root.resolve()), "identities": len(set(ids)), "photos": len(ids),
                     "failed_to_enrol": failed, "nonmated_pairs": len(nm.scores)})
    table = next(iter(tables.values())) if len(tables) == 1 else calibration.strictest(tables)
    value = table["threshold"][table["fmr"].index(1e-3)]
    all_norms = np.concatenate(norms)
    quality_norm = ([round(float(v), 3) for v in np.percentile(all_norms, NORM_PERCENTILES)]
                    if np.isfinite(all_norms).all() else None)
    card = {
        **fields,
        "license": args.license or fields.get("license", ""),
        "thresholds": {"plain": {"value": value, "fmr": 1e-3, "table": table, "source": (
            f"faceprint calibrate: every cross-identity pair of {', '.join(tables)} (at most {args.per_identity} "
            "photos per identity), generalized Pareto tail below FMR 1e-4"
            + ("; the stricter set's threshold at each FMR" if len(tables) > 1 else ""))}},
        "quality_norm": quality_norm,
        "quality_norm_source": (f"percentiles {NORM_PERCENTILES} of the raw embedding norms of the photos used"
                                if quality_norm else "none: this model's quality record carries no raw norm"),
        "data": used, "pairs": int(table["nonmated_pairs"]),
    }
    if fields.get("builtin"):
        card["manifest_comparison"] = manifest_comparison(engine.model_id, table)
    out = Path(args.out) if args.out else default_out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(card, indent=2) + "\n")
    if not fields.get("builtin"):
        add_to_card_folder(out, card)
    print(json.dumps({"card": str(out), "model": card["model"], "threshold_at_fmr_1e-3": value,
                      "quality_norm": card["quality_norm"], "pairs": card["pairs"], "data": used,
                      **({"manifest_comparison": card["manifest_comparison"]} if fields.get("builtin") else {})},
                     indent=2))
    return 0
