"""Input pipeline headroom: batches/s of the datamodule alone vs batches/s the model consumes.

    python benchmarks/input_pipeline.py                          # embedded corpus
    python benchmarks/input_pipeline.py --imdb-root /path/to/aclImdb   # or TEXTLAB_IMDB_ROOT

Loader rate: one full pass over `train_dataloader()` (num_workers 0, no model), the median of
`--loader-epochs` passes. Model rate: forward + cross-entropy + backward + AdamW step of the
default LSTM (conf/model/lstm.yaml sizes) on `--model-batches` batches of one such pass, taken
at evenly spaced quantiles of padded length (so their mean T is the pass's), after `--warmup`
steps on others. Headroom = loader / model
(goal >= 5x). Setup: `setup("fit")` (tokenize train + val and save the token ids) with an
empty temporary cache_dir, then a second datamodule with the same cache_dir (cache hit); reading
the texts and training the tokenizer happen before and are not timed.
Embedded corpus: conf/data/synthetic.yaml settings (bucketing on) with `--train-size` reviews;
aclImdb: conf/data/imdb.yaml settings (bucketing off) with max_length 400.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from attention_speed import machine  # benchmarks/ is on sys.path when run as a script

from textlab.data.datamodule import TextDataModule
from textlab.data.sources.imdb import imdb_datamodule
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.models.rnn import RNNClassifier
from textlab.tokenization import TokenizerSpec, pad_id


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb-root", default=os.environ.get("TEXTLAB_IMDB_ROOT"))
    parser.add_argument("--train-size", type=int, default=24000, help="embedded corpus only")
    parser.add_argument("--max-length", type=int, default=None, help="256 embedded, 400 IMDb")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--loader-epochs", type=int, default=3)
    parser.add_argument("--model-batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def make_datamodule(args: argparse.Namespace, cache_dir: str | None) -> TextDataModule:
    options = {"batch_size": args.batch_size, "max_length": args.max_length, "seed": 42}
    if args.imdb_root:
        return imdb_datamodule(args.imdb_root, cache_dir=cache_dir, bucketing=False, **options)
    source = SyntheticReviews(train_size=args.train_size, test_size=2000)
    return TextDataModule(source, cache_dir=cache_dir, bucketing=True, **options)


def loader_rate(dm: TextDataModule, epochs: int) -> tuple[float, int]:
    """(median batches/s of full passes over train_dataloader, batches per pass)."""
    rates, count = [], 0
    for _ in range(epochs):
        start = time.perf_counter()
        count = sum(1 for _ in dm.train_dataloader())
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), count


def model_batches(args: argparse.Namespace, batches: list) -> tuple[list, list]:
    """(timed, warmup): batches at evenly spaced length quantiles, so T is spread as in a pass."""
    by_length = sorted(batches, key=lambda b: b["input_ids"].shape[1])
    k = min(args.model_batches, len(batches))
    picks = {int((i + 0.5) * len(batches) / k) for i in range(k)}
    timed = [by_length[i] for i in sorted(picks)]
    rest = [b for i, b in enumerate(by_length) if i not in picks]
    return timed, rest[:: max(1, len(rest) // max(1, args.warmup))][: args.warmup]


def model_rate(args: argparse.Namespace, batches: list, vocab: int, pad: int) -> float:
    """Training steps per second of the default LSTM on `batches`, after warmup steps."""
    torch.manual_seed(0)
    net = RNNClassifier(
        vocab, 2, pad, embedding_dim=96, hidden_size=96, num_layers=1, cell="lstm",
        bidirectional=True, dropout=0.1, pooling="max",
    )  # fmt: skip
    optimizer = torch.optim.AdamW(net.parameters(), lr=4e-3, weight_decay=0.01)
    timed, warm = model_batches(args, batches)
    start = 0.0
    for i, batch in enumerate(warm + timed):
        if i == len(warm):
            start = time.perf_counter()
        loss = F.cross_entropy(net(batch["input_ids"], batch["attention_mask"]), batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(timed) / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_length is None:
        args.max_length = 400 if args.imdb_root else 256
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine('cpu')}")

    setup_s = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for attempt in ("first", "cached"):
            dm = make_datamodule(args, cache_dir)
            reviews = {name: len(split) for name, split in dm.splits().items()}  # not timed
            if attempt == "first":
                train = dm.splits()["train"]
                spec = TokenizerSpec(kind="bpe", vocab_size=args.vocab_size)
                tokenizer = spec.train(train.texts)
            dm.attach_tokenizer(tokenizer)
            start = time.perf_counter()
            dm.setup("fit")  # train + val
            setup_s[attempt] = time.perf_counter() - start
        data = f"aclImdb at {args.imdb_root}" if args.imdb_root else "embedded corpus"
        print(
            f"config: {data}; reviews {reviews}; BPE vocab {tokenizer.get_vocab_size()}; "
            f"batch {args.batch_size}, max_length {args.max_length}, bucketing {dm.bucketing}, "
            f"num_workers {dm.num_workers}; LSTM emb 96 hidden 96 bidirectional, AdamW; "
            f"torch threads {torch.get_num_threads()}; loader: median of {args.loader_epochs} "
            f"passes; model: {args.model_batches} steps after {args.warmup} warmup\n",
            flush=True,
        )
        loader, per_epoch = loader_rate(dm, args.loader_epochs)
        batches = list(dm.train_dataloader())
        lengths = [b["input_ids"].shape[1] for b in batches]
        model = model_rate(args, batches, tokenizer.get_vocab_size(), pad_id(tokenizer))

    timed_t = [b["input_ids"].shape[1] for b in model_batches(args, batches)[0]]
    print(
        f"batches per pass {per_epoch}, padded T mean {statistics.mean(lengths):.0f} "
        f"(model's timed batches: mean {statistics.mean(timed_t):.0f}, max {max(timed_t)})\n"
    )
    print("| loader batches/s | model batches/s (train step) | headroom (goal >= 5x) "
          "| setup, first run s | setup, cached s | first/cached |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    first, cached = setup_s["first"], setup_s["cached"]
    print(
        f"| {loader:.1f} | {model:.2f} | {loader / model:.0f}x "
        f"| {first:.2f} | {cached:.3f} | {first / cached:.0f}x |"
    )


if __name__ == "__main__":
    main()
