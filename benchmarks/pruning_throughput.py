"""Trials per hour of a small LSTM search, with and without pruning.

    python benchmarks/pruning_throughput.py [--trials 16] [--out outputs/bench-pruning]

Runs `hparams_search=optuna` twice on the embedded corpus (the default 24k reviews, 4 epochs,
lr searched over 1e-5..1e-2 on a log scale, so some trials are clearly poor): once with
`hydra.sweeper.pruner=none`, once with a MedianPruner (2 startup trials, epoch 1 spared).
Each sweep is timed around its process; prints trials by state, the best value, trials/hour,
and two figures a busy machine does not distort as much: the epochs trained in all (a pruned
job's `pruned.json` says at which epoch it stopped) and the jobs' summed runtimes.
Run the two one after the other on an idle machine for figures (`--only none|median`), or
side by side pinned to one core each.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 4
PRUNERS = {
    "none": "none",
    "median": "{_target_:optuna.pruners.MedianPruner,n_startup_trials:2,n_warmup_steps:1}",
}


def sweep(name: str, pruner: str, trials: int, out: Path) -> None:
    import optuna

    sweep_dir = out / name
    command = [
        sys.executable, str(ROOT / "run.py"), "-m", "hparams_search=optuna",
        f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.pruner={pruner}",
        "module.optimizer.lr=tag(log, interval(1e-5, 1e-2))",
        "data.test_size=500", f"trainer.max_epochs={EPOCHS}", "logger=none",
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    started = time.time()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.time() - started
    study = optuna.load_study(study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db")
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    epochs, job_s = epochs_and_job_time(sweep_dir, EPOCHS)
    print(
        f"pruner={name}: {len(study.trials)} trials {states} in {wall:.0f} s = "
        f"{len(study.trials) / wall * 3600:.0f} trials/hour; best val/acc_best "
        f"{study.best_value:.4f} (trial {study.best_trial.number}); {epochs} epochs trained, "
        f"jobs' runtimes sum to {job_s:.0f} s",
        flush=True,
    )


def epochs_and_job_time(sweep_dir: Path, max_epochs: int) -> tuple[int, float]:
    """Epochs trained over all jobs and their summed runtime_s, from the sweep's own files."""
    epochs, job_s = 0, 0.0
    with open(sweep_dir / "summary.csv", newline="") as file:
        for row in csv.DictReader(file):
            job_s += float(row["runtime_s"])
            pruned = sweep_dir / row["dir"] / "pruned.json"
            # "epoch" counts from 0: a job pruned after its third epoch says 2
            epochs += json.loads(pruned.read_text())["epoch"] + 1 if pruned.exists() else max_epochs
    return epochs, job_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench-pruning")
    parser.add_argument("--only", choices=sorted(PRUNERS))
    args = parser.parse_args()
    for name, pruner in PRUNERS.items():
        if args.only in (None, name):
            sweep(name, pruner, args.trials, args.out.resolve())


if __name__ == "__main__":
    main()
