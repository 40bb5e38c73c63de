"""What the scalers share: chunked passes over rows, stable softmax / log-sigmoid helpers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.special import log_expit, logsumexp

from labelwise._validation import check_choice, check_pred_probs
from labelwise._validation.trust import check_logits, multilabel_probs

#: Rows are processed in chunks of about this many entries, so a pass over a large float32
#: input never holds a float64 copy of more than one chunk.
CHUNK_ENTRIES = 1 << 20
INPUTS = ("logits", "probs")


def row_chunks(n_rows: int, n_cols: int) -> Iterator[slice]:
    """Consecutive row slices of about ``CHUNK_ENTRIES`` entries each."""
    step = max(1, CHUNK_ENTRIES // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def check_scores(values: object, inputs: object, *, multilabel: bool) -> tuple[np.ndarray, str]:
    """Validate logits, or probabilities when ``inputs="probs"`` says so; return (array, inputs).

    Multi-class probabilities must be rows summing to one; multi-label ones values in [0, 1].
    """
    kind = check_choice(inputs, "inputs", INPUTS)
    if kind == "logits":
        return check_logits(values, min_columns=1 if multilabel else 2), kind
    if multilabel:
        return multilabel_probs(values, name="logits"), kind
    return check_pred_probs(values, name="logits"), kind


def softmax_logits(chunk: np.ndarray, inputs: str) -> np.ndarray:
    """float64 logits of one chunk: the values themselves, or ``log p`` for probabilities.

    Softmax is invariant to adding a constant to a row, so ``log p`` are exact logits of a
    probability row; zeros are clipped to the smallest positive float first.
    """
    values = np.asarray(chunk, dtype=np.float64)
    if inputs == "probs":
        return np.log(np.maximum(values, np.finfo(np.float64).tiny))
    return values


def sigmoid_logits(chunk: np.ndarray, inputs: str) -> np.ndarray:
    """float64 logits of one chunk of independent probabilities (``logit(p)``, clipped)."""
    values = np.asarray(chunk, dtype=np.float64)
    if inputs == "probs":
        tiny = np.finfo(np.float64).tiny
        clipped = np.clip(values, tiny, np.nextafter(1.0, 0.0))
        return np.log(clipped) - np.log1p(-clipped)
    return values


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float64 ``z`` (in place of a copy)."""
    out = z - z.max(axis=1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_nll(z: np.ndarray, labels: np.ndarray) -> float:
    """Summed negative log-likelihood of ``labels`` under softmax(z) (float64 ``z``)."""
    return float((logsumexp(z, axis=1) - z[np.arange(z.shape[0]), labels]).sum())


def sigmoid_nll(z: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-column summed binary cross-entropy of 0/1 ``targets`` under sigmoid(z)."""
    return -(np.where(targets, log_expit(z), log_expit(-z))).sum(axis=0)
