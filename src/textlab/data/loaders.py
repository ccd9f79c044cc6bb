"""DataLoaders Lightning can resume mid-epoch: they skip the batches a checkpoint says were
served."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning can resume in the middle of an epoch.

    Lightning saves `state_dict()` in every checkpoint and, on a mid-epoch resume, calls
    `load_state_dict()` (or callbacks/resume.py does); the next pass then skips the batches
    already trained on, loading and dropping them (cheap for token ids). The underlying
    iterator starts at the first `next()`, after Lightning has called the sampler's `set_epoch`.
    """

    _served = 0
    _skip = 0

    def state_dict(self) -> dict[str, int]:
        return {"batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._skip = int(state["batches_served"])

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # A generator: nothing, not even reading the skip, happens before the first next()
        skip, self._skip = self._skip, 0
        self._served = 0
        for batch in super().__iter__():
            self._served += 1
            if self._served > skip:
                yield batch


class EpochLoader(ResumableDataLoader):
    """A DataLoader that tells its dataset the epoch before each pass.

    Lightning calls `set_epoch` on samplers only, and an iterable dataset has none. Workers
    must not be persistent, or they would keep the dataset of the first epoch. A mid-epoch
    resume re-reads and drops the batches already trained on (see ResumableDataLoader).
    """

    def __init__(self, *args: Any, epoch_fn: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_fn = epoch_fn

    def __iter__(self) -> Any:
        self.dataset.set_epoch(self.epoch_fn())
        return super().__iter__()
