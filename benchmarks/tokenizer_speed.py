"""Tokenizer cost: textlab's BPE training and encoding vs the same calls on raw `tokenizers`.

    python benchmarks/tokenizer_speed.py                                  # embedded corpus
    python benchmarks/tokenizer_speed.py --imdb-root /path/to/aclImdb     # or TEXTLAB_IMDB_ROOT
    python benchmarks/tokenizer_speed.py --threads 1 --train-size 500 --rounds 1   # smoke test

Texts: the training split after the validation carve (seed 42, as conf/config.yaml), read by
textlab itself: aclImdb through `imdb_datamodule`, or the embedded corpus (`--train-size`
reviews before the carve). Neither side's reading is timed.
Training: `TokenizerSpec(kind="bpe", vocab_size=V).train(texts)` vs a hand-built
`tokenizers` pipeline (BPE model with [UNK], NFKC + Lowercase, Whitespace pre-tokenizer,
BpeTrainer with min_frequency 2 and [PAD] [UNK] [CLS], `train_from_iterator`) plus the same
"[CLS] $A" post-processor; both vocabularies (and then the encoded ids) are asserted equal,
so the two sides do the same work.
Encoding: `TextDataModule.encode(split)` with cache_dir None (encode_batch, truncation to
`--max-length`, `TokenizedDataset.from_sequences` into one flat int32 array) vs
`encode_batch(texts)` and `[e.ids[:max_length] for e in encodings]`. Packing alone
(`from_sequences` on the raw side's lists) is timed separately, to show its share.
Rounds alternate textlab and raw (training, then encoding); the table gives medians and the
ratio of each round's pair. `tokenizers` runs on a rayon thread pool: RAYON_NUM_THREADS
(`--threads`) or else one thread per logical core; TOKENIZERS_PARALLELISM=false makes it serial.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np
from attention_speed import machine  # benchmarks/ is on sys.path when run as a script
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from textlab.data.datamodule import TextDataModule
from textlab.data.dataset import TokenizedDataset
from textlab.data.sources.imdb import imdb_datamodule
from textlab.data.sources.synthetic import SyntheticReviews
from textlab.data.splits import TextSplit
from textlab.tokenization import TokenizerSpec

SEED = 42  # conf/config.yaml: also chooses the validation carve
PACKING_NOTABLE = 0.2  # share of textlab's encode time above which packing is called out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb-root", default=os.environ.get("TEXTLAB_IMDB_ROOT"))
    parser.add_argument("--train-size", type=int, default=24000, help="embedded corpus only")
    parser.add_argument("--vocab-size", type=int, default=None, help="20000 IMDb, 8000 embedded")
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="sets RAYON_NUM_THREADS")
    return parser.parse_args()


def make_datamodule(args: argparse.Namespace) -> TextDataModule:
    options = {"max_length": args.max_length, "seed": SEED, "cache_dir": None}
    if args.imdb_root:
        return imdb_datamodule(args.imdb_root, **options)
    return TextDataModule(SyntheticReviews(train_size=args.train_size, test_size=100), **options)


def train_raw(texts: Sequence[str], vocab_size: int) -> Tokenizer:
    """textlab's BPE recipe, written out against `tokenizers` alone."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["[PAD]", "[UNK]", "[CLS]"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer, length=len(texts))
    cls = tokenizer.token_to_id("[CLS]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A", special_tokens=[("[CLS]", cls)]
    )
    return tokenizer


def encode_raw(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return [enc.ids[:max_length] for enc in tokenizer.encode_batch(texts)]


def timed(fn, *fn_args):
    """(result, seconds), after a garbage collection so neither side pays for the other's."""
    gc.collect()
    start = time.perf_counter()
    result = fn(*fn_args)
    return result, time.perf_counter() - start


def pairs(textlab: list[float], raw: list[float]) -> str:
    ratios = [t / r for t, r in zip(textlab, raw, strict=True)]
    return f"{', '.join(f'{x:.3f}' for x in ratios)} ({statistics.median(ratios):.3f})"


def main() -> None:
    args = parse_args()
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # read when rayon's pool starts
    if args.vocab_size is None:
        args.vocab_size = 20000 if args.imdb_root else 8000
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine('cpu')}")

    dm = make_datamodule(args)
    train = dm.splits()["train"]
    assert isinstance(train, TextSplit)
    texts = train.texts
    data = f"aclImdb at {args.imdb_root}" if args.imdb_root else "embedded corpus"
    rayon = os.environ.get("RAYON_NUM_THREADS") or f"unset, so {os.cpu_count()} (logical cores)"
    print(
        f"config: {data}, train split after the val carve: {len(texts)} reviews, "
        f"{sum(map(len, texts)) / 1e6:.1f}M characters; BPE vocab_size {args.vocab_size}, "
        f"min_frequency 2; max_length {args.max_length}; {args.rounds} alternating rounds, "
        f"median; RAYON_NUM_THREADS {rayon}; TOKENIZERS_PARALLELISM "
        f"{os.environ.get('TOKENIZERS_PARALLELISM', 'unset (on)')}\n",
        flush=True,
    )

    spec = TokenizerSpec(kind="bpe", vocab_size=args.vocab_size)
    seconds: dict[str, list[float]] = {
        key: [] for key in ("train_textlab", "train_raw", "enc_textlab", "enc_raw", "pack")
    }
    tokens = 0
    for r in range(args.rounds):
        ours, t = timed(spec.train, texts)
        seconds["train_textlab"].append(t)
        raw, t = timed(train_raw, texts, args.vocab_size)
        seconds["train_raw"].append(t)
        if ours.get_vocab() != raw.get_vocab():
            raise AssertionError("textlab's and the raw BPE vocabularies differ: unequal work")

        dm.attach_tokenizer(ours)  # fingerprints the tokenizer: not part of encoding
        dataset, t = timed(dm.encode, train)
        seconds["enc_textlab"].append(t)
        sequences, t = timed(encode_raw, raw, texts, args.max_length)
        seconds["enc_raw"].append(t)
        _, t = timed(TokenizedDataset.from_sequences, sequences, train.labels)
        seconds["pack"].append(t)
        tokens = len(dataset.flat_ids)
        if not np.array_equal(dataset.flat_ids, np.concatenate(sequences).astype(np.int32)):
            raise AssertionError("textlab's and the raw token ids differ: unequal work")
        print(
            f"round {r + 1}: training {seconds['train_textlab'][-1]:.2f} s textlab, "
            f"{seconds['train_raw'][-1]:.2f} s raw; encoding {seconds['enc_textlab'][-1]:.2f} s "
            f"textlab, {seconds['enc_raw'][-1]:.2f} s raw, packing {seconds['pack'][-1]:.3f} s",
            flush=True,
        )

    med = {key: statistics.median(values) for key, values in seconds.items()}
    n = len(texts)
    rate = {side: [n / s for s in seconds[f"enc_{side}"]] for side in ("textlab", "raw")}
    print(
        f"\nvocabularies equal ({ours.get_vocab_size()} tokens), token ids equal; "
        f"{tokens} tokens after truncation ({tokens / n:.0f} per review)\n"
    )
    print(
        "| stage | textlab | raw tokenizers | textlab/raw (goal ~1.0) | per-round ratios (median) |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| BPE training (s; > 1: textlab slower) | {med['train_textlab']:.2f} "
        f"| {med['train_raw']:.2f} "
        f"| {med['train_textlab'] / med['train_raw']:.3f} "
        f"| {pairs(seconds['train_textlab'], seconds['train_raw'])} |"
    )
    textlab_rate, raw_rate = statistics.median(rate["textlab"]), statistics.median(rate["raw"])
    print(
        f"| encode (reviews/s; < 1: textlab slower) | {textlab_rate:.0f} | {raw_rate:.0f} "
        f"| {textlab_rate / raw_rate:.3f} | {pairs(rate['textlab'], rate['raw'])} |"
    )
    per_review = tokens / n
    print(
        f"| encode (tokens/s) | {textlab_rate * per_review:.3g} | {raw_rate * per_review:.3g} "
        f"| {textlab_rate / raw_rate:.3f} | same as reviews/s (same tokens) |"
    )
    share = med["pack"] / med["enc_textlab"]
    print(
        f"\npacking (TokenizedDataset.from_sequences on the same lists): {med['pack']:.3f} s, "
        f"{share:.0%} of textlab's encode time ({tokens / med['pack']:.3g} tokens/s)"
    )
    if share > PACKING_NOTABLE:
        print(
            f"finding: packing is {share:.0%} of textlab's encoding, above "
            f"{PACKING_NOTABLE:.0%}: it walks every token id in Python (np.fromiter over a "
            "nested generator); a faster packing would close most of the gap"
        )


if __name__ == "__main__":
    main()
