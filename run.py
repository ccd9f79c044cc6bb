"""textlab entry point: `python run.py [group=option ...] [key=value ...]` (see README)."""

import sys

import hydra
from omegaconf import DictConfig

from textlab.base.run_files import register_resolver

register_resolver()  # conf/ names run-dir files through ${run_file:...}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> object:  # the objective for sweepers (see textlab/app/main.py)
    # Imported here so `python run.py --help` and tab completion stay fast.
    from textlab.app.main import main as run

    return run(cfg)


if __name__ == "__main__":
    from textlab.app.main import argv_for_this_rank

    # DDP ranks other than 0 write nothing and share rank 0's run dir (textlab/run/distributed.py)
    sys.argv = argv_for_this_rank(sys.argv)
    main()
