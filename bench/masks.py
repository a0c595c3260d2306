"""Masked faces on realistic masks: fit the mask classifier and the unmasking map on people A of
LFW and CFP, measure masked matching per mask type on people B of both.

    .venv/bin/python bench/masks.py [--parts classifier,map,eval] [--write]

Masks: real mask cut-outs (surgical in three colours, N95, KN95, cloth printed with fabric
textures, gas) warped onto the face from its 5 landmarks (evaluate/masks.py realistic_mask;
MaskTheFace's images, MIT licence), the kind chosen per photo by a seeded hash; the turned cut-outs
where the head is turned. The detector then finds the face on the masked photo, as at a gate.
People: bench/sets.py's split (A fits, B is measured); CFP frontal photos only (a mask over a
profile face is not what a gate sees).

classifier  logistic regression (occlusion.features) on photos of A, each clean, under a realistic
            mask (seed 11) and under a drawn polygon mask (seed 11, evaluate/masks.py); measured on
            photos of B clean and under a realistic mask (seed 0): masks missed per kind, clean
            faces called masked. The shipped classifier is measured too before it is replaced.
            --write: models/mask_classifier.json.
map         linear map of raw masked SFace templates (realistic masks, seed 2, faces aligned on
            steadied landmarks as the engine aligns them) towards the clean templates' identity
            centres, cosine-softmax loss (fit_unmasking); its FMR table (mapped masked probes
            against clean photos, every cross-identity pair, GPD tail) cross-fitted: A's people
            split in two halves, each half mapped by a map fitted on the other. --write:
            models/unmask_sface.json (the table is what scoring.masks.equalise reads).
eval        mated pairs of B (LFW pairs.txt, CFP-FF same.txt; --eval-pairs of each, seeded): the first photo clean (enrolled),
            the second under a realistic mask (seed 0); scored as the engine scores it (mapped and
            equalised where the classifier calls it masked at UNMASK_AT, raw otherwise) at the
            shipped threshold (FMR 1e-3). FNMR per mask kind and set against the same pairs
            clean; FMR over every cross-identity (masked probe, clean photo) comparison of B.
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
import sets  # noqa: E402
from common import DATA, save  # noqa: E402

from faceprint import Engine, models, occlusion  # noqa: E402
from faceprint.engine import pick_face  # noqa: E402
from faceprint.evaluate import calibration  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.masks import (  # noqa: E402
    MASK_KINDS,
    mask_textures,
    read_mask_table,
    realistic_drawn,
    realistic_mask,
    realistic_transform,
    synthetic_mask,
)
from faceprint.evaluate.runner import image_templates  # noqa: E402
from faceprint.scoring import masks as scoring_masks  # noqa: E402

MASKS = DATA / "masks"
MODELS = Path(__file__).resolve().parents[1] / "src/faceprint/models"
CLASSIFIER = MODELS / "mask_classifier.json"
FIT_SEED, EVAL_SEED, CLASSIFIER_SEED = 2, 0, 11


def key_of(p: Path) -> str:
    return "/".join(p.parts[-3:])


def sample(photos: tuple, fit: bool, n: int, per_person: int = 2, seed: int = 0) -> list[Path]:
    """Up to n frontal photos of people A (fit) or B, at most per_person each, seeded; photos as
    sets.lfw_photos() gives them (or a PhotoSet's paths, identities, views)."""
    rows, seen = [], {}
    for i, (name, view) in enumerate(zip(photos[1], photos[2])):
        if sets.fit_side(name) == fit and view != "profile" and seen.get(name, 0) < per_person:
            seen[name] = seen.get(name, 0) + 1
            rows.append(i)
    rng = np.random.default_rng(seed)
    rows = sorted(rng.choice(rows, min(n, len(rows)), replace=False))
    return [photos[0][i] for i in rows]


def photos_of(s: sets.PhotoSet) -> tuple:
    return s.paths, list(s.identities), list(s.views)


# -- classifier --------------------------------------------------------------------------------
def mask_features(engine: Engine, photos: list[Path], variants: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classifier features of each photo's face clean (label 0) and under each variant's mask
    (label 1, the face found again on the masked photo); with the mask kind of each row."""
    xs, ys, kinds = [], [], []
    for p in photos:
        img = engine.load(p)
        faces = engine.detector.detect([img])[0]
        if not faces:
            continue
        face = faces[pick_face(faces, img.shape, "center")]
        todo = [(img, 0.0, "none")] + [fn(img, face, key_of(p)) for fn in variants.values()]
        for im, label, kind in todo:
            found = engine.detector.detect([im])[0]
            if found:
                crop = engine.embedder.crops(im, [found[pick_face(found, im.shape, "center")]])[0]
                xs.append(occlusion.features(crop))
                ys.append(label)
                kinds.append(kind)
    return np.vstack(xs), np.array(ys), np.array(kinds)


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


def classifier_figures(x: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict:
    pred = occlusion.mask_probability_of_features(x) >= occlusion.MASKED_AT
    return {"crops": len(y), "clean_called_masked": float(np.mean(pred[y == 0])),
            "masked_missed": float(np.mean(~pred[y == 1])),
            "missed_by_kind": {k: float(np.mean(~pred[kinds == k])) for k in MASK_KINDS if (kinds == k).any()}}


def classifier(engine: Engine, write: bool, n: int) -> dict:
    table, textures = read_mask_table(MASKS), mask_textures(MASKS)

    def real(seed):
        def put(img, face, key):
            out, drawn = realistic_mask(img, face, key, table, seed=seed, textures=textures)
            return out, 1.0, drawn["kind"]
        return put

    def drawn(seed):
        def put(img, face, key):
            return synthetic_mask(img, face, key, seed)[0], 1.0, "drawn"
        return put

    lfw, cfp = sets.lfw_photos(), sets.cfp_photos()
    train = sample(lfw, True, n) + sample(cfp, True, n)
    test = sample(lfw, False, n // 2, 1) + sample(cfp, False, n // 2, 1)
    # Profile faces: clean only (a turned head must not read as a mask).
    profiles = [p for p, v in zip(*cfp[::2]) if v == "profile"]
    profile_train = [p for p, name in zip(cfp[0], cfp[1]) if p in set(profiles) and sets.fit_side(name)][::4][:n]
    profile_test = [p for p, name in zip(cfp[0], cfp[1]) if p in set(profiles) and not sets.fit_side(name)][::4][:n]
    tx, ty, tk = mask_features(engine, test, {"real": real(EVAL_SEED)})
    px_, _, _ = mask_features(engine, profile_test, {})
    out = {"test_photos_B": len(test), "shipped_before": classifier_figures(tx, ty, tk),
           "profile_photos_B": len(profile_test)}
    out["shipped_before"]["profile_called_masked"] = float(np.mean(
        occlusion.mask_probability_of_features(px_) >= occlusion.MASKED_AT))
    x, y, _ = mask_features(engine, train, {"real": real(CLASSIFIER_SEED), "drawn": drawn(CLASSIFIER_SEED)})
    xp, yp, _ = mask_features(engine, profile_train, {})
    x, y = np.vstack([x, xp]), np.r_[y, yp]
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xb = np.vstack([x[y == 0]] * 2 + [x[y == 1]])          # each clean photo weighs as its two masked copies
    yb = np.r_[np.zeros(2 * int((y == 0).sum())), np.ones(int((y == 1).sum()))]
    w, b = train_logistic((xb - mean) / scale, yb, 1e-3)
    out.update({"train_photos_A": len(train), "train_crops": len(y)})
    if write:
        spec = {"features": occlusion.FEATURES_VERSION, "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
                "weights": w.round(6).tolist(), "bias": round(b, 6),
                "source": (f"bench/masks.py --write: logistic regression on {len(train)} photos of people A "
                           f"({sets.SPLIT}) of LFW and CFP (frontal), each clean, under a realistic mask (real "
                           f"cut-outs warped on the face, seed {CLASSIFIER_SEED}) and a drawn one, and "
                           f"{len(profile_train)} CFP profile photos of people A, clean"),
                "fitted_on": {"sets": ["LFW", "CFP-frontal", "CFP-profile"], "people": "A", "split": sets.SPLIT,
                              "photos": len(train) + len(profile_train)}}
        CLASSIFIER.write_text("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in spec.items()) + "\n}\n")
        occlusion._classifier.cache_clear()
        occlusion.classifier_version.cache_clear()
        out["fitted"] = classifier_figures(tx, ty, tk)
        out["fitted"]["profile_called_masked"] = float(np.mean(
            occlusion.mask_probability_of_features(px_) >= occlusion.MASKED_AT))
    return out


# -- unmasking map -----------------------------------------------------------------------------
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


def masked_templates(paths: list[Path], seed: int, cache) -> object:
    """Raw (not mapped) templates of the photos under their seeded realistic mask."""
    return image_templates(Engine(unmask=False), paths, cache=cache, transform=realistic_transform(MASKS, seed),
                           transform_key=f"mask=realistic:{seed}")


def unmasking(engine: Engine, lfw, cfp, cache, write: bool, n: int, table_only: bool = False) -> dict:
    """Fit the map and its cross-fitted table; table_only: keep the shipped matrix (and its version,
    so template caches stay valid: the table changes scores, not templates) and refit the table."""
    photos = sample(photos_of(lfw), True, n) + sample(photos_of(cfp), True, n)
    # People in both sets count as one person (by name): else their LFW and CFP photos are "non-mated".
    ident = {**dict(zip(lfw.paths, sets.canonical_names(lfw.identities))),
             **dict(zip(cfp.paths, sets.canonical_names(cfp.identities)))}
    clean = {**dict(zip(lfw.paths, lfw.vectors)), **dict(zip(cfp.paths, cfp.vectors))}
    masked = masked_templates(photos, FIT_SEED, cache).vectors
    photos = [p for p in photos if masked[p] is not None and p in clean]
    half = {p: "XY"[zlib.crc32(("half:" + ident[p]).encode()) % 2] for p in photos}

    def fit(side: str) -> np.ndarray:
        rows = [p for p in photos if half[p] in side]
        return fit_unmasking(np.vstack([masked[p] for p in rows]), np.array([ident[p] for p in rows]),
                             np.vstack([clean[p] for p in rows]))

    def side(name: str) -> str:
        return "XY"[zlib.crc32(("half:" + name).encode()) % 2]

    parts = []
    for fitted, tabled in ("XY", "YX"):
        w = fit(fitted)
        b = [p for p in photos if half[p] == tabled]
        mapped = np.vstack([masked[p] for p in b]) @ w
        mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
        # Against every clean photo of the half's people A (LFW at most 10 per person, CFP frontal).
        gal_v, gal_i = [], []
        for s in (lfw, cfp):
            names = sets.canonical_names(s.identities)
            rows = np.flatnonzero(s.fit & (s.views != "profile") & np.array([side(i) == tabled for i in names]))
            rows = rows[calibration.cap_per_identity(s.identities[rows], 10)]
            gal_v.append(s.vectors[rows])
            gal_i.append(sets.canonical_names(s.identities[rows]))
        parts.append(calibration.nonmated_scores(mapped, np.array([ident[p] for p in b]), gallery=np.vstack(gal_v),
                                                 gallery_identities=np.concatenate(gal_i)))
    top = np.argsort(-np.concatenate([p.top_scores for p in parts]))
    nm = calibration.NonMated(np.concatenate([p.scores for p in parts]),
                              np.vstack([p.top_pairs for p in parts])[top], np.concatenate([p.top_scores for p in parts])[top])
    table = calibration.calibrate(nm)
    t0 = time.perf_counter()
    path = MODELS / f"unmask_{engine.model_id}.json"
    w = np.asarray(json.loads(path.read_text())["matrix"]) if table_only else fit("XY")
    out = {"fit_photos": len(photos), "fit_people": len({ident[p] for p in photos}),
           "fit_seconds": round(time.perf_counter() - t0, 1), "table_nonmated_pairs": table["nonmated_pairs"],
           "masked_threshold_at_fmr_1e-3": table["threshold"][table["fmr"].index(1e-3)]}
    if write:
        spec = {"model": engine.model_id, "weights_sha256": models.get(engine.model_id).files["weights"]["sha256"],
                "version": (json.loads(path.read_text())["version"] if table_only
                            else f"real{len(photos)}-{zlib.crc32(w.round(6).tobytes()):08x}"),
                "source": (f"bench/masks.py --write: linear map fitted on realistic masks (real cut-outs warped on "
                           f"the face, seed {FIT_SEED}; faces aligned on steadied landmarks) over {len(photos)} photos "
                           f"of people A ({sets.SPLIT}) of LFW and CFP (frontal); table of mapped masked probes "
                           "against clean photos, cross-fitted (each half of those people mapped by a map fitted on "
                           "the other half)"),
                "fitted_on": {"sets": ["LFW", "CFP-frontal"], "people": "A", "split": sets.SPLIT,
                              "photos": len(photos), "mask_seed": FIT_SEED},
                "table": {k: table[k] for k in ("fmr", "threshold", "ci95", "source", "nonmated_pairs", "tail")},
                "matrix": w.round(6).tolist()}
        (MODELS / f"unmask_{engine.model_id}.json").write_text(json.dumps(spec) + "\n")
        scoring_masks.clear_cache()
    return out


# -- evaluation --------------------------------------------------------------------------------
def shipped_scores(vec: np.ndarray, p_masked: float, gallery: np.ndarray, model_id: str) -> tuple[np.ndarray, bool]:
    """Scores of one masked probe against gallery rows as the engine makes them."""
    mapped = scoring_masks.unmask(vec, model_id, p_masked)
    if mapped is None:
        return gallery @ vec, False
    return scoring_masks.equalise(gallery @ mapped, model_id), True


def evaluate(engine: Engine, lfw, cfp, cache, max_pairs: int) -> dict:
    thr = sets.threshold_for_fmr(engine.model_id, 1e-3)
    out = {"threshold": thr}
    for name, s in (("LFW", lfw), ("CFP-FF", cfp)):
        idx = s.index()
        pairs = [p for p in sets.protocol_pairs(name) if p.mated and p.a in idx and p.b in idx
                 and not sets.fit_side(s.identities[idx[p.a]])]
        pairs = [pairs[i] for i in sorted(np.random.default_rng(0).permutation(len(pairs))[:max_pairs])]
        probes = sorted({p.b for p in pairs})
        mt = masked_templates(probes, EVAL_SEED, cache)
        kind = {p: realistic_drawn(key_of(p), EVAL_SEED)["kind"] for p in probes}
        rows = {"clean": [], "masked": [], "kind": [], "mapped": []}
        for p in (q for q in pairs if q.mated):
            g = s.vectors[idx[p.a]]
            rows["clean"].append(float(g @ s.vectors[idx[p.b]]))
            v = mt.vectors[p.b]
            if v is None:                              # no face found under the mask: a miss
                rows["masked"].append(-1.0)
                rows["mapped"].append(False)
            else:
                sc, mapped = shipped_scores(v, mt.quality[p.b].get("masked", 0.0), g[None], engine.model_id)
                rows["masked"].append(float(sc[0]))
                rows["mapped"].append(mapped)
            rows["kind"].append(kind[p.b])
        clean, masked, kinds = np.array(rows["clean"]), np.array(rows["masked"]), np.array(rows["kind"])
        res = {"mated_pairs": len(clean), "clean_fnmr": float(np.mean(clean < thr)),
               "masked_fnmr": float(np.mean(masked < thr)), "mapped": float(np.mean(rows["mapped"])),
               "no_face_under_mask": int(np.sum(masked == -1.0)), "by_kind": {}}
        res["ratio"] = res["masked_fnmr"] / res["clean_fnmr"] if res["clean_fnmr"] else None
        for k in MASK_KINDS:
            sel = kinds == k
            res["by_kind"][k] = {"pairs": int(sel.sum()), "masked_fnmr": float(np.mean(masked[sel] < thr)),
                                 "clean_fnmr_same_pairs": float(np.mean(clean[sel] < thr))}
        # FMR: every masked probe of B against every clean photo of B of another person.
        gal = np.flatnonzero(~s.fit & (s.views != "profile"))
        hits, n = 0, 0
        for p in probes:
            if mt.vectors[p] is None:
                continue
            other = gal[s.identities[gal] != s.identities[idx[p]]]
            sc, _ = shipped_scores(mt.vectors[p], mt.quality[p].get("masked", 0.0), s.vectors[other], engine.model_id)
            hits, n = hits + int(np.sum(sc >= thr)), n + len(other)
        res["fmr_all_cross_identity"] = {"fmr": hits / max(n, 1), "pairs": n}
        out[name] = res
        print(name, json.dumps(res))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="classifier,map,eval")
    ap.add_argument("--photos", type=int, default=1500, help="photos per set to fit on (people A)")
    ap.add_argument("--table-only", action="store_true", help="map: refit only the table of the shipped matrix")
    ap.add_argument("--eval-pairs", type=int, default=800, help="mated pairs of people B per set to measure")
    ap.add_argument("--write", action="store_true", help="store the fitted classifier and map in the package")
    args = ap.parse_args()
    t0 = time.perf_counter()
    engine, cache = Engine(), TemplateCache()
    parts = args.parts.split(",")
    out: dict = {"model": engine.model_id, "split": sets.SPLIT}
    if "classifier" in parts:
        out["classifier"] = classifier(engine, args.write, args.photos // 3)
        print("classifier", out["classifier"])
    if "map" in parts or "eval" in parts:
        lfw, cfp = sets.lfw_set(engine, cache), sets.cfp_set(engine, cache)
    if "map" in parts:
        out["unmasking"] = unmasking(engine, lfw, cfp, cache, args.write, args.photos, args.table_only)
        print("unmasking", out["unmasking"])
    if "eval" in parts:
        out["eval"] = evaluate(engine, lfw, cfp, cache, args.eval_pairs)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    name = "masks" if set(parts) == {"classifier", "map", "eval"} else "masks_" + "_".join(parts)
    save(name, {"protocol": __doc__.strip().split("\n\n")[1], **out})


if __name__ == "__main__":
    main()
