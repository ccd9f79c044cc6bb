"""Dynamic batching: texts from concurrent requests share one forward pass.

One asyncio task collects queued items, up to `max_batch_size` of them or whatever arrived
within `batch_timeout` of the first, and hands the batch to a single inference thread, so the
event loop keeps accepting, parsing and answering requests while the model runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class QueueFull(Exception):
    """More items are waiting than `max_queued`: the caller should answer 503, not wait."""


class MicroBatcher(Generic[In, Out]):
    """`await submit(items)` gives `work(items)`'s outputs, computed in batches shared with
    other callers; `work` maps a list of items to a list of outputs of the same length."""

    def __init__(
        self,
        work: Callable[[list[In]], list[Out]],
        max_batch_size: int,
        batch_timeout: float,
        max_queued: int,
    ) -> None:
        self.work, self.max_batch_size = work, max_batch_size
        self.batch_timeout, self.max_queued = batch_timeout, max_queued
        self.batches_run = 0
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] = asyncio.Queue()
        self._arrived = asyncio.Event()
        # one thread: batches run one after another, each with all of torch's own threads
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="textlab-inference")

    async def submit(self, items: Sequence[In]) -> list[Out]:
        if self._queue.qsize() + len(items) > self.max_queued:
            raise QueueFull(f"{self._queue.qsize()} texts are waiting")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Out]] = [loop.create_future() for _ in items]
        for item, future in zip(items, futures, strict=True):
            self._queue.put_nowait((item, future))
        self._arrived.set()
        # a client that disconnects cancels its futures; the batch skips them
        return list(await asyncio.gather(*futures))

    async def run_alone(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` on the inference thread, between batches (e.g. an attribution)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def serve_forever(self) -> None:
        """Collect and run batches until cancelled."""
        while True:
            batch = await self._next_batch()
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            try:
                outputs = await self.run_alone(self.work, [item for item, _ in live])
            except Exception as err:  # every waiting request gets the error; the loop goes on
                for _, future in live:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.batches_run += 1
            for (_, future), output in zip(live, outputs, strict=True):
                if not future.done():
                    future.set_result(output)

    async def _next_batch(self) -> list[tuple[In, asyncio.Future[Out]]]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_timeout
        while len(batch) < self.max_batch_size:
            while len(batch) < self.max_batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= self.max_batch_size or remaining <= 0:
                break
            # waiting on an event, not on queue.get(): a timed-out wait can never lose an item
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return batch

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
