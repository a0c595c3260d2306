"""Masked faces: fit the mask classifier (not on LFW), measure it on LFW, and measure masked matching.

    .venv/bin/python bench/masks.py [--folds 0,1,2,3] [--write]

Classifier (faceprint/occlusion.py): L2-regularised logistic regression on gradient and colour
features of the aligned crop, fitted on the AT&T faces and the face_recognition example photos
(430 photos, none from LFW), each clean and under three seeded synthetic masks (evaluate/masks.py:
surgical, cloth and N95 shapes in six colours; the detector finds the face on the masked photo, as
it would at a gate); measured on the LFW pairs.txt images of the given folds, clean and masked with
another seed. --write stores the coefficients in src/faceprint/models/mask_classifier.json.

Unmasking map (occlusion.unmask, --write stores models/unmask_sface.json): LFW people outside the
given folds. A linear map of raw masked SFace templates (synthetic masks, seeds 2-7; the faces aligned
on occlusion.steadied landmarks, as the engine aligns them) is fitted with
a cosine-softmax loss towards the clean templates' identity centres. Its FMR -> threshold table
(mapped masked probes, seeds 2-3, against clean templates; every cross-identity pair, at most 10
photos per person, GPD tail as bench/calibrate.py) is cross-fitted: those people split in two
halves by name, each half mapped by a map fitted on the other, the scores pooled. occlusion.equalise
uses the table to put masked scores on the clean scale.

Matching, LFW pairs.txt (the given folds): the second photo of each pair masked (seed 0), the first
clean, as at a gate where enrolment photos are clean. Ways to score a pair:
  unmasked  what ships: the masked probe's template mapped, its score equalised, decided at the
            default threshold (the manifest's at FMR 1e-3),
  clean     the raw masked probe against the clean template (what faceprint did before),
  companion the masked probe against the clean template and a synthetic-masked copy of it (seed 1,
            made at enrolment), the better of the two,
  masked    the masked probe against the masked copy only.
Except for "unmasked" at the default threshold, thresholds for masked probes are calibrated at FMR 1e-3 on identity-disjoint folds (LFW's folds share
no people): all cross-identity comparisons among the other group's photos, scored the same way, so
the false-match rate is held. Clean FNMR: the manifest's threshold at FMR 1e-3 on the same pairs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, save  # noqa: E402

from faceprint import Engine, occlusion  # noqa: E402
from faceprint.engine import pick_face  # noqa: E402
from faceprint.evaluate import calibration  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.masks import SHAPES, mask_drawn, mask_transform, synthetic_mask  # noqa: E402
from faceprint.evaluate.protocols import IMAGE_SUFFIXES, lfw_pairs  # noqa: E402
from faceprint.evaluate.runner import image_templates, template_pair_scores  # noqa: E402
from faceprint.match import threshold_at_fmr, threshold_for_fmr  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "src/faceprint/models"
CLASSIFIER = MODELS / "mask_classifier.json"
FIT_SEEDS, TABLE_SEEDS = (2, 3, 4, 5, 6, 7), (2, 3)


def template_set(engine, paths, cache, seed=None):
    if seed is None:
        return image_templates(engine, paths, cache=cache)
    return image_templates(engine, paths, cache=cache, transform=mask_transform(seed),
                           transform_key=f"mask=synthetic:{seed}")


def templates(engine, paths, cache, seed=None) -> dict:
    return template_set(engine, paths, cache, seed).vectors


def fit_unmasking(masked: np.ndarray, identities: np.ndarray, clean: np.ndarray, *, scale: float = 30.0,
                  margin: float = 0.3, l2: float = 0.03) -> np.ndarray:
    """Linear map W (masked @ W) trained with an additive-margin cosine softmax over the identities'
    clean centres, regularised towards the identity matrix (L-BFGS on the exact loss)."""
    from scipy.optimize import minimize

    names, y = np.unique(identities, return_inverse=True)
    centres = np.zeros((len(names), clean.shape[1]))
    np.add.at(centres, y, clean)
    centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
    x, n, d, rows = masked.astype(np.float32), len(masked), masked.shape[1], np.arange(len(masked))

    def loss(w):
        z = x @ w.reshape(d, d).astype(np.float32)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        u = z / norms
        logits = scale * (u @ centres.T)
        logits[rows, y] -= scale * margin
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        ce = -np.log(p[rows, y] + 1e-12).mean()
        p[rows, y] -= 1
        du = scale * (p @ centres) / n
        dz = (du - u * (du * u).sum(1, keepdims=True)) / norms
        off = w.reshape(d, d) - np.eye(d)
        return ce + l2 * (off ** 2).sum(), ((x.T @ dz).astype(np.float64) + 2 * l2 * off).ravel()

    r = minimize(loss, np.eye(d).ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 150})
    return r.x.reshape(d, d)


def unmasking(engine: Engine, cache, test_people: set[str], write: bool) -> dict:
    """Fit the map on the LFW people outside the measured folds and table it by cross-fitting: the
    people are split in two halves by name, each half's masked probes are mapped by a map fitted on
    the other half, and the pooled non-mated scores make the table of the map fitted on both."""
    from faceprint import models

    raw = Engine(unmask=False)
    people = sorted({p.parent.name for p in (DATA / "lfw").rglob("*.jpg")} - test_people)
    half = {name: "AB"[zlib.crc32(name.encode()) % 2] for name in people}
    photos = sorted(p for p in (DATA / "lfw").rglob("*.jpg") if p.parent.name in half)
    clean = templates(raw, photos, cache)
    masked = {seed: templates(raw, photos, cache, seed) for seed in FIT_SEEDS}

    def fit(halves: str) -> tuple[np.ndarray, int, int]:
        rows = [(masked[seed][p], p.parent.name, clean[p]) for seed in FIT_SEEDS for p in photos
                if half[p.parent.name] in halves and clean[p] is not None and masked[seed][p] is not None]
        xs, ys, ts = zip(*rows)
        return fit_unmasking(np.vstack(xs), np.array(ys), np.vstack(ts)), len(rows), len(set(ys))

    same_person = calibration.read_same_person(Path(__file__).with_name("lfw_label_noise.txt"))
    parts, probes_n, gallery_n = [], 0, 0
    for fitted, tabled in ("AB", "BA"):
        w_half = fit(fitted)[0]
        b = [p for p in photos if half[p.parent.name] == tabled and clean[p] is not None]
        ids = calibration.merge_identities(np.array([p.parent.name for p in b]), same_person)
        keep = calibration.cap_per_identity(ids, 10)
        b, ids = [b[i] for i in keep], ids[keep]
        probes = [(masked[seed][p], i) for seed in TABLE_SEEDS for p, i in zip(b, ids) if masked[seed][p] is not None]
        mapped = np.vstack([v for v, _ in probes]) @ w_half
        mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
        parts.append(calibration.nonmated_scores(mapped, np.array([i for _, i in probes]),
                                                 gallery=np.vstack([clean[p] for p in b]), gallery_identities=ids))
        probes_n, gallery_n = probes_n + len(probes), gallery_n + len(b)
    top = np.argsort(-np.concatenate([n.top_scores for n in parts]))
    nm = calibration.NonMated(np.concatenate([n.scores for n in parts]),
                              np.vstack([n.top_pairs for n in parts])[top], np.concatenate([n.top_scores for n in parts])[top])
    table = calibration.calibrate(nm)
    t0 = time.perf_counter()
    w, samples, fit_people = fit("AB")
    summary = {"fit_samples": samples, "fit_people": fit_people, "fit_seconds": round(time.perf_counter() - t0, 1),
               "table_probes": probes_n, "table_gallery": gallery_n, "table_nonmated_pairs": table["nonmated_pairs"],
               "masked_threshold_at_fmr_1e-3": table["threshold"][table["fmr"].index(1e-3)]}
    if write:
        spec = {"model": engine.model_id, "weights_sha256": models.get(engine.model_id).files["weights"]["sha256"],
                "version": f"lin{samples}-{zlib.crc32(w.round(6).tobytes()):08x}",
                "source": f"bench/masks.py --write: linear map fitted on synthetic masks (seeds {FIT_SEEDS[0]}-"
                          f"{FIT_SEEDS[-1]}; faces aligned on occlusion.steadied landmarks) over the LFW people "
                          "outside pairs.txt folds 0-3; table of mapped masked "
                          "probes against clean templates, cross-fitted (each half of those people mapped by a map "
                          "fitted on the other half)",
                "table": {k: table[k] for k in ("fmr", "threshold", "ci95", "source", "nonmated_pairs", "tail")},
                "matrix": w.round(6).tolist()}
        (MODELS / f"unmask_{engine.model_id}.json").write_text(json.dumps(spec) + "\n")
        occlusion._unmasking.cache_clear()
    return summary


def mask_features(engine: Engine, photos: list[Path], seeds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classifier features of each photo's face, clean (label 0) and under each seed's synthetic
    mask (label 1, found again by the detector on the masked photo), with the mask shape drawn."""
    xs, ys, shapes = [], [], []
    for p in photos:
        img = engine.load(p)
        faces = engine.detector.detect([img])[0]
        if not faces:
            continue
        face = faces[pick_face(faces, img.shape, "center")]
        variants = [(img, 0.0, "none")]
        for seed in seeds:
            masked, drawn = synthetic_mask(img, face, p.name, seed)
            variants.append((masked, 1.0, drawn["shape"]))
        for im, label, shape in variants:
            found = engine.detector.detect([im])[0]
            if found:
                crop = engine.embedder.crops(im, [found[pick_face(found, im.shape, "center")]])[0]
                xs.append(occlusion.features(crop))
                ys.append(label)
                shapes.append(shape)
    return np.vstack(xs), np.array(ys), np.array(shapes)


def train_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (scipy's L-BFGS on the exact loss)."""
    from scipy.optimize import minimize

    def loss(wb):
        w, b = wb[:-1], wb[-1]
        z = x @ w + b
        p = 1 / (1 + np.exp(-z))
        ll = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
        g = p - y
        return ll.mean() + l2 * w @ w, np.r_[x.T @ g / len(y) + 2 * l2 * w, g.mean()]

    r = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return r.x[:-1], float(r.x[-1])


def training_photos() -> list[Path]:
    small = DATA / "small"
    return sorted(p for root in (small / "att_faces", small / "face_recognition_examples")
                  for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", default="0,1,2,3")
    ap.add_argument("--write", action="store_true", help="store the fitted classifier in the package")
    args = ap.parse_args()
    t0 = time.perf_counter()
    engine = Engine()
    cache = TemplateCache()
    out: dict = {"model": engine.model_id}

    # -- classifier ----------------------------------------------------------------------------
    x, y, _ = mask_features(engine, training_photos(), (11, 12, 13))
    mean, scale = x.mean(0), x.std(0) + 1e-6
    # Balance: each clean photo weighs as much as its three masked copies together.
    xb = np.vstack([x[y == 0]] * 3 + [x[y == 1]])
    yb = np.r_[np.zeros(3 * int((y == 0).sum())), np.ones(int((y == 1).sum()))]
    w, b = train_logistic((xb - mean) / scale, yb, 1e-3)
    out["detector"] = {"features": occlusion.FEATURES_VERSION, "training_photos": len(training_photos()),
                       "training_crops": len(y), "train_accuracy": float(np.mean((((x - mean) / scale @ w + b) > 0) == (y == 1)))}
    if args.write:
        spec = {"features": occlusion.FEATURES_VERSION, "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
                "weights": w.round(6).tolist(), "bias": round(b, 6),
                "source": "bench/masks.py --write: logistic regression on synthetic masks (seeds 11-13) over the "
                          "AT&T faces and the face_recognition example photos; no LFW photo"}
        CLASSIFIER.write_text("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in spec.items()) + "\n}\n")
        occlusion._classifier.cache_clear()

    folds = [int(f) for f in args.folds.split(",")]
    pairs = lfw_pairs(DATA / "lfw", folds)
    imgs = sorted({p for pr in pairs for p in (pr.a, pr.b)})
    lx, ly, shapes = mask_features(engine, imgs, (0,))
    prob = occlusion.mask_probability_of_features(lx)
    pred = prob >= occlusion.MASKED_AT
    out["detector"].update({"lfw_photos": len(imgs), "lfw_crops": len(ly),
                            "lfw_accuracy": float(np.mean(pred == (ly == 1))),
                            "lfw_clean_called_masked": float(np.mean(pred[ly == 0])),
                            "lfw_masked_missed": float(np.mean(~pred[ly == 1])),
                            "lfw_missed_by_shape": {sh: float(np.mean(~pred[shapes == sh])) for sh in SHAPES}})
    print("detector", out["detector"])
    out["unmasking"] = unmasking(engine, cache, {p.parent.name for p in imgs}, args.write)
    print("unmasking", out["unmasking"])
    raw = Engine(unmask=False)
    c = templates(raw, imgs, cache)
    m0 = templates(raw, imgs, cache, 0)        # probe-side masks
    m1 = templates(raw, imgs, cache, 1)        # enrolment-side synthetic copies

    # -- matching ------------------------------------------------------------------------------
    def score(a, bb, scheme):
        if scheme == "clean":
            return float(c[a] @ m0[bb])
        if scheme == "masked":
            return float(m1[a] @ m0[bb])
        return max(float(c[a] @ m0[bb]), float(m1[a] @ m0[bb]))

    def cross_identity_scores(photos, scheme):
        """Every cross-identity (clean/companion gallery photo, masked probe photo) comparison."""
        photos = [p for p in photos if c.get(p) is not None and m0.get(p) is not None and m1.get(p) is not None]
        ids = np.array([p.parent.name for p in photos])
        P = np.vstack([m0[p] for p in photos])
        C = np.vstack([c[p] for p in photos])
        M = np.vstack([m1[p] for p in photos])
        s = {"clean": C @ P.T, "masked": M @ P.T}.get(scheme)
        if s is None:
            s = np.maximum(C @ P.T, M @ P.T)
        return s[ids[:, None] != ids[None, :]]

    groups = {"X": [f for f in folds if f < np.median(folds)] or folds[:1], }
    groups["Y"] = [f for f in folds if f not in groups["X"]]
    clean_thr = threshold_for_fmr(engine.model_id, 1e-3)
    valid = [pr for pr in pairs if all(v.get(pr.a) is not None and v.get(pr.b) is not None for v in (c, m0, m1))]
    mated = np.array([pr.mated for pr in valid])
    clean_scores = np.array([float(c[pr.a] @ c[pr.b]) for pr in valid])
    out["clean"] = {"threshold": clean_thr, "fnmr": float(np.mean(clean_scores[mated] < clean_thr)),
                    "fmr": float(np.mean(clean_scores[~mated] >= clean_thr)), "pairs": len(valid)}
    out["schemes"] = {}
    for scheme in ("clean", "companion", "masked"):
        s = np.array([score(pr.a, pr.b, scheme) for pr in valid])
        thr = np.zeros(len(valid))
        cal = {}
        for g, other in (("X", "Y"), ("Y", "X")):
            photos = sorted({p for pr in pairs if pr.fold in groups[other] for p in (pr.a, pr.b)})
            t = threshold_at_fmr(cross_identity_scores(photos, scheme), 1e-3)
            cal[g] = t
            thr[[pr.fold in groups[g] for pr in valid]] = t
        fnmr = float(np.mean(s[mated] < thr[mated]))
        out["schemes"][scheme] = {"thresholds_by_group": cal, "fnmr_at_fmr_1e-3": fnmr,
                                  "fmr_observed": float(np.mean(s[~mated] >= thr[~mated])),
                                  "ratio_to_clean": fnmr / out["clean"]["fnmr"] if out["clean"]["fnmr"] else None,
                                  "fnmr_at_clean_threshold": float(np.mean(s[mated] < clean_thr)),
                                  "fmr_at_clean_threshold": float(np.mean(s[~mated] >= clean_thr))}
        print(scheme, out["schemes"][scheme])
    # What ships: the default engine maps masked probes, scores are equalised, default threshold.
    shipped = {seed: template_set(engine, imgs, cache, seed) for seed in (None, 0, 1)}
    for name, gallery_side in (("unmasked", None), ("unmasked_both_sides_masked", 1)):
        s = template_pair_scores(valid, engine.model_id, shipped[gallery_side], shipped[0])
        fnmr = float(np.mean(s[mated] < clean_thr))
        out["schemes"][name] = {"threshold": clean_thr, "fnmr_at_fmr_1e-3": fnmr,
                                "fmr_observed": float(np.mean(s[~mated] >= clean_thr)),
                                "ratio_to_clean": fnmr / out["clean"]["fnmr"] if out["clean"]["fnmr"] else None,
                                "probes_mapped": int(sum(bool(shipped[0].quality[p].get("unmasked")) for p in imgs))}
        # The pairs hold ~1,200 non-mated ones; every cross-identity comparison of these photos
        # (millions) shows whether the equalised threshold holds FMR 1e-3.
        ok = [p for p in imgs if shipped[0].vectors[p] is not None and shipped[gallery_side].vectors[p] is not None]
        ids = np.array([p.parent.name for p in ok])
        mapped = np.array([bool(shipped[0].quality[p].get("unmasked")) for p in ok])
        nm = calibration.nonmated_scores(np.vstack([shipped[0].vectors[p] for p in ok])[mapped], ids[mapped],
                                         gallery=np.vstack([shipped[gallery_side].vectors[p] for p in ok]),
                                         gallery_identities=ids)
        out["schemes"][name]["fmr_all_cross_identity"] = float(np.mean(occlusion.equalise(nm.scores, engine.model_id) >= clean_thr))
        out["schemes"][name]["cross_identity_pairs"] = len(nm.scores)
        drawn = np.array([mask_drawn(p.name, 0) for p, m in zip(ok, mapped) if m])
        for kind, column in (("shape", 0), ("colour", 1)):
            for value in sorted(set(drawn[:, column])):
                sel = drawn[:, column] == value
                nm = calibration.nonmated_scores(np.vstack([shipped[0].vectors[p] for p, m in zip(ok, mapped) if m])[sel],
                                                 ids[mapped][sel], gallery=np.vstack([shipped[gallery_side].vectors[p] for p in ok]),
                                                 gallery_identities=ids)
                out["schemes"][name].setdefault(f"fmr_by_{kind}", {})[value] = float(
                    np.mean(occlusion.equalise(nm.scores, engine.model_id) >= clean_thr))
        print(name, out["schemes"][name])
    out["groups"] = groups
    out["seconds"] = round(time.perf_counter() - t0, 1)
    save("masks", {"protocol": __doc__.strip().split("\n\n")[1], **out})


if __name__ == "__main__":
    main()
