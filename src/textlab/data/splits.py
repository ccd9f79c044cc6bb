"""Text splits and the deterministic, stratified validation carve."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from textlab.base.errors import UserError
from textlab.base.fingerprint import fingerprint_json, fingerprint_texts


@dataclass
class TextSplit:
    """Raw texts with integer labels, aligned; `targets`, when given, a distribution over the
    classes per text for the loss to match instead of the label (a teacher's probabilities)."""

    texts: list[str]
    labels: list[int]
    targets: list[list[float]] | None = None
    # Cached: train.py, the tokenizer cache, the token cache and provenance all ask for it.
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_texts(self.texts, self.labels)
            if self.targets is not None:
                self._fingerprint = fingerprint_json([self._fingerprint, self.targets])
        return self._fingerprint


def empty_carve_error(fraction: float, num_texts: int, side: str) -> UserError:
    """`data.val_fraction` left one side of the carve (`side`: validation | training) empty."""
    return UserError(
        f"data.val_fraction={fraction} of {num_texts} training texts leaves no {side} "
        "texts; expected more data or another data.val_fraction"
    )


def carve_validation(split: TextSplit, fraction: float, seed: int) -> tuple[TextSplit, TextSplit]:
    """Split off `fraction` of each class as validation; the same seed, the same carve."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(split.labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    val_indices: list[int] = []
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        val_indices.extend(indices[: round(len(indices) * fraction)])
    val_set = set(val_indices)
    train_indices = [i for i in range(len(split)) if i not in val_set]
    # An empty side would fail much later, inside Lightning (no val/acc to checkpoint on).
    side = "validation" if not val_indices else "training" if not train_indices else None
    if side is not None:
        raise empty_carve_error(fraction, len(split), side)
    val_indices.sort()

    def subset(indices: list[int]) -> TextSplit:
        return TextSplit([split.texts[i] for i in indices], [split.labels[i] for i in indices])

    return subset(train_indices), subset(val_indices)
