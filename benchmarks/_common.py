"""Shared helpers for the benchmark scripts: isolated measurements, metrics, JSON and docs.

A measurement runs in a fresh interpreter (``python benchmarks/_common.py worker SPEC``) so its
memory figures are not polluted by earlier runs. The worker

1. imports only the library under test and loads the inputs from ``.npy`` files;
2. calls the same function once on a tiny slice that holds every class (the warm-up: labelwise
   loads its numba kernels, cleanlab its lazy imports and its process pool), for both libraries;
3. collects garbage, takes the baseline anonymous RSS (``RssAnon``), resets the RSS high-water
   mark, and starts a thread that samples ``RssAnon`` every ~5 ms;
4. times the one call with ``time.perf_counter``, saves its output (flagged row indices or
   scores) next to the cached inputs, and prints one JSON line.

The memory figure is the peak sampled ``RssAnon`` minus the baseline: the anonymous memory the
call added (its temporaries and its outputs), not counting the inputs it was given. The peak
``VmHWM`` growth (total RSS, unaffected by sampling gaps) is recorded alongside as a check.
cleanlab's process-pool workers are separate processes: their memory is not in these figures
(``children_maxrss_MB`` records the largest worker's RSS, shared pages included).

Only numpy and the standard library are imported at module level, so the worker starts light.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
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


def _threads(lib: str) -> int:
    """Threads (labelwise: numba) or pool processes (cleanlab, default n_jobs) the call uses."""
    if lib == "labelwise":
        import numba

        return int(numba.get_num_threads())
    import multiprocessing

    try:  # cleanlab's rule for n_jobs=None: physical cores via psutil, else logical cores
        import psutil

        return int(psutil.cpu_count(logical=False) or multiprocessing.cpu_count())
    except ImportError:
        return multiprocessing.cpu_count()


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    call = _library_call(spec["lib"], spec["func"], spec.get("method"))
    labels = np.load(spec["labels"])
    pred_probs = np.load(spec["pred_probs"])
    if spec.get("warmup", True):
        rows = warmup_rows(labels)
        call(labels[rows], pred_probs[rows])
    gc.collect()
    sampler = AnonPeakSampler()
    sampler.start()
    rss_before = _status_kb("VmRSS:")
    anon_before = _status_kb("RssAnon:")
    hwm_ok = _reset_high_water_mark()
    sampler.reset(anon_before)
    start = time.perf_counter()
    out = call(labels, pred_probs)
    sec = time.perf_counter() - start
    peak_anon = sampler.stop()
    hwm = _status_kb("VmHWM:")
    out = np.asarray(out)
    result: dict[str, Any] = {
        "sec": sec,
        "anon_before_MB": anon_before / 1024,
        "anon_delta_MB": (peak_anon - anon_before) / 1024,
        "hwm_delta_MB": (hwm - rss_before) / 1024 if hwm_ok else None,
        "rss_before_MB": rss_before / 1024,
        "children_maxrss_MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "samples": sampler.samples,
        "threads": _threads(spec["lib"]),
    }
    if out.dtype == bool:
        flagged = np.flatnonzero(out).astype(np.int64)
        result["n_flagged"] = int(flagged.size)
        np.save(spec["out"], flagged)
    else:
        np.save(spec["out"], out.astype(np.float64, copy=False))
    return result


def run_isolated(spec: dict[str, Any], *, timeout: float = 1800) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; the worker's JSON, or ``{"error": ...}``.

    ``spec`` keys: ``lib`` ("labelwise" | "cleanlab"), ``func`` ("find_label_issues" |
    "label_quality_scores"), ``method`` (None = the library default), ``labels`` and
    ``pred_probs`` (.npy paths), ``out`` (.npy path for the output), ``warmup`` (default True).
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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))), flush=True)
    else:
        sys.exit("usage: python benchmarks/_common.py worker SPEC_JSON (used by the benchmarks)")
