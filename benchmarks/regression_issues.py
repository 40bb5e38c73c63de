"""labelwise vs cleanlab 2.9.0: regression label issues on data with known corruptions.

**Synthetic** (``--parts synthetic``). Three scenarios, 10% of the targets corrupted (seed 0),
cached as .npy in ``benchmarks/.cache/``:

- ``symmetric``: signal ~ U(2, 12); target = signal + N(0, 1); prediction = signal + N(0, 0.5^2);
  corrupted targets moved up or down (random sign) by U(3, 8). labelwise: ``noise="symmetric"``.
- ``hetero``: per-example noise sd from 0.2 to 3 (log-uniform); target = signal + sd * N(0, 1);
  prediction = signal + 0.3 sd * N(0, 1); corrupted targets moved up or down by U(1, 4);
  labelwise also gets ``uncertainty`` = sqrt(1.09) sd times a 10% log-normal error (cleanlab's
  regression scores take no uncertainty). labelwise: ``noise="symmetric"``.
- ``lower``: incomplete sensor readings; target = signal + N(0, 1); corrupted targets keep only
  U(0.2, 0.8) of their value; prediction = signal - 0.35 + N(0, 0.5^2) (a model that learned
  from the corrupted targets reads low). labelwise: ``noise="lower"``.

Each call runs in a fresh interpreter (``python benchmarks/_common.py worker SPEC``, which calls
this script's ``WORKER_CALLS``) with the measurement of ``_common.py``: a warm-up on the first
2,000 rows, then one timed call with the anonymous-RSS peak sampled in a thread. labelwise:
``find_regression_issues`` (scores and flags). cleanlab:
``regression.rank.get_label_quality_scores`` with ``method="residual"`` (``exp(-|y_pred - y|)``)
at every N, and with its default ``method="outre"`` (a k-NN outlier score with k = N / 2) only up
to ``--outre-max`` (it takes ~16 s at N = 1e4).

**Real data** (``--parts real``): scikit-learn's bundled diabetes data (``load_diabetes``, 442 x
10, no download). 10% of the targets (44 rows, drawn with seed 0, the same rows in both
scenarios) are corrupted: ``symmetric`` adds +-3 target standard deviations (random sign),
``lower`` subtracts U(1, 3) standard deviations. Predictions: 5-fold out-of-fold
``cross_val_predict`` of ``make_pipeline(StandardScaler(), Ridge(alpha=1.0))`` fitted on the
corrupted targets (``KFold(5, shuffle=True, random_state=0)``). labelwise:
``find_regression_issues`` with ``noise="symmetric"`` / ``"lower"``; cleanlab: the residual
score only, its precision and recall taken at labelwise's number of flags. Measured as above,
``--repeats`` times each.

Usage::

    python benchmarks/regression_issues.py                      # N in 1e4, 1e5, 1e6, 3 repeats
    python benchmarks/regression_issues.py --sizes 1e4,1e5      # the smaller sizes only
    python benchmarks/regression_issues.py --no-outre           # skip cleanlab's 'outre'
    python benchmarks/regression_issues.py --parts real         # the diabetes part only
    python benchmarks/regression_issues.py --render-only        # docs from the saved JSON

Writes ``benchmarks/results/regression_issues.json`` and the ``regression_issues`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

SECTION = "regression_issues"
SIZES = (10_000, 100_000, 1_000_000)
SCENARIOS = ("symmetric", "hetero", "lower")
NOISE = {"symmetric": "symmetric", "hetero": "symmetric", "lower": "lower"}
FRACTION = 0.1
OUTRE_MAX = 10_000
RUNS = ("labelwise", "cleanlab_residual", "cleanlab_outre")
WARMUP_ROWS = 2000
#: Real-data scenario -> labelwise's ``noise``; the corruption in target standard deviations.
REAL_SCENARIOS = {"symmetric": "symmetric", "lower": "lower"}
REAL_SHIFT = {"symmetric": 3.0, "lower": (1.0, 3.0)}
CV_FOLDS = 5
REAL_MODEL = "make_pipeline(StandardScaler(), Ridge(alpha=1.0))"


# --------------------------------------------------------------------------- data


def data_paths(scenario: str, n: int) -> dict[str, Path]:
    return common.cache_paths(f"reg_{scenario}_{n}", ("y", "pred", "unc", "bad"))


def generate(scenario: str, n: int) -> dict[str, Path]:
    """The scenario's inputs (module docstring), seed 0, cached as .npy; ``bad``: sorted rows."""
    paths = data_paths(scenario, n)
    needed = [part for part in paths if part != "unc" or scenario == "hetero"]
    what = f"{scenario} N = {n:,}"
    return common.cached(paths, what, lambda: _generate(scenario, n), needed)


def _generate(scenario: str, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    signal = rng.uniform(2.0, 12.0, n)
    bad = np.sort(rng.choice(n, int(FRACTION * n), replace=False))
    k = bad.size
    arrays: dict[str, np.ndarray] = {"bad": bad}
    if scenario == "symmetric":
        y = signal + rng.standard_normal(n)
        arrays["pred"] = signal + 0.5 * rng.standard_normal(n)
        y[bad] += rng.choice([-1.0, 1.0], k) * rng.uniform(3.0, 8.0, k)
    elif scenario == "hetero":
        sd = np.exp(rng.uniform(np.log(0.2), np.log(3.0), n))
        y = signal + sd * rng.standard_normal(n)
        arrays["pred"] = signal + 0.3 * sd * rng.standard_normal(n)
        arrays["unc"] = np.sqrt(1.09) * sd * np.exp(0.1 * rng.standard_normal(n))
        y[bad] += rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 4.0, k)
    else:
        y = signal + rng.standard_normal(n)
        arrays["pred"] = signal - 0.35 + 0.5 * rng.standard_normal(n)
        y[bad] *= rng.uniform(0.2, 0.8, k)
    arrays["y"] = y
    return arrays


def diabetes(scenario: str) -> tuple[dict[str, Path], dict[str, Any]]:
    """``load_diabetes`` with 10% of the targets corrupted (seed 0) and out-of-fold ridge
    predictions fitted on them, saved to the cache (it takes well under a second); the paths
    and a description (size, target sd, CV R^2 against the given and the clean targets)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    n = y.size
    rng = np.random.default_rng(0)
    bad = np.sort(rng.choice(n, int(FRACTION * n), replace=False))
    sd = float(y.std())
    given = y.copy()
    if scenario == "symmetric":
        given[bad] += rng.choice([-1.0, 1.0], bad.size) * REAL_SHIFT["symmetric"] * sd
    else:
        given[bad] -= rng.uniform(*REAL_SHIFT["lower"], bad.size) * sd
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    folds = KFold(CV_FOLDS, shuffle=True, random_state=0)
    pred = cross_val_predict(model, x, given, cv=folds)
    paths = common.cache_paths(f"reg_diabetes_{scenario}", ("y", "pred", "bad"))
    common.save_arrays(paths, {"y": given, "pred": pred, "bad": bad})
    info = {
        "dataset": "diabetes",
        "d": int(x.shape[1]),
        "target_sd": sd,
        "model": REAL_MODEL,
        "cv_r2_given": float(r2_score(given, pred)),
        "cv_r2_clean": float(r2_score(y, pred)),
    }
    return paths, info


# --------------------------------------------------------------------------- the worker


def _library_call(run: str, noise: str) -> Any:
    """``f(y, y_pred, uncertainty) -> result`` for one of ``RUNS``."""
    if run == "labelwise":
        from labelwise.issues.regression import find_regression_issues

        return lambda y, p, u: find_regression_issues(y, p, noise=noise, uncertainty=u)
    from cleanlab.regression.rank import get_label_quality_scores

    method = run.removeprefix("cleanlab_")
    return lambda y, p, u: get_label_quality_scores(y, p, method=method)


def _prepare(spec: dict[str, Any]) -> common.Job:
    """Spec keys: ``lib`` (one of ``RUNS``), ``noise``, ``y``, ``pred`` and ``unc`` (.npy paths;
    ``unc`` may be empty), ``out`` (scores) and ``flags`` (labelwise's flagged rows)."""
    call = _library_call(spec["lib"], spec["noise"])
    y, pred = np.load(spec["y"]), np.load(spec["pred"])
    unc = np.load(spec["unc"]) if spec.get("unc") else None
    rows = slice(0, WARMUP_ROWS)

    def warmup() -> Any:
        return call(y[rows], pred[rows], None if unc is None else unc[rows])

    def save(out: Any) -> dict[str, Any]:
        if spec["lib"] != "labelwise":
            np.save(spec["out"], np.asarray(out, dtype=np.float64))
            return {}
        np.save(spec["out"], np.asarray(out.score, dtype=np.float64))
        np.save(spec["flags"], np.flatnonzero(out.is_issue).astype(np.int64))
        return {"n_flagged": int(out.n_issues)}

    return common.Job(lambda: call(y, pred, unc), warmup, save)


#: The worker's call table (``_common.worker``).
WORKER_CALLS = {"regression": _prepare}


# --------------------------------------------------------------------------- measuring


def run_one(run: str, paths: dict[str, Path], noise: str, label: str) -> dict[str, Any]:
    """One isolated run on the inputs at ``paths`` (``y``, ``pred``, optional ``unc``); adds
    ``"_scores"`` (and ``"_flags"``) and prints a line."""
    stem = paths["y"].stem.removesuffix("_y")
    spec = {
        "script": "regression_issues",
        "func": "regression",
        "lib": run,
        "noise": noise,
        "y": paths["y"],
        "pred": paths["pred"],
        "unc": paths.get("unc", ""),
        "out": common.CACHE_DIR / f"out_{stem}_{run}.npy",
        "flags": common.CACHE_DIR / f"out_{stem}_{run}_flags.npy",
    }
    return common.measure(spec, label, outputs=(("_scores", "out"), ("_flags", "flags")), width=17)


def lowest(score: np.ndarray, k: int) -> np.ndarray:
    """Sorted row indices of the ``k`` lowest scores (ties: row order)."""
    return np.sort(np.argsort(score, kind="stable")[:k])


def quality(scores: np.ndarray, bad: np.ndarray, is_bad: np.ndarray) -> dict[str, float]:
    """AUROC and R-precision (precision among the |bad| lowest scores) of one score vector."""
    top = lowest(scores, bad.size)
    return {"auroc": common.auroc(is_bad, scores), "r_precision": common.prf(top, bad)["precision"]}


def compare(
    row: dict[str, Any], paths: dict[str, Path], repeats: dict[str, int], label: str
) -> dict[str, Any]:
    """The runs on one input set (``row`` has its ``N`` and ``noise``), alternating the order of
    the fast ones; quality against the corrupted rows ``paths["bad"]``."""
    from scipy.stats import spearmanr

    bad = np.load(paths["bad"])
    is_bad = np.zeros(row["N"], dtype=bool)
    is_bad[bad] = True

    def one(run: str, rep: int) -> dict[str, Any]:
        return run_one(run, paths, row["noise"], f"[{label} #{rep + 1}]")

    runs = common.alternate({run: repeats[run] for run in RUNS}, one)
    row["n_corrupted"] = int(bad.size)
    first: dict[str, dict[str, Any]] = {}
    for run in RUNS:
        row[run] = common.summarise(runs[run], (*common.SUMMARY_KEYS, "runs"))
        good = [r for r in runs[run] if "error" not in r]
        if good:
            first[run] = good[0]
            row[run].update(quality(good[0]["_scores"], bad, is_bad))
    if "labelwise" in first:
        flags = first["labelwise"]["_flags"]
        row["labelwise"].update({"n_flagged": int(flags.size), **common.prf(flags, bad)})
        if "cleanlab_residual" in first:
            same_k = lowest(first["cleanlab_residual"]["_scores"], flags.size)
            row["cleanlab_residual"]["at_labelwise_k"] = common.prf(same_k, bad)
            row["ratio"] = row["cleanlab_residual"]["median_sec"] / row["labelwise"]["median_sec"]
            if common.ok(row["cleanlab_outre"]):
                row["ratio_outre"] = (
                    row["cleanlab_outre"]["median_sec"] / row["labelwise"]["median_sec"]
                )
            rho = spearmanr(first["labelwise"]["_scores"], first["cleanlab_residual"]["_scores"])
            row["spearman"] = float(rho[0])
    return row


def compare_synthetic(scenario: str, n: int, repeats: dict[str, int]) -> dict[str, Any]:
    """One synthetic scenario and size."""
    paths = generate(scenario, n)
    if scenario != "hetero":
        del paths["unc"]
    row = {"scenario": scenario, "N": n, "noise": NOISE[scenario]}
    return compare(row, paths, repeats, f"{scenario} {n:,}")


def run_real(repeats: int) -> list[dict[str, Any]]:
    """The diabetes scenarios: labelwise and cleanlab's residual score, ``repeats`` runs each."""
    rows = []
    for scenario, noise in REAL_SCENARIOS.items():
        paths, info = diabetes(scenario)
        n = int(np.load(paths["y"]).size)
        print(f"diabetes {scenario} (n = {n}, CV R² {info['cv_r2_given']:.3f})", flush=True)
        row = {"scenario": scenario, "N": n, "noise": noise, **info}
        runs = {"labelwise": repeats, "cleanlab_residual": repeats, "cleanlab_outre": 0}
        rows.append(compare(row, paths, runs, f"diabetes {scenario}"))
    return rows


# --------------------------------------------------------------------------- rendering


def _ratio(ratio: float | None) -> str:
    """``fmt_ratio``, with two significant digits below 1 and none above 100."""
    if ratio is None or 1 <= ratio < 100:
        return common.fmt_ratio(ratio)
    return f"{ratio:.2g}×" if ratio < 1 else f"{ratio:,.0f}×"


def _sec(sec: float) -> str:
    """Three significant digits below a second (these calls take milliseconds), else fmt_sec."""
    return f"{sec:.3g}" if sec < 1 else common.fmt_sec(sec)


def _three(row: dict[str, Any], key: str, digits: int = 3) -> str:
    return " / ".join(
        common.cell(row[run], lambda s: common.fmt_frac(s[key], digits)) for run in RUNS
    )


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    generated = (
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise "
        f"{info['labelwise']}, cleanlab {info['cleanlab']})"
    )
    if not results["rows"]:
        parts = [f"{generated}; {info['repeats']} repeat(s) of each run."]
    else:
        parts = _render_synthetic(results["rows"], generated, info)
    if results.get("real"):
        parts += ["", *_render_real(results["real"], info)]
    done = {"synthetic": results["rows"], "real": results.get("real")}
    parts += common.not_run(done, "python benchmarks/regression_issues.py")
    return "\n".join(parts)


def _render_synthetic(
    rows: list[dict[str, Any]], generated: str, info: dict[str, Any]
) -> list[str]:
    sizes = sorted({row["N"] for row in rows})
    parts = [
        f"{generated}; N = "
        + ", ".join(f"{n:,}" for n in sizes)
        + f", {info['repeats']} repeat(s) of the fast runs, cleanlab `outre` once and only at "
        f"N ≤ {info['outre_max']:,}.",
        "",
        "Scenarios (10% of targets corrupted, seed 0; details in the script's docstring): "
        "**symmetric**, N(0, 1) noise and corrupted targets moved ±3 to 8; **hetero**, noise sd "
        "0.2 to 3 per example, corrupted targets moved ±1 to 4, and labelwise gets the "
        "per-example `uncertainty`; **lower**, incomplete sensor readings (corrupted targets "
        "keep 20–80% of their value) and predictions that read 0.35 low, labelwise with "
        '`noise="lower"`. cleanlab: `get_label_quality_scores(method="residual")`, i.e. '
        '`exp(-|y_pred - y|)`, and its default `method="outre"`.',
        "",
    ]
    speed, qual = [], []
    for row in rows:
        lw, res, outre = (row[run] for run in RUNS)
        name = f"{row['scenario']} {row['N']:,}"
        speed.append(
            [
                name,
                common.cell(lw, lambda s: _sec(s["median_sec"])),
                common.cell(res, lambda s: _sec(s["median_sec"])),
                common.cell(outre, lambda s: _sec(s["median_sec"])),
                _ratio(row.get("ratio")),
                _ratio(row.get("ratio_outre")),
                common.cell(lw, lambda s: common.fmt_mb(s["anon_delta_MB"])),
                common.cell(res, lambda s: common.fmt_mb(s["anon_delta_MB"])),
                common.cell(outre, lambda s: common.fmt_mb(s["anon_delta_MB"])),
            ]
        )
        qual.append(
            [
                name,
                f"{row['n_corrupted']:,}",
                _three(row, "auroc", 4),
                _three(row, "r_precision"),
                common.cell(
                    lw,
                    lambda s: (
                        f"{s['n_flagged']:,}: {common.fmt_frac(s['precision'])} / "
                        f"{common.fmt_frac(s['recall'])}"
                    ),
                ),
                common.cell(
                    res,
                    lambda s: (
                        f"{common.fmt_frac(s['at_labelwise_k']['precision'])} / "
                        f"{common.fmt_frac(s['at_labelwise_k']['recall'])}"
                        if "at_labelwise_k" in s
                        else "–"
                    ),
                ),
                common.fmt_frac(row.get("spearman"), 3),
            ]
        )
    parts += [
        common.md_table(
            [
                "scenario, N",
                "labelwise s",
                "cleanlab residual s",
                "cleanlab outre s",
                "residual / labelwise",
                "outre / labelwise",
                "labelwise +MB",
                "residual +MB",
                "outre +MB",
            ],
            speed,
        ),
        "",
        common.md_table(
            [
                "scenario, N",
                "corrupted",
                "AUROC (labelwise / residual / outre)",
                "R-precision (labelwise / residual / outre)",
                "labelwise flags: n, precision / recall",
                "residual, same n: precision / recall",
                "Spearman (labelwise, residual)",
            ],
            qual,
        ),
        "",
        "R-precision: the fraction of corrupted targets among the lowest-scored rows, as many "
        "rows as there are corrupted targets. cleanlab returns scores only, so its precision and "
        "recall are taken at labelwise's number of flags. labelwise does more than one "
        "vectorised expression (robust centre and scale, normal tail probabilities, the "
        "Benjamini-Hochberg step-up on the scores), so the residual score is faster; `outre` "
        "builds a k-NN graph with k = N / 2. Time ratios are cleanlab's time over labelwise's "
        "(below 1: labelwise is slower).",
    ]
    return parts


def _two(row: dict[str, Any], fmt: Any) -> str:
    """``labelwise / cleanlab residual`` cells."""
    return " / ".join(common.cell(row[run], fmt) for run in RUNS[:2])


def _at_k(s: dict[str, Any], key: str) -> float:
    """labelwise's own flags, cleanlab's lowest scores as many as labelwise flags."""
    return s[key] if "n_flagged" in s else s["at_labelwise_k"][key]


def _render_real(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    first = rows[0]
    body = [
        [
            row["scenario"],
            f"{row['n_corrupted']:,}",
            f"{common.fmt_frac(row['cv_r2_given'])} / {common.fmt_frac(row['cv_r2_clean'])}",
            common.cell(row["labelwise"], lambda s: f"{s['n_flagged']:,}"),
            _two(row, lambda s: common.fmt_frac(s["auroc"], 4)),
            _two(row, lambda s: common.fmt_frac(_at_k(s, "precision"))),
            _two(row, lambda s: common.fmt_frac(_at_k(s, "recall"))),
            _two(row, lambda s: _sec(s["median_sec"])),
            _ratio(row.get("ratio")),
        ]
        for row in rows
    ]
    return [
        "### Real data: scikit-learn's diabetes",
        "",
        f"`load_diabetes` ({first['N']} × {first['d']}, bundled with scikit-learn), target "
        f"standard deviation σ = {first['target_sd']:.1f}. 10% of the targets ("
        f"{first['n_corrupted']} rows, seed 0, the same rows in both scenarios) corrupted: "
        '**symmetric**, ±3σ (random sign), labelwise with `noise="symmetric"`; **lower**, '
        'minus U(1, 3)·σ, labelwise with `noise="lower"`. Predictions: 5-fold out-of-fold '
        f"`cross_val_predict` of `{first['model']}`, fitted on the corrupted targets. cleanlab: "
        "the residual score, its precision and recall taken at labelwise's number of flags "
        f"(its lowest scores). Times: median of {info['repeats']} run(s) in fresh processes.",
        "",
        common.md_table(
            [
                "scenario",
                "corrupted",
                "CV R² (given / clean targets)",
                "labelwise flagged",
                "AUROC (labelwise / residual)",
                "precision (labelwise / residual)",
                "recall (labelwise / residual)",
                "s (labelwise / residual)",
                "residual / labelwise",
            ],
            body,
        ),
    ]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=common.parse_ints, default=list(SIZES), help="e.g. 1e4,1e5")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the fast calls")
    parser.add_argument(
        "--outre-max",
        type=lambda text: int(float(text)),
        default=OUTRE_MAX,
        help="largest N for cleanlab's slow default 'outre' (default 1e4)",
    )
    parser.add_argument("--no-outre", action="store_true", help="skip cleanlab's 'outre'")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the docs section from benchmarks/results/regression_issues.json",
    )
    common.add_parts_option(parser)
    args = parser.parse_args(argv)
    if args.render_only:
        saved = json.loads((common.RESULTS_DIR / f"{SECTION}.json").read_text())
        common.replace_section(SECTION, render(saved))
        print(render(saved))
        return
    parts = common.chosen_parts(parser, args.parts)
    outre_max = 0 if args.no_outre else args.outre_max
    results: dict[str, Any] = {
        "meta": {**common.meta(), "repeats": args.repeats, "outre_max": outre_max},
        "rows": [],
    }
    for scenario in SCENARIOS if "synthetic" in parts else ():
        for n in args.sizes:
            print(f"{scenario} N = {n:,}", flush=True)
            repeats = {
                "labelwise": args.repeats,
                "cleanlab_residual": args.repeats,
                "cleanlab_outre": 1 if n <= outre_max else 0,
            }
            results["rows"].append(compare_synthetic(scenario, n, repeats))
    if "real" in parts:
        results["real"] = run_real(args.repeats)
    common.publish(SECTION, results, render(results))


if __name__ == "__main__":
    main()
