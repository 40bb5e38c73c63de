"""labelwise vs cleanlab 2.9.0: outlier scores and near-duplicate groups, synthetic and real.

Data (seed 0, float32, cached as .npy in ``benchmarks/.cache/``): 10 Gaussian clusters in d
dimensions, each row its cluster's centre (standard normal) plus 0.5 x standard normal noise.
1% of rows are planted outliers (fresh standard normal vectors of the same typical norm, which
point away from every cluster); 1% of rows are planted copies of other rows (half exact, half
plus 5e-4 x standard normal noise). The same generator as ``tests/_embeddings.py``.

Runs (each in a fresh subprocess, measured as ``_common.py`` describes), per (n, d):

- ``scores``: ``labelwise.issues.outliers.outlier_scores(features=X)`` vs
  ``cleanlab.outlier.OutOfDistribution().fit_score(features=X)``;
- ``flags``: ``find_outliers(features=X)`` vs
  ``Datalab.find_issues(features=X, issue_types={"outlier": {}})``;
- ``groups``: ``find_near_duplicates(X)`` vs
  ``Datalab.find_issues(features=X, issue_types={"near_duplicate": {}})``, whose per-row
  near-duplicate sets are merged into groups (connected components) after the timed call.

Both libraries use their defaults: cosine distance (d > 3), k = 10 neighbours.

**Real data** (``--parts real``; no ground truth, so only speed and agreement): scikit-learn's
bundled digits (``sklearn.datasets.load_digits``, 1,797 x 64, no download) and the features
``X`` of every ``multilabel_*`` folder of ``labelwise.datasets.data_dir()`` (default
``../shared/data``; train and test concatenated, or ``X.npy`` where the source has no split),
as float64; a missing data folder or a broken dataset is skipped with a message. The ``flags``
and ``groups`` runs above, per dataset: time, flagged rows (rows in a group) and the Jaccard
index of the two libraries' flagged sets, and the number of groups.

Usage::

    python benchmarks/outliers_duplicates.py                   # n in {1e4, 1e5} x d in {32, 256}
    python benchmarks/outliers_duplicates.py --sizes 1e4       # the small half only
    python benchmarks/outliers_duplicates.py --parts real      # the real feature matrices only
    python benchmarks/outliers_duplicates.py --quick           # n = 1e4, 1 repeat (smoke test)

``--repeats R`` (default 3) runs labelwise R times; cleanlab runs R times below n = 1e5 and
once at n >= 1e5 (its cosine neighbour search then takes minutes per call). Writes
``benchmarks/results/outliers_duplicates.json`` and the ``outliers_duplicates`` section of
``docs/benchmarks.md``; ``--quick`` writes ``outliers_duplicates_quick.json`` and leaves the
docs alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

SECTION = "outliers_duplicates"
SIZES = (10_000, 100_000)
DIMS = (32, 256)
TASKS = ("scores", "flags", "groups")
#: Without ground truth, scores have nothing to be checked against: flags and groups only.
REAL_TASKS = ("flags", "groups")
LARGE = 100_000  # from here on cleanlab runs once
WARMUP_ROWS = 2000
TIMEOUT = 3600.0
N_CLUSTERS, SPREAD, FRACTION = 10, 0.5, 0.01


# --------------------------------------------------------------------------- data


def generate(n: int, d: int) -> dict[str, Path]:
    """Clusters with planted outliers and copies (``tests/_embeddings.py``), cached as .npy."""
    paths = common.cache_paths(f"emb_{n}_{d}", ("X", "out", "pairs"))
    return common.cached(paths, f"{n:,} x {d}", lambda: _generate(n, d))


def _generate(n: int, d: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((N_CLUSTERS, d))
    labels = rng.integers(0, N_CLUSTERS, n)
    features = centres[labels] + SPREAD * rng.standard_normal((n, d))
    order = rng.permutation(n)
    n_planted = int(n * FRACTION)
    outliers = np.sort(order[:n_planted])
    sources, copies = order[n_planted : 2 * n_planted], order[2 * n_planted : 3 * n_planted]
    features[outliers] = rng.standard_normal((n_planted, d)) * np.sqrt(1 + SPREAD**2)
    noise = np.where(np.arange(n_planted)[:, None] % 2 == 0, 0.0, 1e-3 * SPREAD)
    features[copies] = features[sources] + noise * rng.standard_normal((n_planted, d))
    return {
        "X": features.astype(np.float32),
        "out": outliers,
        "pairs": np.stack([sources, copies], axis=1),
    }


def real_matrices() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Digits and the ``X`` of every ``multilabel_*`` folder, saved to the cache as float64 .npy:
    ``{"name", "source", "path"}`` per dataset, and ``{"name", "reason"}`` per skipped one."""
    from sklearn.datasets import load_digits

    loaders: list[tuple[str, Any]] = [
        ("digits", lambda: (load_digits().data, "sklearn.datasets.load_digits"))
    ]
    skipped = []
    folders = common.multilabel_folders()
    if not folders:
        reason = "no multilabel_* folders under LABELWISE_DATA (default ../shared/data)"
        print(f"real data: multilabel_* skipped, {reason}", flush=True)
        skipped.append({"name": "multilabel_*", "reason": reason})
    for folder in folders:

        def load(folder: Path = folder) -> tuple[np.ndarray, str]:
            x, _, source = common.load_multilabel_xy(folder)
            return x, f"{folder.name}, {source}"

        loaders.append((folder.name.removeprefix("multilabel_"), load))
    found = []
    for name, load in loaders:
        try:
            x, source = load()
            x = np.asarray(x, dtype=np.float64)
            if x.ndim != 2 or not np.isfinite(x).all():
                raise ValueError(f"X of shape {x.shape} is not a finite matrix")
        except Exception as exc:  # a broken dataset is skipped, not fatal
            reason = f"{type(exc).__name__}: {exc}"
            print(f"{name}: skipped, {reason}", flush=True)
            skipped.append({"name": name, "reason": reason})
            continue
        paths = common.cache_paths(f"odreal_{name}", ("X",))
        common.save_arrays(paths, {"X": x})
        found.append({"name": name, "source": source, "path": paths["X"]})
    return found, skipped


# --------------------------------------------------------------------------- the worker


def _components(n: int, sets: list[Any]) -> np.ndarray:
    """Group id per row (-1: none) from Datalab's per-row near-duplicate sets."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=n)
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets]) if sizes.sum() else []
    rows = np.repeat(np.arange(n), sizes)
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    _, component = connected_components(graph, directed=False)
    multi = np.bincount(component) > 1
    return np.where(multi, np.cumsum(multi) - 1, -1)[component]


def _library_call(lib: str, task: str) -> Any:
    """The call under test as ``f(features) -> ndarray`` (scores, flags or group ids)."""
    if lib == "labelwise":
        from labelwise.issues.duplicates import find_near_duplicates
        from labelwise.issues.outliers import find_outliers, outlier_scores

        if task == "scores":
            return lambda x: outlier_scores(features=x)
        if task == "flags":
            return lambda x: find_outliers(features=x).is_outlier
        return lambda x: find_near_duplicates(x).group
    from cleanlab import Datalab
    from cleanlab.outlier import OutOfDistribution

    if task == "scores":
        return lambda x: OutOfDistribution().fit_score(features=x, verbose=False)
    issue = "outlier" if task == "flags" else "near_duplicate"

    def datalab(x: np.ndarray) -> Any:
        lab = Datalab(data={"row": np.arange(x.shape[0])}, verbosity=0)
        lab.find_issues(features=x, issue_types={issue: {}})
        return lab

    return datalab


def _finish(lib: str, task: str, out: Any, n: int) -> np.ndarray:
    """Untimed: Datalab's result as flags or group ids."""
    if lib == "cleanlab" and task == "flags":
        return out.get_issues("outlier")["is_outlier_issue"].to_numpy()
    if lib == "cleanlab" and task == "groups":
        return _components(n, out.get_info("near_duplicate")["near_duplicate_sets"])
    return np.asarray(out)


def _prepare(spec: dict[str, Any]) -> common.Job:
    """Spec keys: ``lib``, ``func`` (one of ``TASKS``), ``features`` and ``out`` (.npy paths)."""
    lib, task = spec["lib"], spec["func"]
    call = _library_call(lib, task)
    features = np.load(spec["features"])

    def save(out: Any) -> dict[str, Any]:
        np.save(spec["out"], _finish(lib, task, out, features.shape[0]))
        return {}

    return common.Job(lambda: call(features), lambda: call(features[:WARMUP_ROWS]), save)


#: The worker's call table (``_common.worker``).
WORKER_CALLS = dict.fromkeys(TASKS, _prepare)


# --------------------------------------------------------------------------- quality


def score_quality(scores: np.ndarray, outliers: np.ndarray) -> dict[str, float]:
    """Recall of the planted outliers among the lowest scores, and AUROC."""
    lowest = np.argsort(scores, kind="stable")[: outliers.size]
    is_out = np.zeros(scores.size, dtype=bool)
    is_out[outliers] = True
    return {
        "recall_at_k": float(np.isin(outliers, lowest).mean()),
        "auroc": common.auroc(is_out, scores),
    }


def group_counts(group: np.ndarray) -> dict[str, int]:
    """Number of groups and of rows in a group, from group ids (-1: none)."""
    return {
        "n_groups": int(np.bincount(group[group >= 0]).size),
        "n_flagged": int((group >= 0).sum()),
    }


def group_quality(group: np.ndarray, pairs: np.ndarray) -> dict[str, Any]:
    """Precision/recall of planted copy pairs (same group) and of planted rows (flagged)."""
    a, b = group[pairs[:, 0]], group[pairs[:, 1]]
    found = int(((a >= 0) & (a == b)).sum())
    sizes = np.bincount(group[group >= 0])
    predicted = int((sizes * (sizes - 1) // 2).sum())
    rows = common.prf(np.flatnonzero(group >= 0), np.unique(pairs))
    return {
        **group_counts(group),
        "pair_precision": found / predicted if predicted else 0.0,
        "pair_recall": found / pairs.shape[0],
        "row_precision": rows["precision"],
        "row_recall": rows["recall"],
    }


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two group-id arrays (-1 = none) describe the same groups."""
    if not np.array_equal(a < 0, b < 0):
        return False
    rows = a >= 0
    pairs = np.unique(np.stack([a[rows], b[rows]], axis=1), axis=0)
    return bool(np.unique(pairs[:, 0]).size == pairs.shape[0] == np.unique(pairs[:, 1]).size)


# --------------------------------------------------------------------------- measuring


def run_one(lib: str, task: str, features: Path, tag: str, label: str) -> dict[str, Any]:
    """One isolated run; adds the output under ``"_out"`` and prints a line."""
    spec = {
        "script": "outliers_duplicates",
        "lib": lib,
        "func": task,
        "features": features,
        "out": common.CACHE_DIR / f"out_od_{lib}_{task}_{tag}.npy",
    }
    return common.measure(spec, label, timeout=TIMEOUT)


def compare(
    row: dict[str, Any],
    features: Path,
    name: str,
    repeats: dict[str, int],
    quality: Any,
) -> dict[str, Any]:
    """Both libraries on ``row["task"]``: summaries with ``quality(output)``, then agreement."""
    task = row["task"]
    tag = name.replace(",", "").replace(" ", "_")

    def one(lib: str, rep: int) -> dict[str, Any]:
        return run_one(lib, task, features, tag, f"[{name} {task} #{rep + 1}]")

    runs = common.alternate(repeats, one)
    outs = {}
    for lib in common.LIBRARIES:
        row[lib] = summary = common.summarise(runs[lib])
        if not common.ok(summary):
            continue
        out = outs[lib] = next(run["_out"] for run in runs[lib] if "error" not in run)
        summary.update(quality(out))
    if len(outs) == 2:
        ours, theirs = outs["labelwise"], outs["cleanlab"]
        row["ratio"] = row["cleanlab"]["median_sec"] / row["labelwise"]["median_sec"]
        if task == "scores":
            from scipy.stats import spearmanr

            row["spearman"] = float(spearmanr(ours, theirs).statistic)
            row["max_abs_diff"] = float(np.abs(ours - theirs).max())
        elif task == "flags":
            row.update(common.set_agreement(np.flatnonzero(ours), np.flatnonzero(theirs)))
        else:
            row.update(common.set_agreement(np.flatnonzero(ours >= 0), np.flatnonzero(theirs >= 0)))
            row["same_groups"] = same_partition(ours, theirs)
    return row


def compare_synthetic(n: int, d: int, task: str, repeats: dict[str, int]) -> dict[str, Any]:
    """One synthetic (n, d) and task, against the planted outliers and copies."""
    paths = generate(n, d)
    outliers, pairs = np.load(paths["out"]), np.load(paths["pairs"])

    def quality(out: np.ndarray) -> dict[str, Any]:
        if task == "scores":
            return score_quality(out, outliers)
        if task == "flags":
            return {"n_flagged": int(out.sum()), **common.prf(np.flatnonzero(out), outliers)}
        return group_quality(out, pairs)

    row: dict[str, Any] = {
        "N": n,
        "d": d,
        "task": task,
        "features_MB": paths["X"].stat().st_size / common.MIB,
    }
    return compare(row, paths["X"], f"{n:,} x {d}", repeats, quality)


def run_real(tasks: list[str], repeats: int) -> dict[str, Any]:
    """The real feature matrices: each task in ``REAL_TASKS`` ``repeats`` times per library."""
    matrices, skipped = real_matrices()
    rows = []
    for matrix in matrices:
        n, d = np.load(matrix["path"], mmap_mode="r").shape
        for task in tasks:
            print(f"{matrix['name']} ({n:,} x {d}): {task}", flush=True)
            row: dict[str, Any] = {
                "name": matrix["name"],
                "source": matrix["source"],
                "N": int(n),
                "d": int(d),
                "task": task,
                "features_MB": matrix["path"].stat().st_size / common.MIB,
            }

            def quality(out: np.ndarray, task: str = task) -> dict[str, Any]:
                return {"n_flagged": int(out.sum())} if task == "flags" else group_counts(out)

            reps = dict.fromkeys(common.LIBRARIES, repeats)
            rows.append(compare(row, matrix["path"], matrix["name"], reps, quality))
    return {"rows": rows, "skipped": skipped}


# --------------------------------------------------------------------------- docs


def _both(row: dict[str, Any], key: str, fmt: Any = common.fmt_frac) -> str:
    cells = []
    for lib in common.LIBRARIES:
        s = row.get(lib)
        cells.append("–" if not s or "error" in s else fmt(s[key]))
    return " / ".join(cells)


def _count(value: int) -> str:
    return f"{value:,}"


#: The first columns of every table (``_speed``).
SPEED_HEADERS = [
    "n × d",
    "labelwise s",
    "cleanlab s",
    "cleanlab / labelwise",
    "+MB (labelwise / cleanlab)",
]


def _speed(r: dict[str, Any]) -> list[str]:
    """Size, median times, time ratio and memory of one comparison row."""
    return [
        f"{r['N']:,} × {r['d']}",
        _time(r, "labelwise"),
        _time(r, "cleanlab"),
        common.fmt_ratio(r.get("ratio")),
        _both(r, "anon_delta_MB", common.fmt_mb),
    ]


def _time(row: dict[str, Any], lib: str) -> str:
    s = row.get(lib)
    if not s:
        return "–"
    return "failed" if "error" in s else common.fmt_sec(s["median_sec"])


def _table(
    rows: list[dict[str, Any]], columns: dict[str, Any], lead: dict[str, Any] | None = None
) -> str:
    """``lead`` columns, the speed columns, then ``columns`` (header -> cell function)."""
    lead = lead or {}
    cells = [
        [*(fmt(r) for fmt in lead.values()), *_speed(r), *(fmt(r) for fmt in columns.values())]
        for r in rows
    ]
    return common.md_table([*lead, *SPEED_HEADERS, *columns], cells)


def _same(r: dict[str, Any]) -> str:
    return {True: "yes", False: "no"}.get(r.get("same_groups"), "–")


def render(results: dict[str, Any]) -> str:
    m = results["meta"]
    head = (
        f"Generated {m['date_utc']} UTC by `{m['command']}` (labelwise {m['labelwise']}, "
        f"cleanlab {m['cleanlab']}; {m['cpus']} CPUs). labelwise ran {m['repeats']} time(s) per "
        "cell, cleanlab as many below n = 10⁵ and once from there (median times). Memory: peak "
        "anonymous-RSS growth during the call (the input features are not counted). Each "
        "quality cell is labelwise / cleanlab. Both libraries use their defaults: cosine "
        "distance, k = 10."
    )
    parts = ["## Outliers and near duplicates", "", head]
    if results["rows"]:
        parts += ["", *_render_synthetic(results["rows"])]
    if results.get("real"):
        parts += ["", *_render_real(results["real"])]
    done = {"synthetic": results["rows"], "real": results.get("real")}
    parts += common.not_run(done, "python benchmarks/outliers_duplicates.py --sizes 1e4")
    return "\n".join(parts)


def _render_synthetic(rows: list[dict[str, Any]]) -> list[str]:
    def table(task: str, columns: dict[str, Any]) -> str:
        return _table([r for r in rows if r["task"] == task], columns)

    return [
        "### Synthetic embeddings",
        "",
        "Data: 10 Gaussian clusters in d dimensions (centres standard normal, noise 0.5 × "
        "standard normal), float32, seed 0; 1% of rows replaced by planted outliers (standard "
        "normal vectors of the same typical norm, pointing away from every cluster) and 1% by "
        "planted copies of other rows (half exact, half plus 5·10⁻⁴ noise).",
        "",
        "**Outlier scores**: `outlier_scores(features=X)` vs "
        "`OutOfDistribution().fit_score(features=X)`. Recall: planted outliers among the "
        "lowest 1% of scores.",
        "",
        table(
            "scores",
            {
                "recall": lambda r: _both(r, "recall_at_k"),
                "AUROC": lambda r: _both(r, "auroc", lambda v: common.fmt_frac(v, 4)),
                "Spearman": lambda r: common.fmt_frac(r.get("spearman"), 6),
                "max |Δ score|": lambda r: (
                    "–" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.1e}"
                ),
            },
        ),
        "",
        "**Outlier flags**: `find_outliers(features=X)` vs Datalab's `outlier` check (both: "
        "mean neighbour distance above Q3 + 1.7 IQR). Precision and recall against the planted "
        "outliers.",
        "",
        table(
            "flags",
            {
                "flagged": lambda r: _both(r, "n_flagged", _count),
                "precision": lambda r: _both(r, "precision"),
                "recall": lambda r: _both(r, "recall"),
                "Jaccard": lambda r: common.fmt_frac(r.get("jaccard"), 4),
            },
        ),
        "",
        "**Near duplicates**: `find_near_duplicates(X)` vs Datalab's `near_duplicate` check "
        "(its per-row sets merged into groups). Pairs: planted (source, copy) pairs that share "
        "a group, against all same-group pairs; rows: flagged rows against planted rows.",
        "",
        table(
            "groups",
            {
                "groups": lambda r: _both(r, "n_groups", _count),
                "pair precision": lambda r: _both(r, "pair_precision"),
                "pair recall": lambda r: _both(r, "pair_recall"),
                "row precision": lambda r: _both(r, "row_precision"),
                "Jaccard (rows)": lambda r: common.fmt_frac(r.get("jaccard"), 4),
                "same groups": _same,
            },
        ),
    ]


def _render_real(real: dict[str, Any]) -> list[str]:
    lead = {"dataset": lambda r: r["name"]}
    rows = real["rows"]
    parts = [
        "### Real feature matrices (no ground truth)",
        "",
        "scikit-learn's bundled digits (`load_digits`, 8 × 8 grey levels) and the features `X` of "
        "every `multilabel_*` folder of `../shared/data` (train and test concatenated, or "
        "`X.npy` where the source has no split), as float64. Nothing is planted, so there is "
        "nothing to score against: the tables give speed and how far the two libraries agree "
        "(Jaccard index of their flagged rows, rows in a group for duplicates).",
        "",
        "**Outlier flags**: `find_outliers(features=X)` vs Datalab's `outlier` check.",
        "",
        _table(
            [r for r in rows if r["task"] == "flags"],
            {
                "flagged": lambda r: _both(r, "n_flagged", _count),
                "Jaccard": lambda r: common.fmt_frac(r.get("jaccard"), 4),
            },
            lead,
        ),
        "",
        "**Near duplicates**: `find_near_duplicates(X)` vs Datalab's `near_duplicate` check "
        "(its per-row sets merged into groups).",
        "",
        _table(
            [r for r in rows if r["task"] == "groups"],
            {
                "groups": lambda r: _both(r, "n_groups", _count),
                "rows in groups": lambda r: _both(r, "n_flagged", _count),
                "Jaccard (rows)": lambda r: common.fmt_frac(r.get("jaccard"), 4),
                "same groups": _same,
            },
            lead,
        ),
    ]
    notes = []
    for r in rows:
        for lib in common.LIBRARIES:
            s = r.get(lib)
            if s and "error" in s:  # the exception's message: the last line the worker printed
                reason = s["error"].rsplit(" | ", 1)[-1].strip()
                notes.append(f"{r['name']} ({r['task']}): {lib} failed, {reason}")
    notes += [f"{skip['name']}: **skipped**, {skip['reason']}." for skip in real["skipped"]]
    if notes:
        parts += ["", *(f"- {note}" for note in notes)]
    return parts


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (default 3)")
    parser.add_argument(
        "--sizes", type=common.parse_ints, default=list(SIZES), help="n, e.g. 1e4,1e5"
    )
    parser.add_argument("--dims", type=common.parse_ints, default=list(DIMS), help="d, e.g. 32,256")
    parser.add_argument("--tasks", default=",".join(TASKS), help="scores,flags,groups")
    common.add_parts_option(parser, "; real: flags and groups")
    parser.add_argument(
        "--quick", action="store_true", help="n = 1e4, 1 repeat; docs/benchmarks.md left alone"
    )
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else args.sizes
    repeats = 1 if args.quick else args.repeats
    tasks = [task for task in args.tasks.split(",") if task in TASKS]
    parts = common.chosen_parts(parser, args.parts)
    results: dict[str, Any] = {"meta": {**common.meta(), "repeats": repeats}, "rows": []}
    if "synthetic" in parts:
        for n in sizes:
            for d in args.dims:
                for task in tasks:
                    cl_runs = 1 if n >= LARGE else repeats
                    both = {"labelwise": repeats, "cleanlab": cl_runs}
                    print(f"{n:,} x {d}: {task}", flush=True)
                    results["rows"].append(compare_synthetic(n, d, task, both))
    if "real" in parts:
        results["real"] = run_real([task for task in REAL_TASKS if task in tasks], repeats)
    common.publish(SECTION, results, render(results), quick=args.quick)


if __name__ == "__main__":
    main()
