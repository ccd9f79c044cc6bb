"""Pretraining throughput: training tokens/s of each objective at the shipped IMDb shapes.

    python benchmarks/pretraining_speed.py                      # CPU, fp32, every objective
    python benchmarks/pretraining_speed.py --device cuda --dtype bf16
    python benchmarks/pretraining_speed.py --only mlm --layers 2 3   # what a deeper encoder costs

One step = the objective's forward + backward + AdamW step on a batch of random ids (8192
tokens, as experiment=imdb_pretrain_* feeds them). "tokens/s" counts every token of the block,
whether or not it carries loss (MLM scores 15% of them). Prints one row per objective:
the median step time over --steps timed steps after --warmup.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from attention_speed import machine, sync

from textlab.models.language_model import (
    CausalLanguageModel,
    MaskedLanguageModel,
    RecurrentLanguageModel,
)
from textlab.models.replaced_token import ReplacedTokenDetection
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier

VOCAB, PAD, MASK = 20000, 0, 3
SPECIALS = [0, 1, 2, 3]


def transformer(layers: int = 2) -> TransformerClassifier:
    """conf/experiment/imdb_pretrain_transformer.yaml's network (`layers` encoder blocks)."""
    return TransformerClassifier(
        VOCAB, 2, PAD, d_model=128, num_heads=4, num_layers=layers, ffn_dim=512,
        positional="rotary", pooling="mean", max_length=512,
    )  # fmt: skip


def lstm() -> RNNClassifier:
    """conf/experiment/imdb_pretrain_lstm.yaml's network."""
    return RNNClassifier(VOCAB, 2, PAD, embedding_dim=128, hidden_size=192, dropout=0.3)


def objectives(layers: list[int]) -> dict[str, tuple[torch.nn.Module, int]]:
    """name -> (objective, block size); the transformer's once per depth in `layers`."""
    unigram = torch.randint(1, 10_000, (VOCAB,))
    runs: dict[str, tuple[torch.nn.Module, int]] = {}
    for n in layers:
        deep = "" if layers == [2] else f", {n} layers"
        runs[f"transformer mlm{deep}"] = (MaskedLanguageModel(transformer(n), MASK, SPECIALS), 256)
        runs[f"transformer causal{deep}"] = (CausalLanguageModel(transformer(n)), 256)
        electra = ReplacedTokenDetection(transformer(n), transformer(1), MASK, SPECIALS)
        runs[f"transformer electra{deep}"] = (electra, 256)
    runs["lstm next_token, sampled 256"] = (RecurrentLanguageModel(lstm(), unigram, 256), 128)
    runs["lstm next_token, full softmax"] = (RecurrentLanguageModel(lstm(), unigram, 0), 128)
    return runs


def step_time(model: torch.nn.Module, block: int, args: argparse.Namespace) -> float:
    device = args.device
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(4, VOCAB, (args.tokens // block, block), device=device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    times = []
    for step in range(args.warmup + args.steps):
        sync(device)
        started = time.perf_counter()
        with torch.autocast(device, dtype=dtype, enabled=args.dtype == "bf16"):
            loss = model(ids).minimised  # electra: both networks' loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--tokens", type=int, default=8192, help="tokens per batch")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--layers", type=int, nargs="+", default=[2], help="transformer depths")
    parser.add_argument("--only", default="", help="objectives whose name contains this")
    args = parser.parse_args()
    print(machine(args.device), f"{args.dtype}, {args.tokens} tokens a step")
    for name, (model, block) in objectives(args.layers).items():
        if args.only not in name:
            continue
        seconds = step_time(model, block, args)
        rate = args.tokens / seconds
        print(f"{name:32s} block {block:4d}: {seconds * 1000:8.1f} ms/step {rate:10.0f} tokens/s")


if __name__ == "__main__":
    main()
