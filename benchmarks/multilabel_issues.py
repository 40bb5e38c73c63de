"""labelwise vs cleanlab 2.9.0: multi-label label issues, synthetic and real data.

**Synthetic.** The reference generator ``mlgen(N, K)`` of ``../shared/reference/cleanlab.md`` §3,
seed 0, with the same RNG calls in the same order (drawn in row blocks to save memory; the
output is bit-identical to the reference code): every class present with probability 0.1 and at
least one class per example; float32 ``pred_probs = sigmoid(1.5 * (±2 + z))``, z ~ N(0, 1), +2
where the (clean) tag is present; then 10% of the examples (drawn without replacement) get one
uniformly random class toggled (added when absent, dropped when present). The toggled examples
are the ground truth. Cached as .npy in ``benchmarks/.cache/``.

Inputs: each library gets its natural label format, built in the worker before the timed call
(the conversion is timed for neither; the JSON records how long it took): labelwise a
``scipy.sparse.csr_matrix`` of the noisy indicator, cleanlab a list of lists of ints.

Calls: labelwise ``find_multilabel_issues`` and ``multilabel_quality_scores`` (defaults);
cleanlab ``multilabel_classification.filter.find_label_issues`` (default ``filter_by`` and
``n_jobs``; ``n_jobs=None`` is a process pool over all cores per binary class on Linux) and
``multilabel_classification.rank.get_label_quality_scores`` (EMA aggregator, alpha 0.8). Each
call runs in a fresh interpreter (``python benchmarks/_common.py worker SPEC``, which calls
this script's ``WORKER_CALLS``), measured as in ``_common.py``: warm-up call on a small slice
holding every class, then one timed call with the anonymous-RSS peak sampled in a thread.

- every configuration: the default method ``--repeats`` times (default 3), alternating the
  libraries; at 1e6 x 100 cleanlab runs once (~100 s) unless ``--repeats`` is given;
  ``multilabel_quality_scores`` once per library;
- at 1e5 x 20: ``per_class_issue`` against cleanlab's ``find_multilabel_issues_per_class``
  (called after the timed call, untimed), every other method once per library, and cleanlab's
  default method with ``n_jobs=1`` (its faster setting on 2 cores).

**Real data.** Every ``multilabel_*`` folder of ``labelwise.datasets.data_dir()`` (default
``../shared/data``): train and test concatenated (or ``X.npy`` / ``Y.npy`` when the source has
no split). Noise, seed 0 per dataset: 10% of the examples (``n // 10``, without replacement)
each get one class drawn uniformly from all K classes, and that tag is toggled: dropped when
present, added when absent (so with sparse tags most toggles add a tag). Classes then constant
(all 0 or all 1) are dropped, and so are classes constant in a training fold of the CV split
(``cross_val_multilabel_pred_probs`` refuses those). The ground truth is the toggled examples
whose toggled class is kept. ``pred_probs``: 5-fold out-of-fold probabilities from
``cross_val_multilabel_pred_probs(make_pipeline(StandardScaler(),
OneVsRestClassifier(LogisticRegression(max_iter=1000))), X, Y, cv=5, random_state=0)``, cached
in ``benchmarks/.cache/``. Then both libraries (default method) as above.

Usage::

    python benchmarks/multilabel_issues.py                    # 1e5x20, 1e6x100, real data
    python benchmarks/multilabel_issues.py --quick            # 1e4x20, 1e5x20, real data
    python benchmarks/multilabel_issues.py --parts real       # real data only
    python benchmarks/multilabel_issues.py --configs 1e5x20 --repeats 5 --parts synthetic

Writes ``benchmarks/results/multilabel_issues.json`` and the ``multilabel_issues`` section of
``docs/benchmarks.md``; ``--quick`` writes ``benchmarks/results/multilabel_issues_quick.json``
(git-ignored) and leaves the docs alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

SECTION = "multilabel_issues"
HEADING = "## Multi-label label issues"
CONFIGS = ((100_000, 20), (1_000_000, 100))
QUICK_CONFIGS = ((10_000, 20), (100_000, 20))
#: Where the per-class comparison, the other methods and cleanlab n_jobs=1 run.
DETAIL_CONFIG = (100_000, 20)
#: From this N*K on, cleanlab's default method runs once unless --repeats is given.
BIG = 100_000_000
TIMEOUT = 300
GEN_CHUNK = 65_536
WARMUP_ROWS = 2000
NOISE_FRACTION = 0.1
SEED = 0
CV_FOLDS = 5
CACHE_VERSION = "1"
#: Per-run keys of a summary (``_common.summarise``), in the JSON's order.
SUMMARY = (
    "median_sec",
    "secs",
    "build_labels_sec",
    "anon_delta_MB",
    "hwm_delta_MB",
    "children_maxrss_MB",
    "threads",
    "runs",
)


# --------------------------------------------------------------------------- synthetic data


def ml_paths(n: int, k: int) -> dict[str, Path]:
    parts = ("pp", "indptr", "indices", "flip", "col")
    return common.cache_paths(f"ml_{n}_{k}", parts)


def mlgen(n: int, k: int) -> dict[str, Path]:
    """The reference ``mlgen`` (seed 0, same RNG calls in the same order), cached as .npy.

    Drawing ``rng.random`` and ``rng.standard_normal`` in row blocks gives the same stream as
    one call, so the arrays are bit-identical to the reference's (checked at 1e4 x 20,
    1e5 x 20 and 2e4 x 100), without its 800 MB float64 temporaries.
    """
    return common.cached(ml_paths(n, k), f"{n:,} x {k}", lambda: _mlgen(n, k))


def _mlgen(n: int, k: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    y = np.empty((n, k), dtype=bool)
    for lo in range(0, n, GEN_CHUNK):
        hi = min(lo + GEN_CHUNK, n)
        y[lo:hi] = rng.random((hi - lo, k)) < 0.1
    empty = np.flatnonzero(~y.any(axis=1))
    y[empty, rng.integers(0, k, empty.size)] = True
    pp = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, GEN_CHUNK):
        hi = min(lo + GEN_CHUNK, n)
        z = rng.standard_normal((hi - lo, k))
        z += np.where(y[lo:hi], 2.0, -2.0)  # (2Y - 1) * 2.0 + z, same float64 arithmetic
        z *= -1.5
        np.exp(z, out=z)
        z += 1.0
        np.divide(1.0, z, out=z)
        pp[lo:hi] = z
    flip = np.sort(rng.choice(n, n // 10, replace=False))
    col = rng.integers(0, k, flip.size)
    y[flip, col] = ~y[flip, col]
    indptr, indices = _csr_parts(y)
    return {"pp": pp, "indptr": indptr, "indices": indices, "flip": flip, "col": col}


def _csr_parts(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``indptr`` (int64) and column ``indices`` (int32, sorted per row) of a 0/1 matrix."""
    y = np.asarray(y, dtype=bool)
    indptr = np.zeros(y.shape[0] + 1, dtype=np.int64)
    np.cumsum(y.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(y)[1].astype(np.int32)
    return indptr, indices


# --------------------------------------------------------------------------- the worker


def _warmup_rows(indptr: np.ndarray, indices: np.ndarray, k: int, head: int) -> np.ndarray:
    """The first ``head`` rows plus, for every class, a row with it and a row without it."""
    n = indptr.size - 1
    h = min(head, n)
    row_of = np.repeat(np.arange(n), np.diff(indptr))
    first = np.unique(indices, return_index=True)[1]
    parts = [np.arange(h), row_of[first]]
    in_head = np.bincount(indices[: indptr[h]], minlength=k)
    for c in np.flatnonzero(in_head == h):  # every head row has class c: find one without
        has = np.zeros(n, dtype=bool)
        has[row_of[indices == c]] = True
        parts.append(np.flatnonzero(~has)[:1])
    return np.unique(np.concatenate(parts))


def _labels_for(lib: str, indptr: np.ndarray, indices: np.ndarray, k: int) -> Any:
    """Each library's natural input: a CSR matrix (labelwise), a list of lists (cleanlab)."""
    n = indptr.size - 1
    if lib == "labelwise":
        from scipy import sparse

        data = np.ones(indices.size, dtype=np.int8)
        return sparse.csr_matrix((data, indices, indptr), shape=(n, k))
    flat = indices.tolist()
    bounds = indptr.tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(n)]


def _subset(lib: str, labels: Any, rows: np.ndarray) -> Any:
    return labels[rows] if lib == "labelwise" else [labels[i] for i in rows.tolist()]


def _library_call(spec: dict[str, Any]) -> Any:
    """``f(labels, pred_probs) -> (mask or scores, per-class matrix or None)``."""
    lib, func, method = spec["lib"], spec["func"], spec.get("method")
    if lib == "labelwise":
        import labelwise

        if func == "issues":
            kwargs = {} if method is None else {"method": method}

            def issues(y: Any, p: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
                res = labelwise.find_multilabel_issues(y, p, **kwargs)
                return res.is_issue, res.per_class_issue

            return issues
        return lambda y, p: (
            labelwise.multilabel_quality_scores(
                y,
                p,
                method="self_confidence",
                aggregator="exponential_moving_average",
                alpha=0.8,
            ),
            None,
        )
    from cleanlab.multilabel_classification import filter as ml_filter
    from cleanlab.multilabel_classification import rank as ml_rank

    if func == "issues":
        kwargs: dict[str, Any] = {} if method is None else {"filter_by": method}
        if spec.get("n_jobs") is not None:
            kwargs["n_jobs"] = spec["n_jobs"]
        return lambda y, p: (ml_filter.find_label_issues(y, p, **kwargs), None)
    return lambda y, p: (ml_rank.get_label_quality_scores(y, p), None)


def _cleanlab_per_class(spec: dict[str, Any], labels: Any, pred_probs: np.ndarray) -> np.ndarray:
    from cleanlab.multilabel_classification import filter as ml_filter

    kwargs: dict[str, Any] = {}
    if spec.get("method") is not None:
        kwargs["filter_by"] = spec["method"]
    if spec.get("n_jobs") is not None:
        kwargs["n_jobs"] = spec["n_jobs"]
    return np.asarray(ml_filter.find_multilabel_issues_per_class(labels, pred_probs, **kwargs))


def _prepare(spec: dict[str, Any]) -> common.Job:
    """Loads the inputs and builds the library's labels (timed apart: ``build_labels_sec``).

    The output is saved as flags or scores; with ``cells_out``, also the flagged (row, class)
    cells of ``per_class_issue`` (cleanlab: a second, untimed call after the timed one).
    """
    lib = spec["lib"]
    call = _library_call(spec)
    pred_probs = np.load(spec["pred_probs"])
    indptr, indices = np.load(spec["indptr"]), np.load(spec["indices"])
    k = pred_probs.shape[1]
    start = time.perf_counter()
    labels = _labels_for(lib, indptr, indices, k)
    build_sec = time.perf_counter() - start
    rows = _warmup_rows(indptr, indices, k, spec.get("warmup_rows", WARMUP_ROWS))

    def warmup() -> Any:
        return call(_subset(lib, labels, rows), pred_probs[rows])

    def save(output: tuple[Any, Any]) -> dict[str, Any]:
        out, per_class = output
        result = {
            "threads": common.threads(lib, spec.get("n_jobs")),
            **common.save_output(out, spec["out"]),
        }
        if spec.get("cells_out"):
            if per_class is None:  # cleanlab: a second, untimed call for the per-class matrix
                start = time.perf_counter()
                per_class = _cleanlab_per_class(spec, labels, pred_probs)
                result["per_class_sec"] = time.perf_counter() - start
            cells = np.flatnonzero(np.asarray(per_class).ravel()).astype(np.int64)
            np.save(spec["cells_out"], cells)
        return result

    return common.Job(
        lambda: call(labels, pred_probs), warmup, save, {"build_labels_sec": build_sec}
    )


#: The worker's call table (``_common.worker``).
WORKER_CALLS = {"issues": _prepare, "scores": _prepare}


# --------------------------------------------------------------------------- measuring


class Case:
    """One input set: cached .npy paths and the ground truth (rows and toggled cells)."""

    def __init__(
        self, name: str, paths: dict[str, Path], truth: np.ndarray, cells: np.ndarray, head: int
    ) -> None:
        self.name = name
        self.paths = paths
        self.truth = truth  # sorted row indices
        self.cells = cells  # sorted flat (row * K + class) indices of the toggled tags
        self.head = head
        shape = np.load(paths["pp"], mmap_mode="r").shape
        self.n, self.k = int(shape[0]), int(shape[1])
        self.pp_mb = paths["pp"].stat().st_size / common.MIB


def run_one(
    case: Case,
    lib: str,
    func: str,
    label: str,
    *,
    method: str | None = None,
    n_jobs: int | None = None,
    cells: bool = False,
) -> dict[str, Any]:
    """One isolated run; adds ``"_out"`` (and ``"_cells"``) and prints a line."""
    tag = f"{lib}_{func}_{method or 'default'}_{n_jobs or 'dflt'}_{case.name}"
    spec = {
        "script": "multilabel_issues",
        "lib": lib,
        "func": func,
        "method": method,
        "n_jobs": n_jobs,
        "pred_probs": case.paths["pp"],
        "indptr": case.paths["indptr"],
        "indices": case.paths["indices"],
        "out": common.CACHE_DIR / f"out_ml_{tag}.npy",
        "cells_out": common.CACHE_DIR / f"out_ml_{tag}_cells.npy" if cells else "",
        "warmup_rows": case.head,
    }
    outputs = (("_out", "out"), ("_cells", "cells_out"))
    return common.measure(spec, label, outputs=outputs, timeout=TIMEOUT)


def compare(
    case: Case,
    repeats: dict[str, int],
    *,
    method: str | None = None,
    cl_n_jobs: int | None = None,
    cells: bool = False,
) -> dict[str, Any]:
    """Both libraries on one case, alternating which goes first in each repeat."""

    def one(lib: str, rep: int) -> dict[str, Any]:
        return run_one(
            case,
            lib,
            "issues",
            f"[{case.name} {method or 'default'} #{rep + 1}]",
            method=method,
            n_jobs=cl_n_jobs if lib == "cleanlab" else None,
            cells=cells and rep == 0,  # the first run of each library
        )

    runs = common.alternate(repeats, one)
    row: dict[str, Any] = {
        "N": case.n,
        "K": case.k,
        "method": method or "prune_by_noise_rate",
        "cleanlab_n_jobs": cl_n_jobs,
        "pred_probs_MB": case.pp_mb,
        "n_truth": int(case.truth.size),
    }
    first: dict[str, dict[str, Any]] = {}
    for lib in common.LIBRARIES:
        row[lib] = common.summarise(runs[lib], SUMMARY, case.truth)
        good = [run for run in runs[lib] if "error" not in run]
        if good:
            first[lib] = good[0]
            if "_cells" in good[0]:
                row[lib].update(_cell_quality(good[0]["_cells"], case.cells))
    if len(first) == 2:
        row["ratio"] = row["cleanlab"]["median_sec"] / row["labelwise"]["median_sec"]
        row.update(common.set_agreement(first["labelwise"]["_out"], first["cleanlab"]["_out"]))
        if "_cells" in first["labelwise"] and "_cells" in first["cleanlab"]:
            agree = common.set_agreement(first["labelwise"]["_cells"], first["cleanlab"]["_cells"])
            row["cells_differ"] = agree["n_differ"]
            row["cells_equal"] = agree["n_differ"] == 0
            if agree["n_differ"]:
                row["cells_differ_tied"] = _tied_cells(
                    case, first["labelwise"]["_cells"], first["cleanlab"]["_cells"]
                )
    return row


def _tied_cells(case: Case, a: np.ndarray, b: np.ndarray) -> int:
    """How many differing (row, class) cells have an exact tie: another row of the same class
    with the same given value and the same probability (so the pruning order is a tie-break)."""
    differ = np.setxor1d(a, b, assume_unique=True)
    pp = np.load(case.paths["pp"], mmap_mode="r")
    indptr, indices = np.load(case.paths["indptr"]), np.load(case.paths["indices"])
    row_of = np.repeat(np.arange(case.n), np.diff(indptr))
    tied = 0
    for flat in differ.tolist():
        r, c = divmod(flat, case.k)
        given = np.zeros(case.n, dtype=bool)
        given[row_of[indices == c]] = True
        column = np.asarray(pp[:, c])
        same = (column == column[r]) & (given == given[r])
        tied += int(same.sum() > 1)
    return tied


def _cell_quality(flagged_cells: np.ndarray, toggled: np.ndarray) -> dict[str, Any]:
    """How many (row, class) cells are flagged, and the share of toggled cells among them."""
    hits = np.intersect1d(flagged_cells, toggled, assume_unique=True).size
    return {
        "n_cells": int(flagged_cells.size),
        "cell_precision": hits / flagged_cells.size if flagged_cells.size else 0.0,
        "cell_recall": hits / toggled.size if toggled.size else 0.0,
    }


def scores_row(case: Case) -> dict[str, Any]:
    """``multilabel_quality_scores`` vs cleanlab's ``get_label_quality_scores``, once each."""
    is_truth = np.zeros(case.n, dtype=bool)
    is_truth[case.truth] = True
    row: dict[str, Any] = {"N": case.n, "K": case.k, "pred_probs_MB": case.pp_mb}

    def one(lib: str) -> dict[str, Any]:
        return run_one(case, lib, "scores", f"[{case.name} scores]")

    return common.compare_scores(row, one, is_truth)


# --------------------------------------------------------------------------- synthetic part


def synthetic_case(n: int, k: int) -> Case:
    paths = mlgen(n, k)
    flip, col = np.load(paths["flip"]), np.load(paths["col"])
    cells = np.sort(flip.astype(np.int64) * k + col)
    return Case(common.size_label(n, k), paths, flip.astype(np.int64), cells, WARMUP_ROWS)


def run_synthetic(configs: list[tuple[int, int]], repeats: int, explicit: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"default": [], "scores": [], "methods": None}
    for n, k in configs:
        case = synthetic_case(n, k)
        cl_repeats = repeats if explicit or n * k < BIG else 1
        print(f"{case.name}: default method, {repeats} / {cl_repeats} run(s)", flush=True)
        detail = (n, k) == DETAIL_CONFIG
        reps = {"labelwise": repeats, "cleanlab": cl_repeats}
        out["default"].append(compare(case, reps, cells=detail))
        print(f"{case.name}: quality scores, once each", flush=True)
        out["scores"].append(scores_row(case))
        if detail:
            print(f"{case.name}: other methods and cleanlab n_jobs=1, once each", flush=True)
            once = dict.fromkeys(common.LIBRARIES, 1)
            rows = [compare(case, once, method=method) for method in common.OTHER_METHODS]
            nj1 = compare(case, {"labelwise": 0, "cleanlab": 1}, cl_n_jobs=1)
            out["methods"] = {"N": n, "K": k, "rows": rows, "cleanlab_n_jobs_1": nj1["cleanlab"]}
    return out


# --------------------------------------------------------------------------- real data


def _fold_constant(y: np.ndarray) -> np.ndarray:
    """Classes constant in some training fold of ``cross_val_multilabel_pred_probs``'s split."""
    from sklearn.model_selection import KFold

    n = y.shape[0]
    bad = np.zeros(y.shape[1], dtype=bool)
    folds = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)
    for train, _ in folds.split(np.zeros(n)):
        part = y[train]
        bad |= part.min(axis=0) == part.max(axis=0)
    return bad


def prepare_real(name: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Noise, class dropping and CV probabilities for one dataset, cached in .cache/."""
    digest = hashlib.sha1(CACHE_VERSION.encode())
    for array in (x, y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    key = digest.hexdigest()[:16]
    cache = common.CACHE_DIR / f"mlreal_{name}_{key}.npz"
    n, k_all = y.shape
    rng = np.random.default_rng(SEED)
    flip = np.sort(rng.choice(n, int(NOISE_FRACTION * n), replace=False))
    col = rng.integers(0, k_all, flip.size)
    noisy = y.copy()
    noisy[flip, col] = ~noisy[flip, col]
    info: dict[str, Any] = {
        "n": n,
        "K_source": k_all,
        "n_toggled": int(flip.size),
        "n_added": int((~y[flip, col]).sum()),
        "n_dropped": int(y[flip, col].sum()),
        "constant_before_noise": int((y.min(axis=0) == y.max(axis=0)).sum()),
    }
    constant = noisy.min(axis=0) == noisy.max(axis=0)
    fold_bad = _fold_constant(noisy) & ~constant
    keep = ~(constant | fold_bad)
    info.update(
        {
            "classes_dropped_constant": int(constant.sum()),
            "classes_dropped_fold": int(fold_bad.sum()),
            "K": int(keep.sum()),
        }
    )
    if keep.sum() < 2:
        raise ValueError(f"only {int(keep.sum())} class(es) left after dropping constant ones")
    new_index = np.cumsum(keep) - 1
    kept_toggle = keep[col]
    truth = flip[kept_toggle].astype(np.int64)
    cells = np.sort(truth * int(keep.sum()) + new_index[col[kept_toggle]])
    info["n_truth"] = int(truth.size)
    info["toggles_in_dropped_classes"] = int((~kept_toggle).sum())
    labels = noisy[:, keep]
    info["empty_rows"] = int((~labels.any(axis=1)).sum())
    if cache.exists():
        with np.load(cache) as stored:
            pp = stored["pp"]
            info.update(json.loads(str(stored["info"])))
    else:
        print(f"  {name}: 5-fold CV of OneVsRest(LogisticRegression) ...", flush=True)
        pp, cv_info = _cross_val(x, labels)
        info.update(cv_info)
        common.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, pp=pp, info=np.array(json.dumps(cv_info)))
        tmp.replace(cache)
    from sklearn.metrics import roc_auc_score

    info["cv_micro_auroc"] = float(roc_auc_score(labels.ravel(), pp.ravel()))
    info["cv_macro_auroc"] = float(
        np.mean([roc_auc_score(labels[:, j], pp[:, j]) for j in range(labels.shape[1])])
    )
    info["cv_extreme_frac"] = float(((pp < 0.01) | (pp > 0.99)).mean())
    paths = common.cache_paths(f"mlreal_{name}", ("pp", "indptr", "indices"))
    indptr, indices = _csr_parts(labels)
    common.save_arrays(paths, {"pp": pp, "indptr": indptr, "indices": indices})
    head = max(50, n // 10)
    return {"info": info, "case": Case(name, paths, truth, cells, head)}


def _cross_val(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from labelwise import cross_val_multilabel_pred_probs

    model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000)))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pp = cross_val_multilabel_pred_probs(
            model, x, labels.astype(np.int8), cv=CV_FOLDS, random_state=SEED, progress=False
        )
    not_converged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return pp, {"cv_sec": time.perf_counter() - start, "cv_not_converged_fits": not_converged}


def run_real(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"datasets": [], "skipped": []}
    folders = common.multilabel_folders()
    if not folders:
        msg = "no multilabel_* folders under LABELWISE_DATA (default ../shared/data)"
        print(f"real data: skipped, {msg}", flush=True)
        out["skipped"].append({"name": "*", "reason": msg})
        return out
    for folder in folders:
        name = folder.name.removeprefix("multilabel_")
        try:
            x, y, source = common.load_multilabel_xy(folder)
            prepared = prepare_real(name, x, y)
        except Exception as exc:  # a broken folder is skipped, not fatal
            reason = f"{type(exc).__name__}: {exc}"
            print(f"{name}: skipped, {reason}", flush=True)
            out["skipped"].append({"name": name, "reason": reason})
            continue
        info, case = prepared["info"], prepared["case"]
        info["source"] = source
        print(
            f"{name}: n = {info['n']:,}, K = {info['K']} of {info['K_source']}, "
            f"{info['n_truth']} noisy rows; {repeats} run(s) each",
            flush=True,
        )
        row = compare(case, dict.fromkeys(common.LIBRARIES, repeats), cells=True)
        out["datasets"].append({"name": name, **info, **row})
    return out


# --------------------------------------------------------------------------- rendering


def _cell(summary: dict[str, Any] | None, fmt: Any) -> str:
    return common.cell(summary, fmt, name_timeouts=True)


def _pr_cell(s: dict[str, Any]) -> str:
    return " / ".join(common.fmt_frac(s[key]) for key in ("precision", "recall", "f1"))


def _both(row: dict[str, Any], fmt: Any) -> str:
    return common.both(row, fmt, name_timeouts=True)


def _runs(summary: dict[str, Any] | None) -> str:
    return _cell(summary, lambda s: str(s["runs"]))


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    parts = [
        common.generated_line(info),
        "",
        "Calls: labelwise `find_multilabel_issues` (default `prune_by_noise_rate`) and "
        "`multilabel_quality_scores`; cleanlab "
        "`multilabel_classification.filter.find_label_issues` (default `filter_by`, default "
        "`n_jobs`: a process pool over all cores for each binary class) and "
        "`multilabel_classification.rank.get_label_quality_scores` (EMA, alpha 0.8). "
        "Inputs: each library gets its natural label format, built before the timed call and "
        "**not timed for either**: labelwise a `scipy.sparse.csr_matrix`, cleanlab a list of "
        "lists of ints (the JSON records how long each conversion took). Same `pred_probs` array "
        "for both. Memory: peak anonymous-RSS growth during the call, and in brackets as a "
        "multiple of the `pred_probs` size.",
    ]
    syn = results.get("synthetic")
    if syn:
        parts += ["", *_render_synthetic(syn, info)]
    real = results.get("real")
    if real:
        parts += ["", *_render_real(real)]
    done = {part: results.get(part) for part in common.PARTS}
    parts += common.not_run(done, "python benchmarks/multilabel_issues.py")
    return "\n".join(parts)


def _render_synthetic(syn: dict[str, Any], info: dict[str, Any]) -> list[str]:
    parts = [
        "### Synthetic (reference generator)",
        "",
        "`mlgen(N, K)` of `../shared/reference/cleanlab.md` §3, seed 0: every class present "
        "with probability 0.1 (at least one per example), float32 `pred_probs = sigmoid(1.5 · "
        "(±2 + z))`, then 10% of examples get one uniformly random class toggled; those examples "
        "are the ground truth. Repeats: "
        f"{info['repeats']} per library (median time, memory the largest of the runs); cleanlab "
        "runs once at 10⁶ × 100 unless `--repeats` is given (the `runs` column).",
        "",
    ]
    speed = [
        [
            *common.speed_cells(row, name_timeouts=True),
            f"{_runs(row['labelwise'])} / {_runs(row['cleanlab'])}",
        ]
        for row in syn["default"]
    ]
    quality = [
        [
            *common.agreement_cells(row, "n_truth", name_timeouts=True),
            f"{row['cells_differ']:,}" if "cells_differ" in row else "–",
            _both(row, lambda s: common.fmt_frac(s.get("cell_recall"))),
        ]
        for row in syn["default"]
    ]
    parts += [
        common.md_table([*common.SPEED_HEADERS, "runs (labelwise / cleanlab)"], speed),
        "",
        common.md_table(
            [
                "N × K",
                "toggled",
                "labelwise: flagged, F1 / P / R",
                "cleanlab: flagged, F1 / P / R",
                "Jaccard",
                "rows that differ",
                "`per_class_issue` cells that differ",
                "toggled cells flagged (labelwise / cleanlab)",
            ],
            quality,
        ),
        "",
        "`per_class_issue` is compared with cleanlab's `find_multilabel_issues_per_class` "
        "(called after the timed call) where a number is shown; elsewhere `–`.",
    ]
    changed = common.changed_flags(syn["default"])
    if changed:
        parts += ["", f"Flags changed between repeats for: {', '.join(changed)}."]
    methods = syn.get("methods")
    if methods:
        parts += ["", *_render_methods(methods)]
    if syn.get("scores"):
        rows = [
            [
                common.size_label(row["N"], row["K"]),
                *common.score_cells(row, row["pred_probs_MB"], name_timeouts=True),
            ]
            for row in syn["scores"]
        ]
        parts += [
            "",
            "**Label-quality scores** (`multilabel_quality_scores` vs "
            "`rank.get_label_quality_scores`, self-confidence per class, EMA alpha 0.8; one run "
            "each; AUROC of the toggled examples against the others, lower score = more suspect).",
            "",
            common.md_table(["N × K", *common.SCORE_HEADERS], rows),
        ]
    return parts


def _render_methods(methods: dict[str, Any]) -> list[str]:
    size = common.size_label(methods["N"], methods["K"])
    parts = common.methods_section(methods, name_timeouts=True)
    nj1 = methods.get("cleanlab_n_jobs_1")
    if common.ok(nj1):
        parts += [
            "",
            f"cleanlab's default method with `n_jobs=1` at {size}: "
            f"{common.fmt_sec(nj1['median_sec'])} s "
            f"(one run; {nj1['n_flagged']:,} flagged). On 2 cores its process pools cost more "
            "than they save for the multi-label path.",
        ]
    return parts


def _render_real(real: dict[str, Any]) -> list[str]:
    parts = [
        "### Real data (Mulan multi-label sets, injected noise)",
        "",
        "Every `multilabel_*` folder of `../shared/data` (train and test concatenated, or "
        "`X.npy`/`Y.npy` where the source has no split). Noise, seed 0: 10% of the examples "
        "(`n // 10`, without replacement) each get one class drawn uniformly from all K, and "
        "that tag is toggled: **dropped if present, added if absent**. Classes that are then "
        "constant, or constant in a training fold of the 5-fold split, are dropped; the ground "
        "truth is the toggled examples whose toggled class is kept. `pred_probs`: 5-fold "
        "out-of-fold probabilities of `OneVsRestClassifier(LogisticRegression(max_iter=1000))` "
        "on standardized features (`cross_val_multilabel_pred_probs`, scaler fitted per fold). "
        "Both libraries: default method, times are medians of "
        f"{_real_repeats(real)} runs in fresh processes.",
        "",
    ]
    rows = []
    for d in real["datasets"]:
        dropped = d["classes_dropped_constant"] + d["classes_dropped_fold"]
        rows.append(
            [
                d["name"],
                f"{d['n']:,}",
                f"{d['K']}" + (f" (−{dropped})" if dropped else ""),
                f"{d['n_truth']} ({d['n_added']} / {d['n_dropped']})",
                f"{common.fmt_frac(d['cv_macro_auroc'])} / {common.fmt_frac(d['cv_micro_auroc'])}",
                _both(d, lambda s: f"{s['n_flagged']:,}"),
                _cell(d["labelwise"], _pr_cell),
                _cell(d["cleanlab"], _pr_cell),
                common.fmt_frac(d.get("jaccard"), 4),
                f"{d['cells_differ']:,}" if "cells_differ" in d else "–",
                _both(d, lambda s: common.fmt_frac(s.get("cell_recall"))),
                _both(d, lambda s: common.fmt_sec(s["median_sec"])),
            ]
        )
    parts.append(
        common.md_table(
            [
                "dataset",
                "n",
                "K (dropped)",
                "noisy rows (tags added / dropped)",
                "CV AUROC (macro / micro)",
                "flagged (labelwise / cleanlab)",
                "labelwise P / R / F1",
                "cleanlab P / R / F1",
                "Jaccard",
                "`per_class_issue` cells that differ",
                "toggled tags flagged (labelwise / cleanlab)",
                "s (labelwise / cleanlab)",
            ],
            rows,
        )
    )
    notes = []
    for d in real["datasets"]:
        bits = []
        if d["classes_dropped_constant"]:
            bits.append(f"{d['classes_dropped_constant']} class(es) constant after the noise")
        if d["classes_dropped_fold"]:
            bits.append(
                f"{d['classes_dropped_fold']} class(es) constant in a CV training fold "
                "(too few positives)"
            )
        if d["toggles_in_dropped_classes"]:
            bits.append(
                f"{d['toggles_in_dropped_classes']} toggle(s) fell in a dropped class and do "
                "not count as noise"
            )
        if bits:
            notes.append(f"{d['name']}: dropped " + "; ".join(bits) + ".")
    for d in real["datasets"]:
        if d.get("cells_differ"):
            notes.append(
                f"{d['name']}: {d['cells_differ']} `per_class_issue` cell(s) differ from cleanlab, "
                f"{d.get('cells_differ_tied', 0)} of them at an exact tie (another row of the same "
                "class with the same given tag and the same probability, e.g. duplicate feature "
                "rows) at the pruning cut-off: labelwise keeps row order, cleanlab orders ties by "
                "an unstable `np.argsort`, so the same number is flagged per class but not always "
                "the same rows."
            )
    for skip in real["skipped"]:
        notes.append(f"{skip['name']}: **skipped**, {skip['reason']}.")
    if notes:
        parts += ["", *(f"- {note}" for note in notes)]
    parts += [
        "",
        'The "noisy rows" counted in precision and recall are the injected toggles only; the '
        "source label sets have their own errors, which count as false positives here. An "
        "example is flagged when any of its K binary problems flags it, so with many classes "
        "and a weak model most examples are flagged. CV AUROC: of the out-of-fold "
        'probabilities against the (noisy) given tags, mean over classes / pooled. "Toggled '
        'tags flagged": the share of injected (row, class) toggles that `per_class_issue` '
        "marks.",
    ]
    return parts


def _real_repeats(real: dict[str, Any]) -> str:
    runs = {d["labelwise"]["runs"] for d in real["datasets"] if common.ok(d["labelwise"])}
    return "/".join(str(r) for r in sorted(runs)) or "–"


def update_docs(section: str, body: str, path: Path = common.DOC_PATH) -> None:
    """Replace this script's section; create it before the regression/outlier ones if absent."""
    begin = f"<!-- BEGIN {section} -->"
    text = path.read_text() if path.exists() else ""
    if begin not in text:
        block = (
            f"{HEADING}\n\n"
            "labelwise's `find_multilabel_issues` and `multilabel_quality_scores` against "
            "cleanlab's `multilabel_classification`: written by `benchmarks/multilabel_issues.py`."
            f"\n\n{begin}\n<!-- END {section} -->\n\n"
        )
        match = re.search(r"^## .*(regression|outlier)", text, flags=re.IGNORECASE | re.MULTILINE)
        if match:
            text = text[: match.start()] + block + text[match.start() :]
        else:
            text = text.rstrip("\n") + ("\n\n" if text else "") + block.rstrip("\n") + "\n"
        path.write_text(text)
    common.replace_section(section, body, path)


# --------------------------------------------------------------------------- main


def _parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for part in text.split(","):
        if part.strip():
            n, k = part.lower().replace("×", "x").split("x")
            configs.append((int(float(n)), int(float(k))))
    return configs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per library (default 3; cleanlab at 1e6 x 100 runs once unless given)",
    )
    parser.add_argument(
        "--configs", type=_parse_configs, default=None, help="N x K list, e.g. 1e5x20,1e6x100"
    )
    common.add_parts_option(parser)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1e4x20 and 1e5x20 only; writes multilabel_issues_quick.json, not the docs",
    )
    args = parser.parse_args(argv)
    parts = common.chosen_parts(parser, args.parts)
    configs = args.configs or list(QUICK_CONFIGS if args.quick else CONFIGS)
    repeats = args.repeats if args.repeats is not None else 3
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    results: dict[str, Any] = {"meta": {**common.meta(), "repeats": repeats, "quick": args.quick}}
    if "synthetic" in parts:
        results["synthetic"] = run_synthetic(configs, repeats, args.repeats is not None)
    if "real" in parts:
        results["real"] = run_real(repeats)
    common.publish(SECTION, results, render(results), quick=args.quick, update=update_docs)


if __name__ == "__main__":
    main()
