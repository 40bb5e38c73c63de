"""labelwise vs cleanlab 2.9.0: outlier scores and near-duplicate groups on synthetic embeddings.

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

Usage::

    python benchmarks/outliers_duplicates.py                   # n in {1e4, 1e5} x d in {32, 256}
    python benchmarks/outliers_duplicates.py --sizes 1e4       # the small half only
    python benchmarks/outliers_duplicates.py --quick           # n = 1e4, 1 repeat (smoke test)

``--repeats R`` (default 3) runs labelwise R times; cleanlab runs R times below n = 1e5 and
once at n >= 1e5 (its cosine neighbour search then takes minutes per call). Writes
``benchmarks/results/outliers_duplicates.json`` and the ``outliers_duplicates`` section of
``docs/benchmarks.md``; ``--quick`` writes ``outliers_duplicates_quick.json`` and leaves the
docs alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    LIBRARIES,
    MIB,
    REPO_ROOT,
    AnonPeakSampler,
    _reset_high_water_mark,
    _status_kb,
    auroc,
    fmt_frac,
    fmt_mb,
    fmt_ratio,
    fmt_sec,
    md_table,
    meta,
    prf,
    replace_section,
    set_agreement,
    write_json,
)

SECTION = "outliers_duplicates"
SIZES = (10_000, 100_000)
DIMS = (32, 256)
TASKS = ("scores", "flags", "groups")
LARGE = 100_000  # from here on cleanlab runs once
WARMUP_ROWS = 2000
TIMEOUT = 3600.0
N_CLUSTERS, SPREAD, FRACTION = 10, 0.5, 0.01


# --------------------------------------------------------------------------- data


def data_paths(n: int, d: int) -> dict[str, Path]:
    return {part: CACHE_DIR / f"emb_{n}_{d}_{part}.npy" for part in ("X", "out", "pairs")}


def generate(n: int, d: int) -> dict[str, Path]:
    """Clusters with planted outliers and copies (``tests/_embeddings.py``), cached as .npy."""
    paths = data_paths(n, d)
    if all(path.exists() for path in paths.values()):
        return paths
    print(f"  generating {n:,} x {d} ...", flush=True)
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
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    arrays = {
        "X": features.astype(np.float32),
        "out": outliers,
        "pairs": np.stack([sources, copies], axis=1),
    }
    for part, array in arrays.items():
        tmp = paths[part].with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(paths[part])
    return paths


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


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    lib, task = spec["lib"], spec["task"]
    call = _library_call(lib, task)
    features = np.load(spec["features"])
    call(features[:WARMUP_ROWS])
    gc.collect()
    sampler = AnonPeakSampler()
    sampler.start()
    rss_before = _status_kb("VmRSS:")
    anon_before = _status_kb("RssAnon:")
    hwm_ok = _reset_high_water_mark()
    sampler.reset(anon_before)
    start = time.perf_counter()
    out = call(features)
    sec = time.perf_counter() - start
    peak_anon = sampler.stop()
    hwm = _status_kb("VmHWM:")
    np.save(spec["out"], _finish(lib, task, out, features.shape[0]))
    return {
        "sec": sec,
        "anon_before_MB": anon_before / 1024,
        "anon_delta_MB": (peak_anon - anon_before) / 1024,
        "hwm_delta_MB": (hwm - rss_before) / 1024 if hwm_ok else None,
        "children_maxrss_MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "samples": sampler.samples,
    }


def run_isolated(spec: dict[str, Any], *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """One measurement in a fresh interpreter: the worker's JSON, or ``{"error": ...}``."""
    spec = {key: str(value) if isinstance(value, Path) else value for key, value in spec.items()}
    command = [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- quality


def score_quality(scores: np.ndarray, outliers: np.ndarray) -> dict[str, float]:
    """Recall of the planted outliers among the lowest scores, and AUROC."""
    lowest = np.argsort(scores, kind="stable")[: outliers.size]
    is_out = np.zeros(scores.size, dtype=bool)
    is_out[outliers] = True
    return {
        "recall_at_k": float(np.isin(outliers, lowest).mean()),
        "auroc": auroc(is_out, scores),
    }


def group_quality(group: np.ndarray, pairs: np.ndarray) -> dict[str, Any]:
    """Precision/recall of planted copy pairs (same group) and of planted rows (flagged)."""
    a, b = group[pairs[:, 0]], group[pairs[:, 1]]
    found = int(((a >= 0) & (a == b)).sum())
    sizes = np.bincount(group[group >= 0])
    predicted = int((sizes * (sizes - 1) // 2).sum())
    rows = prf(np.flatnonzero(group >= 0), np.unique(pairs))
    return {
        "n_groups": int(sizes.size),
        "n_flagged": int((group >= 0).sum()),
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


def measure(lib: str, task: str, n: int, d: int, label: str) -> dict[str, Any]:
    paths = data_paths(n, d)
    out = CACHE_DIR / f"out_od_{lib}_{task}_{n}_{d}.npy"
    res = run_isolated({"lib": lib, "task": task, "features": paths["X"], "out": out})
    if "error" in res:
        print(f"  {label} {lib:9s}: FAILED {res['error']}", flush=True)
        return res
    res["_out"] = np.load(out)
    out.unlink()
    print(
        f"  {label} {lib:9s}: {res['sec']:8.3f} s, +{res['anon_delta_MB']:,.1f} MB anon",
        flush=True,
    )
    return res


def compare(n: int, d: int, task: str, repeats: dict[str, int]) -> dict[str, Any]:
    paths = generate(n, d)
    outliers, pairs = np.load(paths["out"]), np.load(paths["pairs"])
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in LIBRARIES}
    for rep in range(max(repeats.values())):
        for lib in LIBRARIES if rep % 2 == 0 else LIBRARIES[::-1]:
            if rep < repeats[lib]:
                label = f"[{n:,} x {d} {task} #{rep + 1}]"
                runs[lib].append(measure(lib, task, n, d, label))
    row: dict[str, Any] = {
        "N": n,
        "d": d,
        "task": task,
        "features_MB": paths["X"].stat().st_size / MIB,
    }
    outs = {}
    for lib in LIBRARIES:
        good = [run for run in runs[lib] if "error" not in run]
        if not good:
            row[lib] = {"error": runs[lib][0]["error"]} if runs[lib] else None
            continue
        out = outs[lib] = good[0]["_out"]
        summary: dict[str, Any] = {
            "median_sec": statistics.median(run["sec"] for run in good),
            "secs": [run["sec"] for run in good],
            "anon_delta_MB": max(run["anon_delta_MB"] for run in good),
            "hwm_delta_MB": max((run["hwm_delta_MB"] or 0.0) for run in good),
        }
        if task == "scores":
            summary.update(score_quality(out, outliers))
        elif task == "flags":
            summary.update(n_flagged=int(out.sum()), **prf(np.flatnonzero(out), outliers))
        else:
            summary.update(group_quality(out, pairs))
        row[lib] = summary
    if len(outs) == 2:
        ours, theirs = outs["labelwise"], outs["cleanlab"]
        row["ratio"] = row["cleanlab"]["median_sec"] / row["labelwise"]["median_sec"]
        if task == "scores":
            from scipy.stats import spearmanr

            row["spearman"] = float(spearmanr(ours, theirs).statistic)
            row["max_abs_diff"] = float(np.abs(ours - theirs).max())
        elif task == "flags":
            row.update(set_agreement(np.flatnonzero(ours), np.flatnonzero(theirs)))
        else:
            row.update(set_agreement(np.flatnonzero(ours >= 0), np.flatnonzero(theirs >= 0)))
            row["same_groups"] = same_partition(ours, theirs)
    return row


# --------------------------------------------------------------------------- docs


def _both(row: dict[str, Any], key: str, fmt: Any = fmt_frac) -> str:
    cells = []
    for lib in LIBRARIES:
        s = row.get(lib)
        cells.append("–" if not s or "error" in s else fmt(s[key]))
    return " / ".join(cells)


def _time(row: dict[str, Any], lib: str) -> str:
    s = row.get(lib)
    if not s:
        return "–"
    return "failed" if "error" in s else fmt_sec(s["median_sec"])


def render(results: dict[str, Any]) -> str:
    m = results["meta"]
    rows = results["rows"]
    head = (
        f"Generated {m['date_utc']} UTC by `{m['command']}` (labelwise {m['labelwise']}, "
        f"cleanlab {m['cleanlab']}; {m['cpus']} CPUs). labelwise ran {m['repeats']} time(s) per "
        "cell, cleanlab as many below n = 10⁵ and once from there (median times). Memory: peak "
        "anonymous-RSS growth during the call (the float32 features are not counted). Each "
        "quality cell is labelwise / cleanlab."
    )
    data = (
        "Data: 10 Gaussian clusters in d dimensions (centres standard normal, noise 0.5 × "
        "standard normal), float32, seed 0; 1% of rows replaced by planted outliers (standard "
        "normal vectors of the same typical norm, pointing away from every cluster) and 1% by "
        "planted copies of other rows (half exact, half plus 5·10⁻⁴ noise). Both libraries use "
        "their defaults: cosine distance, k = 10."
    )
    tables = ["## Outliers and near duplicates (synthetic embeddings)", "", data, "", head]
    scores = [r for r in rows if r["task"] == "scores"]
    tables += [
        "",
        "**Outlier scores**: `outlier_scores(features=X)` vs "
        "`OutOfDistribution().fit_score(features=X)`. Recall: planted outliers among the "
        "lowest 1% of scores.",
        "",
        md_table(
            [
                "n × d",
                "labelwise s",
                "cleanlab s",
                "cleanlab / labelwise",
                "+MB (labelwise / cleanlab)",
                "recall",
                "AUROC",
                "Spearman",
                "max |Δ score|",
            ],
            [
                [
                    f"{r['N']:,} × {r['d']}",
                    _time(r, "labelwise"),
                    _time(r, "cleanlab"),
                    fmt_ratio(r.get("ratio")),
                    _both(r, "anon_delta_MB", fmt_mb),
                    _both(r, "recall_at_k"),
                    _both(r, "auroc", lambda v: fmt_frac(v, 4)),
                    fmt_frac(r.get("spearman"), 6),
                    "–" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.1e}",
                ]
                for r in scores
            ],
        ),
    ]
    flags = [r for r in rows if r["task"] == "flags"]
    tables += [
        "",
        "**Outlier flags**: `find_outliers(features=X)` vs Datalab's `outlier` check (both: "
        "mean neighbour distance above Q3 + 1.7 IQR). Precision and recall against the planted "
        "outliers.",
        "",
        md_table(
            [
                "n × d",
                "labelwise s",
                "cleanlab s",
                "cleanlab / labelwise",
                "+MB (labelwise / cleanlab)",
                "flagged",
                "precision",
                "recall",
                "Jaccard",
            ],
            [
                [
                    f"{r['N']:,} × {r['d']}",
                    _time(r, "labelwise"),
                    _time(r, "cleanlab"),
                    fmt_ratio(r.get("ratio")),
                    _both(r, "anon_delta_MB", fmt_mb),
                    _both(r, "n_flagged", lambda v: f"{v:,}"),
                    _both(r, "precision"),
                    _both(r, "recall"),
                    fmt_frac(r.get("jaccard"), 4),
                ]
                for r in flags
            ],
        ),
    ]
    groups = [r for r in rows if r["task"] == "groups"]
    tables += [
        "",
        "**Near duplicates**: `find_near_duplicates(X)` vs Datalab's `near_duplicate` check "
        "(its per-row sets merged into groups). Pairs: planted (source, copy) pairs that share "
        "a group, against all same-group pairs; rows: flagged rows against planted rows.",
        "",
        md_table(
            [
                "n × d",
                "labelwise s",
                "cleanlab s",
                "cleanlab / labelwise",
                "+MB (labelwise / cleanlab)",
                "groups",
                "pair precision",
                "pair recall",
                "row precision",
                "Jaccard (rows)",
                "same groups",
            ],
            [
                [
                    f"{r['N']:,} × {r['d']}",
                    _time(r, "labelwise"),
                    _time(r, "cleanlab"),
                    fmt_ratio(r.get("ratio")),
                    _both(r, "anon_delta_MB", fmt_mb),
                    _both(r, "n_groups", lambda v: f"{v:,}"),
                    _both(r, "pair_precision"),
                    _both(r, "pair_recall"),
                    _both(r, "row_precision"),
                    fmt_frac(r.get("jaccard"), 4),
                    {True: "yes", False: "no"}.get(r.get("same_groups"), "–"),
                ]
                for r in groups
            ],
        ),
    ]
    return "\n".join(tables)


# --------------------------------------------------------------------------- main


def _parse(text: str) -> list[int]:
    return sorted({int(float(part)) for part in text.split(",") if part.strip()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (default 3)")
    parser.add_argument("--sizes", type=_parse, default=list(SIZES), help="n, e.g. 1e4,1e5")
    parser.add_argument("--dims", type=_parse, default=list(DIMS), help="d, e.g. 32,256")
    parser.add_argument("--tasks", default=",".join(TASKS), help="scores,flags,groups")
    parser.add_argument(
        "--quick", action="store_true", help="n = 1e4, 1 repeat; docs/benchmarks.md left alone"
    )
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else args.sizes
    repeats = 1 if args.quick else args.repeats
    tasks = [task for task in args.tasks.split(",") if task in TASKS]
    results: dict[str, Any] = {"meta": {**meta(), "repeats": repeats}, "rows": []}
    for n in sizes:
        for d in args.dims:
            for task in tasks:
                cl_runs = 1 if n >= LARGE else repeats
                both = {"labelwise": repeats, "cleanlab": cl_runs}
                print(f"{n:,} x {d}: {task}", flush=True)
                results["rows"].append(compare(n, d, task, both))
    body = render(results)
    if args.quick:
        path = write_json(f"{SECTION}_quick", results)
        print(f"\nwrote benchmarks/results/{path.name} (docs/benchmarks.md left alone)\n")
    else:
        path = write_json(SECTION, results)
        replace_section(SECTION, body)
        print(f"\nwrote benchmarks/results/{path.name}; updated docs/benchmarks.md\n")
    print(body)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))), flush=True)
    else:
        main()
