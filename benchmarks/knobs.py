"""Knobs users expect, each against off: bf16 autocast, torch.compile, loader workers, pin_memory.

    python benchmarks/knobs.py                                # all knobs, transformer, CPU
    python benchmarks/knobs.py --knobs precision compile --model lstm --rounds 5
    python benchmarks/knobs.py --device cuda                  # on a GPU machine

Each knob is one config override, composed with conf/ in-process as `run.py` would:
precision (trainer.precision 32-true → bf16-mixed), compile (module.compile false → true),
num_workers (data.num_workers 0 → 2; the datamodule makes them persistent), pin_memory
(data.pin_memory false → true), every other setting at its default. Objects are built as
modes/train.py builds them (`build`, `build_net`, the config's Trainer) over the embedded corpus
(`--train-size` reviews before the validation carve); only the Trainer is told to stop after
`warmup + steps` steps, skip validation and write nothing. The tokenizer is trained once and
the token ids are cached in a temporary cache_dir, so no round pays for them. A round is one
`fit` with fresh weights (same seed, same batches); the timer starts at the end of the last
warmup step (compile: `--compile-warmup` steps, on both sides, so compilation and worker
start-up are not timed) and stops at the end of the last step. Rounds alternate off and on;
the table gives each side's median and the ratio of each (off, on) pair. Tokens are real
tokens (attention_mask.sum()) of the timed batches. Checks: each round's last loss is finite;
with compile, the compiled and an eager copy of the trained net agree on one batch (eval mode).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from attention_speed import machine  # benchmarks/ is on sys.path when run as a script
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from textlab.base.instantiate import build
from textlab.base.run_files import register_resolver
from textlab.data.datamodule import TextDataModule
from textlab.models.factory import build_net
from textlab.tokenization import pad_id

CONF = Path(__file__).resolve().parents[1] / "conf"
KNOBS = {
    "precision": ("trainer.precision=32-true", "trainer.precision=bf16-mixed"),
    "compile": ("module.compile=false", "module.compile=true"),
    "num_workers": ("data.num_workers=0", "data.num_workers=2"),
    "pin_memory": ("data.pin_memory=false", "data.pin_memory=true"),
}
ATOL = RTOL = 1e-3  # compiled vs eager logits: fused kernels reorder float sums


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knobs", nargs="+", choices=list(KNOBS), default=list(KNOBS))
    parser.add_argument("--model", choices=("lstm", "transformer"), default="transformer")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile-warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def compose_config(args: argparse.Namespace, root: str, knob_override: str) -> DictConfig:
    """conf/ with this benchmark's data and model, the knob's setting, runs kept under `root`."""
    overrides = [
        f"paths.root_dir={root}",
        f"paths.output_dir={root}/run",
        f"paths.cache_dir={root}/cache",
        f"model={args.model}",
        f"data.train_size={args.train_size}",
        "data.test_size=100",
        f"tokenizer.vocab_size={args.vocab_size}",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
        "logger=none",
        "callbacks=none",
        knob_override,
    ]
    register_resolver()  # as run.py does
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


class StepTimer(L.Callback):
    """Times steps after `warmup`; counts their real tokens; keeps the last loss."""

    def __init__(self, warmup: int, cuda: bool) -> None:
        self.warmup, self.cuda = warmup, cuda
        self.fit_start = self.start = self.end = 0.0
        self.timed_steps, self.tokens, self.loss = 0, 0, math.nan
        self.graphs_at_start = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.fit_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.end = time.perf_counter()
        if trainer.global_step == self.warmup:
            self.start = self.end
            self.graphs_at_start = compiled_graphs()
        elif trainer.global_step > self.warmup:
            self.timed_steps += 1
            self.tokens += int(batch["attention_mask"].sum())
        self.loss = float(outputs["loss"])


def compiled_graphs() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def make_net(cfg: DictConfig, dm: TextDataModule):
    """The configured network for `dm`'s tokenizer and labels, as modes/train.py builds it."""
    assert dm.tokenizer is not None
    vocab, pad = dm.tokenizer.get_vocab_size(), pad_id(dm.tokenizer)
    return build_net(cfg.model, vocab_size=vocab, num_classes=dm.num_classes, pad_id=pad)


def run_round(cfg: DictConfig, dm: TextDataModule, args: argparse.Namespace, warmup: int):
    """One fit of fresh weights; (module, timer, messages of the warnings it raised)."""
    L.seed_everything(cfg.seed, workers=True)
    module = build(cfg.module, "module", net=make_net(cfg, dm), num_classes=dm.num_classes)
    timer = StepTimer(warmup, args.device == "cuda")
    trainer = build(
        cfg.trainer, "trainer", callbacks=[timer], logger=False, max_epochs=-1,
        max_steps=warmup + args.steps, limit_val_batches=0, num_sanity_val_steps=0,
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=dm)
    if timer.timed_steps != args.steps:
        raise AssertionError(f"timed {timer.timed_steps} steps, expected {args.steps}")
    if not math.isfinite(timer.loss):
        raise AssertionError(f"loss {timer.loss} after the timed steps, {cfg.trainer.precision}")
    return module, timer, {str(w.message).splitlines()[0][:110] for w in caught}


def compiled_vs_eager(cfg_off: DictConfig, module, dm: TextDataModule, device: str) -> float:
    """Max |logit difference| of the trained compiled net and an eager copy, on one batch."""
    compiled = module.net.to(device).eval()
    eager = make_net(cfg_off, dm)
    eager.load_state_dict(compiled.state_dict())  # in-place compile keeps parameter names
    eager.to(device).eval()
    batch = next(iter(dm.train_dataloader()))
    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    with torch.no_grad():
        a, b = compiled(ids, mask).float(), eager(ids, mask).float()
    if not torch.allclose(a, b, atol=ATOL, rtol=RTOL):
        raise AssertionError(f"compiled and eager logits differ by up to {(a - b).abs().max()}")
    return float((a - b).abs().max())


def cpu_notes(knob: str, args: argparse.Namespace) -> list[str]:
    """What the hardware says about a knob before it is measured."""
    if args.device == "cuda":
        return []
    if knob == "precision":
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        found = [f for f in ("avx512_bf16", "amx_bf16") if f" {f}" in flags]
        return [f"CPU bf16 instructions: {', '.join(found) or 'none'}"]
    if knob == "pin_memory":
        return ["CPU only: pinning only speeds host→GPU copies"]
    if knob == "num_workers":
        return [f"2 workers + the main process share {os.cpu_count()} logical cores"]
    return []


def measure(knob: str, configs: list[DictConfig], tokenizer, args: argparse.Namespace):
    """(row name, steps/s per side, tokens/s per side, notes) over alternating rounds."""
    warmup = args.compile_warmup if knob == "compile" else args.warmup
    dms = [build(cfg.data, "data") for cfg in configs]
    for dm in dms:
        dm.attach_tokenizer(tokenizer)
    rates: list[list[float]] = [[], []]
    tokens: list[list[float]] = [[], []]
    warm_s: list[list[float]] = [[], []]
    seen: list[set[str]] = [set(), set()]
    notes, new_graphs = cpu_notes(knob, args), []
    for r in range(args.rounds):
        for side, (cfg, dm) in enumerate(zip(configs, dms, strict=True)):
            module, timer, messages = run_round(cfg, dm, args, warmup)
            elapsed = timer.end - timer.start
            rates[side].append(args.steps / elapsed)
            tokens[side].append(timer.tokens / elapsed)
            warm_s[side].append(timer.start - timer.fit_start)
            seen[side] |= messages
            if knob == "compile" and side == 1:
                new_graphs.append(compiled_graphs() - timer.graphs_at_start)
                if r == 0:
                    diff = compiled_vs_eager(configs[0], module, dm, args.device)
                    notes.append(f"max abs(compiled - eager) logit {diff:.1e} (eval mode)")
            print(
                f"{knob} {'on' if side else 'off'} round {r + 1}: {rates[side][-1]:.2f} "
                f"steps/s, warmup {warm_s[side][-1]:.1f} s, last loss {timer.loss:.4f}",
                flush=True,
            )
    if knob == "compile":
        pairs = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(*warm_s, strict=True))
        notes.append(f"warmup s off/on per round (compile time ~ on - off): {pairs}")
        notes.append(f"graphs compiled during timed steps per round: {new_graphs}")
        breaks = sum(torch._dynamo.utils.counters["graph_break"].values())
        notes.append(f"dynamo in all: {compiled_graphs()} graphs, {breaks} graph breaks")
        notes.append("train losses differ from eager: inductor draws its own dropout masks")
        if any(new_graphs):
            notes.append("so timed steps include compiling: raise --compile-warmup")
    notes += [f"warns only when on: {m}" for m in sorted(seen[1] - seen[0])]
    notes += [f"warns only when off: {m}" for m in sorted(seen[0] - seen[1])]
    return f"{knob} ({KNOBS[knob][0]} → {KNOBS[knob][1].split('=')[1]})", rates, tokens, notes


def main() -> None:
    args = parse_args()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)  # per-round banners and seed lines
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine(args.device)}")
    with tempfile.TemporaryDirectory() as root:
        configs = {k: [compose_config(args, root, o) for o in KNOBS[k]] for k in args.knobs}
        first = configs[args.knobs[0]][0]
        base = build(first.data, "data")
        tokenizer = build(first.tokenizer, "tokenizer").train(base.splits()["train"].texts)
        print(
            f"config: embedded corpus train_size={args.train_size} (90% train after the val "
            f"carve), BPE vocab {tokenizer.get_vocab_size()}; model={args.model} "
            f"(batch {first.data.batch_size}, max_length {first.data.max_length}, bucketing "
            f"{first.data.bucketing}); device {args.device}; {args.steps} timed steps after "
            f"{args.warmup} warmup ({args.compile_warmup} for compile), {args.rounds} "
            f"alternating rounds, median; torch threads {torch.get_num_threads()}\n",
            flush=True,
        )
        rows = [measure(knob, configs[knob], tokenizer, args) for knob in args.knobs]

    print("\n| knob | off steps/s | on steps/s | off tokens/s | on tokens/s | on/off "
          "| per-round on/off (median) | notes |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, rates, tokens, notes in rows:
        off, on = statistics.median(rates[0]), statistics.median(rates[1])
        paired = [b / a for a, b in zip(*rates, strict=True)]
        print(
            f"| {name} | {off:.2f} | {on:.2f} | {statistics.median(tokens[0]):.0f} "
            f"| {statistics.median(tokens[1]):.0f} | {on / off:.3f} "
            f"| {', '.join(f'{x:.3f}' for x in paired)} ({statistics.median(paired):.3f}) "
            f"| {'; '.join(notes)} |"
        )


if __name__ == "__main__":
    main()
