"""labelwise vs MAPIE 1.6: conformal prediction sets on identical scores and splits.

Parts (``--parts``, default all):

- ``equality``: on the real ``pred_probs`` of ``label_errors_{mnist,cifar10,imdb}`` (rows
  renormalised to sum to 1, which MAPIE demands within 1e-5), 3 random half/half splits per
  alpha in {0.05, 0.1, 0.2}: LAC, APS and RAPS sets of ``SplitConformal`` against MAPIE's
  ``SplitConformalClassifier`` (prefit, a lookup "model" returning the stored rows). APS/RAPS in
  their deterministic form on both sides: MAPIE with ``include_last_label=False`` and its
  calibration uniforms fixed at 0 (a ``RandomState`` whose ``uniform`` returns zeros), which is
  labelwise's ``randomized=False, allow_empty=False``. RAPS: labelwise is given the ``k_reg`` and
  ``lambda`` MAPIE tuned and calibrated on the rows MAPIE kept after its tuning split, so the two
  quantiles see the same scores. Each comparison is made twice: against MAPIE as shipped (it
  compares with a 1e-8 tolerance) and with that tolerance set to 0. MAPIE refuses APS/RAPS on a
  binary target (imdb).
- ``multilabel``: a quick model (SVD + one-vs-rest logistic regression, 5-fold out-of-fold
  probabilities) on ``multilabel_{scene,yeast,enron}``; rows without labels dropped (MAPIE
  refuses them); one half/half split; conformal risk control of recall/FNR (target 0.9 / 0.1) and
  Learn-Then-Test of precision (target 0.6, confidence 0.9) on MAPIE's grid
  ``np.arange(0, 1, 0.01)``: thresholds and sets, and the time of calibrate + predict (median of
  3, in-process, after a warm-up).
- ``lp``: ``LabelPowersetConformal`` regions, pruned search against exhaustive enumeration of the
  2^K label sets (same regions required), on scene (K = 6), yeast (K = 14) and enron restricted
  to its 16 most frequent labels; then the pruned search on all 53 enron labels. Medians of 3.
- ``speed``: calibrate on N/2 rows + predict sets for the other N/2 on the synthetic float32
  ``pred_probs`` of ``label_issues.py`` (cached), N x K in {1e4 x 10, 1e5 x 100}, LAC/APS/RAPS,
  each run in a fresh process (``_common.worker``), ``--repeats`` times per library, alternating.
- ``scale``: labelwise alone, ``calibrate`` then ``predict_set`` on all rows of the 1e6 x 1000
  float32 input (4 GB; MAPIE would need float64 copies of it several times over): time and peak
  memory of each score, ``--repeats`` times.

Setup: MAPIE 1.6 installs into the project venv without changing numpy/scipy/scikit-learn/pandas
(``pip install 'labelwise[bench]'``). Usage::

    python benchmarks/conformal.py            # everything, 3 repeats (about 5 minutes, 2 cores)
    python benchmarks/conformal.py --quick    # smoke test: small sizes, 1 repeat, no scale run
    python benchmarks/conformal.py --parts equality,multilabel
    python benchmarks/conformal.py --render-only   # docs section from the saved JSON

Writes ``benchmarks/results/conformal.json`` and the ``conformal`` section of
``docs/benchmarks.md`` (``--quick``: ``conformal_quick.json``, docs untouched).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

SECTION = "conformal"
PARTS = ("equality", "multilabel", "lp", "speed", "scale")
ALPHAS = (0.05, 0.1, 0.2)
SCORES = ("lac", "aps", "raps")
REAL_SETS = ("mnist", "cifar10", "imdb")
ML_SETS = ("scene", "yeast", "enron")
SPEED_SIZES = ((10_000, 10), (100_000, 100))
SCALE = (1_000_000, 1000)
LIBS = ("labelwise", "mapie")
GRID = np.arange(0, 1, 0.01)  # MAPIE's default grid of thresholds, used by both libraries


# --------------------------------------------------------------------------- MAPIE adapters


def _mapie_classes() -> tuple[Any, Any]:
    """A lookup classifier (X = row indices) and a RandomState whose uniforms are zero."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Lookup(ClassifierMixin, BaseEstimator):
        """A fitted classifier whose ``predict_proba`` returns stored rows (X = row indices)."""

        def __init__(self, probs: Any = None) -> None:
            self.probs = probs

        def fit(self, X: Any, y: Any) -> Any:
            return self

        def predict_proba(self, X: Any) -> np.ndarray:
            return self.probs[np.asarray(X)[:, 0].astype(np.int64)]

        def predict(self, X: Any) -> np.ndarray:
            return np.argmax(self.predict_proba(X), axis=1)

    class ZeroUniform(np.random.RandomState):
        """MAPIE draws its APS/RAPS calibration uniforms with ``uniform``: make them 0."""

        def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
            return np.zeros(size) if size is not None else 0.0

    return Lookup, ZeroUniform


def mapie_split(probs, labels, cal, test, score, level, seed, *, tolerance=True):
    """MAPIE's deterministic split-conformal sets; returns (sets, threshold, raps info)."""
    import mapie.conformity_scores.sets.aps as aps_mod
    import mapie.conformity_scores.sets.lac as lac_mod
    import mapie.conformity_scores.sets.naive as naive_mod
    import mapie.conformity_scores.sets.raps as raps_mod
    import mapie.conformity_scores.sets.utils as utils_mod
    from mapie.classification import SplitConformalClassifier

    Lookup, ZeroUniform = _mapie_classes()
    for module in (aps_mod, lac_mod, naive_mod, raps_mod, utils_mod):
        module.EPSILON = np.float64(1e-8) if tolerance else np.float64(0.0)
    est = Lookup(probs)
    est.classes_ = np.arange(probs.shape[1])
    est.n_features_in_ = 1
    model = SplitConformalClassifier(
        estimator=est,
        confidence_level=level,
        conformity_score=score,
        prefit=True,
        random_state=seed if score == "lac" else ZeroUniform(seed),
    )
    model.conformalize(cal[:, None], labels[cal])
    params = None if score == "lac" else {"include_last_label": False}
    _, sets = model.predict_set(test[:, None], conformity_score_params=params)
    fn = model._mapie_classifier.conformity_score_function_
    info = {}
    if score == "raps":
        info = {
            "tune_rows": np.asarray(fn.X_raps)[:, 0].astype(np.int64),
            "k_reg": int(np.ravel(fn.k_star)[0]),
            "lam": float(np.ravel(fn.lambda_star)[0]),
        }
    return sets[:, :, 0], float(np.ravel(fn.quantiles_)[0]), info


def labelwise_split(probs, labels, cal, test, score, level, info):
    from labelwise.conformal import SplitConformal

    if score == "raps":
        rest = np.setdiff1d(cal, info["tune_rows"])
        cp = SplitConformal(
            score="raps",
            confidence_level=level,
            allow_empty=False,
            k_reg=info["k_reg"],
            lam=info["lam"],
        ).calibrate(probs[rest], labels[rest])
    else:
        allow_empty = score == "lac"  # MAPIE's LAC sets may be empty, its APS sets may not
        cp = SplitConformal(score=score, confidence_level=level, allow_empty=allow_empty)
        cp.calibrate(probs[cal], labels[cal])
    return cp.predict_set(probs[test]), float(cp.threshold_)


# --------------------------------------------------------------------------- equality


def real_probs(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    common.data_root()
    from labelwise.datasets import load_label_errors

    data = load_label_errors(name)
    if data is None:
        return None
    probs = data.pred_probs / data.pred_probs.sum(axis=1, keepdims=True)
    return probs, data.labels


def equality_part(n_splits: int) -> list[dict[str, Any]]:
    rows_out = []
    warnings.simplefilter("ignore")
    for name in REAL_SETS:
        loaded = real_probs(name)
        if loaded is None:
            print(f"  {name}: not found, skipped", flush=True)
            continue
        probs, labels = loaded
        n = labels.size
        rng = np.random.default_rng(0)
        splits = [rng.permutation(n) for _ in range(n_splits)]
        for alpha in ALPHAS:
            for score in SCORES:
                if score != "lac" and probs.shape[1] == 2:
                    continue  # MAPIE: "the only valid score [for a binary target] is 'lac'"
                row = {
                    "dataset": name,
                    "alpha": alpha,
                    "score": score,
                    "splits": n_splits,
                    "test_rows": 0,
                    "same_threshold": True,
                }
                for tolerance in (True, False):
                    key = "differ_rows" if tolerance else "differ_rows_no_tolerance"
                    row[key] = 0
                    row[key.replace("rows", "entries")] = 0
                for s, perm in enumerate(splits):
                    cal, test = perm[: n // 2], perm[n // 2 :]
                    for tolerance in (True, False):
                        m_sets, m_q, info = mapie_split(
                            probs, labels, cal, test, score, 1 - alpha, s, tolerance=tolerance
                        )
                        l_sets, l_q = labelwise_split(
                            probs, labels, cal, test, score, 1 - alpha, info
                        )
                        diff = m_sets != l_sets
                        key = "differ_rows" if tolerance else "differ_rows_no_tolerance"
                        row[key] += int(diff.any(axis=1).sum())
                        row[key.replace("rows", "entries")] += int(diff.sum())
                        row["same_threshold"] &= m_q == l_q
                    row["test_rows"] += test.size
                print(
                    f"  {name} alpha={alpha} {score}: rows differing {row['differ_rows']:,} "
                    f"(tolerance 0: {row['differ_rows_no_tolerance']:,}) of {row['test_rows']:,}, "
                    f"same threshold: {row['same_threshold']}",
                    flush=True,
                )
                rows_out.append(row)
    return rows_out


# --------------------------------------------------------------------------- multi-label


def multilabel_probs(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold probabilities of SVD + one-vs-rest logistic regression, cached."""
    root = common.data_root()
    folder = root / f"multilabel_{name}" if root else None
    if folder is None or not (folder / "X_train.npy").exists():
        return None
    paths = common.cache_paths(f"ml_{name}", ("probs", "labels"))

    def build() -> dict[str, np.ndarray]:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold, cross_val_predict
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        x, y, _ = common.load_multilabel_xy(folder)
        model = make_pipeline(
            TruncatedSVD(n_components=min(50, x.shape[1] - 1), random_state=0),
            StandardScaler(),
            OneVsRestClassifier(LogisticRegression(max_iter=300)),
        )
        with threadpool_limits(1):
            probs = cross_val_predict(
                model, x, y, cv=KFold(5, shuffle=True, random_state=0), method="predict_proba"
            )
        return {"probs": probs, "labels": y}

    common.cached(paths, f"{name} out-of-fold probabilities", build)
    return np.load(paths["probs"]), np.load(paths["labels"])


def median_time(fn: Any, repeats: int = 3) -> tuple[float, Any]:
    fn()  # warm-up (compilation, imports)
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _lookup_rows(probs: np.ndarray, X: Any) -> np.ndarray:
    return probs[np.asarray(X)[:, 0].astype(np.int64)]


def _mapie_multilabel(lookup, labels, cal, test, risk, target, extra):
    from mapie.risk_control import MultiLabelClassificationController

    model = MultiLabelClassificationController(
        predict_function=lookup, risk=risk, target_level=target, predict_params=GRID, **extra
    )
    model.calibrate(cal[:, None], labels[cal].astype(int))
    return float(np.ravel(model.best_predict_param)[0]), model.predict(test[:, None])[:, :, 0]


def _labelwise_multilabel(probs, labels, cal, test, options):
    from labelwise.conformal import MultilabelConformal

    model = MultilabelConformal(thresholds=GRID, **options).calibrate(probs[cal], labels[cal])
    return model.threshold_, model.predict_set(probs[test])


def multilabel_part() -> list[dict[str, Any]]:
    warnings.simplefilter("ignore")
    rows_out = []
    for name in ML_SETS:
        loaded = multilabel_probs(name)
        if loaded is None:
            print(f"  {name}: not found, skipped", flush=True)
            continue
        probs, labels = loaded
        keep = labels.any(axis=1)
        probs, labels = probs[keep], labels[keep]
        n = labels.shape[0]
        perm = np.random.default_rng(0).permutation(n)
        cal, test = perm[: n // 2], perm[n // 2 :]

        lookup = partial(_lookup_rows, probs)

        for risk, target, ours in (
            ("recall", 0.9, {"risk": "fnr", "target": 0.1}),
            ("precision", 0.6, {"risk": "precision", "target": 0.6, "confidence_level": 0.9}),
        ):
            extra = {"confidence_level": 0.9} if risk == "precision" else {}
            run_mapie = partial(_mapie_multilabel, lookup, labels, cal, test, risk, target, extra)
            run_ours = partial(_labelwise_multilabel, probs, labels, cal, test, ours)
            m_sec, (m_t, m_sets) = median_time(run_mapie)
            l_sec, (l_t, l_sets) = median_time(run_ours)
            diff = m_sets != l_sets
            zero_prob = int(((probs[test] == 0) & diff).sum())
            row = {
                "dataset": name,
                "K": labels.shape[1],
                "n_cal": cal.size,
                "risk": risk,
                "target": target,
                "mapie_threshold": m_t,
                "labelwise_threshold": l_t,
                "differ_rows": int(diff.any(axis=1).sum()),
                "differ_entries": int(diff.sum()),
                "differ_entries_at_zero_probability": zero_prob,
                "mapie_sec": m_sec,
                "labelwise_sec": l_sec,
                "ratio": m_sec / l_sec,
            }
            print(
                f"  {name} {risk}: thresholds {m_t} / {l_t}, rows differing {row['differ_rows']}, "
                f"{m_sec:.3f} s vs {l_sec:.4f} s ({row['ratio']:.0f}x)",
                flush=True,
            )
            rows_out.append(row)
    return rows_out


# --------------------------------------------------------------------------- LP-ICP


def lp_part(repeats: int) -> list[dict[str, Any]]:
    from labelwise.conformal import LabelPowersetConformal

    rows_out = []
    for name, top in (("scene", None), ("yeast", None), ("enron", 16), ("enron", None)):
        loaded = multilabel_probs(name)
        if loaded is None:
            continue
        probs, labels = loaded
        if top is not None:
            cols = np.argsort(-labels.sum(axis=0), kind="stable")[:top]
            probs, labels = probs[:, cols], labels[:, cols]
        n, k = labels.shape
        perm = np.random.default_rng(0).permutation(n)
        cal, test = perm[: n // 2], perm[n // 2 :]
        level = 0.9 if k <= 16 else 0.8
        if k > 16:
            test = test[:200]  # regions of tens of thousands of sets each at K = 53
        lp = LabelPowersetConformal(confidence_level=level, max_sets=10**6)
        lp.calibrate(probs[cal], labels[cal])
        rows = probs[test]
        pruned_sec, region = median_time(partial(lp.predict_region, rows), repeats)
        row = {
            "dataset": name if top is None else f"{name} (top {top} labels)",
            "K": k,
            "confidence_level": level,
            "test_rows": test.size,
            "mean_sets": float(region.n_sets.mean()),
            "max_sets": int(region.n_sets.max()),
            "coverage": float(region.contains(labels[test]).mean()),
            "pruned_sec": pruned_sec,
            "label_sets_per_example": 2.0**k,
        }
        if k <= 16:
            ex_sec, full = median_time(
                partial(lp.predict_region, rows, method="exhaustive"), repeats
            )
            row["exhaustive_sec"] = ex_sec
            row["speedup"] = ex_sec / pruned_sec
            row["same_regions"] = bool(
                np.array_equal(full.indptr, region.indptr)
                and np.array_equal(full.sets, region.sets)
                and np.array_equal(full.p_values, region.p_values)
            )
        print(f"  LP-ICP {row['dataset']} K={k}: {row}", flush=True)
        rows_out.append(row)
    return rows_out


# --------------------------------------------------------------------------- timed workers


def _prepare(spec: dict[str, Any]) -> common.Job:
    """Spec: ``lib``, ``score``, ``pred_probs``/``labels`` (.npy), ``mode`` ("speed": calibrate
    on the first half, predict the second; "scale": calibrate and predict on all rows)."""
    probs = np.load(spec["pred_probs"])
    labels = np.load(spec["labels"])
    n = labels.size
    if spec["mode"] == "scale":
        cal, test = slice(None), slice(None)
    else:
        cal, test = slice(0, n // 2), slice(n // 2, n)
    score, lib = spec["score"], spec["lib"]

    if lib == "labelwise":
        from labelwise.conformal import SplitConformal

        randomized = spec["mode"] == "scale" and score != "lac"

        def run(cal: Any = cal, test: Any = test) -> dict[str, Any]:
            cp = SplitConformal(
                score=score,
                randomized=randomized,
                allow_empty=score == "lac" or randomized,
                random_state=0,
            )
            start = time.perf_counter()
            cp.calibrate(probs[cal], labels[cal])
            middle = time.perf_counter()
            sets = cp.predict_set(probs[test])
            end = time.perf_counter()
            return _summary(sets, labels[test], middle - start, end - middle)

    else:
        Lookup, ZeroUniform = _mapie_classes()
        from mapie.classification import SplitConformalClassifier

        est = Lookup(probs)
        est.classes_ = np.arange(probs.shape[1])
        est.n_features_in_ = 1
        rows = np.arange(n)[:, None]

        def run(cal: Any = cal, test: Any = test) -> dict[str, Any]:
            model = SplitConformalClassifier(
                estimator=est,
                confidence_level=0.9,
                conformity_score=score,
                prefit=True,
                random_state=0 if score == "lac" else ZeroUniform(0),
            )
            start = time.perf_counter()
            model.conformalize(rows[cal], labels[cal])
            middle = time.perf_counter()
            params = None if score == "lac" else {"include_last_label": False}
            _, sets = model.predict_set(rows[test], conformity_score_params=params)
            end = time.perf_counter()
            return _summary(sets[:, :, 0], labels[test], middle - start, end - middle)

    def warmup() -> Any:
        small = slice(0, 4000)
        return run(small, small)

    def save(out: dict[str, Any]) -> dict[str, Any]:
        return {**out, "threads": common.threads("labelwise") if lib == "labelwise" else 1}

    return common.Job(run, warmup, save)


def _summary(
    sets: np.ndarray, labels: np.ndarray, cal_sec: float, pred_sec: float
) -> dict[str, Any]:
    return {
        "calibrate_sec": cal_sec,
        "predict_sec": pred_sec,
        "coverage": float(sets[np.arange(labels.size), labels].mean()),
        "mean_size": float(sets.sum(axis=1).mean()),
    }


#: The worker's call table (``_common.worker``).
WORKER_CALLS = {"split": _prepare}

SUMMARY = ("median_sec", "secs", "anon_delta_MB", "hwm_delta_MB")


def _synthetic(n: int, k: int) -> dict[str, Path]:
    import label_issues

    return label_issues.generate(n, k)


def timed(lib: str, score: str, n: int, k: int, mode: str, label: str) -> dict[str, Any]:
    paths = _synthetic(n, k)
    spec = {
        "script": "conformal",
        "func": "split",
        "lib": lib,
        "score": score,
        "mode": mode,
        "pred_probs": paths["pp"],
        "labels": paths["lab"],
    }
    return common.measure(spec, label, outputs=(), timeout=900)


def _reduce(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    summary = common.summarise(runs, SUMMARY)
    good = [run for run in runs if "error" not in run]
    if summary is None or "error" in summary:
        return summary
    for key in ("calibrate_sec", "predict_sec"):
        summary[key] = statistics.median(run[key] for run in good)
    summary["coverage"] = good[0]["coverage"]
    summary["mean_size"] = good[0]["mean_size"]
    return summary


def speed_part(repeats: int, sizes: tuple[tuple[int, int], ...]) -> list[dict[str, Any]]:
    rows_out = []
    for n, k in sizes:
        for score in SCORES:

            def one(lib: str, rep: int, score=score, n=n, k=k) -> dict[str, Any]:
                label = f"[{common.size_label(n, k)} {score} #{rep + 1}]"
                return timed(lib, score, n, k, "speed", label)

            runs = common.alternate(dict.fromkeys(LIBS, repeats), one)
            row: dict[str, Any] = {"N": n, "K": k, "score": score}
            for lib in LIBS:
                row[lib] = _reduce(runs[lib])
            if common.ok(row["labelwise"]) and common.ok(row["mapie"]):
                row["ratio"] = row["mapie"]["median_sec"] / row["labelwise"]["median_sec"]
            rows_out.append(row)
    return rows_out


def scale_part(repeats: int) -> list[dict[str, Any]]:
    n, k = SCALE
    rows_out = []
    for score in SCORES:
        runs = [
            timed(
                "labelwise", score, n, k, "scale", f"[{common.size_label(n, k)} {score} #{r + 1}]"
            )
            for r in range(repeats)
        ]
        rows_out.append({"N": n, "K": k, "score": score, "labelwise": _reduce(runs)})
    return rows_out


# --------------------------------------------------------------------------- rendering


def both(row: dict[str, Any], fmt: Any) -> str:
    """``labelwise / MAPIE`` cells of a comparison row."""
    return " / ".join(common.cell(row[lib], fmt) for lib in LIBS)


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    parts = [
        common.generated_line(info).replace(
            f"cleanlab {info['cleanlab']}", f"MAPIE {info.get('mapie')}"
        )
        + f" Repeats: {info['repeats']}.",
    ]
    eq = results.get("equality")
    if eq:
        parts += [
            "",
            "**Same sets as MAPIE on identical scores and splits** (real `pred_probs`, "
            f"{eq[0]['splits']} random half/half splits per alpha; APS/RAPS deterministic on both "
            "sides; RAPS with MAPIE's tuned `k_reg`, `lambda` and tuning split). MAPIE compares "
            "with a 1e-8 tolerance; the last column sets it to 0. The thresholds always agree; "
            "where MAPIE's APS sets differ it is that tolerance: MAPIE adds labels whose "
            "cumulative probability passes the threshold by at most 1e-8, or whose probability "
            "is within 1e-8 of the last label's, and drops zero-probability labels — frequent on "
            "mnist, whose probabilities are saturated (45% of rows have a top probability of "
            "exactly 1). With the tolerance at 0 every set is identical.",
            "",
            common.md_table(
                [
                    "data",
                    "alpha",
                    "score",
                    "test rows",
                    "same threshold",
                    "rows differing (MAPIE as shipped)",
                    "rows differing (tolerance 0)",
                ],
                [
                    [
                        r["dataset"],
                        r["alpha"],
                        r["score"].upper(),
                        f"{r['test_rows']:,}",
                        "yes" if r["same_threshold"] else "no",
                        f"{r['differ_rows']:,}",
                        f"{r['differ_rows_no_tolerance']:,}",
                    ]
                    for r in eq
                ],
            ),
        ]
    speed = results.get("speed")
    if speed:

        def secs(s: dict[str, Any]) -> str:
            cal, pred = common.fmt_sec(s["calibrate_sec"]), common.fmt_sec(s["predict_sec"])
            return f"{common.fmt_sec(s['median_sec'])} ({cal} + {pred})"

        parts += [
            "",
            "**Speed** (synthetic float32 `pred_probs`: calibrate on N/2 rows, predict sets for "
            "N/2; fresh process per run; seconds as calibrate + predict; memory: peak added "
            "anonymous RSS).",
            "",
            common.md_table(
                [
                    "N × K",
                    "score",
                    "labelwise s",
                    "MAPIE s",
                    "MAPIE / labelwise",
                    "+MB (labelwise / MAPIE)",
                    "coverage (labelwise / MAPIE)",
                ],
                [
                    [
                        common.size_label(r["N"], r["K"]),
                        r["score"].upper(),
                        common.cell(r["labelwise"], secs),
                        common.cell(r["mapie"], secs),
                        common.fmt_ratio(r.get("ratio")),
                        both(r, lambda s: common.fmt_mb(s["anon_delta_MB"])),
                        both(r, lambda s: common.fmt_frac(s["coverage"])),
                    ]
                    for r in speed
                ],
            ),
        ]
    scale = results.get("scale")
    if scale:

        def scale_cells(r: dict[str, Any]) -> list[str]:
            s = r["labelwise"]
            if not common.ok(s):
                return [r["score"].upper(), "failed", "–", "–", "–", "–"]
            return [
                r["score"].upper(),
                common.fmt_sec(s["calibrate_sec"]),
                common.fmt_sec(s["predict_sec"]),
                common.fmt_mb(s["anon_delta_MB"]),
                common.fmt_frac(s["coverage"]),
                f"{s['mean_size']:.1f}",
            ]

        parts += [
            "",
            f"**Scale: {common.size_label(*SCALE)} float32** (4 GB; calibrate on all rows, "
            "then predict all rows; APS/RAPS randomised; the boolean sets are 1 GB of the "
            "memory). MAPIE not run: it works on float64 copies of (n, K) arrays several times "
            "over.",
            "",
            common.md_table(
                ["score", "calibrate s", "predict_set s", "+MB", "coverage", "mean set size"],
                [scale_cells(r) for r in scale],
            ),
        ]
    ml = results.get("multilabel")
    if ml:
        parts += [
            "",
            "**Multi-label risk control vs MAPIE `MultiLabelClassificationController`** (SVD + "
            "one-vs-rest logistic regression, out-of-fold; one half/half split; grid "
            "`np.arange(0, 1, 0.01)`; recall/FNR by conformal risk control, precision by "
            "Learn-Then-Test; time: calibrate + predict, median of 3 in-process).",
            "",
            common.md_table(
                [
                    "data",
                    "K",
                    "risk",
                    "threshold (MAPIE / labelwise)",
                    "rows differing",
                    "MAPIE s",
                    "labelwise s",
                    "MAPIE / labelwise",
                ],
                [
                    [
                        r["dataset"],
                        r["K"],
                        f"{r['risk']} ≥ {r['target']}",
                        f"{r['mapie_threshold']:g} / {r['labelwise_threshold']:g}",
                        f"{r['differ_rows']}"
                        + (
                            f" (all at p = 0: {r['differ_entries_at_zero_probability']} entries)"
                            if r["differ_rows"]
                            and r["differ_entries_at_zero_probability"] == r["differ_entries"]
                            else ""
                        ),
                        common.fmt_sec(r["mapie_sec"]),
                        common.fmt_sec(r["labelwise_sec"]),
                        common.fmt_ratio(r["ratio"]),
                    ]
                    for r in ml
                ],
            ),
        ]
    lp = results.get("lp")
    if lp:
        parts += [
            "",
            "**LP-ICP pruning** (`LabelPowersetConformal`, score `l1`; pruned search vs "
            "exhaustive enumeration of all 2^K label sets; median of 3). The pruned search only "
            "builds sets that can enter the region, so its cost follows the region's size while "
            "exhaustive enumeration costs 2^K per example: the gain grows with K (at K = 53 "
            "exhaustive enumeration is out of reach). Regions are large when the model is weak "
            "(yeast) — that is what they honestly report.",
            "",
            common.md_table(
                [
                    "data",
                    "K",
                    "confidence",
                    "test rows",
                    "mean / max sets per example",
                    "coverage",
                    "pruned s",
                    "exhaustive s",
                    "speed-up",
                    "same regions",
                ],
                [
                    [
                        r["dataset"],
                        r["K"],
                        r["confidence_level"],
                        r["test_rows"],
                        f"{r['mean_sets']:,.1f} / {r['max_sets']:,}",
                        common.fmt_frac(r["coverage"]),
                        common.fmt_sec(r["pruned_sec"]),
                        common.fmt_sec(r.get("exhaustive_sec"))
                        if "exhaustive_sec" in r
                        else f"not run (2^{r['K']} sets per example)",
                        common.fmt_ratio(r.get("speedup")),
                        {True: "yes", False: "no"}.get(r.get("same_regions"), "–"),
                    ]
                    for r in lp
                ],
            ),
        ]
    missing = [p for p in PARTS if p not in results]
    if missing:
        parts += ["", f"Not run in this invocation: {', '.join(missing)}."]
    return "\n".join(parts)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per library")
    parser.add_argument("--splits", type=int, default=3, help="splits per alpha (equality)")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--quick", action="store_true", help="smoke test (no scale run)")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the docs section from benchmarks/results/conformal.json (no runs)",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        saved = json.loads((common.RESULTS_DIR / f"{SECTION}.json").read_text())
        common.replace_section(SECTION, render(saved))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts takes a subset of {','.join(PARTS)}")
    repeats = 1 if args.quick else args.repeats
    results: dict[str, Any] = {
        "meta": {**common.meta(), "repeats": repeats, "mapie": _version("mapie")}
    }
    if "equality" in parts:
        print("equality with MAPIE (real pred_probs)", flush=True)
        results["equality"] = equality_part(1 if args.quick else args.splits)
    if "multilabel" in parts:
        print("multi-label CRC / LTT vs MAPIE", flush=True)
        results["multilabel"] = multilabel_part()
    if "lp" in parts:
        print("LP-ICP pruned vs exhaustive", flush=True)
        results["lp"] = lp_part(repeats)
    if "speed" in parts:
        print("speed vs MAPIE (fresh processes)", flush=True)
        sizes = SPEED_SIZES[:1] if args.quick else SPEED_SIZES
        results["speed"] = speed_part(repeats, sizes)
    if "scale" in parts and not args.quick:
        print(f"scale: {common.size_label(*SCALE)} float32", flush=True)
        results["scale"] = scale_part(repeats)
    common.publish(SECTION, results, render(results), quick=args.quick)


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
