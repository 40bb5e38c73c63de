"""Active re-labelling and active testing on real CIFAR-10 human votes and real ``pred_probs``.

Data (from ``LABELWISE_DATA``, default ``../shared/data``): ``cifar10h`` (Peterson et al., ICCV
2019: about 51 real human votes for each of the 10,000 CIFAR-10 test images, as per-class
counts) and ``label_errors_cifar10`` (Northcutt et al., NeurIPS 2021: cross-validated
``pred_probs`` for the same images in the same row order; both SOURCE.md files say so, and the
model's predictions agree with the CIFAR-10H majority on 92.7 % of the images). The CIFAR-10H
majority is the reference label. The snapshot has no annotator ids, only counts, so the j-th
vote an image receives is attributed to annotator slot j.

1. Re-labelling (``relabel``): per seed, ``--items`` random images start with one real vote
   each (drawn without replacement from the image's pool of votes). Each round every strategy
   asks for one more real vote on ``--budget`` distinct images of its choice; the votes are
   aggregated with ``CrowdLab`` (with the ``pred_probs``; with one vote per image the vote
   itself) and the consensus accuracy against the CIFAR-10H majority is recorded. Strategies:
   ``random``; ``uncertainty`` (least confidence of the current CrowdLab consensus
   probabilities, of ``pred_probs`` before any overlap); ``activelab`` (labelwise
   ``relabel_scores``) and ``activelab_cleanlab`` (cleanlab 2.9
   ``get_active_learning_scores``, the anchor; it searches its temperature on miscounted votes,
   see ``CrowdLab``). The saving is the share of random's annotations that ActiveLab does not
   need to reach random's final accuracy (linear interpolation between rounds).
2. Active testing (``testing``): the accuracy of the ``pred_probs`` model on all 10,000 images,
   estimated from M = 200 / 500 / 1000 labelled points with ``ActiveTester`` (surrogate: the
   model itself) under both proposals, against uniform random sampling: bias in standard
   errors over the seeds, variance ratio to random, coverage of the reported standard error.
3. Speed (``speed``): one call each of ``relabel_scores`` (10⁶ annotated items, 3 annotations
   each, K = 10; and 10⁶ unlabeled items) and ``uncertainty_scores`` on 10⁶ × 10.

Usage: ``python benchmarks/active_relabel.py [--quick | --from-json] [--parts speed,...]``
(about 5 minutes on 2 shared cores). Writes ``benchmarks/results/active_relabel.json`` and the
``active_relabel`` section of ``docs/benchmarks.md`` (``--quick``: ``active_relabel_quick.json``
only). A run of some of the parts merges into the saved JSON: the parts it did not run are
kept, each with the ``meta`` of the run that made it (``part_meta``), and the docs name the
parts that come from an earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import _common as common
import numpy as np
from cleanlab.multiannotator import get_active_learning_scores

from labelwise import Annotations
from labelwise.active import ActiveTester, relabel_scores, uncertainty_scores
from labelwise.aggregate import CrowdLab

SECTION = "active_relabel"
STRATEGIES = ("random", "uncertainty", "activelab", "activelab_cleanlab")
#: The parts of the benchmark, in results and docs order, with their names in the docs.
PARTS = {"relabel": "re-labelling", "testing": "active testing", "speed": "speed"}


def load() -> tuple[np.ndarray, np.ndarray] | None:
    root = Path(os.environ.get("LABELWISE_DATA", common.REPO_ROOT.parent / "shared" / "data"))
    counts_path = root / "cifar10h" / "cifar10h-counts.npy"
    probs_path = root / "label_errors_cifar10" / "pred_probs.npy"
    if not (counts_path.exists() and probs_path.exists()):
        print(f"skipped: {counts_path} or {probs_path} not found")
        return None
    return np.load(counts_path), np.load(probs_path)


# ---------------------------------------------------------------- 1. re-labelling


class VotePool:
    """Each chosen image's real votes in a random order; ``take`` hands out the next ones."""

    def __init__(self, counts: np.ndarray, rng: np.random.Generator) -> None:
        n, k = counts.shape
        per_item = counts.sum(axis=1)
        item = np.repeat(np.arange(n), per_item)
        label = np.repeat(np.tile(np.arange(k), n), counts.ravel())
        order = np.lexsort((rng.random(item.size), item))  # shuffle within each image
        self.labels = label[order]
        self.start = np.concatenate([[0], np.cumsum(per_item)[:-1]])
        self.size = per_item
        self.used = np.zeros(n, dtype=np.int64)

    def take(self, items: np.ndarray) -> np.ndarray:
        """One new vote per item (slot = how many it had before)."""
        if np.any(self.used[items] >= self.size[items]):
            raise RuntimeError("an image ran out of votes")
        out = self.labels[self.start[items] + self.used[items]]
        self.used[items] += 1
        return out


class State:
    """The annotations collected so far for one strategy: (item, slot, label) triples."""

    def __init__(self, first: np.ndarray) -> None:
        n = first.size
        self.item = np.arange(n)
        self.slot = np.zeros(n, dtype=np.int64)
        self.label = first
        self.n_per_item = np.ones(n, dtype=np.int64)

    def add(self, items: np.ndarray, labels: np.ndarray) -> None:
        self.item = np.concatenate([self.item, items])
        self.slot = np.concatenate([self.slot, self.n_per_item[items]])
        self.label = np.concatenate([self.label, labels])
        self.n_per_item[items] += 1

    def annotations(self, k: int) -> Annotations:
        n = self.n_per_item.size
        return Annotations(
            self.item,
            self.slot,
            self.label,
            np.arange(n),
            np.arange(int(self.n_per_item.max())),
            np.arange(k),
        )

    def wide(self) -> np.ndarray:
        out = np.full((self.n_per_item.size, int(self.n_per_item.max())), np.nan)
        out[self.item, self.slot] = self.label
        return out


def consensus(state: State, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Consensus labels and CrowdLab probabilities (None while every image has one vote)."""
    if state.n_per_item.max() < 2:
        return state.label[np.argsort(state.item)], None
    model = CrowdLab().fit(state.annotations(probs.shape[1]), probs)
    return np.asarray(model.labels_, dtype=np.int64), np.asarray(model.probas_)


def lowest(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """``budget`` lowest scores, ties broken at random."""
    return np.lexsort((rng.random(scores.size), scores))[:budget]


def choose(
    strategy: str,
    state: State,
    probs: np.ndarray,
    crowd_probs: np.ndarray | None,
    budget: int,
    rng: np.random.Generator,
) -> np.ndarray:
    if strategy == "random":
        return rng.choice(state.n_per_item.size, budget, replace=False)
    if strategy == "uncertainty":
        source = probs if crowd_probs is None else crowd_probs
        return lowest(uncertainty_scores(source), budget, rng)
    if strategy == "activelab":
        scores = relabel_scores(state.annotations(probs.shape[1]), probs).scores
        return lowest(scores, budget, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = get_active_learning_scores(state.wide(), probs)
    return lowest(np.asarray(scores), budget, rng)


def relabel_run(
    counts: np.ndarray, probs: np.ndarray, *, items: int, budget: int, rounds: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(counts.shape[0], items, replace=False)
    sub_counts, sub_probs = counts[chosen], probs[chosen]
    truth = np.argmax(sub_counts, axis=1)
    pools = {s: VotePool(sub_counts, np.random.default_rng([seed, 1])) for s in STRATEGIES}
    states = {s: State(pools[s].take(np.arange(items))) for s in STRATEGIES}
    curves: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    seconds: dict[str, float] = dict.fromkeys(STRATEGIES, 0.0)
    for r in range(rounds + 1):
        for s in STRATEGIES:
            labels, crowd_probs = consensus(states[s], sub_probs)
            curves[s].append(float(np.mean(labels == truth)))
            if r == rounds:
                continue
            start = time.perf_counter()
            pick = choose(
                s, states[s], sub_probs, crowd_probs, budget, np.random.default_rng([seed, r])
            )
            seconds[s] += time.perf_counter() - start
            states[s].add(pick, pools[s].take(pick))
    return {"seed": seed, "accuracy": curves, "select_seconds": seconds}


def annotations_to_reach(target: float, totals: np.ndarray, curve: np.ndarray) -> float:
    """Annotations at which ``curve`` first reaches ``target`` (linear between rounds)."""
    above = np.flatnonzero(curve >= target)
    if above.size == 0:
        return float("nan")
    j = int(above[0])
    if j == 0:
        return float(totals[0])
    a0, a1 = curve[j - 1], curve[j]
    return float(totals[j - 1] + (target - a0) / (a1 - a0) * (totals[j] - totals[j - 1]))


def relabel_part(
    counts: np.ndarray, probs: np.ndarray, *, items: int, budget: int, rounds: int, seeds: int
) -> dict[str, Any]:
    runs = []
    for seed in range(seeds):
        start = time.perf_counter()
        runs.append(
            relabel_run(counts, probs, items=items, budget=budget, rounds=rounds, seed=seed)
        )
        print(f"relabel seed {seed}: {time.perf_counter() - start:.1f}s", flush=True)
    totals = items + budget * np.arange(rounds + 1)
    acc = {s: np.array([run["accuracy"][s] for run in runs]) for s in STRATEGIES}
    savings: dict[str, Any] = {}
    for s in STRATEGIES[1:]:
        per_seed = []
        for i in range(seeds):
            target = acc["random"][i, -1]
            need = annotations_to_reach(target, totals, acc[s][i])
            per_seed.append(1.0 - need / totals[-1] if need == need else float("nan"))
        mean_need = annotations_to_reach(acc["random"].mean(0)[-1], totals, acc[s].mean(0))
        savings[s] = {
            "per_seed": per_seed,
            "mean_curve": 1.0 - mean_need / totals[-1] if mean_need == mean_need else None,
            "annotations_needed_mean_curve": mean_need,
        }
    return {
        "items": items,
        "budget_per_round": budget,
        "rounds": rounds,
        "seeds": seeds,
        "total_annotations": totals.tolist(),
        "accuracy_mean": {s: acc[s].mean(0).tolist() for s in STRATEGIES},
        "accuracy_sd": {s: acc[s].std(0, ddof=1).tolist() for s in STRATEGIES},
        "saving_vs_random": savings,
        "select_seconds_mean": {
            s: float(np.mean([run["select_seconds"][s] for run in runs])) for s in STRATEGIES
        },
        "runs": runs,
    }


# ---------------------------------------------------------------- 2. active testing


def simulate_testing(
    probs: np.ndarray, truth: np.ndarray, *, loss: str, m: int, seeds: int
) -> dict[str, Any]:
    if loss == "zero_one":
        true_risk = float(np.mean(probs.argmax(axis=1) != truth))
    else:
        true_risk = float(
            np.mean(-np.log(np.clip(probs[np.arange(truth.size), truth], 1e-12, None)))
        )
    testers = {
        "random": ActiveTester(probs, probs, loss=loss, uniform=1.0),
        "root_mean_square": ActiveTester(probs, probs, loss=loss),
        "expected_loss": ActiveTester(probs, probs, loss=loss, proposal="expected_loss"),
    }
    out: dict[str, Any] = {"loss": loss, "M": m, "seeds": seeds, "true_risk": true_risk}
    for name, tester in testers.items():
        est, se = np.empty(seeds), np.empty(seeds)
        for seed in range(seeds):
            tester.reset(seed)
            for _ in range(m):
                i = tester.propose()
                tester.record(i, truth[i])
            result = tester.estimate()
            est[seed], se[seed] = result.risk, result.standard_error
        out[name] = {
            "mean": float(est.mean()),
            "sd": float(est.std(ddof=1)),
            "bias_in_se": float((est.mean() - true_risk) / (est.std(ddof=1) / np.sqrt(seeds))),
            "mean_reported_se": float(se.mean()),
            "coverage_2se": float(np.mean(np.abs(est - true_risk) <= 2 * se)),
        }
    for name in ("root_mean_square", "expected_loss"):
        out[name]["variance_ratio_to_random"] = (out[name]["sd"] / out["random"]["sd"]) ** 2
    return out


def testing_part(
    probs: np.ndarray, truth: np.ndarray, *, sizes: list[int], seeds: int, ce_seeds: int
) -> list[dict[str, Any]]:
    rows = []
    for m in sizes:
        start = time.perf_counter()
        rows.append(simulate_testing(probs, truth, loss="zero_one", m=m, seeds=seeds))
        print(f"testing zero_one M={m}: {time.perf_counter() - start:.1f}s", flush=True)
    m = sizes[len(sizes) // 2]
    rows.append(simulate_testing(probs, truth, loss="cross_entropy", m=m, seeds=ce_seeds))
    return rows


# ---------------------------------------------------------------- 3. speed


def speed_part(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    k, per_item = 10, 3
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    item = np.repeat(np.arange(n), per_item)
    source = rng.integers(0, 50, item.size)
    wrong = rng.random(item.size) < 0.3
    label = np.where(wrong, rng.integers(0, k, item.size), truth[item])
    ann = Annotations(item, source, label, np.arange(n), np.arange(50), np.arange(k))
    out: dict[str, Any] = {"n": n, "K": k, "annotations": int(item.size)}

    def timed(name: str, call: Any, repeats: int = 3) -> None:
        # The median of a few calls; the first (cold: fresh memory) is kept beside it.
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            runs.append(time.perf_counter() - start)
        out[name], out[f"{name}_all"] = statistics.median(runs), runs
        print(f"speed {name}: median {out[name]:.3f}s of {runs}", flush=True)

    m = min(n, 3000)  # warm-up (numba kernels) on a small slice
    small = Annotations(
        item[: 3 * m], source[: 3 * m], label[: 3 * m], np.arange(m), np.arange(50), np.arange(k)
    )
    relabel_scores(small, probs[:m], pred_probs_unlabeled=probs[:m])
    uncertainty_scores(probs[:m])
    timed("relabel_scores_annotated_sec", lambda: relabel_scores(ann, probs))
    timed(
        "relabel_scores_unlabeled_sec",
        lambda: relabel_scores(small, probs[:m], pred_probs_unlabeled=probs),
    )
    for method in ("least_confidence", "margin", "entropy"):
        timed(f"uncertainty_{method}_sec", lambda m=method: uncertainty_scores(probs, method=m))
    return out


# ---------------------------------------------------------------- merging and rendering


def merge_saved(results: dict[str, Any], saved: dict[str, Any] | None) -> dict[str, Any]:
    """This run's parts, plus the ``saved`` parts it did not run.

    ``part_meta`` maps each part to the ``meta`` of the run that made it (a saved file without
    ``part_meta`` made all its parts in its own ``meta`` run); ``meta`` is this run's.
    """
    saved = saved or {}
    saved_meta = saved.get("part_meta", {})
    merged: dict[str, Any] = {"meta": results["meta"], "part_meta": {}}
    for part in PARTS:
        if part in results:
            merged[part] = results[part]
            merged["part_meta"][part] = results["meta"]
        elif part in saved:
            merged[part] = saved[part]
            merged["part_meta"][part] = saved_meta.get(part, saved.get("meta"))
    return merged


def earlier_parts_line(results: dict[str, Any]) -> str:
    """One sentence per earlier run whose parts ``results`` kept (empty when none)."""
    meta = results.get("meta")
    earlier: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for part, part_meta in results.get("part_meta", {}).items():
        if part in results and part_meta and part_meta != meta:
            key = json.dumps(part_meta, sort_keys=True)
            earlier.setdefault(key, (part_meta, []))[1].append(PARTS[part])
    sentences = []
    for part_meta, names in earlier.values():
        line = common.generated_line(part_meta)
        sentences.append(
            f"The {' and '.join(names)} part{'s are' if len(names) > 1 else ' is'} from an "
            f"earlier run: g{line[1:]}"
        )
    return " ".join(sentences)


def render(results: dict[str, Any]) -> str:
    parts = ["## Active re-labelling and active testing", ""]
    head = common.generated_line(results["meta"]) if "meta" in results else ""
    parts += [" ".join(filter(None, [head, earlier_parts_line(results)]))]
    rel = results.get("relabel")
    if rel:
        parts += [
            "",
            f"**Re-labelling CIFAR-10 with real CIFAR-10H votes.** {rel['items']:,} random test "
            f"images per seed start with one real vote each; {rel['rounds']} rounds of "
            f"{rel['budget_per_round']:,} more votes (one per chosen image, drawn without "
            f"replacement from its ~51 real votes); consensus by `CrowdLab` with the real "
            f"cross-validated `pred_probs`; accuracy against the CIFAR-10H majority of all ~51 "
            f"votes; mean ± sd over {rel['seeds']} seeds.",
            "",
        ]
        totals = rel["total_annotations"]
        shown = sorted(
            {0, len(totals) // 4, len(totals) // 2, 3 * len(totals) // 4, len(totals) - 1}
        )
        rows = []
        for s in STRATEGIES:
            mean, sd = rel["accuracy_mean"][s], rel["accuracy_sd"][s]
            rows.append([f"`{s}`"] + [f"{mean[j]:.4f} ± {sd[j]:.4f}" for j in shown])
        parts.append(common.md_table(["strategy"] + [f"{totals[j]:,} votes" for j in shown], rows))
        parts += ["", "Annotations saved at random selection's final accuracy:", ""]
        rows = []
        for s in STRATEGIES[1:]:
            sav = rel["saving_vs_random"][s]
            per = np.array([v for v in sav["per_seed"] if v is not None and v == v])
            reached = f"{per.size}/{rel['seeds']}"
            per_txt = (
                f"{per.mean():.1%} ± {per.std(ddof=1) if per.size > 1 else 0:.1%}"
                if per.size
                else "—"
            )
            curve = sav["mean_curve"]
            need = sav["annotations_needed_mean_curve"]
            rows.append(
                [
                    f"`{s}`",
                    "not reached"
                    if curve is None
                    else f"{curve:.1%} ({need:,.0f} of {totals[-1]:,})",
                    per_txt,
                    reached,
                    f"{rel['select_seconds_mean'][s]:.2f}",
                ]
            )
        parts.append(
            common.md_table(
                [
                    "strategy",
                    "saving (mean curves)",
                    "saving per seed (mean ± sd)",
                    "seeds reaching it",
                    "selection time per seed (s)",
                ],
                rows,
            )
        )
    tests = results.get("testing")
    if tests:
        parts += [
            "",
            "**Active testing on the real `pred_probs`** (10,000 CIFAR-10 test images, labels = "
            "CIFAR-10H majority, surrogate = the model itself, 10 % uniform mixing). Bias is "
            "(mean estimate − true risk) / (sd / √seeds); coverage: share of seeds whose "
            "estimate lies within 2 reported standard errors of the truth.",
            "",
        ]
        rows = []
        for row in tests:
            for name in ("random", "root_mean_square", "expected_loss"):
                r = row[name]
                ratio = r.get("variance_ratio_to_random")
                truth = 1 - row["true_risk"] if row["loss"] == "zero_one" else row["true_risk"]
                est = 1 - r["mean"] if row["loss"] == "zero_one" else r["mean"]
                sign = -1 if row["loss"] == "zero_one" else 1
                rows.append(
                    [
                        "accuracy" if row["loss"] == "zero_one" else "cross-entropy",
                        row["M"],
                        row["seeds"],
                        f"`{name}`",
                        f"{truth:.4f}",
                        f"{est:.4f}",
                        f"{sign * r['bias_in_se']:+.2f}",
                        f"{r['sd']:.4f}",
                        "1" if ratio is None else f"{ratio:.2f}",
                        f"{r['coverage_2se']:.2f}",
                    ]
                )
        parts.append(
            common.md_table(
                [
                    "target",
                    "M",
                    "seeds",
                    "sampling",
                    "true",
                    "mean estimate",
                    "bias (SE)",
                    "sd",
                    "variance / random",
                    "coverage ±2 SE",
                ],
                rows,
            )
        )
    speed = results.get("speed")
    if speed:
        parts += [
            "",
            f"**Speed** (this machine, n = {speed['n']:,}, K = {speed['K']}; median of "
            f"{len(speed.get('relabel_scores_annotated_sec_all', [0]))} calls after a warm-up "
            "on a small slice): "
            f"`relabel_scores` on {speed['annotations']:,} annotations "
            f"{speed['relabel_scores_annotated_sec']:.2f} s"
            + (
                f" (first call {speed['relabel_scores_annotated_sec_all'][0]:.2f} s)"
                if "relabel_scores_annotated_sec_all" in speed
                else ""
            )
            + " (a `CrowdLab(calibrate=True)` fit: "
            "the temperature grid search, up to 15 temperatures in two compiled passes over "
            "the array, then two ensemble passes; "
            + (
                "under the one-second target"
                if speed["relabel_scores_annotated_sec"] < 1.0
                else "the sub-second target is not met for annotated items"
            )
            + "); on "
            f"{speed['n']:,} unlabeled items "
            f"{speed['relabel_scores_unlabeled_sec']:.2f} s; `uncertainty_scores` "
            f"{speed['uncertainty_least_confidence_sec']:.3f} / "
            f"{speed['uncertainty_margin_sec']:.3f} / {speed['uncertainty_entropy_sec']:.3f} s "
            "(least confidence / margin / entropy).",
        ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--test-sizes", default="200,500,1000")
    parser.add_argument("--test-seeds", type=int, default=100)
    parser.add_argument("--speed-n", type=int, default=1_000_000)
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated subset of relabel,testing,speed; the others are kept from the "
        "saved JSON",
    )
    parser.add_argument("--quick", action="store_true", help="small smoke test; docs left alone")
    parser.add_argument(
        "--from-json", action="store_true", help="re-render the docs from the saved results"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads((common.RESULTS_DIR / f"{SECTION}.json").read_text())
        common.replace_section(SECTION, render(saved))
        print(render(saved))
        return
    parts = {p.strip() for p in args.parts.split(",")}
    if args.quick:
        args.items, args.budget, args.rounds, args.seeds = 500, 100, 3, 2
        args.test_sizes, args.test_seeds, args.speed_n = "200", 10, 10_000
    data = load()
    results: dict[str, Any] = {"meta": common.meta()}
    if data is not None:
        counts, probs = data
        if "relabel" in parts:
            results["relabel"] = relabel_part(
                counts,
                probs,
                items=args.items,
                budget=args.budget,
                rounds=args.rounds,
                seeds=args.seeds,
            )
        if "testing" in parts:
            truth = np.argmax(counts, axis=1)
            results["testing"] = testing_part(
                probs,
                truth,
                sizes=common.parse_ints(args.test_sizes),
                seeds=args.test_seeds,
                ce_seeds=max(args.test_seeds // 2, 2),
            )
    if "speed" in parts:
        results["speed"] = speed_part(args.speed_n)
    if not args.quick:  # keep the saved parts this run did not redo
        saved_path = common.RESULTS_DIR / f"{SECTION}.json"
        saved = json.loads(saved_path.read_text()) if saved_path.exists() else None
        results = merge_saved(results, saved)
    common.publish(SECTION, results, render(results), quick=args.quick)


if __name__ == "__main__":
    main()
