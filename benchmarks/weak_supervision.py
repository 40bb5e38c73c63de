"""Weak supervision label models: labelwise vs snorkel 0.10 on real LF votes and at scale (issue 5).

1. **Real** (``--parts real``): the WRENCH-format sets ``ws_youtube``, ``ws_sms``, ``ws_hausa``
   and ``ws_yoruba`` of ``data_dir()`` (each folder's SOURCE.md). As issue 5 asks, every label
   model is fitted on the train + valid votes without gold (ws_sms ships valid + test only:
   valid) and applied to the test votes, scored against gold (accuracy and macro-F1). Each is
   also fitted on the votes of all splits (the timed call), scored on its test rows and on all
   items as a larger, less noisy check. labelwise ``LabelModel()`` (defaults),
   ``MajorityVote`` (random ties, seed 0) and ``DawidSkene()`` (transductive: held out, it
   is its fit on all splits); snorkel ``LabelModel(cardinality=K)`` fitted as in
   ``../shared/reference/weak_supervision.md`` (``n_epochs=500, seed=123``, other settings
   default) and with its default ``n_epochs=100``, and ``MajorityLabelVoter``; snorkel
   predictions are ``probs_to_preds(..., tie_break_policy="random")`` (its deterministic hash).
   Items without any vote count (every method predicts something for them).
2. **Speed** (``--parts synthetic``): ``simulate_labeling_functions(n, m, K)`` votes (LF
   accuracy U[0.55, 0.9], coverage U[0.1, 0.6], wrong votes uniform) for 10^6 items x
   {10, 50} LFs x K in {2, 10}. Each library gets its native input: snorkel the dense
   (n x m) int64 matrix with -1 = abstain, labelwise ``Annotations`` built from the long
   (item, source, label) arrays (the form its LF applier returns); the time is fit +
   predict (snorkel: ``fit(L, n_epochs=500, seed=123)`` + ``predict_proba(L)``; labelwise:
   ``LabelModel().fit(ann)`` + ``predict(ann)``). A third measurement times labelwise from
   the dense matrix too (``Annotations.from_matrix(L)`` + fit + predict). Accuracy is against
   the simulated truth over the items with at least one vote.

Every measurement runs in a fresh interpreter (``benchmarks/_common.py worker``; snorkel's
under the interpreter of its own venv) after warm-up calls on a small slice (labelwise's also
on ten copies of it: ``WARMUP_ITEMS``); the memory figure is the peak anonymous RSS the call
added on top of its loaded inputs. Times are medians
of ``--repeats`` runs with the libraries taking turns to go first. Results go to
``benchmarks/results/weak_supervision.json`` and the ``weak_supervision`` section of
``docs/benchmarks.md``.

Setup of the anchor. snorkel pulls torch, so it never goes into the project venv or the
package extras; it lives in its own git-ignored venv (``make bench-venv`` does the same)::

    python3 -m venv benchmarks/.venv-snorkel
    benchmarks/.venv-snorkel/bin/pip install torch==2.13.0   # first: a CPU build
    benchmarks/.venv-snorkel/bin/pip install snorkel==0.10.0

Usage::

    python benchmarks/weak_supervision.py [--parts real,synthetic] [--repeats 3]
    python benchmarks/weak_supervision.py --quick      # small sizes, results_quick only
    python benchmarks/weak_supervision.py --render-only  # the docs section from the JSON
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import Job

SECTION = "weak_supervision"
CACHE = common.CACHE_DIR / SECTION
SNORKEL_PYTHON = common.BENCH_DIR / ".venv-snorkel" / "bin" / "python"
WS_SETS = ("ws_youtube", "ws_sms", "ws_hausa", "ws_yoruba")
#: (library, method) pairs of the real-data part, in table order.
REAL_METHODS = (
    ("labelwise", "LabelModel"),
    ("labelwise", "MajorityVote"),
    ("labelwise", "DawidSkene"),
    ("snorkel", "LabelModel"),
    ("snorkel", "LabelModel_100"),
    ("snorkel", "MajorityLabelVoter"),
)
SPEED_GRID = ((10, 2), (10, 10), (50, 2), (50, 10))
SPEED_LIBS = ("labelwise", "snorkel", "labelwise_from_matrix")
SEED = 0
#: Warm-up calls (compilation, imports) run on the first this many items; labelwise's also on
#: ten copies of them, so that its label model runs once over few distinct vote patterns per
#: item, the path it takes at full size with few LFs.
WARMUP_ITEMS = 2000


# --------------------------------------------------------------------------- worker calls


def _labelwise_model(method: str) -> Any:
    from labelwise.aggregate import DawidSkene, LabelModel, MajorityVote

    return {
        "LabelModel": LabelModel(),
        "MajorityVote": MajorityVote(random_state=SEED),
        "DawidSkene": DawidSkene(),
    }[method]


def _labelwise_predict(method: str, annotations: Any) -> np.ndarray:
    model = _labelwise_model(method)
    return np.asarray(model.fit(annotations).predict(annotations), dtype=np.int64)


def _labelwise_predict_with_probs(method: str, annotations: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and the fitted class probabilities of every item."""
    model = _labelwise_model(method).fit(annotations)
    return np.asarray(model.labels_, dtype=np.int64), np.asarray(model.probas_)


def _snorkel_probs(method: str, votes: np.ndarray, k: int) -> np.ndarray:
    from snorkel.labeling.model import LabelModel, MajorityLabelVoter

    if method == "MajorityLabelVoter":
        return np.asarray(MajorityLabelVoter(cardinality=k).predict_proba(votes))
    model = LabelModel(cardinality=k, verbose=False)
    epochs = 100 if method == "LabelModel_100" else 500
    model.fit(votes, n_epochs=epochs, seed=123, progress_bar=False)
    return np.asarray(model.predict_proba(votes))


def _snorkel_preds(probs: np.ndarray) -> np.ndarray:
    from snorkel.utils import probs_to_preds

    return np.asarray(probs_to_preds(probs, tie_break_policy="random"), dtype=np.int64)


#: Probabilities this close to a row's maximum are tied (snorkel's ``probs_to_preds`` default).
TIE_TOL = 1e-5


def _save_preds(path: str, test_start: int | None = None) -> Any:
    """Save the predicted labels (snorkel: its probabilities through ``probs_to_preds``,
    untimed). With ``test_start``, an ``.npz`` with the predictions for all items and, as a
    snorkel user predicting on the test matrix alone would get them, for the test rows:
    snorkel breaks ties by a hash of the row's position in the matrix it is given. Real-data
    calls also save ``tied``: per item, the classes within ``TIE_TOL`` of its largest
    probability (for the accuracy expected under a uniformly random tie-break)."""

    def save(out: Any) -> dict[str, Any]:
        probs = None
        if isinstance(out, tuple):  # labelwise on real data: (labels, probabilities)
            preds, probs = out
        elif out.ndim == 2:  # snorkel: probabilities
            preds, probs = _snorkel_preds(out), out
        else:
            preds = out
        if test_start is None:
            np.save(path, preds)
            return {}
        test = (
            _snorkel_preds(out[test_start:])
            if not isinstance(out, tuple) and out.ndim == 2
            else preds[test_start:]
        )
        extra = {}
        if probs is not None:
            extra["tied"] = probs >= probs.max(axis=1, keepdims=True) - TIE_TOL
        np.savez(path, all=preds, test=test, **extra)
        return {}

    return save


def _held_out(lib: str, method: str, votes: np.ndarray, test_start: int, k: int) -> Any:
    """The test rows' prediction of a model fitted on the other rows' votes (train + valid),
    as the issue's protocol asks: labelwise ``(labels, probabilities)``, snorkel its
    probabilities. Majority votes need no fit (they see the test votes alone);
    ``DawidSkene`` is transductive (it only labels the items it is fitted on), so its entry
    is its fit on all rows."""
    fit_rows, test_rows = votes[:test_start], votes[test_start:]
    if lib == "snorkel":
        if method == "MajorityLabelVoter":
            return _snorkel_probs(method, test_rows, k)
        from snorkel.labeling.model import LabelModel

        model = LabelModel(cardinality=k, verbose=False)
        epochs = 100 if method == "LabelModel_100" else 500
        model.fit(fit_rows, n_epochs=epochs, seed=123, progress_bar=False)
        return np.asarray(model.predict_proba(test_rows))
    from labelwise import Annotations

    classes = list(range(k))
    if method == "LabelModel":
        fitted = _labelwise_model(method).fit(Annotations.from_matrix(fit_rows, classes=classes))
        test = Annotations.from_matrix(test_rows, classes=classes)
        return np.asarray(fitted.predict(test), dtype=np.int64), fitted.predict_proba(test)
    rows = test_rows if method == "MajorityVote" else votes
    labels, probs = _labelwise_predict_with_probs(
        method, Annotations.from_matrix(rows, classes=classes)
    )
    return labels[-test_rows.shape[0] :], probs[-test_rows.shape[0] :]


def prepare_real(spec: dict[str, Any]) -> Job:
    """One label model on one real dataset: fitted on every row's votes (timed; predictions
    for every item), and, untimed, fitted on the train + valid rows and applied to the test
    rows (``heldout``)."""
    votes = np.load(spec["votes"])
    k, method, lib = int(spec["k"]), spec["method"], spec["lib"]
    test_start = int(spec["test_start"])
    head = votes[:300]
    if lib == "labelwise":
        from labelwise import Annotations

        def call(matrix: np.ndarray = votes) -> tuple[np.ndarray, np.ndarray]:
            ann = Annotations.from_matrix(matrix, classes=list(range(k)))
            return _labelwise_predict_with_probs(method, ann)

    else:

        def call(matrix: np.ndarray = votes) -> np.ndarray:
            return _snorkel_probs(method, matrix, k)

    save_all = _save_preds(spec["out"], test_start)

    def save(out: Any) -> dict[str, Any]:
        save_all(out)
        held = _held_out(lib, method, votes, test_start, k)
        preds, probs = held if isinstance(held, tuple) else (_snorkel_preds(held), held)
        with np.load(spec["out"]) as saved:
            arrays = {key: saved[key] for key in saved.files}
        arrays["heldout"] = preds
        arrays["tied_heldout"] = probs >= probs.max(axis=1, keepdims=True) - TIE_TOL
        np.savez(spec["out"], **arrays)
        return {}

    return Job(call=call, warmup=lambda: call(head), save=save)


def prepare_speed(spec: dict[str, Any]) -> Job:
    """fit + predict on one synthetic size, from each library's native input."""
    k, lib = int(spec["k"]), spec["lib"]
    if lib == "snorkel":
        votes = np.load(spec["matrix"])

        def call() -> np.ndarray:
            return _snorkel_probs("LabelModel", votes, k)

        def warmup() -> np.ndarray:
            head = votes[:WARMUP_ITEMS]
            return _snorkel_probs("MajorityLabelVoter", head, k) + _snorkel_probs(
                "LabelModel_100", head, k
            )

        return Job(call=call, warmup=warmup, save=_save_preds(spec["out"]))
    from labelwise import Annotations

    if lib == "labelwise_from_matrix":
        votes = np.load(spec["matrix"])

        def call() -> np.ndarray:
            return _labelwise_predict("LabelModel", Annotations.from_matrix(votes))

        def warmup() -> np.ndarray:
            head = votes[:WARMUP_ITEMS]
            _labelwise_predict("LabelModel", Annotations.from_matrix(np.tile(head, (10, 1))))
            return _labelwise_predict("LabelModel", Annotations.from_matrix(head))

        return Job(call=call, warmup=warmup, save=_save_preds(spec["out"]))
    item, source, label = (np.load(spec[part]) for part in ("item", "source", "label"))
    n, m = int(spec["n"]), int(spec["m"])
    ann = Annotations(item, source, label, np.arange(n), np.arange(m), np.arange(k))
    cut = int(np.searchsorted(item, WARMUP_ITEMS))

    def small(copies: int) -> Any:
        shifted = [item[:cut] + WARMUP_ITEMS * c for c in range(copies)]
        return Annotations(
            np.concatenate(shifted),
            np.tile(source[:cut], copies),
            np.tile(label[:cut], copies),
            np.arange(WARMUP_ITEMS * copies),
            np.arange(m),
            np.arange(k),
        )

    def warmup() -> np.ndarray:
        _labelwise_predict("LabelModel", small(10))
        return _labelwise_predict("LabelModel", small(1))

    return Job(
        call=lambda: _labelwise_predict("LabelModel", ann),
        warmup=warmup,
        save=_save_preds(spec["out"]),
    )


WORKER_CALLS: common.CallTable = {"real": prepare_real, "speed": prepare_speed}


def run_worker(spec: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """``_common``'s isolated worker, under snorkel's venv for snorkel's calls."""
    python = str(SNORKEL_PYTHON) if spec["lib"] == "snorkel" else sys.executable
    command = [python, str(common.BENCH_DIR / "_common.py"), "worker", json.dumps(spec)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=common.REPO_ROOT,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    result: dict[str, Any] = json.loads(lines[-1])
    if spec["out"].endswith(".npz"):
        with np.load(spec["out"]) as saved:
            result["preds"] = {key: saved[key] for key in saved.files}
    else:
        result["preds"] = np.load(spec["out"])
    Path(spec["out"]).unlink()
    return result


# --------------------------------------------------------------------------- real data


def load_ws(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, list[str]]:
    """(votes of all splits, gold of all splits, test rows, K, split names)."""
    splits = [s for s in ("train", "valid", "test") if (folder / f"{s}_weak_labels.npy").exists()]
    votes = [np.load(folder / f"{s}_weak_labels.npy") for s in splits]
    gold = [np.load(folder / f"{s}_labels.npy") for s in splits]
    all_votes, all_gold = np.concatenate(votes), np.concatenate(gold)
    k = int(max(all_votes.max(), all_gold.max())) + 1
    test = np.arange(all_votes.shape[0] - votes[-1].shape[0], all_votes.shape[0])
    return all_votes.astype(np.int64), all_gold.astype(np.int64), test, k, splits


def scores(
    preds: np.ndarray, gold: np.ndarray, k: int, tied: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy and macro-F1 of ``preds``; with ``tied`` (items x K, the classes tied for the
    largest probability), also the accuracy expected when each item's tie is broken uniformly
    at random (an item counts 1 / #tied when its gold class is among the tied)."""
    from sklearn.metrics import f1_score

    out = {
        "accuracy": float(np.mean(preds == gold)),
        "macro_f1": float(f1_score(gold, preds, average="macro", labels=list(range(k)))),
    }
    if tied is not None:
        hit = tied[np.arange(gold.size), gold]
        out["expected_accuracy"] = float(np.mean(hit / tied.sum(axis=1)))
        out["tied_items"] = int((tied.sum(axis=1) > 1).sum())
    return out


def run_real(root: Path, quick: bool) -> list[dict[str, Any]]:
    rows = []
    for name in WS_SETS:
        folder = root / name
        if not (folder / "test_weak_labels.npy").exists():
            print(f"  {name}: not found, skipped", flush=True)
            continue
        votes, gold, test, k, splits = load_ws(folder)
        path = CACHE / f"{name}_votes.npy"
        np.save(path, votes)
        covered = (votes >= 0).any(axis=1)
        row: dict[str, Any] = {
            "dataset": name,
            "splits": splits,
            "n_items": int(votes.shape[0]),
            "n_test": int(test.size),
            "n_lfs": int(votes.shape[1]),
            "K": k,
            "coverage": float(covered.mean()),
            "test_coverage": float(covered[test].mean()),
            "results": {},
        }
        for lib, method in REAL_METHODS:
            if quick and method == "LabelModel_100":
                continue
            spec = {
                "script": SECTION,
                "func": "real",
                "lib": lib,
                "method": method,
                "votes": str(path),
                "k": k,
                "test_start": int(test[0]),
                "out": str(CACHE / f"{name}_{lib}_{method}_out.npz"),
            }
            res = run_worker(spec, timeout=600)
            key = f"{lib}:{method}"
            if "error" in res:
                row["results"][key] = {"error": res["error"]}
                print(f"  {name:10s} {key:30s} FAILED {res['error']}", flush=True)
                continue
            preds = res.pop("preds")
            entry = {
                "sec": res["sec"],
                "anon_delta_MB": res["anon_delta_MB"],
                "test": scores(preds["heldout"], gold[test], k, preds["tied_heldout"]),
                "test_fitted_on_all": scores(
                    preds["test"], gold[test], k, _rows(preds.get("tied"), test)
                ),
                "all": scores(preds["all"], gold, k, preds.get("tied")),
            }
            row["results"][key] = entry
            print(
                f"  {name:10s} {key:30s} test acc {entry['test']['accuracy']:.4f} "
                f"F1 {entry['test']['macro_f1']:.4f} | all acc {entry['all']['accuracy']:.4f}"
                f" | {res['sec']:.2f} s",
                flush=True,
            )
        rows.append(row)
    return rows


def _rows(array: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[rows]


# --------------------------------------------------------------------------- speed


def speed_inputs(n: int, m: int, k: int) -> dict[str, Path]:
    """Cached synthetic votes: the dense matrix, the long arrays and the truth."""
    paths = common.cache_paths(
        f"{SECTION}/sim_{n}_{m}_{k}", ["matrix", "item", "source", "label", "truth"]
    )

    def build() -> dict[str, np.ndarray]:
        from labelwise.simulate import simulate_labeling_functions

        sim = simulate_labeling_functions(n, m, k, random_state=SEED + m + k)
        ann = sim.annotations
        return {
            "matrix": ann.to_matrix(),
            "item": np.asarray(ann.item),
            "source": np.asarray(ann.source),
            "label": np.asarray(ann.label),
            "truth": sim.true_labels,
        }

    return common.cached(paths, f"{n:,} x {m} LFs, K={k}", build)


def _speed_once(lib: str, rep: int, *, base: dict[str, Any], label: str) -> dict[str, Any]:
    """One isolated speed measurement of ``lib`` (a progress line)."""
    spec = {**base, "lib": lib, "out": str(CACHE / f"speed_{lib}_out.npy")}
    res = run_worker(spec, timeout=900)
    if "error" in res:
        print(f"  {label} {lib:22s} rep {rep}: FAILED {res['error']}", flush=True)
    else:
        print(
            f"  {label} {lib:22s} rep {rep}: {res['sec']:7.2f} s, +{res['anon_delta_MB']:,.0f} MB",
            flush=True,
        )
    return res


def run_speed(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for m, k in SPEED_GRID:
            paths = speed_inputs(n, m, k)
            truth = np.load(paths["truth"])
            votes = np.load(paths["matrix"], mmap_mode="r")
            covered = np.asarray((votes >= 0).any(axis=1))
            n_votes = int(np.load(paths["item"], mmap_mode="r").shape[0])
            label = f"{n:.0e} x {m} x K={k}".replace("e+0", "e")
            row: dict[str, Any] = {
                "n": n,
                "m": m,
                "K": k,
                "n_votes": n_votes,
                "matrix_MB": votes.nbytes / common.MIB,
                "long_MB": 3 * n_votes * 8 / common.MIB,
            }

            base = {
                "script": SECTION,
                "func": "speed",
                "n": n,
                "m": m,
                "k": k,
                **{part: str(path) for part, path in paths.items()},
            }
            one = functools.partial(_speed_once, base=base, label=label)
            plan = {"labelwise": repeats, "snorkel": repeats, "labelwise_from_matrix": 1}
            runs = common.alternate(plan, one)
            for lib in SPEED_LIBS:
                good = [r for r in runs[lib] if "error" not in r]
                if not good:
                    row[lib] = {"error": runs[lib][0]["error"] if runs[lib] else "not run"}
                    continue
                preds = good[0]["preds"]
                row[lib] = {
                    **common.summarise(good),
                    "accuracy_covered": float(np.mean(preds[covered] == truth[covered])),
                    "accuracy": float(np.mean(preds == truth)),
                }
            if common.ok(row["labelwise"]) and common.ok(row["snorkel"]):
                lw, sn = row["labelwise"], row["snorkel"]
                row["ratio"] = sn["median_sec"] / lw["median_sec"]
                row["ratio_fastest"] = min(sn["secs"]) / min(lw["secs"])
                row["memory_ratio"] = sn["anon_delta_MB"] / max(lw["anon_delta_MB"], 1e-9)
            if common.ok(row["labelwise_from_matrix"]) and common.ok(row["snorkel"]):
                row["ratio_from_matrix"] = (
                    row["snorkel"]["median_sec"] / row["labelwise_from_matrix"]["median_sec"]
                )
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- report


def _pair(entry: dict[str, Any] | None, part: str) -> str:
    if entry is None:
        return "–"
    if "error" in entry:
        return "failed"
    return f"{entry[part]['accuracy']:.3f} / {entry[part]['macro_f1']:.3f}"


def _expected(entry: dict[str, Any] | None, part: str) -> str:
    if entry is None or "error" in entry or "expected_accuracy" not in entry[part]:
        return "–"
    return f"{entry[part]['expected_accuracy']:.3f} ({entry[part]['tied_items']})"


def _expected_accuracy_table(real: list[dict[str, Any]]) -> list[str]:
    """Test and all-item accuracy expected under uniformly random tie-breaks."""
    methods = [
        ("labelwise", "LabelModel"),
        ("snorkel", "LabelModel"),
        ("labelwise", "MajorityVote"),
    ]
    methods += [("snorkel", "MajorityLabelVoter")]
    body = [
        [f"`{row['dataset']}`"]
        + [
            _expected(row["results"].get(f"{lib}:{m}"), part)
            for part in ("test", "all")
            for lib, m in methods
        ]
        for row in real
    ]
    parts = {"test": "test (fit on train + valid)", "all": "all items (fit on all)"}
    headers = ["dataset"] + [
        f"{parts[p]}: {lib} {m}" for p in ("test", "all") for lib, m in methods
    ]
    return [
        "",
        "The same predictions scored by the accuracy **expected under a uniformly random "
        "tie-break**: an item whose largest class probabilities are tied (within "
        f"{TIE_TOL:g}, snorkel's tolerance) counts 1/(number tied) when its gold class is "
        "among them, so the figure does not depend on which way a hash or a seed broke the "
        "ties; (n) = items with a tie. snorkel's `LabelModel` without a given class balance "
        "gives every item without votes exactly the uniform distribution, a tie; labelwise's "
        "estimates the balance.",
        "",
        common.md_table(headers, body),
    ]


def render(results: dict[str, Any]) -> str:
    info = results["meta"]
    lines = [
        "## Weak supervision: label models (labelwise vs snorkel)",
        "",
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise "
        f"{info['labelwise']}, snorkel {results.get('snorkel_version')}, torch "
        f"{results.get('torch_version')}, numpy {info['numpy']}, numba {info['numba']}, "
        f"{info['cpus']} CPUs, {info['memory_GiB']} GiB; 1-min load "
        f"{results['loadavg_start']:.1f} at start).",
    ]
    for key, what in (("real_meta", "real-data"), ("speed_meta", "speed")):
        if key in results:
            lines.append(
                f"The {what} tables are kept from the run of {results[key]['date_utc']} UTC "
                "(this run did not repeat them)."
            )
    real = results.get("real")
    if real:
        headers = ["dataset", "items (test) / LFs / K", "test coverage"]
        headers += [f"{lib} {method}" for lib, method in REAL_METHODS]
        body = []
        for row in real:
            cells = [
                f"`{row['dataset']}`",
                f"{row['n_items']:,} ({row['n_test']}) / {row['n_lfs']} / {row['K']}",
                f"{row['test_coverage']:.2f}",
            ]
            cells += [_pair(row["results"].get(f"{lib}:{m}"), "test") for lib, m in REAL_METHODS]
            body.append(cells)

        def first_figure(part: str) -> list[list[str]]:
            return [
                [f"`{row['dataset']}`"]
                + [
                    _pair(row["results"].get(f"{lib}:{m}"), part).split(" / ")[0]
                    for lib, m in REAL_METHODS
                ]
                for row in real
            ]

        method_headers = ["dataset"] + [f"{lib} {m}" for lib, m in REAL_METHODS]
        lines += [
            "",
            "**Real LF votes** (WRENCH format), the protocol of issue 5: each label model is "
            "fitted on the train + valid votes without gold (`ws_sms` ships valid + test only: "
            "valid) and applied to the test votes; cells are test-split `accuracy / macro-F1` "
            "against gold, items without any vote included. labelwise: `LabelModel()` "
            "(`fit` on train + valid, `predict` on test), `MajorityVote` (random ties, seed 0; "
            "per item, so on the test votes alone), `DawidSkene()` (transductive: fitted on all "
            "splits). snorkel 0.10: `LabelModel(cardinality=K).fit(L_train, n_epochs=500, "
            "seed=123)` (the reference settings), the same with its default `n_epochs=100` "
            "(`LabelModel_100`), and `MajorityLabelVoter`; predictions by `probs_to_preds("
            "tie_break_policy='random')` on the test rows (its ties follow a hash of the row "
            "position). Target (issue 5): labelwise LabelModel ≥ snorkel LabelModel on every "
            "dataset, within 0.5 points at worst.",
            "",
            common.md_table(headers, body),
            "",
            "Test accuracy when every model is instead **fitted on all splits' votes** "
            "(train + valid + test, transductive) and its test rows are read off:",
            "",
            common.md_table(method_headers, first_figure("test_fitted_on_all")),
            "",
            "Accuracy on **all items** of that fit (train + valid + test: the pool the label "
            "model labels; larger, so less noisy than the test split):",
            "",
            common.md_table(method_headers, first_figure("all")),
        ]
        lines += _expected_accuracy_table(real)
    speed = results.get("speed")
    if speed:
        headers = [
            "items × LFs × K",
            "votes",
            "labelwise s",
            "labelwise s from matrix",
            "snorkel s",
            "snorkel / labelwise (medians)",
            "fastest runs",
            "labelwise +MB",
            "snorkel +MB",
            "accuracy lw / snorkel",
        ]
        body = []
        for row in speed:
            lw, sn, fm = row["labelwise"], row["snorkel"], row["labelwise_from_matrix"]

            def sec(s: dict[str, Any]) -> str:
                text = common.fmt_sec(s["median_sec"])
                if len(s["secs"]) > 1:
                    low, high = min(s["secs"]), max(s["secs"])
                    text += f" ({common.fmt_sec(low)}–{common.fmt_sec(high)})"
                return text

            def mb(s: dict[str, Any]) -> str:
                return common.fmt_mb(s["anon_delta_MB"])

            ratio = common.fmt_ratio(row.get("ratio"))
            if "ratio_from_matrix" in row:
                ratio += f" ({common.fmt_ratio(row['ratio_from_matrix'])} from matrix)"
            body.append(
                [
                    f"{row['n']:.0e}".replace("e+0", "e") + f" × {row['m']} × {row['K']}",
                    f"{row['n_votes']:,}",
                    common.cell(lw, sec),
                    common.cell(fm, sec),
                    common.cell(sn, sec),
                    ratio,
                    common.fmt_ratio(row.get("ratio_fastest")),
                    common.cell(lw, mb),
                    common.cell(sn, mb),
                    f"{common.cell(lw, lambda s: common.fmt_frac(s['accuracy_covered'], 4))} / "
                    f"{common.cell(sn, lambda s: common.fmt_frac(s['accuracy_covered'], 4))}",
                ]
            )
        lines += [
            "",
            "**Speed** on `simulate_labeling_functions(n, m, K)` votes (LF accuracy U[0.55, 0.9], "
            "coverage U[0.1, 0.6]): fit + predict, medians of "
            f"{results['repeats']} runs (range in brackets) each in a fresh interpreter after a "
            "warm-up on 2,000 items. The box has 2 cores shared with other jobs: torch's "
            "threads suffer most when a neighbour takes a core, hence snorkel's wide ranges. "
            "Inputs: snorkel the dense int64 matrix (-1 = abstain), labelwise "
            "`Annotations` from the long arrays; the from-matrix column adds "
            "`Annotations.from_matrix(L)` to labelwise's call (one run). +MB is the peak "
            "anonymous memory the call added on top of its loaded input (dense matrix: "
            "8 bytes × n × m; long arrays: 24 bytes per vote). Accuracy: items with at least "
            "one vote, against the simulated truth. Target (issue 5): ≥ 10× faster with "
            "less memory at 10⁶ items.",
            "",
            common.md_table(headers, body),
        ]
    lines += common.not_run(
        {"real": results.get("real"), "synthetic": results.get("speed")},
        "python benchmarks/weak_supervision.py",
    )
    return "\n".join(lines)


def snorkel_versions() -> tuple[str | None, str | None]:
    if not SNORKEL_PYTHON.exists():
        return None, None
    proc = subprocess.run(
        [
            str(SNORKEL_PYTHON),
            "-c",
            "from importlib.metadata import version as v; print(v('snorkel'), v('torch'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    parts = proc.stdout.split()
    return (parts[0], parts[1]) if len(parts) == 2 else (None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_parts_option(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="1e6", help="items of the speed part, e.g. 1e5,1e6")
    parser.add_argument("--quick", action="store_true", help="1e4 items, 1 repeat, no docs")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the docs section from benchmarks/results/weak_supervision.json",
    )
    args = parser.parse_args()
    if args.render_only:
        saved = json.loads((common.RESULTS_DIR / f"{SECTION}.json").read_text())
        common.replace_section(SECTION, render(saved))
        print(render(saved))
        return
    parts = common.chosen_parts(parser, args.parts)
    if not SNORKEL_PYTHON.exists():
        sys.exit(f"{SNORKEL_PYTHON} not found: create it as the module docstring says")
    CACHE.mkdir(parents=True, exist_ok=True)
    sizes = [10_000] if args.quick else common.parse_ints(args.sizes)
    repeats = 1 if args.quick else args.repeats
    snorkel, torch = snorkel_versions()
    results: dict[str, Any] = {
        "meta": common.meta(),
        "snorkel_version": snorkel,
        "torch_version": torch,
        "loadavg_start": os.getloadavg()[0],
        "repeats": repeats,
    }
    start = time.perf_counter()
    if "real" in parts:
        root = common.data_root()
        if root is None:
            print("no data folder (set LABELWISE_DATA): real part skipped", flush=True)
        else:
            print("real LF votes:", flush=True)
            results["real"] = run_real(root, args.quick)
    if "synthetic" in parts:
        print("speed:", flush=True)
        results["speed"] = run_speed(sizes, repeats)
    results["total_sec"] = time.perf_counter() - start
    if not args.quick:  # a part not run keeps its saved results, with the meta of their run
        saved_path = common.RESULTS_DIR / f"{SECTION}.json"
        saved = json.loads(saved_path.read_text()) if saved_path.exists() else {}
        for part, key in (("real", "real"), ("synthetic", "speed")):
            if part not in parts and key in saved:
                results[key] = saved[key]
                results[f"{key}_meta"] = saved.get(f"{key}_meta", saved["meta"])
    common.publish(SECTION, results, render(results), quick=args.quick)


if __name__ == "__main__":
    main()
