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
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    LIBRARIES,
    MIB,
    auroc,
    fmt_frac,
    fmt_mb,
    fmt_ratio,
    fmt_sec,
    md_table,
    meta,
    prf,
    replace_section,
    run_isolated,
    set_agreement,
    write_json,
)

SIZES = (10_000, 100_000, 1_000_000)
CLASSES = (10, 100)
BIG_K = 1000
#: Chosen so argmax(pred_probs) matches the TRUE label ~90% of the time (reference §3).
MARGIN = {10: 3.0, 100: 4.0, 1000: 4.7}
OTHER_METHODS = (
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)
SECTION = "label_issues"


# --------------------------------------------------------------------------- data


def data_paths(n: int, k: int) -> dict[str, Path]:
    return {part: CACHE_DIR / f"mc_{n}_{k}_{part}.npy" for part in ("pp", "lab", "flip")}


def generate(n: int, k: int) -> dict[str, Path]:
    """The reference generator ``gen`` (same RNG calls in the same order), cached as .npy."""
    paths = data_paths(n, k)
    if all(path.exists() for path in paths.values()):
        return paths
    print(f"  generating {n:,} x {k} ...", flush=True)
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
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for part, array in (("pp", z), ("lab", lab), ("flip", flip)):
        tmp = paths[part].with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(paths[part])
    return paths


# --------------------------------------------------------------------------- measuring


def measure(lib: str, func: str, method: str | None, n: int, k: int, label: str) -> dict[str, Any]:
    """One isolated run; adds the output (indices or scores) under ``"_out"`` and prints it."""
    paths = data_paths(n, k)
    out = CACHE_DIR / f"out_{lib}_{func}_{method or 'default'}_{n}_{k}.npy"
    spec = {
        "lib": lib,
        "func": func,
        "method": method,
        "labels": paths["lab"],
        "pred_probs": paths["pp"],
        "out": out,
    }
    res = run_isolated(spec)
    if "error" in res:
        print(f"  {label} {lib:9s}: FAILED {res['error']}", flush=True)
        return res
    res["_out"] = np.load(out)
    out.unlink()
    hwm = res["hwm_delta_MB"]
    flagged = f", flagged {res['n_flagged']:,}" if "n_flagged" in res else ""
    print(
        f"  {label} {lib:9s}: {res['sec']:8.3f} s, +{res['anon_delta_MB']:,.1f} MB anon"
        + (f" (+{hwm:,.1f} MB VmHWM)" if hwm is not None else "")
        + flagged,
        flush=True,
    )
    return res


def summarise(runs: list[dict[str, Any]], flips: np.ndarray) -> dict[str, Any] | None:
    """Median time, max memory, quality of the first run's flags; None when every run failed."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return {"error": runs[0]["error"]} if runs else None
    first = good[0]["_out"]
    summary: dict[str, Any] = {
        "median_sec": statistics.median(run["sec"] for run in good),
        "secs": [run["sec"] for run in good],
        "anon_delta_MB": max(run["anon_delta_MB"] for run in good),
        "hwm_delta_MB": max((run["hwm_delta_MB"] or 0.0) for run in good),
        "children_maxrss_MB": max(run["children_maxrss_MB"] for run in good),
        "threads": good[0]["threads"],
        "n_flagged": int(first.size),
        "same_flags_every_run": all(np.array_equal(run["_out"], first) for run in good),
        **prf(first, flips),
    }
    return summary


def compare(n: int, k: int, repeats: dict[str, int], method: str | None = None) -> dict[str, Any]:
    """Both libraries on one config, alternating which goes first in each repeat."""
    paths = generate(n, k)
    flips = np.load(paths["flip"])
    pp_mb = paths["pp"].stat().st_size / MIB
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in LIBRARIES}
    for rep in range(max(repeats.values())):
        order = LIBRARIES if rep % 2 == 0 else LIBRARIES[::-1]
        for lib in order:
            if rep < repeats[lib]:
                label = f"[{_size(n, k)} {method or 'default'} #{rep + 1}]"
                runs[lib].append(measure(lib, "find_label_issues", method, n, k, label))
    row: dict[str, Any] = {
        "N": n,
        "K": k,
        "method": method or "prune_by_noise_rate",
        "pred_probs_MB": pp_mb,
        "n_flips": int(flips.size),
    }
    for lib in LIBRARIES:
        row[lib] = summarise(runs[lib], flips)
    lw, cl = row["labelwise"], row["cleanlab"]
    if _ok(lw) and _ok(cl):
        row["ratio"] = cl["median_sec"] / lw["median_sec"]
        a, b = runs["labelwise"][0]["_out"], runs["cleanlab"][0]["_out"]
        row.update(set_agreement(a, b))
    return row


def compare_scores(n: int, k: int) -> dict[str, Any]:
    """``label_quality_scores`` vs ``rank.get_label_quality_scores``, default method, once."""
    paths = generate(n, k)
    flips = np.load(paths["flip"])
    is_flip = np.zeros(n, dtype=bool)
    is_flip[flips] = True
    row: dict[str, Any] = {"N": n, "K": k, "method": "self_confidence"}
    scores = {}
    for lib in LIBRARIES:
        res = measure(lib, "label_quality_scores", None, n, k, f"[{_size(n, k)} scores]")
        if "error" in res:
            row[lib] = {"error": res["error"]}
            continue
        scores[lib] = res.pop("_out")
        row[lib] = {**res, "auroc": auroc(is_flip, scores[lib])}
    if len(scores) == 2:
        row["ratio"] = row["cleanlab"]["sec"] / row["labelwise"]["sec"]
        row["max_abs_diff"] = float(np.max(np.abs(scores["labelwise"] - scores["cleanlab"])))
    return row


def _ok(summary: dict[str, Any] | None) -> bool:
    return summary is not None and "error" not in summary


# --------------------------------------------------------------------------- rendering


def _size(n: int, k: int) -> str:
    return f"{n:.0e}".replace("e+0", "e") + f" × {k}"


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    parts = [
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise {info['labelwise']}, "
        f"cleanlab {info['cleanlab']}, numpy {info['numpy']}, numba {info['numba']}, "
        f"Python {info['python']}, {info['cpus']} CPUs, {info['memory_GiB']} GiB). "
        f"Repeats: {info['repeats']} per library (median time; memory is the largest of the "
        "repeats).",
        "",
        "**Default method** (`prune_by_noise_rate`). Memory: peak anonymous-RSS growth during the "
        "call, and in brackets as a multiple of the `pred_probs` size.",
        "",
    ]
    speed_rows, quality_rows = [], []
    for row in results["default"]:
        lw, cl, size = row["labelwise"], row["cleanlab"], _size(row["N"], row["K"])
        pp = row["pred_probs_MB"]
        speed_rows.append(
            [
                size,
                f"{pp:,.0f}" if pp >= 10 else f"{pp:.1f}",
                _cell(lw, lambda s: fmt_sec(s["median_sec"])),
                _cell(cl, lambda s: fmt_sec(s["median_sec"])),
                fmt_ratio(row.get("ratio")),
                _cell(lw, lambda s, pp=pp: fmt_mb(s["anon_delta_MB"], pp)),
                _cell(cl, lambda s, pp=pp: fmt_mb(s["anon_delta_MB"], pp)),
            ]
        )
        quality_rows.append(
            [
                size,
                f"{row['n_flips']:,}",
                _cell(lw, _prf_cell),
                _cell(cl, _prf_cell),
                fmt_frac(row.get("jaccard"), 4),
                f"{row['n_differ']:,}" if "n_differ" in row else "–",
            ]
        )
    parts += [
        md_table(
            [
                "N × K",
                "pred_probs MB",
                "labelwise s",
                "cleanlab s",
                "cleanlab / labelwise",
                "labelwise +MB (× input)",
                "cleanlab +MB (× input)",
            ],
            speed_rows,
        ),
        "",
        md_table(
            [
                "N × K",
                "flipped",
                "labelwise: flagged, F1 / P / R",
                "cleanlab: flagged, F1 / P / R",
                "Jaccard",
                "rows that differ",
            ],
            quality_rows,
        ),
    ]
    notes = []
    if any(row["K"] == BIG_K and row["cleanlab"] is None for row in results["default"]):
        notes.append(
            f"cleanlab at K = {BIG_K} not run: add `--with-cleanlab-1000` (one run; reference: "
            "about 25 s and +7.6 GB, `../shared/reference/cleanlab.md` §3)."
        )
    changed = [
        f"{lib} at {_size(row['N'], row['K'])}"
        for row in results["default"]
        for lib in LIBRARIES
        if _ok(row[lib]) and not row[lib]["same_flags_every_run"]
    ]
    if changed:
        notes.append(f"Flags changed between repeats for: {', '.join(changed)}.")
    if notes:
        parts += ["", *notes]
    methods = results.get("methods")
    if methods:
        parts += ["", *_render_methods(methods)]
    return "\n".join(parts)


def _render_methods(methods: dict[str, Any]) -> list[str]:
    size = _size(methods["N"], methods["K"])

    def both(row: dict[str, Any], fmt: Any) -> str:
        return _cell(row["labelwise"], fmt) + " / " + _cell(row["cleanlab"], fmt)

    rows = [
        [
            f"`{row['method']}`",
            _cell(row["labelwise"], lambda s: fmt_sec(s["median_sec"])),
            _cell(row["cleanlab"], lambda s: fmt_sec(s["median_sec"])),
            fmt_ratio(row.get("ratio")),
            both(row, lambda s: fmt_mb(s["anon_delta_MB"])),
            both(row, lambda s: f"{s['n_flagged']:,}"),
            both(row, lambda s: fmt_frac(s["f1"])),
            fmt_frac(row.get("jaccard"), 4),
            f"{row['n_differ']:,}" if "n_differ" in row else "–",
        ]
        for row in methods["rows"]
    ]
    parts = [
        f"**Other methods at {size}** (one run each per library).",
        "",
        md_table(
            [
                "method",
                "labelwise s",
                "cleanlab s",
                "cleanlab / labelwise",
                "+MB (labelwise / cleanlab)",
                "flagged (labelwise / cleanlab)",
                "F1 (labelwise / cleanlab)",
                "Jaccard",
                "rows that differ",
            ],
            rows,
        ),
    ]
    scores = methods.get("scores")
    if scores:
        diff = scores.get("max_abs_diff")
        row = [
            "`label_quality_scores` vs `rank.get_label_quality_scores` (self_confidence)",
            _cell(scores["labelwise"], lambda s: fmt_sec(s["sec"])),
            _cell(scores["cleanlab"], lambda s: fmt_sec(s["sec"])),
            fmt_ratio(scores.get("ratio")),
            both(scores, lambda s: fmt_mb(s["anon_delta_MB"])),
            both(scores, lambda s: fmt_frac(s["auroc"], 4)),
            "–" if diff is None else f"{diff:.1e}",
        ]
        parts += [
            "",
            f"**Label-quality scores at {size}** (one run each per library; AUROC of the "
            "flipped rows against the others, lower score = more suspect).",
            "",
            md_table(
                [
                    "function",
                    "labelwise s",
                    "cleanlab s",
                    "cleanlab / labelwise",
                    "+MB (labelwise / cleanlab)",
                    "AUROC (labelwise / cleanlab)",
                    "largest score difference",
                ],
                [row],
            ),
        ]
    return parts


def _cell(summary: dict[str, Any] | None, fmt: Any) -> str:
    if summary is None:
        return "–"
    if "error" in summary:
        return "failed"
    return fmt(summary)


def _prf_cell(s: dict[str, Any]) -> str:
    return (
        f"{s['n_flagged']:,}: {fmt_frac(s['f1'])} / {fmt_frac(s['precision'])} / "
        f"{fmt_frac(s['recall'])}"
    )


# --------------------------------------------------------------------------- main


def _parse_sizes(text: str) -> list[int]:
    return sorted({int(float(part)) for part in text.split(",") if part.strip()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per library (default 3)")
    parser.add_argument(
        "--sizes", type=_parse_sizes, default=list(SIZES), help="N values, e.g. 1e4,1e5"
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
    results: dict[str, Any] = {"meta": {**meta(), "repeats": repeats}, "default": []}

    configs = [(n, k) for n in sizes for k in CLASSES]
    for n, k in configs:
        print(f"{_size(n, k)}: default method, {repeats} repeat(s)", flush=True)
        both = dict.fromkeys(LIBRARIES, repeats)
        results["default"].append(compare(n, k, both))
    if 1_000_000 in sizes:
        cl_runs = 1 if args.with_cleanlab_1000 else 0
        print(f"{_size(1_000_000, BIG_K)}: default method (cleanlab runs: {cl_runs})", flush=True)
        results["default"].append(
            compare(1_000_000, BIG_K, {"labelwise": repeats, "cleanlab": cl_runs})
        )
    if not args.no_methods:
        n, k = max(sizes), 100
        print(f"{_size(n, k)}: other methods and label_quality_scores, once each", flush=True)
        once = dict.fromkeys(LIBRARIES, 1)
        results["methods"] = {
            "N": n,
            "K": k,
            "rows": [compare(n, k, once, method) for method in OTHER_METHODS],
            "scores": compare_scores(n, k),
        }
    body = render(results)
    if args.quick:  # a smoke test never overwrites the full results or the docs
        path = write_json(f"{SECTION}_quick", results)
        print(f"\nwrote benchmarks/results/{path.name} (docs/benchmarks.md left alone)\n")
    else:
        path = write_json(SECTION, results)
        replace_section(SECTION, body)
        print(f"\nwrote benchmarks/results/{path.name}; updated docs/benchmarks.md\n")
    print(body)


if __name__ == "__main__":
    main()
