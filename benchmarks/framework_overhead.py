"""Training-step throughput: textlab (Lightning Trainer + TextClassifier) vs a plain PyTorch loop.

    python benchmarks/framework_overhead.py                 # embedded corpus, train_size 4000
    python benchmarks/framework_overhead.py --steps 100 --rounds 5

Both sides train the same network (RNNClassifier with the conf/model/lstm.yaml sizes, same
initial weights) with the same AdamW on the SAME precomputed list of batches, drawn once from
textlab's TextDataModule over the embedded corpus (bucketing on, as conf/data/synthetic.yaml).
textlab's side is a Trainer with logger=False, no progress bar, no checkpointing, no validation,
fed a DataLoader(batches, batch_size=None); its module's metrics and FiniteLossCheck stay on, as
they are part of the framework's per-step cost. The plain side is forward, cross-entropy,
zero_grad, backward, step. Each round times `steps` steps after `warmup` steps (the timer starts
at the end of the last warmup step, so every timed step includes fetching its batch); rounds
alternate between the two sides; the table gives each side's median round and, since
the machine is noisy, the ratio of each (textlab, plain) pair of rounds too.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import statistics
import sys
import time
import warnings

import lightning as L
import torch
import torch.nn.functional as F
from attention_speed import machine  # benchmarks/ is on sys.path when run as a script
from torch.utils.data import DataLoader

from textlab.data.datamodule import TextDataModule
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.models.rnn import RNNClassifier
from textlab.module import TextClassifier
from textlab.tokenization import TokenizerSpec, pad_id

Batch = dict[str, torch.Tensor]


def parse_args() -> argparse.Namespace:
    """Command-line options; model and data defaults are the conf/ defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--embedding-dim", type=int, default=96)
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def make_batches(args: argparse.Namespace) -> tuple[list[Batch], int, int]:
    """(warmup + steps batches from one shuffled epoch, repeated if short; vocab size; pad id)."""
    dm = TextDataModule(
        SyntheticReviews(train_size=args.train_size, test_size=100),
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=42,
        bucketing=True,
    )
    train = dm.splits()["train"]
    tokenizer = TokenizerSpec(kind="bpe", vocab_size=args.vocab_size).train(train.texts)
    dm.attach_tokenizer(tokenizer)
    dm.setup("fit")
    epoch = list(dm.train_dataloader())
    needed = args.warmup + args.steps
    batches = (epoch * (needed // len(epoch) + 1))[:needed]
    return batches, tokenizer.get_vocab_size(), pad_id(tokenizer)


def make_net(args: argparse.Namespace, vocab_size: int, pad: int) -> RNNClassifier:
    """The default LSTM with fixed-seed weights, identical on both sides."""
    torch.manual_seed(0)
    return RNNClassifier(
        vocab_size, 2, pad, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
        num_layers=1, cell="lstm", bidirectional=True, dropout=args.dropout, pooling="max",
    )  # fmt: skip


def make_optimizer(args: argparse.Namespace):
    return functools.partial(torch.optim.AdamW, lr=args.lr, weight_decay=args.weight_decay)


class StepTimer(L.Callback):
    """Wall time from the end of step `warmup` - 1 to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warmup - 1:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def textlab_round(args: argparse.Namespace, batches: list[Batch], vocab: int, pad: int) -> float:
    """Steps per second of Trainer.fit over the batches, warmup excluded."""
    module = TextClassifier(make_net(args, vocab, pad), 2, make_optimizer(args), scheduler=None)
    timer = StepTimer(args.warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        max_steps=len(batches),
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    assert trainer.global_step == len(batches), trainer.global_step
    return args.steps / (timer.end - timer.start)


def plain_round(args: argparse.Namespace, batches: list[Batch], vocab: int, pad: int) -> float:
    """Steps per second of a hand-written loop over the same batches, warmup excluded."""
    net = make_net(args, vocab, pad)
    optimizer = make_optimizer(args)(net.parameters())
    net.train()
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        logits = net(batch["input_ids"], batch["attention_mask"])
        loss = F.cross_entropy(logits, batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i == args.warmup - 1:
            start = time.perf_counter()
    return args.steps / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # per-round banners
    warnings.filterwarnings("ignore", module="lightning")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine('cpu')}")
    batches, vocab, pad = make_batches(args)
    lengths = [b["input_ids"].shape[1] for b in batches[args.warmup :]]
    print(
        f"config: SyntheticReviews train_size={args.train_size} (90% train after the val carve), "
        f"BPE vocab {vocab}, batch {args.batch_size}, max_length {args.max_length}, bucketing; "
        f"timed batches padded to T in [{min(lengths)}, {max(lengths)}], mean "
        f"{statistics.mean(lengths):.0f}; LSTM emb {args.embedding_dim} hidden {args.hidden_size} "
        f"bidirectional, max pooling, dropout {args.dropout}; AdamW lr {args.lr} "
        f"wd {args.weight_decay}, no scheduler; {args.steps} timed steps after {args.warmup} "
        f"warmup, {args.rounds} alternating rounds, median; torch threads "
        f"{torch.get_num_threads()}\n"
    )
    rates: dict[str, list[float]] = {"textlab": [], "plain": []}
    for r in range(args.rounds):
        gc.collect()  # neither side pays for the other's garbage
        rates["textlab"].append(textlab_round(args, batches, vocab, pad))
        gc.collect()
        rates["plain"].append(plain_round(args, batches, vocab, pad))
        print(
            f"round {r + 1}: textlab {rates['textlab'][-1]:.2f} steps/s, "
            f"plain {rates['plain'][-1]:.2f} steps/s",
            flush=True,
        )
    textlab, plain = statistics.median(rates["textlab"]), statistics.median(rates["plain"])
    paired = [t / p for t, p in zip(rates["textlab"], rates["plain"], strict=True)]
    print("\n| textlab steps/s | plain PyTorch steps/s | textlab/plain (goal >= 0.97) "
          "| per-round ratios (median) |")  # fmt: skip
    print("|---|---|---|---|")
    print(
        f"| {textlab:.2f} | {plain:.2f} | {textlab / plain:.3f} "
        f"| {', '.join(f'{r:.3f}' for r in paired)} ({statistics.median(paired):.3f}) |"
    )


if __name__ == "__main__":
    main()
