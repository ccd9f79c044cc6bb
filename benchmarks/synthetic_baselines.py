"""Bag-of-words vs BiLSTM on the synthetic reviews: the corpus should reward reading in order.

Run: python benchmarks/synthetic_baselines.py [--epochs 4] [--threads 2]
Plain PyTorch on CPU; word tokens, truncated to 256 like the framework default. A fixed
number of epochs keeps the accuracies reproducible; wall and CPU time are printed.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textlab.data.sources.synthetic import SyntheticReviews

MAX_TOKENS = 256
PAD, UNK = 0, 1
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Words (keeping contractions like "isn't" whole) and single punctuation marks."""
    return WORD.findall(text.lower())[:MAX_TOKENS]


def build_vocab(token_lists: list[list[str]]) -> dict[str, int]:
    counts = Counter(token for tokens in token_lists for token in tokens)
    return {word: i for i, word in enumerate(sorted(counts), start=2)}


def encode(token_lists: list[list[str]], vocab: dict[str, int]) -> list[list[int]]:
    return [[vocab.get(token, UNK) for token in tokens] for tokens in token_lists]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).float().mean().item()


def bag_of_words(ids: list[list[int]], vocab_size: int, binary: bool) -> torch.Tensor:
    """(N, V) word counts (or presence), scaled per review so length is not a feature."""
    bags = torch.zeros(len(ids), vocab_size)
    for row, seq in enumerate(ids):
        bags[row].index_add_(0, torch.tensor(seq), torch.ones(len(seq)))
    if binary:
        bags = (bags > 0).float()
    return bags / bags.sum(1, keepdim=True).clamp(min=1) * 50


def train_bow(train, test, vocab_size: int, binary: bool, steps: int = 600) -> tuple[float, float]:
    """Full-batch logistic regression on word counts until the loss stops moving."""
    x_train, y_train = bag_of_words(train[0], vocab_size, binary), torch.tensor(train[1])
    x_test, y_test = bag_of_words(test[0], vocab_size, binary), torch.tensor(test[1])
    model = nn.Linear(vocab_size, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-5)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        return accuracy(model(x_train), y_train), accuracy(model(x_test), y_test)


class BiLSTM(nn.Module):
    """Embedding -> bidirectional LSTM over packed sequences -> max-pool real tokens -> linear."""

    def __init__(self, vocab_size: int, embed_dim: int = 96, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embed(ids), lengths, batch_first=True, enforce_sorted=False
        )
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True)  # (B, T, 2H)
        real = torch.arange(states.size(1))[None, :] < lengths[:, None]
        states = states.masked_fill(~real[:, :, None], float("-inf"))
        return self.head(states.max(dim=1).values)


def batches(ids: list[list[int]], labels: list[int], size: int, rng: random.Random | None):
    """Batches of similar length (sorted in chunks) so padding costs little; shuffled if rng."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(groups)
    for group in groups:
        lengths = torch.tensor([len(ids[i]) for i in group])
        padded = torch.full((len(group), int(lengths.max())), PAD)
        for row, i in enumerate(group):
            padded[row, : len(ids[i])] = torch.tensor(ids[i])
        yield padded, lengths, torch.tensor([labels[i] for i in group])


def evaluate(model: nn.Module, ids, labels) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for padded, lengths, y in batches(ids, labels, 256, None):
            correct += (model(padded, lengths).argmax(-1) == y).sum().item()
    model.train()
    return correct / len(labels)


def train_lstm(train, test, vocab_size: int, epochs: int) -> float:
    """Adam, batch 64, for `epochs` epochs; returns the final test accuracy."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = BiLSTM(vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-3)
    start, cpu_start = time.perf_counter(), time.process_time()
    test_acc = 0.0
    for epoch in range(1, epochs + 1):
        for padded, lengths, y in batches(*train, 64, rng):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(padded, lengths), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        test_acc = evaluate(model, *test)
        print(
            f"  lstm epoch {epoch}: loss {loss.item():.3f} test acc {test_acc:.4f} "
            f"(wall {time.perf_counter() - start:.0f}s, cpu {time.process_time() - cpu_start:.0f}s)"
        )
    return test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="1 behaves better on a busy CPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    splits = SyntheticReviews(train_size=8000, test_size=2000, seed=0).load()
    tokens = {name: [tokenize(text) for text in texts] for name, (texts, _) in splits.items()}
    vocab = build_vocab(tokens["train"])
    vocab_size = len(vocab) + 2
    train = (encode(tokens["train"], vocab), splits["train"][1])
    test = (encode(tokens["test"], vocab), splits["test"][1])
    lengths = sorted(len(seq) for seq in train[0])
    print(
        f"data: {time.perf_counter() - start:.1f}s, vocab {vocab_size}, tokens/review "
        f"median {lengths[len(lengths) // 2]}, truncated at {MAX_TOKENS}: "
        f"{sum(n == MAX_TOKENS for n in lengths)}/{len(lengths)}"
    )

    for binary in (False, True):
        start = time.perf_counter()
        train_acc, test_acc = train_bow(train, test, vocab_size, binary)
        name = "presence" if binary else "counts"
        print(
            f"bow logistic regression ({name}): train acc {train_acc:.4f} "
            f"test acc {test_acc:.4f} ({time.perf_counter() - start:.1f}s)"
        )

    start = time.perf_counter()
    test_acc = train_lstm(train, test, vocab_size, args.epochs)
    print(f"bilstm max-pool: test acc {test_acc:.4f} ({time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
