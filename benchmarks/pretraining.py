"""Pretraining pays? One model, three runs on aclImdb: pretrain, fine-tune from it, and the same
fine-tuning config from random weights; prints the table and writes the val-accuracy plot.

    TEXTLAB_IMDB_ROOT=/path/to/aclImdb python benchmarks/pretraining.py lstm [overrides ...]
    python benchmarks/pretraining.py transformer --out outputs/bench-pretraining-transformer

Each stage is its own `run.py` process (wall time measured around it) and is skipped when its
run dir already has metrics.json, so a killed benchmark continues where it stopped. Extra
arguments are passed to every stage (e.g. `trainer.max_epochs=1` for a quick look). Writes
<out>/pretraining.json and <out>/val_acc.png (val accuracy per epoch, both starts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(r"epoch \d+/\d+: val/acc=([0-9.]+)")


def stage(name: str, out: Path, args: list[str]) -> dict:
    run_dir = out / name
    run_once([*args, "logger=[tensorboard,csv]"], run_dir, run_dir / "metrics.json")
    return {
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
        "wall_s": float((run_dir / "wall_s.txt").read_text()),
        "val_acc": val_acc_per_epoch(run_dir),
    }


def run_once(args: list[str], run_dir: Path, done: Path) -> None:
    """`run.py ARGS` into `run_dir`, timed into wall_s.txt; skipped when `done` exists."""
    if done.is_file():
        return
    command = [sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={run_dir}"]
    print("$", " ".join(command), flush=True)
    started = time.time()
    subprocess.run(command, check=True)
    (run_dir / "wall_s.txt").write_text(f"{time.time() - started:.0f}\n")


def imdb_root(what: str = "") -> str:
    """TEXTLAB_IMDB_ROOT, or exit saying it is needed."""
    root = os.environ.get("TEXTLAB_IMDB_ROOT")
    if not root:
        sys.exit(f"set TEXTLAB_IMDB_ROOT to an aclImdb folder{what}")
    return root


def imdb_stages_setup(doc: str, default_out: str) -> tuple[Path, str, list[str]]:
    """The command line of a benchmark of run.py stages on aclImdb: `--out` (made), the root,
    and the overrides every stage gets (data.root first, then the extra arguments)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path)
    known, overrides = parser.parse_known_args()
    root = imdb_root(" (with train/unsup)")
    out = (known.out or ROOT / "outputs" / default_out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out, root, [f"data.root={root}", *overrides]


def val_acc_per_epoch(run_dir: Path) -> list[float]:
    """From run.log's one line per validated epoch (callbacks/epoch_log.py)."""
    lines = (run_dir / "run.log").read_text().splitlines()
    return [float(m.group(1)) for line in lines if (m := EPOCH_LINE.search(line))]


def plot(results: dict, model: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, label in (("finetune", "pretrained"), ("scratch", "random init")):
        accs = results[name]["val_acc"]
        axes.plot(range(1, len(accs) + 1), accs, marker="o", label=label)
    finish_plot(figure, axes, f"experiment=imdb_{model}: pretrained vs random init", path)


def finish_plot(figure, axes, title: str, path: Path) -> None:
    """Epochs on x, val accuracy on y, the title and legend; saved as a PNG at `path`."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("val accuracy (carve)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def print_runs(runs: dict) -> None:
    """One line per fine-tuning run: val accuracy per epoch, the best, the wall time."""
    for name, run in runs.items():
        accs = " ".join(f"{a:.4f}" for a in run["val_acc"])
        print(
            f"{name}: val/acc per epoch {accs}; val/acc_best "
            f"{run['metrics']['val/acc_best']:.4f}; {run['wall_s']:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("lstm", "transformer"))
    parser.add_argument("--out", type=Path)
    known, overrides = parser.parse_known_args()
    root = imdb_root(" (with train/unsup)")
    out = (known.out or ROOT / "outputs" / f"bench-pretraining-{known.model}").resolve()
    data = [f"data.root={root}", *overrides]
    results = {
        "pretrain": stage("pretrain", out, [f"experiment=imdb_pretrain_{known.model}", *data])
    }
    checkpoint = out / "pretrain" / "checkpoints" / "last.ckpt"
    finetune = [f"experiment=imdb_{known.model}", *data]
    results["finetune"] = stage("finetune", out, [*finetune, f"pretrained={checkpoint}"])
    results["scratch"] = stage("scratch", out, finetune)
    (out / "pretraining.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, known.model, out / "val_acc.png")
    pre = results["pretrain"]
    print(
        f"pretraining: {pre['metrics']['pretrain/tokens_seen']:.0f} tokens in "
        f"{pre['wall_s']:.0f} s, val/ppl {pre['metrics']['val/ppl']:.1f}"
    )
    print_runs({name: results[name] for name in ("finetune", "scratch")})
    print(f"plot: {out / 'val_acc.png'}")


if __name__ == "__main__":
    main()
