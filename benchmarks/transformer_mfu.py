"""Tokens/s and model FLOPs utilisation (MFU) of TransformerClassifier training steps.

    python benchmarks/transformer_mfu.py --device cuda                  # bf16, BERT-base shape
    python benchmarks/transformer_mfu.py --device cuda --compile
    python benchmarks/transformer_mfu.py --device cpu --dtype fp32 --d-model 64 --num-heads 4 \\
        --num-layers 2 --ffn-dim 128 --batch-size 16 --length 256 --peak-tflops 1.0

One step = forward + cross-entropy + backward + AdamW step on full-length random batches, so
every token slot is real work. FLOPs per step are counted by torch.utils.flop_counter over
one real step (matmuls and attention, forward and backward), not estimated by formula; MFU is
those FLOPs per second over the device's dense bf16 peak (a table of known GPUs, or
--peak-tflops). The issue's goal is MFU >= 0.40 in bf16 at a realistic size: the defaults are
BERT-base's shape (12 layers, d_model 768, 12 heads, FFN 3072) on 512 tokens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from attention_speed import machine, sync
from torch.utils.flop_counter import FlopCounterMode

from textlab.models.transformer import TransformerClassifier

VOCAB, PAD, CLS, NUM_CLASSES = 20000, 0, 1, 2
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets; the first
# name fragment found in torch.cuda.get_device_name() wins.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--num-heads", type=int, default=12)
    parser.add_argument("--num-layers", type=int, default=12)
    parser.add_argument("--ffn-dim", type=int, default=3072)
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "manual"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the table")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def peak_tflops(args: argparse.Namespace) -> float | None:
    """The device's dense bf16 peak: --peak-tflops, else the table for a known GPU, else None."""
    if args.peak_tflops is not None:
        return args.peak_tflops
    if args.device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((peak for part, peak in PEAK_BF16_TFLOPS.items() if part in name), None)


def build(args: argparse.Namespace, attention: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return TransformerClassifier(
        VOCAB, NUM_CLASSES, PAD, d_model=args.d_model, num_heads=args.num_heads,
        num_layers=args.num_layers, ffn_dim=args.ffn_dim, dropout=0.1,
        attention=attention, max_length=args.length,
    ).to(args.device)  # fmt: skip


def step_flops(args: argparse.Namespace, batch: dict[str, torch.Tensor]) -> int:
    """Matmul FLOPs of one forward + backward, counted on the manual-attention twin.

    The counter knows the CUDA sdpa kernels but not every CPU one; the manual twin does the
    same attention maths as visible matmuls, so both impls are scored against the same work.
    """
    twin = build(args, "manual")
    counter = FlopCounterMode(display=False)
    with counter, torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
        logits = twin(batch["input_ids"], batch["attention_mask"])
        F.cross_entropy(logits.float(), batch["labels"]).backward()
    return counter.get_total_flops()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args, args.attention)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=args.device == "cuda")
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(CLS + 1, VOCAB, (args.batch_size, args.length), generator=gen)
    ids[:, 0] = CLS
    batch = {
        "input_ids": ids.to(args.device),
        "attention_mask": torch.ones_like(ids, dtype=torch.bool).to(args.device),
        "labels": torch.randint(0, NUM_CLASSES, (args.batch_size,), generator=gen).to(args.device),
    }
    forward = torch.compile(model) if args.compile else model
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32

    def step() -> None:
        with torch.autocast(args.device, dtype=dtype, enabled=args.dtype == "bf16"):
            logits = forward(batch["input_ids"], batch["attention_mask"])
        F.cross_entropy(logits.float(), batch["labels"]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    flops = step_flops(args, batch)  # eager: the compiled graph does the same matmuls

    started = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync(args.device)
    warmup_s = time.perf_counter() - started
    times = []
    for _ in range(args.steps):
        sync(args.device)
        start = time.perf_counter()
        step()
        sync(args.device)
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    tokens = args.batch_size * args.length
    achieved = flops / step_s / 1e12
    peak = peak_tflops(args)

    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine(args.device)}")
    print(
        f"model: {params / 1e6:.1f} M parameters, d_model={args.d_model} heads={args.num_heads} "
        f"layers={args.num_layers} ffn={args.ffn_dim} attention={args.attention} "
        f"compile={args.compile}; batch {args.batch_size} x {args.length} tokens; "
        f"{args.device} {args.dtype}; median of {args.steps} steps after {args.warmup} "
        f"warmup ({warmup_s:.1f} s)"
    )
    print(f"FLOPs per step (forward + backward, counted): {flops / 1e9:,.1f} G")
    print(f"step: {step_s * 1000:.1f} ms; tokens/s: {tokens / step_s:,.0f}")
    print(f"achieved: {achieved:.3g} TFLOP/s")
    if peak is None:
        print("MFU: no peak known for this device; pass --peak-tflops")
    else:
        mfu = achieved / peak
        print(f"MFU: {mfu:.3f} of {peak:.0f} TFLOP/s peak; MFU/goal(0.40) = {mfu / 0.40:.2f}")


if __name__ == "__main__":
    main()
