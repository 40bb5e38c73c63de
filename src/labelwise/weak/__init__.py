"""Weak supervision: write labeling functions, apply them, and see how they vote.

Labeling functions (keyword rules, regexes, small models, embedding similarity, LLM prompts)
each vote a class or abstain on every example; :func:`apply` collects their votes as
:class:`labelwise.Annotations` (the labeling functions are the sources), which any aggregator
or label model in :mod:`labelwise.aggregate` turns into training labels. :func:`summary`
reports each labeling function's coverage, overlaps, conflicts and accuracy.
"""

from labelwise._validation.weak import LabelingFunctionError
from labelwise.weak._lf import ABSTAIN, LabelingFunction, Row, labeling_function
from labelwise.weak.analysis import DatasetSummary, dataset_summary, summary
from labelwise.weak.apply import apply
from labelwise.weak.debias import ModelLF, debias_probs, debias_weights, probs_to_votes
from labelwise.weak.embedding import EmbeddingLF, minilm_embedder
from labelwise.weak.prompt import PromptLF

__all__ = [
    "ABSTAIN",
    "DatasetSummary",
    "EmbeddingLF",
    "LabelingFunction",
    "LabelingFunctionError",
    "ModelLF",
    "PromptLF",
    "Row",
    "apply",
    "dataset_summary",
    "debias_probs",
    "debias_weights",
    "labeling_function",
    "minilm_embedder",
    "probs_to_votes",
    "summary",
]
