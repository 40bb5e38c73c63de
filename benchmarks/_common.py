"""Shared helpers for the benchmark scripts: isolated measurements, metrics, JSON and docs.

A measurement runs in a fresh interpreter (``python benchmarks/_common.py worker SPEC``) so its
memory figures are not polluted by earlier runs. ``SPEC`` names the benchmark script and the
entry of its call table (``WORKER_CALLS``: ``spec["func"]`` -> ``prepare(spec) -> Job``) that
knows the script's inputs and calls. The worker

1. imports only the library under test and loads the inputs from ``.npy`` files (``prepare``);
2. calls the same function once on a tiny slice that holds every class (the warm-up: labelwise
   loads its numba kernels, cleanlab its lazy imports and its process pool), for both libraries;
3. collects garbage, takes the baseline anonymous RSS (``RssAnon``), resets the RSS high-water
   mark, and starts a thread that samples ``RssAnon`` every ~5 ms;
4. times the one call with ``time.perf_counter``, saves its output (flagged row indices or
   scores) next to the cached inputs (``Job.save``), and prints one JSON line.

The memory figure is the peak sampled ``RssAnon`` minus the baseline: the anonymous memory the
call added (its temporaries and its outputs), not counting the inputs it was given. The peak
``VmHWM`` growth (total RSS, unaffected by sampling gaps) is recorded alongside as a check.
cleanlab's process-pool workers are separate processes: their memory is not in these figures
(``children_maxrss_MB`` records the largest worker's RSS, shared pages included).

The scripts share the rest through this module too: ``measure`` (one isolated run and its
progress line), ``alternate`` (repeats with the libraries taking turns to go first),
``summarise`` (median time, peak memory), metrics, results files, docs sections and table cells.

Only numpy and the standard library are imported at module level, so the worker starts light.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
LIBRARIES = ("labelwise", "cleanlab")
MIB = 2**20
#: The label-issue methods both libraries have, the default first.
METHODS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)
OTHER_METHODS = METHODS[1:]
#: The parts of a benchmark with synthetic and real data (``--parts``).
PARTS = ("synthetic", "real")


# --------------------------------------------------------------------------- /proc readings


def _status_kb(key: str) -> int:
    """One ``/proc/self/status`` field in KiB (0 where the field is absent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def _reset_high_water_mark() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


class AnonPeakSampler:
    """Sample ``RssAnon`` in a daemon thread every ``interval`` seconds and keep the maximum."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("RssAnon:"))
            self.samples += 1
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def reset(self, value_kb: int) -> None:
        self.peak_kb = value_kb

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb("RssAnon:"))
        return self.peak_kb


# --------------------------------------------------------------------------- the worker


@dataclass
class Job:
    """What a script's call table gives the worker for one measurement.

    ``call`` is the timed call (inputs already loaded); ``warmup`` the same call on a small
    slice (None: no warm-up); ``save(out)`` writes ``call``'s output where the spec says and
    returns the keys it adds to the result (untimed, after the memory readings); ``info`` holds
    result keys known before the call (such as input-building times).
    """

    call: Callable[[], Any]
    warmup: Callable[[], Any] | None
    save: Callable[[Any], dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)


#: The call table a script exposes to the worker: ``spec["func"]`` -> ``prepare(spec) -> Job``.
CallTable = dict[str, Callable[[dict[str, Any]], Job]]


def threads(lib: str, n_jobs: int | None = None) -> int:
    """Threads (labelwise: numba) or pool processes (cleanlab) the call uses."""
    if lib == "labelwise":
        import numba

        return int(numba.get_num_threads())
    if n_jobs is not None:
        return int(n_jobs)
    import multiprocessing

    try:  # cleanlab's rule for n_jobs=None: physical cores via psutil, else logical cores
        import psutil

        return int(psutil.cpu_count(logical=False) or multiprocessing.cpu_count())
    except ImportError:
        return multiprocessing.cpu_count()


def save_output(out: Any, path: str | Path) -> dict[str, Any]:
    """Save a bool mask as its sorted flagged rows (adds ``n_flagged``), else as float64."""
    out = np.asarray(out)
    if out.dtype == bool:
        flagged = np.flatnonzero(out).astype(np.int64)
        np.save(path, flagged)
        return {"n_flagged": int(flagged.size)}
    np.save(path, out.astype(np.float64, copy=False))
    return {}


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured call: ``spec["script"]``'s ``WORKER_CALLS[spec["func"]](spec)``, timed."""
    warnings.simplefilter("ignore")
    table: CallTable = importlib.import_module(spec["script"]).WORKER_CALLS
    job = table[spec["func"]](spec)
    if job.warmup is not None:
        job.warmup()
    gc.collect()
    sampler = AnonPeakSampler()
    sampler.start()
    rss_before = _status_kb("VmRSS:")
    anon_before = _status_kb("RssAnon:")
    hwm_ok = _reset_high_water_mark()
    sampler.reset(anon_before)
    start = time.perf_counter()
    out = job.call()
    sec = time.perf_counter() - start
    peak_anon = sampler.stop()
    hwm = _status_kb("VmHWM:")
    result: dict[str, Any] = {
        "sec": sec,
        **job.info,
        "anon_before_MB": anon_before / 1024,
        "anon_delta_MB": (peak_anon - anon_before) / 1024,
        "hwm_delta_MB": (hwm - rss_before) / 1024 if hwm_ok else None,
        "rss_before_MB": rss_before / 1024,
        "children_maxrss_MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "samples": sampler.samples,
    }
    result.update(job.save(out))
    return result


def run_isolated(spec: dict[str, Any], *, timeout: float = 1800) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; the worker's JSON, or ``{"error": ...}``.

    ``spec`` needs ``script`` (the benchmark module, e.g. "label_issues") and ``func`` (a key
    of its ``WORKER_CALLS``); the other keys (.npy paths as ``Path`` or ``str``, options) are
    for that script's ``prepare`` function.
    """
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


# --------------------------------------------------------------------------- measuring


def measure(
    spec: dict[str, Any],
    label: str,
    *,
    outputs: Sequence[tuple[str, str]] = (("_out", "out"),),
    width: int = 9,
    timeout: float = 1800,
) -> dict[str, Any]:
    """One isolated run of ``spec``, with a progress line; the worker's result.

    ``outputs``: (result key, spec key) pairs; each file the worker wrote at ``spec[spec key]``
    is loaded into ``result[result key]`` and deleted. ``width`` pads ``spec["lib"]``.
    """
    res = run_isolated(spec, timeout=timeout)
    name = f"{spec['lib']:{width}s}"
    if "error" in res:
        print(f"  {label} {name}: FAILED {res['error']}", flush=True)
        return res
    for key, spec_key in outputs:
        path = spec.get(spec_key)
        if path and Path(path).exists():
            res[key] = np.load(path)
            Path(path).unlink()
    hwm = res["hwm_delta_MB"]
    flagged = f", flagged {res['n_flagged']:,}" if "n_flagged" in res else ""
    print(
        f"  {label} {name}: {res['sec']:8.3f} s, +{res['anon_delta_MB']:,.1f} MB anon"
        + (f" (+{hwm:,.1f} MB VmHWM)" if hwm is not None else "")
        + flagged,
        flush=True,
    )
    return res


def alternate(
    repeats: dict[str, int], one: Callable[[str, int], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``one(name, rep)`` ``repeats[name]`` times per name, in reverse order on odd repeats."""
    names = list(repeats)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for rep in range(max(repeats.values(), default=0)):
        for name in names if rep % 2 == 0 else names[::-1]:
            if rep < repeats[name]:
                runs[name].append(one(name, rep))
    return runs


#: How ``summarise`` reduces each key over the successful runs.
_AGGREGATES: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "median_sec": lambda good: statistics.median(run["sec"] for run in good),
    "secs": lambda good: [run["sec"] for run in good],
    "build_labels_sec": lambda good: statistics.median(run["build_labels_sec"] for run in good),
    "anon_delta_MB": lambda good: max(run["anon_delta_MB"] for run in good),
    "hwm_delta_MB": lambda good: max((run["hwm_delta_MB"] or 0.0) for run in good),
    "children_maxrss_MB": lambda good: max(run["children_maxrss_MB"] for run in good),
    "threads": lambda good: good[0]["threads"],
    "runs": len,
}
SUMMARY_KEYS = ("median_sec", "secs", "anon_delta_MB", "hwm_delta_MB")


def summarise(
    runs: list[dict[str, Any]],
    keys: Sequence[str] = SUMMARY_KEYS,
    truth: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Median time and peak memory of repeated runs (the ``keys``, in that order).

    None when nothing ran, ``{"error": ...}`` when every run failed. With ``truth`` (sorted row
    indices), also the first run's flags (``"_out"``) against it: ``n_flagged``,
    ``same_flags_every_run``, precision, recall and F1.
    """
    good = [run for run in runs if "error" not in run]
    if not good:
        return {"error": runs[0]["error"]} if runs else None
    summary = {key: _AGGREGATES[key](good) for key in keys}
    if truth is not None:
        first = good[0]["_out"]
        summary["n_flagged"] = int(first.size)
        summary["same_flags_every_run"] = all(np.array_equal(run["_out"], first) for run in good)
        summary.update(prf(first, truth))
    return summary


def ok(summary: dict[str, Any] | None) -> bool:
    """Whether a summary holds results (not None, not an error)."""
    return summary is not None and "error" not in summary


def compare_scores(
    row: dict[str, Any], one: Callable[[str], dict[str, Any]], is_positive: np.ndarray
) -> dict[str, Any]:
    """One score run per library (``one(lib)``, output in ``"_out"``) into ``row``: each run's
    result with the AUROC of ``is_positive``, the time ratio and the largest score difference."""
    scores = {}
    for lib in LIBRARIES:
        res = one(lib)
        if "error" in res:
            row[lib] = {"error": res["error"]}
            continue
        scores[lib] = res.pop("_out")
        row[lib] = {**res, "auroc": auroc(is_positive, scores[lib])}
    if len(scores) == 2:
        row["ratio"] = row["cleanlab"]["sec"] / row["labelwise"]["sec"]
        row["max_abs_diff"] = float(np.max(np.abs(scores["labelwise"] - scores["cleanlab"])))
    return row


# --------------------------------------------------------------------------- inputs


def cache_paths(stem: str, parts: Sequence[str]) -> dict[str, Path]:
    """``{part: benchmarks/.cache/<stem>_<part>.npy}``."""
    return {part: CACHE_DIR / f"{stem}_{part}.npy" for part in parts}


def save_arrays(paths: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
    """Save each array to its path in the cache, through a temporary file (no half-written .npy)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for part, array in arrays.items():
        tmp = paths[part].with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(paths[part])


def cached(
    paths: dict[str, Path],
    what: str,
    build: Callable[[], dict[str, np.ndarray]],
    parts: Sequence[str] | None = None,
) -> dict[str, Path]:
    """``paths``, after ``build()``-ing and saving the arrays unless ``parts`` (default: all)
    are already in the cache."""
    if all(paths[part].exists() for part in (paths if parts is None else parts)):
        return paths
    print(f"  generating {what} ...", flush=True)
    save_arrays(paths, build())
    return paths


def data_root() -> Path | None:
    """``labelwise.datasets.data_dir()``, defaulting to ``../shared/data`` of the repository."""
    os.environ.setdefault("LABELWISE_DATA", str(REPO_ROOT.parent / "shared" / "data"))
    from labelwise.datasets import data_dir

    return data_dir()


def multilabel_folders() -> list[Path]:
    """The ``multilabel_*`` folders of the data directory (empty when it is absent)."""
    root = data_root()
    if root is None:
        return []
    return sorted(path for path in root.glob("multilabel_*") if path.is_dir())


def load_multilabel_xy(folder: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Features and 0/1 tags, train + test concatenated (or X.npy / Y.npy when unsplit)."""
    split = [folder / f"{part}.npy" for part in ("X_train", "X_test", "Y_train", "Y_test")]
    if all(path.exists() for path in split):
        x_tr, x_te, y_tr, y_te = (np.load(path, allow_pickle=False) for path in split)
        x, y, source = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te]), "train+test"
    elif (folder / "X.npy").exists() and (folder / "Y.npy").exists():
        x = np.load(folder / "X.npy", allow_pickle=False)
        y = np.load(folder / "Y.npy", allow_pickle=False)
        source = "X.npy/Y.npy (no split in the source)"
    else:
        raise FileNotFoundError("neither X_train/X_test/Y_train/Y_test.npy nor X.npy/Y.npy")
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"shapes X {x.shape}, Y {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("Y is not 0/1")
    return x.astype(np.float64), y.astype(bool), source


# --------------------------------------------------------------------------- metrics


def prf(flagged: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of sorted unique ``flagged`` indices against ``truth`` indices."""
    tp = np.intersect1d(flagged, truth, assume_unique=True).size
    precision = tp / flagged.size if flagged.size else 0.0
    recall = tp / truth.size if truth.size else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def set_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Jaccard index and symmetric-difference size of two sorted unique index arrays."""
    inter = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - inter
    return {"jaccard": inter / union if union else 1.0, "n_differ": int(union - inter)}


def auroc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``-score`` for the positives (scores: lower = more likely wrong)."""
    from sklearn.metrics import roc_auc_score

    if is_positive.all() or not is_positive.any():
        return float("nan")
    return float(roc_auc_score(is_positive, -score))


# --------------------------------------------------------------------------- results and docs


def meta(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Versions, machine and command line, for the top of a results file."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    args = list(sys.argv if argv is None else argv)
    if args:  # never record the machine's absolute path to the script
        args[0] = f"benchmarks/{Path(args[0]).name}"
    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", *args]),
        "cpus": os.cpu_count(),
        "memory_GiB": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        **{name: version(name) for name in ("labelwise", "cleanlab", "numpy", "numba")},
    }


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(_rounded(payload), indent=1, default=_json_default) + "\n")
    return path


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits (NaN to None), recursively, for readable diffs."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, float | np.floating):
        return None if value != value else float(f"{float(value):.6g}")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are converted with ``str``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_section(name: str, body: str, path: Path = DOC_PATH) -> None:
    """Put ``body`` between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``.

    The markers are appended at the end of the file when absent, so each script owns one
    section and never touches the others.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def publish(
    section: str,
    results: dict[str, Any],
    body: str,
    *,
    quick: bool = False,
    update: Callable[[str, str], None] = replace_section,
) -> None:
    """Write the results JSON and the docs section (``update(section, body)``); print the body.

    A ``quick`` smoke test writes ``<section>_quick.json`` (git-ignored) and leaves the docs alone.
    """
    if quick:  # a smoke test never overwrites the full results or the docs
        path = write_json(f"{section}_quick", results)
        print(f"\nwrote benchmarks/results/{path.name} (docs/benchmarks.md left alone)\n")
    else:
        path = write_json(section, results)
        update(section, body)
        print(f"\nwrote benchmarks/results/{path.name}; updated docs/benchmarks.md\n")
    print(body)


def add_parts_option(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--parts``: a comma-separated subset of ``PARTS`` (default both)."""
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of synthetic,real (default both{note})",
    )


def chosen_parts(parser: argparse.ArgumentParser, text: str) -> set[str]:
    """The parts ``--parts`` names; a parser error unless they are a non-empty subset."""
    parts = {part.strip() for part in text.split(",") if part.strip()}
    if not parts or parts - set(PARTS):
        parser.error("--parts takes synthetic and/or real")
    return parts


def not_run(done: dict[str, Any], full_run: str) -> list[str]:
    """A paragraph naming the parts (keys of ``done``) without results, or nothing."""
    missing = [part for part, result in done.items() if not result]
    if not missing:
        return []
    return [
        "",
        f"Not run in this invocation: {', '.join(missing)} part. The full run is `{full_run}`.",
    ]


# --------------------------------------------------------------------------- formatting


def fmt_sec(sec: float | None) -> str:
    if sec is None:
        return "–"
    return f"{sec:.3f}" if sec < 10 else f"{sec:.1f}"


def fmt_ratio(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.1f}×"


def fmt_mb(mb: float | None, ref_mb: float | None = None) -> str:
    if mb is None:
        return "–"
    text = f"+{mb:,.0f}" if abs(mb) >= 10 else f"+{mb:.1f}"
    if ref_mb:
        text += f" ({mb / ref_mb:.2f}×)"
    return text


def fmt_frac(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:.{digits}f}"


def parse_ints(text: str) -> list[int]:
    """Sorted unique integers of a comma-separated list such as ``1e4,1e5``."""
    return sorted({int(float(part)) for part in text.split(",") if part.strip()})


def size_label(n: int, k: int) -> str:
    """``1e5 × 100``."""
    return f"{n:.0e}".replace("e+0", "e") + f" × {k}"


def cell(summary: dict[str, Any] | None, fmt: Any, *, name_timeouts: bool = False) -> str:
    """``fmt(summary)``; "–" when it did not run, "failed" (or "timed out") when it failed."""
    if summary is None:
        return "–"
    if "error" in summary:
        return "timed out" if name_timeouts and "timed out" in summary["error"] else "failed"
    return fmt(summary)


def prf_cell(s: dict[str, Any]) -> str:
    """``flagged: F1 / precision / recall``."""
    return (
        f"{s['n_flagged']:,}: {fmt_frac(s['f1'])} / {fmt_frac(s['precision'])} / "
        f"{fmt_frac(s['recall'])}"
    )


def generated_line(info: dict[str, Any]) -> str:
    """When, how and where the results were made, from ``meta()``."""
    return (
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise {info['labelwise']}, "
        f"cleanlab {info['cleanlab']}, numpy {info['numpy']}, numba {info['numba']}, "
        f"Python {info['python']}, {info['cpus']} CPUs, {info['memory_GiB']} GiB)."
    )


#: The speed columns of a label-issue comparison (``speed_cells``).
SPEED_HEADERS = [
    "N × K",
    "pred_probs MB",
    "labelwise s",
    "cleanlab s",
    "cleanlab / labelwise",
    "labelwise +MB (× input)",
    "cleanlab +MB (× input)",
]


def speed_cells(row: dict[str, Any], *, name_timeouts: bool = False) -> list[str]:
    """Size, input MB, median times, ratio and memory (× input) of a comparison row."""
    lw, cl, pp = row["labelwise"], row["cleanlab"], row["pred_probs_MB"]

    def time_of(s: dict[str, Any]) -> str:
        return fmt_sec(s["median_sec"])

    def memory_of(s: dict[str, Any]) -> str:
        return fmt_mb(s["anon_delta_MB"], pp)

    return [
        size_label(row["N"], row["K"]),
        f"{pp:,.0f}" if pp >= 10 else f"{pp:.1f}",
        cell(lw, time_of, name_timeouts=name_timeouts),
        cell(cl, time_of, name_timeouts=name_timeouts),
        fmt_ratio(row.get("ratio")),
        cell(lw, memory_of, name_timeouts=name_timeouts),
        cell(cl, memory_of, name_timeouts=name_timeouts),
    ]


def agreement_cells(row: dict[str, Any], truth: str, *, name_timeouts: bool = False) -> list[str]:
    """Size, noisy rows (``row[truth]``), flags against the truth, Jaccard, rows that differ."""
    return [
        size_label(row["N"], row["K"]),
        f"{row[truth]:,}",
        cell(row["labelwise"], prf_cell, name_timeouts=name_timeouts),
        cell(row["cleanlab"], prf_cell, name_timeouts=name_timeouts),
        fmt_frac(row.get("jaccard"), 4),
        f"{row['n_differ']:,}" if "n_differ" in row else "–",
    ]


def changed_flags(rows: list[dict[str, Any]]) -> list[str]:
    """``lib at size`` for each library whose flags changed between repeats."""
    return [
        f"{lib} at {size_label(row['N'], row['K'])}"
        for row in rows
        for lib in LIBRARIES
        if ok(row[lib]) and not row[lib]["same_flags_every_run"]
    ]


def both(row: dict[str, Any], fmt: Any, *, name_timeouts: bool = False) -> str:
    """``labelwise / cleanlab`` cells of a comparison row."""
    cells = (cell(row[lib], fmt, name_timeouts=name_timeouts) for lib in LIBRARIES)
    return " / ".join(cells)


def methods_section(
    methods: dict[str, Any], *, memory: bool = False, name_timeouts: bool = False
) -> list[str]:
    """The other-methods heading and table (one comparison row per method in
    ``methods["rows"]``), with the +MB column if asked."""
    opts = {"name_timeouts": name_timeouts}

    def time_of(s: dict[str, Any]) -> str:
        return fmt_sec(s["median_sec"])

    body = [
        [
            f"`{row['method']}`",
            cell(row["labelwise"], time_of, **opts),
            cell(row["cleanlab"], time_of, **opts),
            fmt_ratio(row.get("ratio")),
            *([both(row, lambda s: fmt_mb(s["anon_delta_MB"]), **opts)] if memory else []),
            both(row, lambda s: f"{s['n_flagged']:,}", **opts),
            both(row, lambda s: fmt_frac(s["f1"]), **opts),
            fmt_frac(row.get("jaccard"), 4),
            f"{row['n_differ']:,}" if "n_differ" in row else "–",
        ]
        for row in methods["rows"]
    ]
    headers = [
        "method",
        "labelwise s",
        "cleanlab s",
        "cleanlab / labelwise",
        *(["+MB (labelwise / cleanlab)"] if memory else []),
        "flagged (labelwise / cleanlab)",
        "F1 (labelwise / cleanlab)",
        "Jaccard",
        "rows that differ",
    ]
    size = size_label(methods["N"], methods["K"])
    return [f"**Other methods at {size}** (one run each per library).", "", md_table(headers, body)]


#: The columns of a score comparison after the first (``score_cells``).
SCORE_HEADERS = [
    "labelwise s",
    "cleanlab s",
    "cleanlab / labelwise",
    "+MB (labelwise / cleanlab)",
    "AUROC (labelwise / cleanlab)",
    "largest score difference",
]


def score_cells(
    row: dict[str, Any], ref_mb: float | None = None, *, name_timeouts: bool = False
) -> list[str]:
    """Times, ratio, memory (× ``ref_mb`` if given), AUROC and largest difference of scores."""
    opts = {"name_timeouts": name_timeouts}
    diff = row.get("max_abs_diff")
    return [
        cell(row["labelwise"], lambda s: fmt_sec(s["sec"]), **opts),
        cell(row["cleanlab"], lambda s: fmt_sec(s["sec"]), **opts),
        fmt_ratio(row.get("ratio")),
        both(row, lambda s: fmt_mb(s["anon_delta_MB"], ref_mb), **opts),
        both(row, lambda s: fmt_frac(s["auroc"], 4), **opts),
        "–" if diff is None else f"{diff:.1e}",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        import _common  # the module the scripts import, rather than a second copy as __main__

        print(json.dumps(_common.worker(json.loads(sys.argv[2]))), flush=True)
    else:
        sys.exit("usage: python benchmarks/_common.py worker SPEC_JSON (used by the benchmarks)")
