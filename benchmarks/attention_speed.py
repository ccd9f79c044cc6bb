"""Training-step time and peak memory of TransformerClassifier: attention=manual vs sdpa.

    python benchmarks/attention_speed.py                       # CPU, fp32, T = 128 256 512
    python benchmarks/attention_speed.py --device cuda --dtype bf16

One step = forward + cross-entropy + backward + AdamW step on random ids whose lengths are
uniform in [T/2, T] (padded to T), so the padding mask is exercised as in training. Time is the
median over repeats after warmup. Peak memory is the most tensor memory allocated above the
pre-step level during one step: torch.cuda.max_memory_allocated on CUDA; on CPU, the running sum
of the allocation/free events recorded by torch.profiler(profile_memory=True).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from textlab.models.transformer import TransformerClassifier

VOCAB, PAD, CLS, NUM_CLASSES = 8000, 0, 1, 2
IMPLS = ("manual", "sdpa")


def parse_args() -> argparse.Namespace:
    """Command-line options; defaults are the conf/model/transformer.yaml defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--ffn-dim", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.1, help="residual/embedding dropout")
    parser.add_argument("--attention-dropout", type=float, default=0.0)
    parser.add_argument(
        "--positional", default="rotary", choices=["rotary", "alibi", "sinusoidal", "learned"]
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def machine(device: str) -> str:
    """One line naming the hardware and the torch build."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
    line = f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
    line += f"{torch.get_num_threads()} torch threads"
    if device == "cuda":
        line += f", GPU {torch.cuda.get_device_name()}"
    return line


def make_batch(args: argparse.Namespace, length: int, device: str) -> dict[str, torch.Tensor]:
    """[CLS] + random ids, lengths uniform in [T/2, T] with the longest exactly T."""
    gen = torch.Generator().manual_seed(length)
    lengths = torch.randint(length // 2, length + 1, (args.batch_size,), generator=gen)
    lengths[0] = length
    ids = torch.randint(CLS + 1, VOCAB, (args.batch_size, length), generator=gen)
    ids[:, 0] = CLS
    mask = torch.arange(length)[None, :] < lengths[:, None]  # (B, T)
    labels = torch.randint(0, NUM_CLASSES, (args.batch_size,), generator=gen)
    batch = {"input_ids": ids.masked_fill(~mask, PAD), "attention_mask": mask, "labels": labels}
    return {key: value.to(device) for key, value in batch.items()}


def make_step(
    args: argparse.Namespace, attention: str, length: int
) -> Callable[[dict[str, torch.Tensor]], None]:
    """A closure doing one optimisation step of a fresh model with fixed-seed weights."""
    torch.manual_seed(0)
    model = TransformerClassifier(
        VOCAB, NUM_CLASSES, PAD, d_model=args.d_model, num_heads=args.num_heads,
        num_layers=args.num_layers, ffn_dim=args.ffn_dim, dropout=args.dropout,
        attention_dropout=args.attention_dropout, positional=args.positional,
        attention=attention, max_length=length,
    ).to(args.device)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32

    def step(batch: dict[str, torch.Tensor]) -> None:
        with torch.autocast(args.device, dtype=dtype, enabled=args.dtype == "bf16"):
            logits = model(batch["input_ids"], batch["attention_mask"])
        F.cross_entropy(logits.float(), batch["labels"]).backward()
        optimizer.step()
        # freed here rather than at the start, so the profiler sees each grad's alloc and free
        optimizer.zero_grad(set_to_none=True)

    return step


def sync(device: str) -> None:
    """Wait for queued kernels, so wall time covers the work."""
    if device == "cuda":
        torch.cuda.synchronize()


def peak_step_memory_mb(step: Callable, batch: dict[str, torch.Tensor], device: str) -> float:
    """Most tensor memory (MiB) held above the pre-step level at any point of one step."""
    if device == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(batch)
        sync(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(batch)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    held = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        held += event.nbytes()  # positive on allocation, negative on free
        peak = max(peak, held)
    return peak / 2**20


def measure(args: argparse.Namespace, length: int) -> dict[str, tuple[float, float]]:
    """{impl: (median ms per step, peak MiB per step)} at one sequence length.

    Steps of the two impls alternate, so a background load slows both alike.
    """
    steps = {impl: make_step(args, impl, length) for impl in IMPLS}
    batch = make_batch(args, length, args.device)
    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for i in range(args.warmup + args.repeats):
        for impl, step in steps.items():
            sync(args.device)
            start = time.perf_counter()
            step(batch)
            sync(args.device)
            if i >= args.warmup:
                times[impl].append((time.perf_counter() - start) * 1000)
    return {
        impl: (statistics.median(times[impl]), peak_step_memory_mb(step, batch, args.device))
        for impl, step in steps.items()
    }


def main() -> None:
    """Measure every (length, impl) pair and print a markdown table."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine(args.device)}")
    print(
        f"model: d_model={args.d_model} heads={args.num_heads} layers={args.num_layers} "
        f"ffn={args.ffn_dim} dropout={args.dropout} attention_dropout={args.attention_dropout} "
        f"positional={args.positional}; batch={args.batch_size}, "
        f"lengths ~ U[T/2, T]; {args.device} {args.dtype}; "
        f"median of {args.repeats} after {args.warmup} warmup\n"
    )
    print("| T | manual ms/step | sdpa ms/step | sdpa/manual time "
          "| manual peak MiB | sdpa peak MiB | sdpa/manual memory |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for length in args.lengths:
        result = measure(args, length)
        (t_man, m_man), (t_sdpa, m_sdpa) = result["manual"], result["sdpa"]
        print(
            f"| {length} | {t_man:.1f} | {t_sdpa:.1f} | {t_sdpa / t_man:.2f} "
            f"| {m_man:.1f} | {m_sdpa:.1f} | {m_sdpa / m_man:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
