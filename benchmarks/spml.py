"""Single-positive multi-label learning (SPML) on real multi-label data: every loss of
``PartialMultilabelClassifier`` against the full-label upper bound.

**Data.** ``multilabel_{scene,yeast,emotions,enron,medical,birds}`` of
``labelwise.datasets.data_dir()`` (default ``../shared/data``), with the source's train/test
split. Training rows without any positive label (many in birds) cannot carry a single positive
and are dropped; the test set keeps every row and every label.

**Protocol** (Cole et al., CVPR 2021, on tabular features): for each training example one
observed positive is drawn uniformly among its true positives; every other entry is unknown
(``-1``); seed ``s`` (0..4) draws the positives (``np.random.default_rng(1200 + s)``) and seeds
the training. Model: a linear head on standardised features (the linear-probe protocol; 0/1
columns are not standardised), Adam, batch 64, at most 50 epochs, 20 % of the training rows
held out (single-positive, like the training rows) for early stopping (patience 5) on their
observed-positive mAP. Tuning budget, the same for every loss: learning rate in
{1e-3, 1e-2, 3e-2}, picked by that validation mAP. Metric: test mAP in percent on the full test
labels, the mean over classes with at least one test positive of scikit-learn's
``average_precision_score``; mean ± std over the 5 seeds. Loss settings are the library
defaults, except ``expected_positives`` of EPR/ROLE, which is the training set's true label
cardinality (as Cole et al. do). "full labels" is the same model trained with BCE on the
complete training labels.

Usage::

    python benchmarks/spml.py                      # 6 datasets x 13 methods x 5 seeds (CPU)
    python benchmarks/spml.py --quick              # 2 seeds, scene and emotions
    python benchmarks/spml.py --device cuda        # the same on a GPU, throughput recorded

Writes ``benchmarks/results/spml.json`` (``spml_<device>.json`` for another device) and the
``spml`` section of ``docs/benchmarks.md``; ``--quick`` writes ``spml_quick.json`` only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import _common as common
import numpy as np

SECTION = "spml"
DATASETS = ("scene", "yeast", "emotions", "enron", "medical", "birds")
METHODS = (
    "an",
    "wan",
    "an_ls",
    "epr",
    "role",
    "em",
    "em_apl",
    "asl",
    "ll_r",
    "ll_ct",
    "ll_cp",
    "pu_mlc",
)
LABELS = {
    "full": "full labels (BCE)",
    "an": "AN",
    "wan": "WAN",
    "an_ls": "AN-LS",
    "epr": "EPR",
    "role": "ROLE",
    "em": "EM",
    "em_apl": "EM+APL",
    "asl": "ASL",
    "ll_r": "LL-R",
    "ll_ct": "LL-Ct",
    "ll_cp": "LL-Cp",
    "pu_mlc": "PU-MLC-style",
}
LRS = (1e-3, 1e-2, 3e-2)
SEEDS = 5
DRAW_SEED = 1200
TRAINER = {"batch_size": 64, "max_epochs": 50, "patience": 5, "validation_fraction": 0.2}


def load_split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    root = common.data_root()
    folder = root / f"multilabel_{name}" if root else None
    if folder is None or not (folder / "X_train.npy").exists():
        return None
    x_tr, y_tr, x_te, y_te = (
        np.load(folder / f"{part}.npy") for part in ("X_train", "Y_train", "X_test", "Y_test")
    )
    keep = y_tr.sum(axis=1) > 0
    return (
        x_tr[keep].astype(np.float32),
        y_tr[keep].astype(np.int8),
        x_te.astype(np.float32),
        y_te.astype(np.int8),
    )


def single_positive(y: np.ndarray, seed: int) -> np.ndarray:
    """One observed positive per row, uniform among its positives; -1 elsewhere (Cole et al.)."""
    rng = np.random.default_rng(DRAW_SEED + seed)
    targets = np.full(y.shape, -1, dtype=np.int8)
    for i, row in enumerate(y):
        targets[i, rng.choice(np.flatnonzero(row))] = 1
    return targets


def test_map(probs: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    cols = np.flatnonzero(y.sum(axis=0) > 0)
    return 100.0 * float(np.mean([average_precision_score(y[:, j], probs[:, j]) for j in cols]))


def run_one(
    method: str,
    x_tr: np.ndarray,
    targets: np.ndarray,
    x_te: np.ndarray,
    y_te: np.ndarray,
    seed: int,
    device: str,
    cardinality: float,
) -> dict[str, Any]:
    from labelwise.models import PartialMultilabelClassifier

    loss = "an" if method == "full" else method
    options = {"expected_positives": cardinality} if method in ("epr", "role") else None
    best: tuple[float, Any, float] | None = None
    start = time.perf_counter()
    steps = 0
    for lr in LRS:
        model = PartialMultilabelClassifier(
            loss, loss_options=options, lr=lr, device=device, random_state=seed, **TRAINER
        ).fit(x_tr, targets)
        steps += model.n_epochs_ * int(np.ceil(0.8 * x_tr.shape[0] / TRAINER["batch_size"]))
        score = max(model.history_)
        if best is None or score > best[0]:
            best = (score, model, lr)
    sec = time.perf_counter() - start
    assert best is not None
    return {
        "map": test_map(best[1].predict_proba(x_te), y_te),
        "val_map": 100.0 * best[0],
        "lr": best[2],
        "sec": sec,
        "rows_per_sec": steps * TRAINER["batch_size"] / sec,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {}
    for name in args.datasets:
        data = load_split(name)
        if data is None:
            print(f"  {name}: data not found, skipped", flush=True)
            continue
        x_tr, y_tr, x_te, y_te = data
        cardinality = float(y_tr.sum(axis=1).mean())
        entry: dict[str, Any] = {
            "n_train": int(x_tr.shape[0]),
            "n_test": int(x_te.shape[0]),
            "n_features": int(x_tr.shape[1]),
            "n_classes": int(y_tr.shape[1]),
            "cardinality": cardinality,
            "methods": {},
        }
        for method in ("full", *METHODS):
            runs = []
            for seed in range(args.seeds):
                targets = y_tr if method == "full" else single_positive(y_tr, seed)
                runs.append(
                    run_one(method, x_tr, targets, x_te, y_te, seed, args.device, cardinality)
                )
            maps = [r["map"] for r in runs]
            entry["methods"][method] = {
                "mean": statistics.fmean(maps),
                "std": statistics.stdev(maps) if len(maps) > 1 else 0.0,
                "runs": runs,
            }
            print(
                f"  {name:9s} {LABELS[method]:18s} {statistics.fmean(maps):6.2f} "
                f"± {entry['methods'][method]['std']:.2f}  ({sum(r['sec'] for r in runs):.1f} s)",
                flush=True,
            )
        results[name] = entry
    return results


def render(payload: dict[str, Any]) -> str:
    info, results = payload["meta"], payload["results"]
    names = list(results)
    lines = [
        f"Generated {info['date_utc']} UTC by `{info['command']}` "
        f"(labelwise {info['labelwise']}, "
        f"torch {payload['torch']}, device {payload['device']}, Python {info['python']}, "
        f"{info['cpus']} CPUs).",
        "",
        f"Test mAP (%) on the full test labels, mean ± std over {payload['seeds']} seeds "
        "(a seed draws the single positives and seeds the training). Linear head on standardised "
        "features, learning rate in {1e-3, 1e-2, 3e-2} picked on a single-positive validation "
        "split (early stopping on the same split, at most 50 epochs).",
        "",
    ]
    header = ["method", *[f"{n} ({results[n]['n_classes']} labels)" for n in names]]
    rows = []
    for method in ("full", *METHODS):
        cells = [LABELS[method]]
        for n in names:
            m = results[n]["methods"].get(method)
            cells.append("–" if m is None else f"{m['mean']:.1f} ± {m['std']:.1f}")
        rows.append(cells)
    lines.append(common.md_table(header, rows))
    # the published ordering: EM/EM+APL and LL-* above AN
    lines += [
        "",
        f"**Against AN** (datasets where the method's mean beats AN's, out of {len(names)}; "
        "by the mean only: many of these differences are within one standard deviation):",
        "",
    ]
    order = []
    for method in (
        "em",
        "em_apl",
        "ll_r",
        "ll_ct",
        "ll_cp",
        "wan",
        "an_ls",
        "epr",
        "role",
        "asl",
        "pu_mlc",
    ):
        wins = [
            n
            for n in names
            if results[n]["methods"][method]["mean"] > results[n]["methods"]["an"]["mean"]
        ]
        order.append([LABELS[method], f"{len(wins)} / {len(names)}", ", ".join(wins) or "none"])
    lines.append(common.md_table(["method", "beats AN on", "datasets"], order))
    thr = {
        n: statistics.fmean(
            r["rows_per_sec"] for m in results[n]["methods"].values() for r in m["runs"]
        )
        for n in names
    }
    total = sum(r["sec"] for n in names for m in results[n]["methods"].values() for r in m["runs"])
    lines += [
        "",
        f"Throughput on `{payload['device']}` ({payload['threads']} torch thread(s)): "
        + ", ".join(f"{n} {thr[n]:,.0f} rows/s" for n in names)
        + " (training rows processed per second, every learning rate; measured on a shared "
        "machine, so read them as orders of magnitude)." + f" Whole run: {total / 60:.1f} min.",
    ]
    other = payload.get("other_devices") or {}
    for device, figures in other.items():
        lines.append(
            f"On `{device}`: " + ", ".join(f"{n} {v:,.0f} rows/s" for n, v in figures.items()) + "."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="2 seeds, scene and emotions")
    parser.add_argument("--render-only", action="store_true", help="docs from the saved JSON")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.datasets = 2, "scene,emotions"
    args.datasets = [d for d in args.datasets.split(",") if d]
    path = common.RESULTS_DIR / "spml.json"
    if args.render_only:
        common.replace_section(SECTION, render(json.loads(path.read_text())))
        return
    import torch

    if args.device == "auto":  # name the device actually used in the results
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    info = common.meta()
    print(f"SPML benchmark on {args.device}, {args.seeds} seeds ...", flush=True)
    payload: dict[str, Any] = {
        "meta": info,
        "torch": torch.__version__,
        "device": args.device,
        "threads": args.threads,
        "seeds": args.seeds,
        "lrs": list(LRS),
        "trainer": TRAINER,
        "results": run(args),
    }
    if args.quick:
        common.write_json("spml_quick", payload)
        print(render(payload))
        return
    if args.device != "cpu":
        common.write_json(f"spml_{args.device.replace(':', '')}", payload)
        if path.exists():  # record the throughput beside the CPU figures
            cpu = json.loads(path.read_text())
            cpu.setdefault("other_devices", {})[args.device] = {
                n: statistics.fmean(
                    r["rows_per_sec"] for m in e["methods"].values() for r in m["runs"]
                )
                for n, e in payload["results"].items()
            }
            common.write_json("spml", cpu)
            common.replace_section(SECTION, render(cpu))
        print(render(payload))
        return
    common.publish(SECTION, payload, render(payload))


if __name__ == "__main__":
    main()
