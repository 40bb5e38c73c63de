"""Crowd-label aggregation: labelwise vs crowd-kit on real crowd data and at scale (issue 4).

1. Accuracy against gold on every real crowd dataset in ``data_dir()`` (``crowd_*``, CIFAR-10N's
   three labels, ImageNet ReaL raters on the golden questions), per dataset x method, labelwise
   beside crowd-kit's same-named method, with the time of each call. Every crowd-kit call runs
   in its own interpreter with a time limit ("timeout" when it runs out, "crash" when it raises).
2. Speed on synthetic ``simulate_annotations`` data (10^5 and 10^6 items, 1000 sources, K=5,
   5 labels per item): ``DawidSkene`` and ``MajorityVote``, each measurement in a fresh
   interpreter; time, peak RSS growth and accuracy against the simulated truth.

Results go to ``benchmarks/results/aggregation.json`` and to the ``aggregation`` section of
``docs/benchmarks.md``. Self-contained (helpers below) so it does not depend on ``_common``.

    python benchmarks/aggregation.py [--timeout 120] [--jobs 2] [--sizes 1e5,1e6]
    python benchmarks/aggregation.py worker SPEC_JSON      (one isolated measurement)
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache" / "aggregation"
RESULTS_PATH = BENCH_DIR / "results" / "aggregation.json"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "aggregation"

# labelwise method -> crowd-kit method of the same model (None: no counterpart)
PAIRS = {
    "MajorityVote": "MajorityVote",
    "WeightedMajorityVote": "Wawa",
    "DawidSkene": "DawidSkene",
    "OneCoinDawidSkene": "OneCoinDawidSkene",
    "GLAD": "GLAD",
    "MACE": "MACE",
}
SEED = 0


# --------------------------------------------------------------------------- library calls


def labelwise_model(name: str) -> Any:
    from labelwise import aggregate

    cls = getattr(aggregate, name)
    return cls(random_state=SEED)


def crowdkit_model(name: str) -> Any:
    from crowdkit import aggregation

    return getattr(aggregation, name)()  # crowd-kit defaults (MACE: random_state=0)


def _frame(data: dict[str, np.ndarray]) -> Any:
    import pandas as pd

    return pd.DataFrame({"task": data["item"], "worker": data["source"], "label": data["label"]})


def _call(lib: str, method: str) -> Any:
    """``f(frame) -> (item ids, predicted labels)``, both starting from the long DataFrame."""
    if lib == "labelwise":
        from labelwise import Annotations

        def run(frame: Any) -> tuple[np.ndarray, np.ndarray]:
            ann = Annotations.from_long(frame, item="task", source="worker", label="label")
            return np.asarray(ann.items), labelwise_model(method).fit_predict(ann)

        return run

    def run_ck(frame: Any) -> tuple[np.ndarray, np.ndarray]:
        pred = crowdkit_model(method).fit_predict(frame)
        return pred.index.to_numpy(), pred.to_numpy()

    return run_ck


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this fresh interpreter: warm-up on a slice, then the timed call."""
    warnings.simplefilter("ignore")
    with np.load(spec["data"]) as npz:
        data = {key: npz[key] for key in ("item", "source", "label")}
    call = _call(spec["lib"], spec["method"])
    frame = _frame(data)
    if spec.get("warmup", True):  # loads lazy imports; first items (and every class)
        first = np.unique(data["label"], return_index=True)[1]
        head = np.union1d(np.arange(min(2000, data["item"].size)), first)
        call(frame.iloc[head].reset_index(drop=True))
    gc.collect()
    rss_before = common._status_kb("VmRSS:")
    hwm_ok = common._reset_high_water_mark()
    start = time.perf_counter()
    items, labels = call(frame)
    sec = time.perf_counter() - start
    hwm = common._status_kb("VmHWM:")
    np.savez(spec["out"], items=np.asarray(items), labels=np.asarray(labels))
    return {
        "sec": sec,
        "rss_growth_MB": (hwm - rss_before) / 1024 if hwm_ok else None,
        "rss_before_MB": rss_before / 1024,
    }


def run_isolated(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``_worker`` in a fresh interpreter: its JSON, or {"status": "timeout" | "crash"}."""
    command = [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"no result within {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line]
        return {"status": "crash", "error": tail[-1][:300] if tail else f"exit {proc.returncode}"}
    return {"status": "ok", **json.loads(lines[-1])}


def accuracy(items: np.ndarray, labels: np.ndarray, gold: dict[Any, Any]) -> tuple[float, int]:
    """Accuracy over the gold items that got a prediction; and how many gold items lack one."""
    pred = dict(zip(items.tolist(), labels.tolist(), strict=True))
    hits = [pred[i] == g for i, g in gold.items() if i in pred]
    return (float(np.mean(hits)) if hits else float("nan")), len(gold) - len(hits)


# --------------------------------------------------------------------------- real datasets


def load_datasets(root: Path) -> list[dict[str, Any]]:
    """(name, long frame item/source/label, gold dict, note) for every real crowd dataset."""
    import pandas as pd

    sets: list[dict[str, Any]] = []
    folders = sorted(p for p in root.glob("crowd_*") if p.is_dir())
    for folder in folders:
        subs = (
            [folder]
            if (folder / "label.csv").exists()
            else sorted(p for p in folder.iterdir() if (p / "label.csv").exists())
        )
        for sub in subs:
            name = folder.name if sub == folder else f"{folder.name}/{sub.name}"
            raw = pd.read_csv(sub / "label.csv")
            truth = pd.read_csv(sub / "truth.csv")
            frame = raw.rename(columns={"worker": "source"})[["item", "source", "label"]]
            n_raw = len(frame)
            frame = frame.drop_duplicates(["item", "source"], keep="last").reset_index(drop=True)
            sets.append(
                {
                    "name": name,
                    "frame": frame,
                    "gold": dict(zip(truth["item"].tolist(), truth["truth"].tolist(), strict=True)),
                    "n_raw": n_raw,
                    "note": f"{n_raw - len(frame)} repeated (item, worker) answers dropped "
                    "(kept the last)"
                    if n_raw > len(frame)
                    else "",
                }
            )
    cifar = root / "cifar10n" / "cifar10n_labels.csv"
    if cifar.exists():
        table = pd.read_csv(cifar)
        cols = ["random_label1", "random_label2", "random_label3"]
        frame = pd.DataFrame(
            {
                "item": np.repeat(table["index"].to_numpy(), 3),
                "source": np.tile(np.arange(1, 4), len(table)),
                "label": table[cols].to_numpy().ravel(),
            }
        )
        sets.append(
            {
                "name": "cifar10n",
                "frame": frame,
                "gold": dict(
                    zip(table["index"].tolist(), table["clean_label"].tolist(), strict=True)
                ),
                "n_raw": len(frame),
                "note": "sources = the 3 anonymous annotation slots (worker ids are not linked "
                "to labels, see SOURCE.md); gold = clean_label",
            }
        )
    real = root / "imagenet_real"
    if (real / "raters_golden.npz").exists() and (real / "golden.npz").exists():
        with np.load(real / "raters_golden.npz") as raters, np.load(real / "golden.npz") as gold:
            answered = raters["tensor"].sum(axis=2) > 0  # (raters, questions)
            rater, question = np.nonzero(answered)
            label = raters["tensor"].argmax(axis=2)[rater, question]  # 0 no, 1 maybe, 2 yes
            expert_yes = gold["tensor"][:, :, 2].sum(axis=0)  # 5 experts, no/yes only
            gold_label = np.where(expert_yes >= 3, 2, 0)
            rater_ids = raters["ids"][rater]
        frame = pd.DataFrame({"item": question, "source": rater_ids, "label": label})
        sets.append(
            {
                "name": "imagenet_real",
                "frame": frame,
                "gold": dict(enumerate(gold_label.tolist())),
                "n_raw": len(frame),
                "note": "items = the 1,135 golden (image, proposed class) questions, 78 raters "
                "(raters_golden.npz), classes no/maybe/yes; gold = majority of the 5 experts "
                "(no/yes only, so a 'maybe' consensus counts as wrong)",
            }
        )
    return sets


def labelwise_real(frame: Any, method: str, n_raw_frame: Any) -> tuple[dict[str, Any], Any]:
    """labelwise in-process on the raw frame with duplicates='last'; result and predictions."""
    from labelwise import Annotations

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    ann = Annotations.from_long(n_raw_frame, duplicates="last")
    labels = labelwise_model(method).fit_predict(ann)
    sec = time.perf_counter() - start
    assert ann.n_annotations == len(frame), "duplicates='last' must match drop_duplicates"
    return {"status": "ok", "sec": sec}, (np.asarray(ann.items), np.asarray(labels))


def run_real(args: argparse.Namespace) -> dict[str, Any]:

    from labelwise.datasets import data_dir

    root = data_dir()
    if root is None:
        sys.exit("no data folder (set LABELWISE_DATA)")
    datasets = load_datasets(root)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    jobs: dict[Any, tuple[int, str]] = {}
    pool = futures.ThreadPoolExecutor(max_workers=args.jobs)
    for index, ds in enumerate(datasets):
        frame = ds["frame"]
        data_path = CACHE_DIR / f"real_{index}.npz"
        # crowd-kit gets the same (deduplicated) answers; ids as int64 where they are ints
        np.savez(
            data_path,
            item=frame["item"].to_numpy(),
            source=frame["source"].to_numpy(),
            label=frame["label"].to_numpy(),
        )
        info = {
            "dataset": ds["name"],
            "n_items": int(frame["item"].nunique()),
            "n_sources": int(frame["source"].nunique()),
            "n_classes": int(frame["label"].nunique()),
            "n_answers": len(frame),
            "n_gold": len(ds["gold"]),
            "note": ds["note"],
            "labelwise": {},
            "crowdkit": {},
        }
        rows.append(info)
        for ck in sorted({m for m in PAIRS.values() if m}):
            spec = {
                "lib": "crowdkit",
                "method": ck,
                "data": str(data_path),
                "out": str(CACHE_DIR / f"real_{index}_{ck}.npz"),
                "warmup": False,
            }
            jobs[pool.submit(run_isolated, spec, args.timeout)] = (index, ck)
    # labelwise in this process while crowd-kit runs (warm-up first: lazy imports)
    labelwise_real(datasets[0]["frame"], "MajorityVote", datasets[0]["frame"])
    for index, ds in enumerate(datasets):
        raw = ds["frame"]
        if ds["n_raw"] > len(raw):  # rebuild the raw table (with repeats) for duplicates="last"
            raw = _raw_frame(root, ds["name"])
        for method in PAIRS:
            result, (items, labels) = labelwise_real(ds["frame"], method, raw)
            result["accuracy"], result["gold_missing"] = accuracy(items, labels, ds["gold"])
            rows[index]["labelwise"][method] = result
            print(
                f"  {ds['name']:32s} labelwise {method:22s} {result['accuracy']:.4f} "
                f"{result['sec']:.3f}s",
                flush=True,
            )
    for job in futures.as_completed(jobs):
        index, ck = jobs[job]
        result = job.result()
        if result["status"] == "ok":
            with np.load(CACHE_DIR / f"real_{index}_{ck}.npz", allow_pickle=False) as out:
                result["accuracy"], result["gold_missing"] = accuracy(
                    out["items"], out["labels"], datasets[index]["gold"]
                )
        rows[index]["crowdkit"][ck] = result
        print(
            f"  {datasets[index]['name']:32s} crowd-kit {ck:22s} "
            f"{result.get('accuracy', result['status'])} {result.get('sec', '')}",
            flush=True,
        )
    pool.shutdown()
    return {"datasets": rows}


def _raw_frame(root: Path, name: str) -> Any:
    import pandas as pd

    raw = pd.read_csv(root / name / "label.csv")
    return raw.rename(columns={"worker": "source"})[["item", "source", "label"]]


# --------------------------------------------------------------------------- speed


def run_speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    from labelwise.simulate import simulate_annotations

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out: list[dict[str, Any]] = []
    for size in args.sizes:
        n = int(float(size))
        sim = simulate_annotations(n, 1000, 5, labels_per_item=5, random_state=SEED)
        ann = sim.annotations
        path = CACHE_DIR / f"sim_{n}.npz"
        np.savez(
            path,
            item=ann.items[ann.item],
            source=ann.sources[ann.source],
            label=ann.classes[ann.label],
        )
        truth = sim.true_labels
        del sim, ann
        for method in ("MajorityVote", "DawidSkene"):
            cell: dict[str, Any] = {
                "n_items": n,
                "n_sources": 1000,
                "K": 5,
                "labels_per_item": 5,
                "method": method,
            }
            for lib in ("labelwise", "crowdkit"):
                reps = args.repeats if (lib == "labelwise" or n < 1_000_000) else 1
                runs = []
                for rep in range(reps):
                    spec = {
                        "lib": lib,
                        "method": method,
                        "data": str(path),
                        "out": str(CACHE_DIR / f"sim_{n}_{lib}_{method}.npz"),
                    }
                    result = run_isolated(spec, args.speed_timeout)
                    runs.append(result)
                    print(
                        f"  speed n={n:>9,} {lib:9s} {method:14s} rep {rep}: "
                        f"{result.get('sec', result['status'])}",
                        flush=True,
                    )
                    if result["status"] != "ok":
                        break
                ok = [r for r in runs if r["status"] == "ok"]
                entry: dict[str, Any] = {"repeats": len(runs), "status": runs[-1]["status"]}
                if ok:
                    entry["sec"] = statistics.median(r["sec"] for r in ok)
                    entry["sec_all"] = [r["sec"] for r in ok]
                    entry["rss_growth_MB"] = statistics.median(
                        r["rss_growth_MB"] for r in ok if r["rss_growth_MB"] is not None
                    )
                    with np.load(spec["out"]) as pred:
                        entry["accuracy"] = float(np.mean(truth[pred["items"]] == pred["labels"]))
                else:
                    entry["error"] = runs[-1].get("error")
                cell[lib] = entry
            if "sec" in cell["labelwise"] and "sec" in cell["crowdkit"]:
                cell["speedup"] = cell["crowdkit"]["sec"] / cell["labelwise"]["sec"]
            out.append(cell)
    return out


# --------------------------------------------------------------------------- report


def meta() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    args = ["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]
    load = os.getloadavg()[0]
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(args),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": round(load, 2),
        "python": platform.python_version(),
        **{n: version(n) for n in ("labelwise", "crowd-kit", "numpy", "pandas", "scikit-learn")},
    }


def summarise(real: dict[str, Any]) -> dict[str, Any]:
    """Average accuracy per method over the datasets (a failed run counts as missing)."""
    avg: dict[str, Any] = {"labelwise": {}, "crowdkit": {}}
    for lib, methods in (
        ("labelwise", list(PAIRS)),
        ("crowdkit", [m for m in PAIRS.values() if m]),
    ):
        for method in methods:
            accs = [row[lib][method].get("accuracy") for row in real["datasets"]]
            done = [a for a in accs if a is not None]
            avg[lib][method] = {
                "mean_accuracy_all_done": float(np.mean(done)) if done else None,
                "n_datasets": len(done),
            }
    # common-support averages: only datasets where both sides of every pair finished
    full = [
        row
        for row in real["datasets"]
        if all(
            row["crowdkit"][ck].get("accuracy") is not None
            for ck in PAIRS.values()
            if ck and ck != "Wawa"
        )
    ]
    for lib, methods in (
        ("labelwise", list(PAIRS)),
        ("crowdkit", [m for m in PAIRS.values() if m]),
    ):
        for method in methods:
            accs = [row[lib][method].get("accuracy") for row in full]
            avg[lib][method]["mean_accuracy_common"] = (
                float(np.mean(accs)) if accs and None not in accs else None
            )
    avg["common_datasets"] = [row["dataset"] for row in full]

    def best(lib: str, key: str) -> tuple[str | None, float | None]:
        cands = [(v[key], m) for m, v in avg[lib].items() if v.get(key) is not None]
        if not cands:
            return None, None
        value, method = max(cands)
        return method, value

    for key in ("mean_accuracy_common", "mean_accuracy_all_done"):
        avg[f"best_{key}"] = {lib: best(lib, key) for lib in ("labelwise", "crowdkit")}
    return avg


def per_dataset_target(real: dict[str, Any], slack: float = 0.002) -> list[str]:
    """Issue 4's per-method target, dataset by dataset: labelwise >= crowd-kit - 0.2 points."""
    lines = [
        "**Per dataset, labelwise vs crowd-kit's same method** (target: within 0.2 points or "
        "better; datasets where crowd-kit did not finish are left out):",
        "",
    ]
    for lw, ck in PAIRS.items():
        if not ck or ck == "Wawa":
            continue
        misses, n = [], 0
        for row in real["datasets"]:
            a = row["labelwise"].get(lw, {}).get("accuracy")
            b = row["crowdkit"].get(ck, {}).get("accuracy")
            if a is None or b is None:
                continue
            n += 1
            if a < b - slack:
                misses.append(f"{row['dataset']} {100 * (a - b):+.1f}")
        lines.append(
            f"- {lw}: met on {n - len(misses)} of {n}"
            + (f"; below on {', '.join(misses)}" if misses else "")
        )
    return lines


def fmt_cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "–"
    if result["status"] != "ok":
        return result["status"]
    return f"{result['accuracy']:.4f} ({result['sec']:.2f} s)"


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render(payload: dict[str, Any]) -> str:
    m = payload["meta"]
    real = payload["real"]
    summary = payload["summary"]
    parts = [
        "## Aggregation (crowd labels)",
        "",
        f"Generated {m['date_utc']} UTC by `{m['command']}` (labelwise {m['labelwise']}, "
        f"crowd-kit {m['crowd-kit']}, pandas {m['pandas']}, scikit-learn {m['scikit-learn']}; "
        f"{m['cpus']} CPUs, 1-min load {m['loadavg_1m_at_start']} at start: the box was shared)."
        + (
            f" The real-data part is from an earlier run, {rm['date_utc']} UTC (1-min load "
            f"{rm['loadavg_1m_at_start']})."
            if (rm := payload.get("real_meta", m)) is not m and rm["date_utc"] != m["date_utc"]
            else ""
        ),
        "",
        "**Accuracy against gold** (items with gold only), each cell `accuracy (seconds)`. Both "
        "libraries start from the same long table; labelwise times include "
        "`Annotations.from_long`. labelwise runs in the main process (`random_state=0`) while "
        "the crowd-kit calls (library defaults) run beside it, each in a fresh interpreter with "
        f"a {payload['timeout_s']:.0f} s limit, {payload['jobs']} at a time: all these times "
        "were taken on a busy box (use the speed table below for speed; crowd-kit times exclude "
        "its import). "
        'Repeated (item, worker) answers: labelwise `duplicates="last"`, crowd-kit '
        'the same rows after `drop_duplicates(keep="last")`. crowd-kit\'s `Wawa` (the '
        "counterpart of `WeightedMajorityVote`) is run and reported as it behaves; `CrowdLab` "
        "is not run: it needs a model's out-of-sample `pred_probs`, which none of these "
        "datasets has. MajorityVote ties: labelwise breaks them at random (seed 0), crowd-kit by "
        "its own argmax order.",
        "",
    ]
    headers = ["dataset", "items / workers / K / answers / gold"]
    for lw, ck in PAIRS.items():
        headers += [f"{lw} lw", f"{ck} ck"]
    rows = []
    for row in real["datasets"]:
        cells = [
            row["dataset"],
            f"{row['n_items']:,} / {row['n_sources']} / {row['n_classes']} / "
            f"{row['n_answers']:,} / {row['n_gold']:,}",
        ]
        for lw, ck in PAIRS.items():
            cells += [fmt_cell(row["labelwise"].get(lw)), fmt_cell(row["crowdkit"].get(ck))]
        rows.append(cells)
    parts.append(md_table(headers, rows))
    notes = [f"- {row['dataset']}: {row['note']}" for row in real["datasets"] if row["note"]]
    errors = sorted(
        {
            f"- crowd-kit {ck}: {r['status']} — {r.get('error', '')}"
            for row in real["datasets"]
            for ck, r in row["crowdkit"].items()
            if r["status"] == "crash"
        }
    )
    notes.append(
        "- crowd-kit MACE hands the same `random_state` to each of its 10 restarts "
        "(`_initialize`), so the restarts are identical and its answer depends on the row "
        "order (which fixes worker and task order via `pd.factorize`). Checked by hand on "
        "2026-11-26: crowd_product in file order 0.6950 (its published figure is 0.929), the "
        "same rows shuffled (seeds 1, 2) 0.9268 / 0.9324, sorted by label 0.9264 / 0.9330."
    )
    if notes or errors:
        parts += ["", "Notes:", *notes, *errors]
    avg_rows = []
    for lw, ck in PAIRS.items():
        a, b = summary["labelwise"][lw], summary["crowdkit"][ck]

        def f(v: Any) -> str:
            return "–" if v is None else f"{v:.4f}"

        avg_rows.append(
            [
                lw,
                f(a["mean_accuracy_common"]),
                f(a["mean_accuracy_all_done"]),
                ck,
                f(b["mean_accuracy_common"]),
                f"{f(b['mean_accuracy_all_done'])} (n={b['n_datasets']})",
            ]
        )
    n_common = len(summary["common_datasets"])
    parts += [
        "",
        f'**Average accuracy over datasets.** "common": the {n_common} datasets on which every '
        "crowd-kit method except Wawa finished (so both columns average the same sets); "
        '"all": every dataset where that method finished (not comparable across methods '
        "when one timed out: it averages fewer, different sets).",
        "",
        md_table(["labelwise", "common", "all", "crowd-kit", "common", "all"], avg_rows),
    ]
    lines = []
    for key, label in (("best_mean_accuracy_common", "common"),):
        (lm, lv), (cm, cv) = summary[key]["labelwise"], summary[key]["crowdkit"]
        if lv is not None and cv is not None:
            lines.append(
                f"- best on the {label} average: labelwise {lm} {lv:.4f} vs crowd-kit "
                f"{cm} {cv:.4f} ({(lv - cv) * 100:+.2f} points)"
            )
    parts += ["", *lines, "", *per_dataset_target(real)]
    speed_rows = []
    for cell in payload["speed"]:
        lw, ck = cell["labelwise"], cell["crowdkit"]

        def sec(e: dict[str, Any]) -> str:
            if "sec" not in e:
                return e["status"]
            return f"{e['sec']:.2f} ({e['repeats']}×)"

        speed_rows.append(
            [
                f"{cell['n_items']:,}",
                cell["method"],
                sec(lw),
                sec(ck),
                f"{cell['speedup']:.1f}×" if "speedup" in cell else "–",
                f"+{lw.get('rss_growth_MB', float('nan')):,.0f} / "
                f"+{ck.get('rss_growth_MB', float('nan')):,.0f}",
                f"{lw.get('accuracy', float('nan')):.4f} / {ck.get('accuracy', float('nan')):.4f}",
            ]
        )
    parts += [
        "",
        "**Speed** on `simulate_annotations(n, 1000 sources, K=5, labels_per_item=5, "
        "random_state=0)` (one-coin annotators, accuracy U[0.55, 0.95]): each measurement in a "
        "fresh interpreter after a warm-up call on the first 2,000 answers; timed from the long "
        "DataFrame (labelwise includes `Annotations.from_long`); seconds are the median of the "
        "runs shown; memory is the peak RSS growth during the call (VmHWM reset before it). "
        "Targets (issue 4): DawidSkene ≥ 30×, MajorityVote ≥ 10×.",
        "",
        md_table(
            [
                "items",
                "method",
                "labelwise s",
                "crowd-kit s",
                "crowd-kit / labelwise",
                "+MB (lw / ck)",
                "accuracy vs truth (lw / ck)",
            ],
            speed_rows,
        ),
    ]
    checks = []
    for method, target in (("DawidSkene", 30.0), ("MajorityVote", 10.0)):
        got = [c["speedup"] for c in payload["speed"] if c["method"] == method and "speedup" in c]
        if got:
            verdict = "met" if min(got) >= target else "not met"
            checks.append(
                f"{method} ≥ {target:.0f}×: {verdict} ({', '.join(f'{g:.1f}×' for g in got)})"
            )
    if checks:
        parts += ["", "Speed targets: " + "; ".join(checks) + "."]
    return "\n".join(parts)


def replace_section(body: str) -> None:
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    text = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    DOC_PATH.write_text(text)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if value != value else float(f"{float(value):.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="per crowd-kit call (real)")
    parser.add_argument("--speed-timeout", type=float, default=600.0)
    parser.add_argument("--jobs", type=int, default=2, help="crowd-kit calls at a time (real)")
    parser.add_argument("--sizes", default="1e5,1e6")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--skip-real", action="store_true", help="keep the real-data results of the saved JSON"
    )
    parser.add_argument("--render-only", action="store_true", help="docs from the saved JSON")
    args = parser.parse_args()
    if args.render_only:
        replace_section(render(json.loads(RESULTS_PATH.read_text())))
        return
    args.sizes = [s for s in args.sizes.split(",") if s]
    payload: dict[str, Any] = {"meta": meta(), "timeout_s": args.timeout, "jobs": args.jobs}
    if args.skip_real:
        saved = json.loads(RESULTS_PATH.read_text())
        payload["real"], payload["real_meta"] = saved["real"], saved.get("real_meta", saved["meta"])
    else:
        print("real datasets ...", flush=True)
        payload["real"], payload["real_meta"] = run_real(args), payload["meta"]
    payload["summary"] = summarise(payload["real"])
    print("speed ...", flush=True)
    payload["speed"] = [] if args.skip_speed else run_speed(args)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(_clean(payload), indent=1) + "\n")
    body = render(payload)
    replace_section(body)
    print(body)


if __name__ == "__main__":
    main()
