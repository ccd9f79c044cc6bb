"""Trials per hour of a small LSTM search, with and without pruning.

    python benchmarks/pruning_throughput.py [--trials 8] [--out outputs/bench-pruning]

Runs `hparams_search=optuna` twice on the embedded corpus (a small train split, 4 epochs,
lr searched over 1e-5..1e-2 on a log scale, so some trials are clearly poor): once with
`hydra.sweeper.pruner=none`, once with a MedianPruner (2 startup trials, epoch 1 spared).
Each sweep is timed around its process; prints trials by state, the best value and trials/hour.
Run the two one after the other on an idle machine for figures (`--only none|median`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
        "data.train_size=3000", "data.test_size=200", "trainer.max_epochs=4", "logger=none",
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    started = time.time()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.time() - started
    study = optuna.load_study(study_name="textlab", storage=f"sqlite:///{sweep_dir}/optuna.db")
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    print(
        f"pruner={name}: {len(study.trials)} trials {states} in {wall:.0f} s = "
        f"{len(study.trials) / wall * 3600:.0f} trials/hour; best val/acc_best "
        f"{study.best_value:.4f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench-pruning")
    parser.add_argument("--only", choices=sorted(PRUNERS))
    args = parser.parse_args()
    for name, pruner in PRUNERS.items():
        if args.only in (None, name):
            sweep(name, pruner, args.trials, args.out.resolve())


if __name__ == "__main__":
    main()
