"""textlab's Hydra sweeper on Optuna's ask-and-tell API (`hydra/sweeper=textlab_optuna`).

`hydra_plugins` itself has no `__init__.py`: it is a namespace package that every Hydra plugin
adds to, and Hydra imports each of its public modules to find plugins and configs.
"""
