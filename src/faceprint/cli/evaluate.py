"""`faceprint evaluate lfw | cfp | folders`: accuracy of one or more models on a benchmark protocol. The
datasets are built by evaluate/datasets.py; this module parses, runs and prints."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FaceprintError
from . import liveness
from .common import Parser, add_command, existing_dir, fold_list, model_opts, positive_int


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "evaluate", "accuracy on a benchmark protocol", None)
    esub = sp.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL", parser_class=Parser)
    _pairs_protocol(esub, parents, "lfw", "LFW 10-fold verification (pairs.txt)", "../shared/data/lfw",
                    "folder with pairs.txt and lfw-deepfunneled/", "fold", run_lfw)
    ep = _pairs_protocol(esub, parents, "cfp",
                         "CFP 10-fold verification, frontal-frontal (FF) or frontal-profile (FP)",
                         "../shared/data/cfp", "folder with Protocol/ and Data/", "split", run_cfp)
    ep.add_argument("--protocol", type=str.upper, choices=["FF", "FP"], default="FP",
                    help="FF: frontal-frontal, FP: frontal-profile (default)")

    ep = esub.add_parser("folders", help="a folder-per-identity dataset: DATA/<identity>/*.jpg", parents=parents)
    ep.add_argument("--data", type=existing_dir, required=True)
    ep.add_argument("--json", metavar="OUT", help="write report JSON here too")
    ep.add_argument("--max-nonmated", type=positive_int, default=200_000,
                    help="sample non-mated pairs above this count")
    ep.add_argument("--seed", type=int, default=0)
    model_opts(ep)
    _report_opts(ep)
    ep.set_defaults(func=run_folders)
    liveness.register_pad(esub, parents)       # evaluate pad: presentation-attack detection


def _pairs_protocol(esub, parents, name: str, summary: str, data: str, data_help: str, fold_word: str, func):
    """A 10-fold pairs protocol's sub-parser (lfw, cfp): data folder, JSON output, folds, models, report."""
    ep = esub.add_parser(name, help=summary, parents=parents)
    ep.add_argument("--data", type=existing_dir, default=data, help=data_help)
    ep.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    ep.add_argument("--folds", type=fold_list, help=f"comma-separated {fold_word} numbers 0-9 (default: all)")
    model_opts(ep)
    _report_opts(ep)
    ep.set_defaults(func=func)
    return ep


def _report_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--models", help="comma-separated models; fuse with '+', e.g. sface,dlib,sface+dlib")
    sp.add_argument("--report", metavar="DIR", help="write DIR/report.json and DIR/report.html")
    sp.add_argument("--mask", choices=["synthetic"], help="also evaluate masked probes against a clean gallery")
    sp.add_argument("--no-cache", action="store_true", help="recompute templates (cache: ~/.cache/faceprint)")
    sp.add_argument("--groups", metavar="CSV", type=Path,
                    help="CSV of identity,group (yours; faceprint classifies nobody): FMR and FNMR per group at "
                         "the shipped threshold, impostors within and across groups; others are 'unlabelled'")


def run_folders(args) -> int:
    from ..evaluate.datasets import folder_dataset
    return _experiment(args, folder_dataset(args.data, max_nonmated=args.max_nonmated, seed=args.seed))


def run_cfp(args) -> int:
    """CFP-FF / CFP-FP through the same evaluation path as LFW."""
    from ..evaluate.datasets import cfp_dataset
    return _experiment(args, cfp_dataset(args.data, args.protocol, args.folds))


def run_lfw(args) -> int:
    """One path for every LFW evaluation (evaluate/experiment.py): the figures, --report, --json."""
    from ..evaluate.datasets import lfw_dataset
    return _experiment(args, lfw_dataset(args.data, args.folds))


def _experiment(args, dataset) -> int:
    import importlib.util

    from ..evaluate import experiment, report
    from ..evaluate.cache import TemplateCache
    if args.report and importlib.util.find_spec("matplotlib") is None:
        # Said before any template is computed, not after.
        raise FaceprintError("the HTML report's plots need matplotlib: pip install 'faceprint[eval]' "
                             "(or leave out --report; --json needs nothing)")
    from ..modelid import ModelRequest
    # Without --models: the engine options' model, flip as given (--flip/--no-flip) or the manifest's.
    models = [m.strip() for m in (args.models or str(ModelRequest(args.embedder or "sface", args.flip))).split(",") if m.strip()]
    from ..evaluate.groups import read_groups
    groups = read_groups(args.groups) if args.groups else None       # a bad CSV is said before any template
    cache = None if args.no_cache else TemplateCache()
    rep, curves = experiment.run(dataset, models, mask=args.mask == "synthetic", cache=cache,
                                 progress=not getattr(args, "quiet", False), groups=groups)
    if args.report:
        js, page = report.write(rep, curves, args.report)
        print(f"wrote {js} and {page}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(report.to_json(rep))
    for m, r in rep["models"].items():
        _print_model(m, r)
    return 0


def _print_model(m: str, r: dict) -> None:
    acc = f"{100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f}" if "accuracy_mean" in r else "n/a"
    fn = r["fnmr_at_fmr"]
    line = (f"{m:<14} accuracy {acc}  TAR@FAR=1e-3 {100 * r['tar_at_far_1e-3']:.2f}% "
            f"(threshold {r['threshold_at_far_1e-3']:.4f}, {r['threshold_source']})  EER {100 * r['eer']:.2f}%  "
            + "  ".join(f"FNMR@{k} {100 * v:.2f}%" for k, v in fn.items()))
    if "identification" in r:
        line += f"  rank-1 {100 * r['identification']['rank_1']:.2f}%"
    print(line)
    if "groups" in r:
        _print_groups(r["groups"])
    if "masked" in r:
        mr = r["masked"]
        print(f"{'':14} masked probes: TAR@FAR=1e-3 {100 * mr['tar_at_far_1e-3']:.2f}%  "
              + "  ".join(f"FNMR@{k} {100 * v:.2f}%" for k, v in mr["fnmr_at_fmr"].items()))


def _print_groups(d: dict) -> None:
    """Per group FNMR and within-group FMR, then each cross-group FMR, at the one threshold."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.3f}%"
    print(f"{'':14} per group at threshold {d['threshold']:.4f} ({d['threshold_source']}); {d['pairs']}; "
          f"{d['csv_identities_in_dataset']} of the CSV's {d['csv_identities']} identities are in this set:")
    for g, r in d["groups"].items():
        ratio = "" if r["fmr_within_vs_overall"] is None else f" ({r['fmr_within_vs_overall']:.2f}x overall)"
        print(f"{'':16}{g:<24} {r['identities']} identities, FTE {r['failed_to_enrol']}  FNMR {pct(r['fnmr'])} "
              f"of {r['mated_pairs']:,}  FMR within {pct(r['fmr_within'])}{ratio} of {r['nonmated_pairs_within']:,}")
    for c in d["cross_groups"]:
        print(f"{'':16}{' x '.join(c['groups']):<24} FMR across {pct(c['fmr'])} of {c['nonmated_pairs']:,}")
