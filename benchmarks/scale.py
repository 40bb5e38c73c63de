"""Scale: labelwise.distributed out-of-core and on a LocalCluster (issue 10).

Two parts, each size measured in a fresh interpreter (``python benchmarks/scale.py worker ...``)
so that its peak RSS (``ru_maxrss``, the process's high-water mark) is its own:

- ``issues``: ``find_label_issues`` (prune_by_noise_rate) on float32 ``pred_probs`` of n x K
  generated chunk by chunk into a ``.npy`` file, read back block by block (1e6 rows per block,
  copied out of the file, so resident memory holds only the blocks in flight) with Dask's
  threaded scheduler. The identity check runs the distributed and the in-memory function on
  the first ``--check-rows`` rows and compares flagged set, scores and ranking.
- ``dawid_skene``: ``distributed.fit(DawidSkene(), ddf)`` on a ``LocalCluster`` (2 worker
  processes, 1 thread each) for n items x S annotators (3 answers per item, one-coin
  annotators of accuracy U(0.55, 0.95), K = 2), and the in-memory fit on the same table for
  comparison (max |probas| difference, label agreement). Peak RSS: the client process and the
  largest worker.

- ``ml``: ``find_multilabel_issues`` (prune_by_noise_rate) on n x K float32 probabilities and
  int8 tags generated block by block on demand; identity check on the first rows as above.

The default run (``pred_probs`` of 1e6, 1e7 and 1e8 rows x 10 classes, multi-label 1e6 and 1e7
rows x 20 classes, Dawid-Skene on 1e5 and 1e6 items x 1000 annotators) takes over ten minutes
on this 2-core / 24 GiB machine; 1e8 x 10 float32 is 4 GB on disk under benchmarks/.cache/. The
issue's largest Dawid-Skene size is ``python benchmarks/scale.py --ds-items 1e5,1e6,1e7``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    CACHE_DIR,
    _reset_high_water_mark,
    _status_kb,
    md_table,
    meta,
    publish,
)

BLOCK = 1_000_000
#: Rows per generated block of the multi-label part.
ML_BLOCK = 250_000


def _parse(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


def _peak_mb() -> float:
    """The process's RSS high-water mark (``VmHWM``), in MiB."""
    return _status_kb("VmHWM") / 1024


# ----------------------------------------------------------------------------- generation


def _generate(n: int, k: int, seed: int = 0) -> tuple[Path, Path]:
    """``pred_probs`` (float32) and noisy ``labels`` as .npy files, written chunk by chunk."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    probs_path = CACHE_DIR / f"scale_probs_{n}_{k}.npy"
    labels_path = CACHE_DIR / f"scale_labels_{n}_{k}.npy"
    if probs_path.exists() and labels_path.exists():
        return probs_path, labels_path
    probs = np.lib.format.open_memmap(probs_path, mode="w+", dtype=np.float32, shape=(n, k))
    labels = np.lib.format.open_memmap(labels_path, mode="w+", dtype=np.int64, shape=(n,))
    rng = np.random.default_rng(seed)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        m = hi - lo
        truth = rng.integers(0, k, m)
        logits = rng.standard_normal((m, k), dtype=np.float32)
        logits[np.arange(m), truth] += 3.0
        logits *= 1.5
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        probs[lo:hi] = logits
        flip = rng.random(m) < 0.1
        noisy = truth.copy()
        noisy[flip] = (truth[flip] + rng.integers(1, k, int(flip.sum()))) % k
        labels[lo:hi] = noisy
    probs.flush()
    labels.flush()
    del probs, labels
    return probs_path, labels_path


def _read_rows(path: str, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of a .npy file, copied out (the mapping is dropped right away)."""
    mapped = np.load(path, mmap_mode="r")
    out = np.array(mapped[lo:hi])
    del mapped
    return out


def _dask_rows(path: Path, n: int, dtype: Any, k: int | None) -> Any:
    import dask
    import dask.array as da

    blocks = []
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        shape = (hi - lo,) if k is None else (hi - lo, k)
        task = dask.delayed(_read_rows)(str(path), lo, hi)
        blocks.append(da.from_delayed(task, shape=shape, dtype=dtype))
    return da.concatenate(blocks)


# ----------------------------------------------------------------------------- workers


def worker_issues(n: int, k: int, check_rows: int) -> dict[str, Any]:
    import dask

    import labelwise as lw
    from labelwise import distributed as dl

    start = time.perf_counter()
    # Generated in a child process: writing the file maps its pages into the writer's RSS.
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "generate", str(n), str(k)], check=True
    )
    probs_path, labels_path = _generate(n, k)
    generate_s = time.perf_counter() - start
    # Warm-up on a tiny slice: compiles (or loads) every numba kernel used.
    small = _read_rows(str(probs_path), 0, 2_000)
    small_labels = _read_rows(str(labels_path), 0, 2_000)
    dl.find_label_issues(small_labels, small).compute()
    del small, small_labels
    reset = _reset_high_water_mark()
    base_mb = _status_kb("VmRSS") / 1024
    with dask.config.set(scheduler="threads", num_workers=2):
        probs = _dask_rows(probs_path, n, np.float32, k)
        labels = _dask_rows(labels_path, n, np.int64, None)
        start = time.perf_counter()
        result = dl.find_label_issues(labels, probs)
        elapsed = time.perf_counter() - start
        peak_mb = _peak_mb()
        # Identity check on a prefix: distributed (same blocks) vs in-memory.
        m = min(n, check_rows)
        sub_p = _read_rows(str(probs_path), 0, m)
        sub_y = _read_rows(str(labels_path), 0, m)
        got = dl.find_label_issues(
            _dask_rows(labels_path, m, np.int64, None), _dask_rows(probs_path, m, np.float32, k)
        ).compute()
    expected = lw.find_label_issues(sub_y, sub_p)
    identical = bool(
        np.array_equal(got.is_issue, expected.is_issue)
        and np.array_equal(got.score, expected.score)
        and np.array_equal(got.ranking, expected.ranking)
    )
    return {
        "n": n,
        "k": k,
        "gigabytes": n * k * 4 / 1e9,
        "generate_s": generate_s,
        "seconds": elapsed,
        "rows_per_s": n / elapsed,
        "peak_rss_mb": peak_mb,
        "baseline_rss_mb": base_mb,
        "high_water_mark_reset": reset,
        "n_issues": result.n_issues,
        "check_rows": m,
        "identical": identical,
    }


def _tag_block(block: int, m: int, k: int, what: str) -> np.ndarray:
    """Block ``block`` of the generated multi-label data (m rows): 0/1 tags (20% positive,
    5% of the entries toggled) or float32 probabilities; the same seed gives both."""
    rng = np.random.default_rng(1_000 + block)
    truth = rng.random((m, k)) < 0.2
    probs = np.clip(np.where(truth, 0.8, 0.1) + rng.normal(0, 0.15, (m, k)), 0, 1)
    if what == "probs":
        return probs.astype(np.float32)
    return (truth ^ (rng.random((m, k)) < 0.05)).astype(np.int8)


def _dask_tags(n: int, k: int) -> tuple[Any, Any]:
    """Multi-label (tags, pred_probs) as Dask arrays whose blocks are generated on demand."""
    import dask
    import dask.array as da

    tags, probs = [], []
    for b, lo in enumerate(range(0, n, ML_BLOCK)):
        m = min(n, lo + ML_BLOCK) - lo
        for out, what, dtype in ((tags, "tags", np.int8), (probs, "probs", np.float32)):
            task = dask.delayed(_tag_block)(b, m, k, what)
            out.append(da.from_delayed(task, shape=(m, k), dtype=dtype))
    return da.concatenate(tags), da.concatenate(probs)


def worker_multilabel(n: int, k: int, check_rows: int) -> dict[str, Any]:
    import dask

    import labelwise as lw
    from labelwise import distributed as dl

    dl.find_multilabel_issues(*_dask_tags(3_000, k)).compute()  # warm-up: compiles kernels
    reset = _reset_high_water_mark()
    base_mb = _status_kb("VmRSS") / 1024
    with dask.config.set(scheduler="threads", num_workers=2):
        start = time.perf_counter()
        tags, probs = _dask_tags(n, k)
        dask.compute(tags.sum(), probs.sum())
        generate_s = time.perf_counter() - start
        start = time.perf_counter()
        result = dl.find_multilabel_issues(*_dask_tags(n, k))
        elapsed = time.perf_counter() - start
        peak_mb = _peak_mb()
        m = min(n, check_rows)
        tags, probs = _dask_tags(m, k)
        got = dl.find_multilabel_issues(tags, probs).compute()
        tags, probs = dask.compute(tags, probs)
    expected = lw.find_multilabel_issues(tags, probs)
    identical = all(
        np.array_equal(getattr(got, f), getattr(expected, f))
        for f in ("is_issue", "score", "ranking", "per_class_issue")
    )
    return {
        "n": n,
        "k": k,
        "gigabytes": n * k * 5 / 1e9,
        "generate_pass_s": generate_s,
        "seconds": elapsed,
        "rows_per_s": n / elapsed,
        "peak_rss_mb": peak_mb,
        "baseline_rss_mb": base_mb,
        "high_water_mark_reset": reset,
        "n_issues": result.n_issues,
        "check_rows": m,
        "identical": bool(identical),
    }


def _annotations(n_items: int, n_sources: int, per_item: int, seed: int = 0) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    accuracy = rng.uniform(0.55, 0.95, n_sources)
    item = np.repeat(np.arange(n_items), per_item)
    # per_item distinct annotators per item: a random start and stride into the pool.
    first = rng.integers(0, n_sources, n_items)
    source = (first[:, None] + np.arange(per_item)[None, :] * 7) % n_sources
    source = source.ravel()
    right = rng.random(item.size) < accuracy[source]
    label = np.where(right, truth[item], 1 - truth[item])
    return pd.DataFrame({"item": item, "source": source, "label": label}), truth


def worker_dawid_skene(n_items: int, n_sources: int, per_item: int) -> dict[str, Any]:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    import labelwise as lw
    from labelwise import distributed as dl
    from labelwise.aggregate import DawidSkene

    frame, truth = _annotations(n_items, n_sources, per_item)
    n_parts = max(2, len(frame) // 500_000)
    with (
        LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        table = dd.from_pandas(frame, npartitions=n_parts).persist()
        warm, _ = _annotations(200, 10, 3, seed=1)
        dl.fit(DawidSkene(), dd.from_pandas(warm, npartitions=2))
        start = time.perf_counter()
        fitted = dl.fit(DawidSkene(), table)
        elapsed = time.perf_counter() - start
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    client_mb = _peak_mb()
    DawidSkene().fit(lw.Annotations.from_long(warm))  # compiles the in-memory kernels
    start = time.perf_counter()
    expected = DawidSkene().fit(lw.Annotations.from_long(frame))
    memory_s = time.perf_counter() - start
    return {
        "n_items": n_items,
        "n_sources": n_sources,
        "n_annotations": len(frame),
        "partitions": n_parts,
        "seconds": elapsed,
        "annotations_per_s": len(frame) / elapsed,
        "n_iter": fitted.n_iter_,
        "in_memory_seconds": memory_s,
        "in_memory_n_iter": expected.n_iter_,
        "max_abs_probas_diff": float(np.abs(fitted.probas_ - expected.probas_).max()),
        "label_agreement": float((fitted.labels_ == expected.labels_).mean()),
        "accuracy": float((fitted.labels_ == truth).mean()),
        "client_peak_rss_mb": client_mb,
        "worker_peak_rss_mb": max(workers.values()),
    }


def _isolated(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr or out.stdout)[-2000:]}
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- report


def _body(
    info: dict[str, Any],
    issues: list[dict[str, Any]],
    ml: list[dict[str, Any]],
    ds: list[dict[str, Any]],
) -> str:
    lines = [
        f"Generated {info['date_utc']} UTC by `{info['command']}` (labelwise "
        f"{info['labelwise']}, numpy {info['numpy']}, Python {info['python']}, "
        f"{info['cpus']} CPUs, {info['memory_GiB']} GiB).",
        "",
        "**Out-of-core `distributed.find_label_issues`** (prune_by_noise_rate, K = 10, float32 "
        "`pred_probs` read from a `.npy` file in blocks of 1e6 rows, Dask threaded scheduler, "
        "2 threads). Peak RSS is the process's high-water mark (`VmHWM`, reset after the "
        "warm-up) during the call: Python, numpy, numba and dask included, the data "
        "generation (a separate process) not; identical = same flagged set, scores and "
        "ranking as the in-memory function on the first rows.",
        "",
    ]
    rows = []
    for r in issues:
        if "error" in r:
            rows.append([r.get("n", "?"), "failed", "", "", "", "", ""])
            continue
        rows.append(
            [
                f"{r['n']:.0e}",
                f"{r['gigabytes']:.2f} GB",
                f"{r['seconds']:.1f} s",
                f"{r['rows_per_s'] / 1e6:.2f} M",
                f"{r['peak_rss_mb']:.0f} MB",
                f"{r['n_issues']:,}",
                f"{'yes' if r['identical'] else 'NO'} ({r['check_rows']:.0e} rows)",
            ]
        )
    lines.append(
        md_table(["rows", "pred_probs", "time", "rows/s", "peak RSS", "issues", "identical"], rows)
    )
    lines += [
        "",
        "**Out-of-core `distributed.find_multilabel_issues`** (prune_by_noise_rate, float32 "
        "probabilities and int8 tags generated block by block on demand, 2.5e5 rows per "
        "block, Dask threaded scheduler, 2 threads; 20% positive tags, 5% of the entries "
        "toggled). The blocks are generated again in each of the 4 passes; one generation pass "
        "alone is timed separately. Identical = same flags per (row, class), scores and "
        "ranking as the in-memory function on the first rows.",
        "",
    ]
    rows = []
    for r in ml:
        if "error" in r:
            rows.append([r.get("n", "?"), "failed", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                f"{r['n']:.0e} x {r['k']}",
                f"{r['gigabytes']:.2f} GB",
                f"{r['seconds']:.1f} s",
                f"{r['generate_pass_s']:.1f} s",
                f"{r['rows_per_s'] / 1e6:.2f} M",
                f"{r['peak_rss_mb']:.0f} MB",
                f"{r['n_issues']:,}",
                f"{'yes' if r['identical'] else 'NO'} ({r['check_rows']:.0e} rows)",
            ]
        )
    lines.append(
        md_table(
            [
                "rows x K",
                "data",
                "time",
                "generating the blocks once",
                "rows/s",
                "peak RSS",
                "issues",
                "identical",
            ],
            rows,
        )
    )
    lines += [
        "",
        "**`distributed.fit(DawidSkene(), ddf)` on a LocalCluster** (2 worker processes x 1 "
        "thread; K = 2, 3 answers per item; in-memory fit on the same table for comparison).",
        "",
    ]
    rows = []
    for r in ds:
        if "error" in r:
            rows.append([r.get("n_items", "?"), "failed", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                f"{r['n_items']:.0e} x {r['n_sources']}",
                f"{r['n_annotations']:,}",
                f"{r['seconds']:.1f} s ({r['n_iter']} it.)",
                f"{r['annotations_per_s'] / 1e3:.0f} k",
                f"{r['in_memory_seconds']:.1f} s ({r['in_memory_n_iter']} it.)",
                f"{r['max_abs_probas_diff']:.1e}",
                f"{r['label_agreement']:.4f}",
                f"{r['client_peak_rss_mb']:.0f} / {r['worker_peak_rss_mb']:.0f} MB",
            ]
        )
    lines.append(
        md_table(
            [
                "items x annotators",
                "annotations",
                "distributed",
                "annotations/s",
                "in memory",
                "max abs. probas diff.",
                "same labels",
                "peak RSS client / worker",
            ],
            rows,
        )
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "generate":
        _generate(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        kind, *params = sys.argv[2:]
        values = [int(p) for p in params]
        funcs = {"issues": worker_issues, "ml": worker_multilabel, "ds": worker_dawid_skene}
        func = funcs[kind]
        print(json.dumps(func(*values)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8", help="rows of pred_probs")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--check-rows", default="1e6")
    parser.add_argument("--ds-items", default="1e5,1e6")
    parser.add_argument("--ds-sources", type=int, default=1000)
    parser.add_argument("--ml-sizes", default="1e6,1e7", help="rows of multi-label pred_probs")
    parser.add_argument("--ml-k", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="tiny sizes; docs left alone")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.ds_items, args.check_rows = "2e5", "2e4", "1e5"
        args.ml_sizes = "1e5"
    check = int(float(args.check_rows))
    issues, ds, ml = [], [], []
    for n in _parse(args.sizes):
        result = _isolated(["issues", str(n), str(args.k), str(check)], timeout=3600)
        print(json.dumps(result), flush=True)
        issues.append(result)
    for n in _parse(args.ml_sizes):
        result = _isolated(["ml", str(n), str(args.ml_k), str(check)], timeout=3600)
        print(json.dumps(result), flush=True)
        ml.append(result)
    for n_items in _parse(args.ds_items):
        result = _isolated(["ds", str(n_items), str(args.ds_sources), "3"], timeout=3600)
        print(json.dumps(result), flush=True)
        ds.append(result)
    info = meta()
    publish(
        "scale",
        {
            "meta": info,
            "find_label_issues": issues,
            "find_multilabel_issues": ml,
            "dawid_skene": ds,
        },
        _body(info, issues, ml, ds),
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
