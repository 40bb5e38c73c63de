"""Training with incomplete labels on real data: PU, candidate sets, proportions, noisy labels.

Every part uses real features and real labels, hides or corrupts the labels in a documented
way, trains ``labelwise.models`` trainers (CPU, one torch thread) and scores them on a clean
test split; mean ± std over ``--seeds`` seeds (default 3, to keep the run near 15 minutes on
2 cores; a seed draws the split, the corruption and the training seed).

- **PU** (``PUClassifier``): scikit-learn's breast-cancer data (positive = malignant, π = 0.37)
  and the ``ws_sms`` sentence features (valid + test, 1,000 rows, positive = spam, π = 0.115).
  70/30 stratified split; a share ``c`` (label frequency 0.3 or 0.5) of the training positives
  is labelled at random (SCAR), every other training row is unlabeled. Methods: the naive
  labelled-vs-unlabeled classifier, uPU and nnPU with the true prior, nnPU with the prior
  estimated by TIcE and by Elkan–Noto; a one-hidden-layer MLP (64) for every method. Also the
  prior estimates against the truth, and pulearn 0.2's ``NNPUClassifier`` (its numpy linear
  model, standardised features) on the same split when pulearn is installed in the interpreter
  given by ``--pulearn-python``. pulearn's unlabeled sample is the unlabeled rows only
  (case-control), so it gets the true positive share *of the unlabeled rows* as its prior.
- **Partial labels** (``PartialLabelClassifier``): scikit-learn's digits (10 classes). 70/30 split;
  candidate sets of the training rows hold the true label plus distractors, either *uniform*
  (each wrong class with probability 0.3) or *instance-dependent* (wrong class j with
  probability ``p_j / max_{k≠y} p_k`` under a 5-fold cross-validated logistic regression on the
  clean labels, so the most confusable class is always a candidate, as in Xu et al., NeurIPS
  2021). Methods: the naive candidate-average loss, PRODEN, POP; linear head.
- **Proportions** (``ProportionClassifier``): digits, 70/30 split; the training rows are shuffled
  into bags of 8 … 256 rows, only each bag's class proportions are given. DLLP and MixBag,
  linear head; "instance labels" is the same model trained with the true labels.
- **Noisy labels** (``NoisyLabelClassifier``): digits, 70/30 split; training labels corrupted with
  the real human noise of CIFAR-10N (``../shared/data/cifar10n``: the transition matrix from the
  clean label to ``random_label1``, 17 % noise, and to ``worse_label``, 40 %; digit i takes the
  row of CIFAR-10 class i) and with uniform noise at the same rates. Methods: cross-entropy,
  GCE, SCE, label smoothing, forward correction (T estimated from anchor points, and the true
  T), co-teaching (forget rate = the noise rate); a one-hidden-layer MLP (128).

Usage::

    python benchmarks/incomplete_labels.py --pulearn-python benchmarks/.venv-pulearn/bin/python
    python benchmarks/incomplete_labels.py                 # every part, 3 seeds, no pulearn
    python benchmarks/incomplete_labels.py --parts pu,noisy --seeds 2
    python benchmarks/incomplete_labels.py --quick         # 1 seed (smoke test)

Writes ``benchmarks/results/incomplete_labels.json`` and the ``incomplete_labels`` section of
``docs/benchmarks.md`` (``--quick``: ``incomplete_labels_quick.json`` only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from typing import Any

import _common as common
import numpy as np

SECTION = "incomplete_labels"
PARTS = ("pu", "partial", "proportions", "noisy")
SEEDS = 3
BAG_SIZES = (8, 16, 32, 64, 128, 256)


def split(n: int, seed: int, stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    train, test = train_test_split(rows, test_size=0.3, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def mean_std(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def cell(entry: dict[str, Any], scale: float = 100.0, digits: int = 1) -> str:
    return f"{scale * entry['mean']:.{digits}f} ± {scale * entry['std']:.{digits}f}"


# --------------------------------------------------------------------------- PU


def pu_datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer()
    data = {"breast_cancer": (cancer.data, (cancer.target == 0).astype(np.int8))}
    root = common.data_root()
    sms = root / "ws_sms" if root else None
    if sms is not None and (sms / "valid_features.npy").exists():
        x = np.concatenate([np.load(sms / f"{p}_features.npy") for p in ("valid", "test")])
        y = np.concatenate([np.load(sms / f"{p}_labels.npy") for p in ("valid", "test")])
        data["ws_sms"] = (x.astype(np.float32), (y == 1).astype(np.int8))
    return data


PULEARN_CODE = """
import json, sys, numpy as np
from pulearn import NNPUClassifier
d = np.load(sys.argv[1])
clf = NNPUClassifier(prior=float(sys.argv[2]), random_state=int(sys.argv[3]))
mu, sd = d["x_tr"].mean(0), d["x_tr"].std(0) + 1e-12
clf.fit((d["x_tr"] - mu) / sd, d["s"])
pred = np.asarray(clf.predict((d["x_te"] - mu) / sd)).ravel()
pred = (pred == 1).astype(int)
print(json.dumps({"acc": float((pred == d["y_te"]).mean())}))
"""


def pulearn_accuracy(python: str | None, x_tr, s, x_te, y_te, prior, seed) -> float | None:
    if not python:
        return None
    path = common.CACHE_DIR / "pulearn_split.npz"
    common.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_tr=x_tr, s=s, x_te=x_te, y_te=y_te)
    proc = subprocess.run(
        [python, "-c", PULEARN_CODE, str(path), str(prior), str(seed)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        print("  pulearn failed:", (proc.stderr.strip().splitlines() or ["?"])[-1], flush=True)
        return None
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["acc"])


def run_pu(args: argparse.Namespace) -> dict[str, Any]:
    from labelwise.class_prior import estimate_class_prior
    from labelwise.models import PUClassifier

    out: dict[str, Any] = {}
    common_opts = {
        "hidden_layer_sizes": (64,),
        "max_epochs": 100,
        "patience": 10,
        "device": args.device,
    }
    for name, (x, y) in pu_datasets().items():
        for c in (0.3, 0.5):
            rows: dict[str, list[float]] = {}
            priors: dict[str, list[float]] = {"truth": [], "tice": [], "elkan_noto": []}
            for seed in range(args.seeds):
                train, test = split(y.size, seed, stratify=y)
                rng = np.random.default_rng(seed)
                y_tr = y[train]
                s = (y_tr == 1) & (rng.random(train.size) < c)
                s = s.astype(np.int8)
                truth = float(y_tr.mean())
                priors["truth"].append(truth)
                for method in ("tice", "elkan_noto"):
                    priors[method].append(
                        estimate_class_prior(s, x[train], method=method, random_state=seed).prior
                    )
                runs = {
                    "naive": PUClassifier("naive", random_state=seed, **common_opts),
                    "uPU (true π)": PUClassifier(
                        "upu", prior=truth, random_state=seed, **common_opts
                    ),
                    "nnPU (true π)": PUClassifier(
                        "nnpu", prior=truth, random_state=seed, **common_opts
                    ),
                    "nnPU (TIcE π)": PUClassifier(
                        "nnpu",
                        prior=min(priors["tice"][-1], 0.999),
                        random_state=seed,
                        **common_opts,
                    ),
                    "nnPU (Elkan–Noto π)": PUClassifier(
                        "nnpu",
                        prior=min(priors["elkan_noto"][-1], 0.999),
                        random_state=seed,
                        **common_opts,
                    ),
                }
                for label, model in runs.items():
                    model.fit(x[train], s)
                    rows.setdefault(label, []).append(
                        float((model.predict(x[test]) == y[test]).mean())
                    )
                acc = pulearn_accuracy(
                    args.pulearn_python, x[train], s, x[test], y[test], truth, seed
                )
                if acc is not None:
                    rows.setdefault("pulearn 0.2 NNPUClassifier (linear, true π of U)", []).append(
                        acc
                    )
            key = f"{name} c={c}"
            out[key] = {
                "n": int(y.size),
                "prior": float(y.mean()),
                "label_frequency": c,
                "accuracy": {label: mean_std(v) for label, v in rows.items()},
                "priors": {label: mean_std(v) for label, v in priors.items()},
            }
            print(
                f"  PU {key}: "
                + ", ".join(f"{k} {100 * statistics.fmean(v):.1f}" for k, v in rows.items()),
                flush=True,
            )
    return out


def render_pu(results: dict[str, Any]) -> list[str]:
    keys = list(results)
    methods = list(dict.fromkeys(m for k in keys for m in results[k]["accuracy"]))
    rows = [
        [
            m,
            *[
                cell(results[k]["accuracy"][m]) if m in results[k]["accuracy"] else "–"
                for k in keys
            ],
        ]
        for m in methods
    ]
    prior_rows = [
        [
            m,
            *[
                f"{results[k]['priors'][m]['mean']:.3f} ± {results[k]['priors'][m]['std']:.3f}"
                for k in keys
            ],
        ]
        for m in ("truth", "tice", "elkan_noto")
    ]
    err = {
        m: max(
            abs(a - t)
            for k in keys
            for a, t in zip(
                results[k]["priors"][m]["values"],
                results[k]["priors"]["truth"]["values"],
                strict=True,
            )
        )
        for m in ("tice", "elkan_noto")
    }
    return [
        "### PU learning",
        "",
        "Test accuracy (%), mean ± std over seeds; c = share of the training positives that are "
        "labelled.",
        "",
        common.md_table(["method", *keys], rows),
        "",
        "Class-prior estimates on the training split (truth: the training positive share):",
        "",
        common.md_table(["estimate", *keys], prior_rows),
        "",
        f"Largest absolute error over every split: TIcE {err['tice']:.3f}, "
        f"Elkan–Noto {err['elkan_noto']:.3f}.",
    ]


# --------------------------------------------------------------------------- partial labels


def instance_candidates(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, seed: int
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from labelwise import cross_val_pred_probs

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probs = cross_val_pred_probs(model, x, y, cv=5, random_state=seed, progress=False)
    wrong = probs.copy()
    wrong[np.arange(y.size), y] = 0.0
    chance = wrong / wrong.max(axis=1, keepdims=True)
    cand = rng.random(probs.shape) < chance
    cand[np.arange(y.size), y] = True
    return cand


def run_partial(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    from labelwise.models import PartialLabelClassifier

    digits = load_digits()
    x, y = digits.data, digits.target
    out: dict[str, Any] = {}
    for kind in ("uniform", "instance"):
        rows: dict[str, list[float]] = {}
        sizes: list[float] = []
        for seed in range(args.seeds):
            train, test = split(y.size, seed, stratify=y)
            rng = np.random.default_rng(seed)
            if kind == "uniform":
                cand = rng.random((train.size, 10)) < 0.3
                cand[np.arange(train.size), y[train]] = True
            else:
                cand = instance_candidates(x[train], y[train], rng, seed)
            sizes.append(float(cand.sum(axis=1).mean()))
            for loss, label in (
                ("cc_average", "naive (candidate average)"),
                ("proden", "PRODEN"),
                ("pop", "POP"),
            ):
                model = PartialLabelClassifier(
                    loss, max_epochs=100, random_state=seed, device=args.device
                )
                model.fit(x[train], cand)
                rows.setdefault(label, []).append(float((model.predict(x[test]) == y[test]).mean()))
        out[kind] = {
            "mean_candidates": statistics.fmean(sizes),
            "accuracy": {k: mean_std(v) for k, v in rows.items()},
        }
        print(
            f"  partial {kind}: "
            + ", ".join(f"{k} {100 * statistics.fmean(v):.1f}" for k, v in rows.items()),
            flush=True,
        )
    return out


def render_partial(results: dict[str, Any]) -> list[str]:
    kinds = list(results)
    methods = list(results[kinds[0]]["accuracy"])
    rows = [[m, *[cell(results[k]["accuracy"][m]) for k in kinds]] for m in methods]
    header = [f"{k} (mean |S| = {results[k]['mean_candidates']:.1f})" for k in kinds]
    return [
        "### Partial labels (candidate sets)",
        "",
        "Digits, test accuracy (%), mean ± std over seeds.",
        "",
        common.md_table(["method", *header], rows),
    ]


# --------------------------------------------------------------------------- proportions


def run_proportions(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    from labelwise.models import NoisyLabelClassifier, ProportionClassifier

    digits = load_digits()
    x, y = digits.data, digits.target
    out: dict[str, Any] = {}
    supervised: list[float] = []
    for size in BAG_SIZES:
        rows: dict[str, list[float]] = {}
        n_bags = 0
        for seed in range(args.seeds):
            train, test = split(y.size, seed, stratify=y)
            rng = np.random.default_rng(seed)
            order = rng.permutation(train.size)
            bag_ids = np.empty(train.size, dtype=np.int64)
            bag_ids[order] = np.arange(train.size) // size
            n_bags = int(bag_ids.max()) + 1
            props = np.stack(
                [
                    np.bincount(y[train][bag_ids == b], minlength=10) / (bag_ids == b).sum()
                    for b in range(n_bags)
                ]
            )
            for loss in ("dllp", "mixbag"):
                model = ProportionClassifier(
                    loss,
                    max_epochs=200,
                    patience=20,
                    validation_fraction=0.2 if n_bags >= 5 else 0.0,
                    random_state=seed,
                    device=args.device,
                )
                model.fit(x[train], bag_ids, props)
                rows.setdefault(loss.upper() if loss == "dllp" else "MixBag", []).append(
                    float((model.predict(x[test]) == y[test]).mean())
                )
            if size == BAG_SIZES[0]:
                full = NoisyLabelClassifier("ce", random_state=seed, device=args.device).fit(
                    x[train], y[train]
                )
                supervised.append(float((full.predict(x[test]) == y[test]).mean()))
        out[str(size)] = {"n_bags": n_bags, "accuracy": {k: mean_std(v) for k, v in rows.items()}}
        print(
            f"  proportions bag {size}: "
            + ", ".join(f"{k} {100 * statistics.fmean(v):.1f}" for k, v in rows.items()),
            flush=True,
        )
    out["instance labels"] = mean_std(supervised)
    return out


def render_proportions(results: dict[str, Any]) -> list[str]:
    sizes = [k for k in results if k != "instance labels"]
    methods = list(results[sizes[0]]["accuracy"])
    rows = [[m, *[cell(results[s]["accuracy"][m]) for s in sizes]] for m in methods]
    header = [f"bag {s} ({results[s]['n_bags']} bags)" for s in sizes]
    return [
        "### Label proportions",
        "",
        "Digits, test accuracy (%), mean ± std over seeds; the same linear model trained on the "
        f"instance labels reaches {cell(results['instance labels'])}. Bags of 128 and 256 leave "
        "too few bags for a validation split: those runs train 200 epochs without early stopping.",
        "",
        common.md_table(["method", *header], rows),
    ]


# --------------------------------------------------------------------------- noisy labels


def cifar10n_transitions() -> dict[str, np.ndarray]:
    import pandas as pd

    root = common.data_root()
    path = root / "cifar10n" / "cifar10n_labels.csv" if root else None
    if path is None or not path.exists():
        return {}
    table = pd.read_csv(path)
    out = {}
    for column, name in (
        ("random_label1", "CIFAR-10N random1"),
        ("worse_label", "CIFAR-10N worst"),
    ):
        counts = np.zeros((10, 10))
        np.add.at(counts, (table["clean_label"].to_numpy(), table[column].to_numpy()), 1)
        out[name] = counts / counts.sum(axis=1, keepdims=True)
    return out


def run_noisy(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    from labelwise.models import NoisyLabelClassifier

    digits = load_digits()
    x, y = digits.data, digits.target
    settings: dict[str, np.ndarray] = {}
    for name, matrix in cifar10n_transitions().items():
        settings[name] = matrix
        rate = 1 - float(np.mean(np.diag(matrix)))
        uniform = np.full((10, 10), rate / 9)
        np.fill_diagonal(uniform, 1 - rate)
        settings[f"uniform {100 * rate:.0f} %"] = uniform
    out: dict[str, Any] = {}
    opts = {"hidden_layer_sizes": (128,), "max_epochs": 100, "patience": 10, "device": args.device}
    for name, matrix in settings.items():
        rows: dict[str, list[float]] = {}
        realised: list[float] = []
        for seed in range(args.seeds):
            train, test = split(y.size, seed, stratify=y)
            rng = np.random.default_rng(seed)
            cum = np.cumsum(matrix[y[train]], axis=1)
            noisy = (rng.random(train.size)[:, None] > cum).sum(axis=1).clip(max=9)
            realised.append(float((noisy != y[train]).mean()))
            rate = 1 - float(np.mean(np.diag(matrix)))
            methods = {
                "cross-entropy": ("ce", None),
                "GCE (q = 0.7)": ("gce", None),
                "SCE (α = 0.1, β = 1)": ("sce", None),
                "label smoothing (0.1)": ("label_smoothing", None),
                "forward, anchor T̂": ("forward", None),
                "forward, true T": ("forward", {"transition": matrix}),
                "co-teaching": ("coteaching", {"forget_rate": rate}),
            }
            for label, (loss, options) in methods.items():
                model = NoisyLabelClassifier(
                    loss, loss_options=options, n_classes=10, random_state=seed, **opts
                )
                model.fit(x[train], noisy)
                rows.setdefault(label, []).append(float((model.predict(x[test]) == y[test]).mean()))
        out[name] = {
            "noise_rate": statistics.fmean(realised),
            "accuracy": {k: mean_std(v) for k, v in rows.items()},
        }
        print(
            f"  noisy {name}: "
            + ", ".join(f"{k} {100 * statistics.fmean(v):.1f}" for k, v in rows.items()),
            flush=True,
        )
    return out


def render_noisy(results: dict[str, Any]) -> list[str]:
    names = list(results)
    methods = list(results[names[0]]["accuracy"])
    rows = [[m, *[cell(results[n]["accuracy"][m]) for n in names]] for m in methods]
    header = [f"{n} ({100 * results[n]['noise_rate']:.0f} % wrong)" for n in names]
    return [
        "### Noisy labels",
        "",
        "Digits with corrupted training labels, clean test accuracy (%), mean ± std over seeds.",
        "",
        common.md_table(["method", *header], rows),
    ]


# --------------------------------------------------------------------------- main

RUNNERS = {"pu": run_pu, "partial": run_partial, "proportions": run_proportions, "noisy": run_noisy}
RENDERERS = {
    "pu": render_pu,
    "partial": render_partial,
    "proportions": render_proportions,
    "noisy": render_noisy,
}


def render(payload: dict[str, Any]) -> str:
    info = payload["meta"]
    lines = [
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise {info['labelwise']}, "
        f"torch {payload['torch']}, {payload['device']}, {payload['seeds']} seeds, "
        f"Python {info['python']}, {info['cpus']} CPUs).",
    ]
    if payload.get("pulearn_note"):
        lines += ["", payload["pulearn_note"]]
    for part in PARTS:
        if part in payload["results"]:
            lines += [
                "",
                *RENDERERS[part](payload["results"][part]),
                "",
                f"({payload['seconds'][part] / 60:.1f} min)",
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pulearn-python", default=None, help="a Python with pulearn installed")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    path = common.RESULTS_DIR / f"{SECTION}.json"
    if args.render_only:
        common.replace_section(SECTION, render(json.loads(path.read_text())))
        return
    import torch

    torch.set_num_threads(1)
    if args.quick:
        args.seeds = 1
    parts = [p for p in args.parts.split(",") if p]
    if set(parts) - set(PARTS):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    payload: dict[str, Any] = {
        "meta": common.meta(),
        "torch": torch.__version__,
        "device": args.device,
        "seeds": args.seeds,
        "results": {},
        "seconds": {},
    }
    if not args.pulearn_python:
        payload["pulearn_note"] = (
            "pulearn was not compared in this run (pass `--pulearn-python` with an interpreter "
            "that has pulearn 0.2 installed)."
        )
    if path.exists() and not args.quick and set(parts) != set(PARTS):
        old = json.loads(path.read_text())  # keep the parts not rerun
        payload["results"].update({k: v for k, v in old["results"].items() if k not in parts})
        payload["seconds"].update({k: v for k, v in old["seconds"].items() if k not in parts})
    for part in parts:
        start = time.perf_counter()
        print(f"{part} ...", flush=True)
        payload["results"][part] = RUNNERS[part](args)
        payload["seconds"][part] = time.perf_counter() - start
    common.publish(SECTION, payload, render(payload), quick=args.quick)


if __name__ == "__main__":
    main()
