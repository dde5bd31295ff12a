"""Which team a message needs, by meaning: an intent classifier over sentence embeddings.

The labelled messages in `intent_data/train.jsonl` (several hundred, many phrasings per
label, written from the company facts in customers' styles) are embedded with the MiniLM model
the agent already loads, and a multinomial logistic regression is fitted on them
(`python -m services.agent.intents train`, `make intents`). What ships is its weights and
per-label thresholds (`intent_data/model.json`, with the SHA-256 of the data it was trained
on: a test fails when the data changed and the model was not retrained). At run time one
message costs one embedding and a 7×384 matrix product in numpy; scikit-learn is needed only
to train.

Thresholds are calibrated on cross-validated probabilities (each message scored by a model
that never saw it): for the labels that must reach people - pricing, refund, legal,
human_request - the threshold keeps recall first (at least `RECALL_TARGET` of that label's
messages reach it); anger maximises F1. The guardrails combine these with the patterns
(services/agent/guardrails.py): either can raise a concern, and only a confident "ordinary
question" can overrule a single ambiguous word.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.knowledge.embeddings import LOCAL_MODEL, Embedder, LocalEmbedder

DATA_DIR = Path(__file__).with_name("intent_data")
TRAIN = DATA_DIR / "train.jsonl"
MODEL = DATA_DIR / "model.json"

LABELS = ("pricing", "refund", "legal", "anger", "human_request", "question", "greeting")
# Labels that send a message to people; the rest the agent answers itself.
ESCALATING = ("pricing", "refund", "legal", "anger", "human_request")
RECALL_FIRST = ("pricing", "refund", "legal", "human_request")
RECALL_TARGET = 0.95
# A threshold is never set below this (recall-first must not turn into "everything trips").
MIN_THRESHOLD = 0.2
FOLDS = 5
C = 4.0  # inverse regularisation; chosen by cross-validation on the training data


def data_digest(path: Path = TRAIN) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_examples(path: Path = TRAIN) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in LABELS or not str(row.get("text", "")).strip():
            raise ValueError(f"{path}:{n}: needs a non-empty text and a label in {LABELS}")
        rows.append((row["text"], row["label"]))
    return rows


@dataclass(frozen=True)
class Intent:
    """The classifier's view of one message."""

    probabilities: dict[str, float]
    thresholds: dict[str, float]

    @property
    def top(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    def says(self, label: str) -> bool:
        """The probability of `label` reaches its calibrated threshold."""
        return self.probabilities[label] >= self.thresholds.get(label, 0.5)

    @property
    def ordinary(self) -> float:
        """How sure it is that nobody needs to take this: a question or a greeting."""
        return self.probabilities["question"] + self.probabilities["greeting"]


@dataclass(frozen=True)
class IntentModel:
    labels: tuple[str, ...]
    weights: np.ndarray  # (labels, dimensions)
    bias: np.ndarray  # (labels,)
    thresholds: dict[str, float]
    data_sha256: str
    embedding_model: str

    @classmethod
    def load(cls, path: Path = MODEL) -> IntentModel:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            labels=tuple(raw["labels"]),
            weights=np.asarray(raw["weights"], dtype=np.float32),
            bias=np.asarray(raw["bias"], dtype=np.float32),
            thresholds={k: float(v) for k, v in raw["thresholds"].items()},
            data_sha256=raw["data_sha256"],
            embedding_model=raw["embedding_model"],
        )

    def classify(self, vector: Sequence[float]) -> Intent:
        logits = self.weights @ np.asarray(vector, dtype=np.float32) + self.bias
        exp = np.exp(logits - logits.max())
        p = exp / exp.sum()
        return Intent(dict(zip(self.labels, (float(x) for x in p), strict=True)), self.thresholds)


class IntentClassifier:
    """The shipped model and the embedder it was trained with (MiniLM, whatever the knowledge
    search uses: vectors of another model mean nothing to these weights)."""

    def __init__(self, model: IntentModel, embedder: Embedder) -> None:
        if embedder.model != model.embedding_model:
            raise ValueError(f"the intent model needs {model.embedding_model} vectors, "
                             f"not {embedder.model}")
        self.model = model
        self._embedder = embedder

    async def classify(self, text: str) -> Intent:
        [vector] = await self._embedder.embed([" ".join(text.split())[:2000]])
        return self.model.classify(vector)


def classifier_for(embedder: Embedder) -> IntentClassifier:
    """The classifier on `embedder` when it is MiniLM, else on a local MiniLM of its own."""
    model = IntentModel.load()
    if embedder.model != model.embedding_model:
        local = LocalEmbedder()
        local.load()
        embedder = local
    return IntentClassifier(model, embedder)


# --- training (scikit-learn; `make intents`) ---------------------------------------------


def _thresholds(y: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, label in enumerate(labels):
        if label not in ESCALATING:
            continue
        positives = np.sort(proba[y == i, i])
        if not len(positives):
            continue
        if label in RECALL_FIRST:
            # The highest threshold that still lets RECALL_TARGET of the positives through.
            keep = int(np.floor((1 - RECALL_TARGET) * len(positives)))
            t = float(positives[keep])
        else:
            best_f1, t = -1.0, 0.5
            for candidate in np.unique(positives):
                predicted = proba[:, i] >= candidate
                tp = float(np.sum(predicted & (y == i)))
                f1 = 2 * tp / (predicted.sum() + (y == i).sum())
                if f1 > best_f1:
                    best_f1, t = f1, float(candidate)
        out[label] = round(max(MIN_THRESHOLD, min(t, 0.5)), 4)
    return out


def _report(y: np.ndarray, proba: np.ndarray, labels: Sequence[str],
            thresholds: dict[str, float]) -> str:
    lines = ["label           n   precision  recall   (cross-validated, at the threshold)"]
    for i, label in enumerate(labels):
        t = thresholds.get(label)
        predicted = proba[:, i] >= t if t is not None else proba.argmax(axis=1) == i
        tp = int(np.sum(predicted & (y == i)))
        n = int(np.sum(y == i))
        precision = tp / predicted.sum() if predicted.sum() else 0.0
        lines.append(f"  {label:13} {n:4d}   {precision:6.3f}   {tp / n if n else 0:6.3f}"
                     + (f"   t={t}" if t is not None else "   (argmax)"))
    return "\n".join(lines)


async def train(data: Path = TRAIN, out: Path = MODEL, embedder: Embedder | None = None) -> str:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    examples = load_examples(data)
    labels = [label for label in LABELS if any(lab == label for _, lab in examples)]
    embedder = embedder or LocalEmbedder()
    print(f"embedding {len(examples)} labelled messages with {embedder.model} ...", flush=True)
    X = np.asarray(await embedder.embed([" ".join(t.split())[:2000] for t, _ in examples]),
                   dtype=np.float64)
    y = np.asarray([labels.index(lab) for _, lab in examples])

    def model():
        return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)

    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=7)
    proba = cross_val_predict(model(), X, y, cv=folds, method="predict_proba")
    thresholds = _thresholds(y, proba, labels)
    fitted = model().fit(X, y)
    out.write_text(json.dumps({
        "labels": labels,
        "thresholds": thresholds,
        "data_sha256": data_digest(data),
        "embedding_model": embedder.model,
        "examples": len(examples),
        "weights": [[round(float(w), 6) for w in row] for row in fitted.coef_],
        "bias": [round(float(b), 6) for b in fitted.intercept_],
    }) + "\n", encoding="utf-8")
    report = _report(y, proba, labels, thresholds)
    print(report)
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.agent.intents", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fit the classifier on the labelled data, write model.json")
    t.add_argument("--data", type=Path, default=TRAIN)
    t.add_argument("--out", type=Path, default=MODEL)
    c = sub.add_parser("classify", help="print the probabilities for one message")
    c.add_argument("text")
    args = parser.parse_args(argv)
    if args.command == "train":
        asyncio.run(train(args.data, args.out))
        return 0

    async def one() -> None:
        intent = await classifier_for(LocalEmbedder()).classify(args.text)
        for label, p in sorted(intent.probabilities.items(), key=lambda kv: -kv[1]):
            mark = " *" if label in intent.thresholds and intent.says(label) else ""
            print(f"{label:14} {p:.3f}{mark}")

    asyncio.run(one())
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["Intent", "IntentClassifier", "IntentModel", "LABELS", "LOCAL_MODEL", "classifier_for"]
