"""Row-wise work mapped over blocks: fitted calibration and conformal maps, labeling functions.

Calibration maps and conformal prediction sets treat each row on its own once fitted (on an
in-memory calibration set), so they map over blocks with no combine step: each block is the
in-memory method's output for those rows. The one exception is randomised conformal sets
(``randomized=True`` with APS / RAPS scores), whose uniform draws restart in every block: valid
sets, but not the same draws as one in-memory call.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd

from labelwise._validation import fail
from labelwise.weak.apply import apply as weak_apply


def _map_rows(estimator: Any, method: str, array: Any, name: str) -> da.Array:
    if not isinstance(array, da.Array):
        fail(name, "a dask.array.Array", type(array).__name__, kind=TypeError)
    if array.ndim != 2:
        fail(name, "a 2-D array of shape (n_examples, n_classes)", f"shape {array.shape}")
    call = getattr(estimator, method, None)
    if call is None:
        fail(
            "estimator",
            f"a fitted labelwise object with a .{method}(...) method",
            type(estimator).__name__,
            kind=TypeError,
        )
    rows = array.rechunk({1: -1})
    # One eager call on the first row checks the fitted state, the width and the output type,
    # with the in-memory method's own messages.
    probe = np.asarray(call(rows[:1].compute()))
    return rows.map_blocks(
        _apply_block,
        estimator,
        method,
        probe.dtype,
        probe.shape[1:],
        dtype=probe.dtype,
        chunks=(rows.chunks[0], probe.shape[1:]) if probe.ndim == 2 else (rows.chunks[0],),
        drop_axis=None if probe.ndim == 2 else 1,
        meta=np.empty((0,) * probe.ndim, dtype=probe.dtype),
    )


def _apply_block(
    block: np.ndarray, estimator: Any, method: str, dtype: np.dtype, tail: tuple[int, ...]
) -> np.ndarray:
    if block.shape[0] == 0:
        return np.zeros((0, *tail), dtype=dtype)
    return np.asarray(getattr(estimator, method)(block))


def predict_set(estimator: Any, pred_probs: Any) -> da.Array:
    """``estimator.predict_set`` (a calibrated conformal predictor) block by block.

    Parameters
    ----------
    estimator : SplitConformal, MultilabelConformal, CostControlledSets, ...
        Already calibrated in memory.
    pred_probs : dask.array.Array of shape (n, K)
        Chunked by rows.

    Returns
    -------
    dask.array.Array of shape (n, K), bool
        The in-memory sets of each block's rows (see the module note on randomised sets).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.conformal import SplitConformal
    >>> from labelwise.distributed import predict_set
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=400)
    >>> labels = np.array([rng.choice(3, p=p) for p in probs])
    >>> cp = SplitConformal(confidence_level=0.9).calibrate(probs[:200], labels[:200])
    >>> sets = predict_set(cp, da.from_array(probs[200:], chunks=(64, 3)))
    >>> bool((sets.compute() == cp.predict_set(probs[200:])).all())
    True
    """
    return _map_rows(estimator, "predict_set", pred_probs, "pred_probs")


def transform(calibrator: Any, logits: Any) -> da.Array:
    """``calibrator.transform`` (a fitted calibration map) block by block.

    Parameters
    ----------
    calibrator : TemperatureScaling, VectorScaling, MatrixScaling, PlattScaling, ...
        Already fitted in memory.
    logits : dask.array.Array of shape (n, K)
        Chunked by rows.

    Returns
    -------
    dask.array.Array of shape (n, K)
        Calibrated probabilities, identical to the in-memory transform of each block.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from labelwise.calibration import TemperatureScaling
    >>> from labelwise.distributed import transform
    >>> rng = np.random.default_rng(0)
    >>> logits = 3 * rng.standard_normal((300, 4))
    >>> labels = logits.argmax(axis=1)
    >>> ts = TemperatureScaling().fit(logits, labels)
    >>> out = transform(ts, da.from_array(logits, chunks=(70, 4))).compute()
    >>> bool(np.array_equal(out, ts.transform(logits)))
    True
    """
    return _map_rows(calibrator, "transform", logits, "logits")


def apply(lfs: Any, data: Any, *, classes: Any = None) -> dd.DataFrame:
    """:func:`labelwise.weak.apply` over a Dask DataFrame, partition by partition.

    Each partition runs the in-memory ``apply`` (items are the DataFrame's index values) and
    becomes a long table of votes (``item``, ``source``, ``label``), the input of :func:`fit`.
    Labeling functions must be picklable to run on a process-based cluster.

    Parameters
    ----------
    lfs : list of LabelingFunction
    data : dask.dataframe.DataFrame
        One row per item; the index holds the item ids.
    classes : sequence, optional
        Every class the labeling functions may vote (checked in each partition).

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``item``, ``source`` (the labeling function's name), ``label`` (the vote).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from labelwise.distributed import apply
    >>> from labelwise.weak import ABSTAIN, labeling_function
    >>> @labeling_function()
    ... def has_link(row):
    ...     return "spam" if "http" in row["text"] else ABSTAIN
    >>> frame = pd.DataFrame({"text": ["thanks!", "go to http://x", "http://y"]})
    >>> votes = apply([has_link], dd.from_pandas(frame, npartitions=2)).compute()
    >>> votes["item"].tolist(), votes["label"].tolist()
    ([1, 2], ['spam', 'spam'])
    """
    if not isinstance(data, dd.DataFrame):
        fail("data", "a dask.dataframe.DataFrame", type(data).__name__, kind=TypeError)
    meta = pd.DataFrame(
        {
            "item": pd.Series(dtype=data.index.dtype),
            "source": pd.Series(dtype=object),
            "label": pd.Series(dtype=object),
        }
    )
    return data.map_partitions(_apply_partition, lfs, classes, meta=meta)


def _apply_partition(frame: pd.DataFrame, lfs: Any, classes: Any) -> pd.DataFrame:
    if len(frame) == 0:
        return pd.DataFrame({"item": frame.index[:0], "source": [], "label": []})
    votes = weak_apply(lfs, frame, classes=classes, progress=False).to_long()
    return votes.astype({"source": object, "label": object})
