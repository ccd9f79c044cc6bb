"""Adversarial training pays? `experiment=imdb_<model>` with and without `module.adversarial_eps`,
from random weights and, with --pretrained, from a pretraining checkpoint; prints the table and
writes the val-accuracy plot.

    TEXTLAB_IMDB_ROOT=/path/to/aclImdb python benchmarks/adversarial.py transformer --eps 0.3 \\
        --pretrained outputs/bench-pretraining-transformer/pretrain/checkpoints/last.ckpt

Each stage is a `run.py` process run as benchmarks/pretraining.py runs them (skipped when its
run dir already has metrics.json); extra arguments go to every stage. Writes
<out>/adversarial.json and <out>/val_acc.png (val accuracy per epoch, every stage).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pretraining import ROOT, finish_plot, imdb_root, print_runs, stage


def plot(results: dict, model: str, eps: float, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = {"random init": "tab:blue", "pretrained": "tab:red"}
    for name, run in results.items():
        start, kind = name.rsplit("-", 1)
        accs = run["val_acc"]
        style = "-" if kind == "adversarial" else "--"
        axes.plot(
            range(1, len(accs) + 1),
            accs,
            style,
            color=colours[start],
            marker="o",
            label=f"{start}, {kind}",
        )
    # a frozen encoder's head-only first epoch (~0.6) would squash the curves that matter
    every = [acc for run in results.values() for acc in run["val_acc"]]
    floor = min(acc for acc in every if acc >= 0.8) - 0.01
    if min(every) < floor:
        axes.set_ylim(bottom=floor)
        axes.text(
            0.01,
            0.01,
            "head-only epochs (frozen encoder) below the axis",
            fontsize=8,
            transform=axes.transAxes,
        )
    finish_plot(figure, axes, f"imdb_{model}: adversarial_eps={eps} vs 0", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("lstm", "transformer"))
    parser.add_argument("--eps", type=float, default=0.3, help="module.adversarial_eps to try")
    parser.add_argument("--pretrained", type=Path, help="a pretraining run's last.ckpt")
    parser.add_argument("--out", type=Path)
    known, overrides = parser.parse_known_args()
    root = imdb_root()
    out = (known.out or ROOT / "outputs" / f"bench-adversarial-{known.model}").resolve()
    base = [f"experiment=imdb_{known.model}", f"data.root={root}", *overrides]
    starts = {"random init": []}
    if known.pretrained:
        starts["pretrained"] = [f"pretrained={known.pretrained.resolve()}"]
    results = {}
    for start, start_args in starts.items():
        for eps in (0.0, known.eps):
            name = f"{start}-{'adversarial' if eps else 'plain'}"
            args = [*base, *start_args, f"module.adversarial_eps={eps}"]
            results[name] = stage(name.replace(" ", "-"), out, args)
    (out / "adversarial.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, known.model, known.eps, out / "val_acc.png")
    print_runs(results)
    print(f"plot: {out / 'val_acc.png'}")


if __name__ == "__main__":
    main()
