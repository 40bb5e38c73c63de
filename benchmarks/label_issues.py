"""labelwise vs cleanlab 2.9.0: ``find_label_issues`` on synthetic data with known flips.

Data: the generator of ``../shared/reference/cleanlab.md`` §3, unchanged: true labels uniform
over K classes, float32 ``pred_probs = softmax(1.5 * (z + margin * onehot(y)))`` with z ~ N(0, 1)
and the margin chosen per K so the argmax is the true label ~90% of the time, then 10% of the
labels flipped uniformly to another class (seed 0). Cached as .npy in ``benchmarks/.cache/``.

Runs (each in a fresh subprocess, see ``_common.py``):

- grid N in {1e4, 1e5, 1e6} x K in {10, 100}: the default method of both libraries (cleanlab
  with its default ``n_jobs``), ``--repeats`` times, alternating the libraries;
- N = 1e6, K = 1000 (with 1e6 selected): labelwise ``--repeats`` times; cleanlab once, only with
  ``--with-cleanlab-1000`` (about 25 s and +7.6 GB);
- at the largest selected N with K = 100 (1e6 x 100 in the full run): the six other methods and
  ``label_quality_scores`` (default method), once per library.

Usage::

    python benchmarks/label_issues.py                        # full grid, 3 repeats
    python benchmarks/label_issues.py --with-cleanlab-1000   # also cleanlab at 1e6 x 1000
    python benchmarks/label_issues.py --quick                # N <= 1e5, 1 repeat (smoke test)
    python benchmarks/label_issues.py --sizes 1e4,1e5 --repeats 5

Writes ``benchmarks/results/label_issues.json`` and the ``label_issues`` section of
``docs/benchmarks.md``; ``--quick`` writes ``benchmarks/results/label_issues_quick.json``
(git-ignored) and leaves the docs alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

SIZES = (10_000, 100_000, 1_000_000)
CLASSES = (10, 100)
BIG_K = 1000
#: Chosen so argmax(pred_probs) matches the TRUE label ~90% of the time (reference §3).
MARGIN = {10: 3.0, 100: 4.0, 1000: 4.7}
SECTION = "label_issues"
#: Per-run keys of a summary (``_common.summarise``), in the JSON's order.
SUMMARY = ("median_sec", "secs", "anon_delta_MB", "hwm_delta_MB", "children_maxrss_MB", "threads")


# --------------------------------------------------------------------------- data


def data_paths(n: int, k: int) -> dict[str, Path]:
    return common.cache_paths(f"mc_{n}_{k}", ("pp", "lab", "flip"))


def generate(n: int, k: int) -> dict[str, Path]:
    """The reference generator ``gen`` (same RNG calls in the same order), cached as .npy."""
    return common.cached(data_paths(n, k), f"{n:,} x {k}", lambda: _gen(n, k))


def _gen(n: int, k: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k), dtype=np.float32)
    z[np.arange(n), y] += MARGIN[k]
    z *= 1.5
    z -= z.max(1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(1, keepdims=True)
    flip = np.sort(rng.choice(n, n // 10, replace=False))
    lab = y.copy()
    lab[flip] = (y[flip] + rng.integers(1, k, len(flip))) % k
    return {"pp": z, "lab": lab, "flip": flip}


# --------------------------------------------------------------------------- the worker


def _library_call(lib: str, func: str, method: str | None) -> Any:
    """The call under test as ``f(labels, pred_probs) -> ndarray`` (bool mask or scores)."""
    if lib == "labelwise":
        import labelwise

        if func == "find_label_issues":
            kwargs = {} if method is None else {"method": method}
            return lambda y, p: labelwise.find_label_issues(y, p, **kwargs).is_issue
        if func == "label_quality_scores":
            kwargs = {} if method is None else {"method": method}
            return lambda y, p: labelwise.label_quality_scores(y, p, **kwargs)
    elif lib == "cleanlab":
        from cleanlab import filter as cl_filter
        from cleanlab import rank as cl_rank

        if func == "find_label_issues":  # default n_jobs (None -> all logical cores here)
            kwargs = {} if method is None else {"filter_by": method}
            return lambda y, p: cl_filter.find_label_issues(y, p, **kwargs)
        if func == "label_quality_scores":
            kwargs = {} if method is None else {"method": method}
            return lambda y, p: cl_rank.get_label_quality_scores(y, p, **kwargs)
    raise ValueError(f"unknown library/function: {lib}.{func}")


def warmup_rows(labels: np.ndarray, n_rows: int = 2000) -> np.ndarray:
    """Sorted row indices: the first ``n_rows`` rows plus the first two rows of every class."""
    first = np.unique(labels, return_index=True)[1]
    rest = np.ones(labels.size, dtype=bool)
    rest[first] = False
    rest_idx = np.flatnonzero(rest)
    second = rest_idx[np.unique(labels[rest_idx], return_index=True)[1]]
    head = np.arange(min(n_rows, labels.size))
    return np.union1d(np.union1d(head, first), second)


def _prepare(spec: dict[str, Any]) -> common.Job:
    """Spec keys: ``lib``, ``func``, ``method`` (None: the default), ``labels`` and
    ``pred_probs`` (.npy paths), ``out`` (.npy path for the output), ``warmup`` (default True)."""
    call = _library_call(spec["lib"], spec["func"], spec.get("method"))
    labels = np.load(spec["labels"])
    pred_probs = np.load(spec["pred_probs"])
    rows = warmup_rows(labels) if spec.get("warmup", True) else None

    def warmup() -> Any:
        return call(labels[rows], pred_probs[rows])

    def save(out: Any) -> dict[str, Any]:
        return {"threads": common.threads(spec["lib"]), **common.save_output(out, spec["out"])}

    return common.Job(lambda: call(labels, pred_probs), None if rows is None else warmup, save)


#: The worker's call table (``_common.worker``).
WORKER_CALLS = {"find_label_issues": _prepare, "label_quality_scores": _prepare}


# --------------------------------------------------------------------------- measuring


def run_one(lib: str, func: str, method: str | None, n: int, k: int, label: str) -> dict[str, Any]:
    """One isolated run; adds the output (indices or scores) under ``"_out"`` and prints it."""
    paths = data_paths(n, k)
    spec = {
        "script": "label_issues",
        "lib": lib,
        "func": func,
        "method": method,
        "labels": paths["lab"],
        "pred_probs": paths["pp"],
        "out": common.CACHE_DIR / f"out_{lib}_{func}_{method or 'default'}_{n}_{k}.npy",
    }
    return common.measure(spec, label)


def compare(n: int, k: int, repeats: dict[str, int], method: str | None = None) -> dict[str, Any]:
    """Both libraries on one config, alternating which goes first in each repeat."""
    paths = generate(n, k)
    flips = np.load(paths["flip"])
    pp_mb = paths["pp"].stat().st_size / common.MIB

    def one(lib: str, rep: int) -> dict[str, Any]:
        label = f"[{common.size_label(n, k)} {method or 'default'} #{rep + 1}]"
        return run_one(lib, "find_label_issues", method, n, k, label)

    runs = common.alternate(repeats, one)
    row: dict[str, Any] = {
        "N": n,
        "K": k,
        "method": method or "prune_by_noise_rate",
        "pred_probs_MB": pp_mb,
        "n_flips": int(flips.size),
    }
    for lib in common.LIBRARIES:
        row[lib] = common.summarise(runs[lib], SUMMARY, flips)
    lw, cl = row["labelwise"], row["cleanlab"]
    if common.ok(lw) and common.ok(cl):
        row["ratio"] = cl["median_sec"] / lw["median_sec"]
        a, b = runs["labelwise"][0]["_out"], runs["cleanlab"][0]["_out"]
        row.update(common.set_agreement(a, b))
    return row


def scores_row(n: int, k: int) -> dict[str, Any]:
    """``label_quality_scores`` vs ``rank.get_label_quality_scores``, default method, once."""
    paths = generate(n, k)
    is_flip = np.zeros(n, dtype=bool)
    is_flip[np.load(paths["flip"])] = True
    row: dict[str, Any] = {"N": n, "K": k, "method": "self_confidence"}

    def one(lib: str) -> dict[str, Any]:
        return run_one(
            lib, "label_quality_scores", None, n, k, f"[{common.size_label(n, k)} scores]"
        )

    return common.compare_scores(row, one, is_flip)


# --------------------------------------------------------------------------- rendering


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    parts = [
        common.generated_line(info)
        + f" Repeats: {info['repeats']} per library (median time; memory is the largest of the "
        "repeats).",
        "",
        "**Default method** (`prune_by_noise_rate`). Memory: peak anonymous-RSS growth during the "
        "call, and in brackets as a multiple of the `pred_probs` size.",
        "",
        common.md_table(
            common.SPEED_HEADERS, [common.speed_cells(row) for row in results["default"]]
        ),
        "",
        common.md_table(
            [
                "N × K",
                "flipped",
                "labelwise: flagged, F1 / P / R",
                "cleanlab: flagged, F1 / P / R",
                "Jaccard",
                "rows that differ",
            ],
            [common.agreement_cells(row, "n_flips") for row in results["default"]],
        ),
    ]
    notes = []
    if any(row["K"] == BIG_K and row["cleanlab"] is None for row in results["default"]):
        notes.append(
            f"cleanlab at K = {BIG_K} not run: add `--with-cleanlab-1000` (one run; reference: "
            "about 25 s and +7.6 GB, `../shared/reference/cleanlab.md` §3)."
        )
    changed = common.changed_flags(results["default"])
    if changed:
        notes.append(f"Flags changed between repeats for: {', '.join(changed)}.")
    if notes:
        parts += ["", *notes]
    methods = results.get("methods")
    if methods:
        parts += ["", *_render_methods(methods)]
    return "\n".join(parts)


def _render_methods(methods: dict[str, Any]) -> list[str]:
    size = common.size_label(methods["N"], methods["K"])
    parts = common.methods_section(methods, memory=True)
    scores = methods.get("scores")
    if scores:
        title = "`label_quality_scores` vs `rank.get_label_quality_scores` (self_confidence)"
        parts += [
            "",
            f"**Label-quality scores at {size}** (one run each per library; AUROC of the "
            "flipped rows against the others, lower score = more suspect).",
            "",
            common.md_table(
                ["function", *common.SCORE_HEADERS], [[title, *common.score_cells(scores)]]
            ),
        ]
    return parts


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per library (default 3)")
    parser.add_argument(
        "--sizes", type=common.parse_ints, default=list(SIZES), help="N values, e.g. 1e4,1e5"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: N <= 1e5, 1 repeat; writes label_issues_quick.json, not the docs",
    )
    parser.add_argument(
        "--with-cleanlab-1000",
        action="store_true",
        help="also run cleanlab once at 1e6 x 1000 (about 25 s and +7.6 GB)",
    )
    parser.add_argument(
        "--no-methods", action="store_true", help="skip the other methods and the scores"
    )
    args = parser.parse_args(argv)
    sizes = [n for n in args.sizes if n <= 100_000] if args.quick else args.sizes
    repeats = 1 if args.quick else args.repeats
    if not sizes:
        parser.error("no sizes selected")
    results: dict[str, Any] = {"meta": {**common.meta(), "repeats": repeats}, "default": []}

    configs = [(n, k) for n in sizes for k in CLASSES]
    for n, k in configs:
        print(f"{common.size_label(n, k)}: default method, {repeats} repeat(s)", flush=True)
        both = dict.fromkeys(common.LIBRARIES, repeats)
        results["default"].append(compare(n, k, both))
    if 1_000_000 in sizes:
        cl_runs = 1 if args.with_cleanlab_1000 else 0
        print(
            f"{common.size_label(1_000_000, BIG_K)}: default method (cleanlab runs: {cl_runs})",
            flush=True,
        )
        results["default"].append(
            compare(1_000_000, BIG_K, {"labelwise": repeats, "cleanlab": cl_runs})
        )
    if not args.no_methods:
        n, k = max(sizes), 100
        print(
            f"{common.size_label(n, k)}: other methods and label_quality_scores, once each",
            flush=True,
        )
        once = dict.fromkeys(common.LIBRARIES, 1)
        results["methods"] = {
            "N": n,
            "K": k,
            "rows": [compare(n, k, once, method) for method in common.OTHER_METHODS],
            "scores": scores_row(n, k),
        }
    common.publish(SECTION, results, render(results), quick=args.quick)


if __name__ == "__main__":
    main()
