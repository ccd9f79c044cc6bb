"""textlab entry point: `python run.py [group=option ...] [key=value ...]` (see README)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    # Imported here so `python run.py --help` and tab completion stay fast.
    from textlab.cli import main as run

    return run(cfg)


if __name__ == "__main__":
    main()
