"""labelwise vs cleanlab 2.9.0 on real test sets with human-verified label errors.

Data: ``label_errors_{mnist,cifar10,imdb}`` (Northcutt, Athalye & Mueller, NeurIPS 2021) from
``LABELWISE_DATA`` (default ``../shared/data`` relative to the repository root), loaded with
``labelwise.datasets.load_label_errors``; a missing folder is skipped with a message.

For every method both libraries have, both libraries' flagged sets on the real ``pred_probs``,
their Jaccard index, and against the human-verified errors: the number flagged, how many of
those were checked by people, precision on the checked rows (flagged ∩ errors / flagged ∩
checked) and recall on the checked set (flagged ∩ errors / all verified errors). Also the AUROC
of the default label-quality score (self-confidence) among the checked rows.

Caveat (from SOURCE.md): people checked only the candidates that confident learning (cleanlab
1.0, ``prune_by_noise_rate``) flagged on these same ``pred_probs``, so recall is measured on that
set, the true error count is a lower bound, and the benchmark favours detectors that rank like it.

Usage: ``python benchmarks/real_label_errors.py``. Writes
``benchmarks/results/real_label_errors.json`` and the ``real_label_errors`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import _common as common
import numpy as np
from cleanlab import filter as cl_filter
from cleanlab import rank as cl_rank

import labelwise
from labelwise.datasets import load_label_errors

DATASETS = ("mnist", "cifar10", "imdb")
SECTION = "real_label_errors"


def against_checked(flagged: np.ndarray, checked: np.ndarray, errors: np.ndarray) -> dict:
    """Counts and precision / recall of sorted ``flagged`` rows against the human checks."""
    n_checked = np.intersect1d(flagged, checked, assume_unique=True).size
    n_errors = np.intersect1d(flagged, errors, assume_unique=True).size
    return {
        "n_flagged": int(flagged.size),
        "n_flagged_checked": int(n_checked),
        "n_flagged_errors": int(n_errors),
        "precision_checked": n_errors / n_checked if n_checked else float("nan"),
        "recall_checked": n_errors / errors.size if errors.size else float("nan"),
    }


def _accepts(labels: np.ndarray, pred_probs: np.ndarray) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labelwise.find_label_issues(labels, pred_probs)
    except ValueError:
        return False
    return True


def evaluate(name: str) -> dict[str, Any] | None:
    data = load_label_errors(name)
    if data is None:
        print(f"{name}: skipped, no label_errors_{name} folder under LABELWISE_DATA", flush=True)
        return None
    labels = data.labels
    # cleanlab refuses values outside [0, 1] (IMDB's exceed 1 by up to 1e-5), so both libraries
    # get the same clipped array; labelwise's behaviour on the raw array is recorded too.
    out_of_range = int(np.count_nonzero((data.pred_probs < 0) | (data.pred_probs > 1)))
    pred_probs = np.clip(data.pred_probs, 0.0, 1.0) if out_of_range else data.pred_probs
    checked = np.sort(data.checked)
    errors = np.sort(data.errors)
    n, k = pred_probs.shape
    print(
        f"{name}: n={n:,}, K={k}, checked {checked.size:,}, verified errors {errors.size:,}",
        flush=True,
    )
    result: dict[str, Any] = {
        "name": name,
        "n": n,
        "K": k,
        "n_checked": int(checked.size),
        "n_errors": int(errors.size),
        "n_cells_clipped": out_of_range,
        "labelwise_accepts_raw": _accepts(data.labels, data.pred_probs) if out_of_range else None,
        "candidates": against_checked(checked, checked, errors),
        "methods": [],
    }
    for method in common.METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = labelwise.find_label_issues(labels, pred_probs, method=method)
            lw = np.flatnonzero(found.is_issue)
            cl = np.flatnonzero(cl_filter.find_label_issues(labels, pred_probs, filter_by=method))
        row = {
            "method": method,
            **common.set_agreement(lw, cl),
            "labelwise": against_checked(lw, checked, errors),
            "cleanlab": against_checked(cl, checked, errors),
        }
        result["methods"].append(row)
        print(
            f"  {method:22s} flagged {lw.size:5,} / {cl.size:5,}  Jaccard {row['jaccard']:.4f}  "
            f"precision {common.fmt_frac(row['labelwise']['precision_checked'])} / "
            f"{common.fmt_frac(row['cleanlab']['precision_checked'])}  "
            f"recall {common.fmt_frac(row['labelwise']['recall_checked'])} / "
            f"{common.fmt_frac(row['cleanlab']['recall_checked'])}",
            flush=True,
        )
    is_error = np.isin(checked, errors)
    lw_score = labelwise.label_quality_scores(labels, pred_probs)
    cl_score = cl_rank.get_label_quality_scores(labels, pred_probs)
    result["auroc_checked"] = {
        "labelwise": common.auroc(is_error, lw_score[checked]),
        "cleanlab": common.auroc(is_error, cl_score[checked]),
    }
    result["max_abs_score_diff"] = float(np.max(np.abs(lw_score - cl_score)))
    print(
        f"  AUROC of self_confidence among checked rows: "
        f"{result['auroc_checked']['labelwise']:.4f} / {result['auroc_checked']['cleanlab']:.4f}",
        flush=True,
    )
    return result


def _pair(row: dict[str, Any], key: str, digits: int | None = None) -> str:
    a, b = row["labelwise"][key], row["cleanlab"][key]
    if digits is None:
        return f"{a:,} / {b:,}"
    return f"{common.fmt_frac(a, digits)} / {common.fmt_frac(b, digits)}"


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    parts = [
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise "
        f"{info['labelwise']}, cleanlab {info['cleanlab']}).",
        "",
        "Ground truth: the test-set label errors verified by Amazon Mechanical Turk workers "
        "(Northcutt, Athalye & Mueller, NeurIPS 2021; error = fewer than 3 of 5 workers chose "
        "the given label). **Caveat:** people checked only the candidates that confident "
        "learning (cleanlab 1.0, `prune_by_noise_rate`) flagged on these same `pred_probs`. So "
        "recall is measured on that checked set, precision counts only the flagged rows that "
        "were checked, the true number of errors is a lower bound, and the comparison favours "
        "detectors that rank like confident learning. Each cell is labelwise / cleanlab.",
    ]
    skipped = results["skipped"]
    if skipped:
        parts += ["", f"Skipped (data folder absent): {', '.join(skipped)}."]
    for ds in results["datasets"]:
        cand = ds["candidates"]
        rows = [
            [
                f"`{row['method']}`",
                _pair(row, "n_flagged"),
                _pair(row, "n_flagged_checked"),
                _pair(row, "precision_checked", 3),
                _pair(row, "recall_checked", 3),
                common.fmt_frac(row["jaccard"], 4),
                f"{row['n_differ']:,}",
            ]
            for row in ds["methods"]
        ]
        rows.append(
            [
                "checked candidates (cleanlab 1.0)",
                f"{cand['n_flagged']:,}",
                f"{cand['n_flagged_checked']:,}",
                common.fmt_frac(cand["precision_checked"]),
                common.fmt_frac(cand["recall_checked"]),
                "–",
                "–",
            ]
        )
        auc = ds["auroc_checked"]
        clipped = ""
        if ds["n_cells_clipped"]:
            raw = "accepts" if ds["labelwise_accepts_raw"] else "also refuses"
            clipped = (
                f" {ds['n_cells_clipped']:,} `pred_probs` cells lie outside [0, 1] (by float "
                f"rounding); cleanlab refuses them (labelwise {raw} them), so both libraries get "
                "the array clipped to [0, 1]."
            )
        parts += [
            "",
            f"**{ds['name']}**: n = {ds['n']:,}, K = {ds['K']}, {ds['n_checked']:,} checked, "
            f"{ds['n_errors']:,} verified errors.{clipped}",
            "",
            common.md_table(
                [
                    "method",
                    "flagged",
                    "flagged ∩ checked",
                    "precision (checked)",
                    "recall (checked)",
                    "Jaccard",
                    "rows that differ",
                ],
                rows,
            ),
            "",
            f"AUROC of the default score (self-confidence) for the verified errors among the "
            f"checked rows: {common.fmt_frac(auc['labelwise'], 4)} / "
            f"{common.fmt_frac(auc['cleanlab'], 4)} "
            f"(largest score difference {ds['max_abs_score_diff']:.1e}).",
        ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated subset of " + ", ".join(DATASETS),
    )
    args = parser.parse_args(argv)
    # The default data folder is resolved against the repository root, not the working directory.
    os.environ.setdefault("LABELWISE_DATA", str(common.REPO_ROOT.parent / "shared" / "data"))
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    results: dict[str, Any] = {"meta": common.meta(), "datasets": [], "skipped": []}
    for name in names:
        result = evaluate(name)
        if result is None:
            results["skipped"].append(name)
        else:
            results["datasets"].append(result)
    common.publish(SECTION, results, render(results))


if __name__ == "__main__":
    main()
