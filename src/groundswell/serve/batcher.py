"""Dynamic micro-batching: concurrent requests share one model call.

Why: the model costs ~2 ms of fixed overhead per call but well under a millisecond per extra tweet, so 50
requests answered in one call are far cheaper than 50 calls. The batcher never waits when the endpoint is
idle (a lone request goes straight to the model, so single-connection latency stays the model's own), and
while the model is busy new requests queue up and form the next batch by themselves. Under load a small
time window (``max_wait_s``) lets a batch fill a little more before it starts.

By default the model runs on the event loop itself: the featuriser is mostly Python, so a worker thread would
only trade the GIL back and forth (measured slower); requests that arrive during a batch wait in the socket
buffers and form the next batch. ``use_thread=True`` moves model calls to one worker thread instead, for
models that release the GIL (embeddings on torch).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    texts: Sequence[str]
    future: asyncio.Future[list[T]]


class MicroBatcher(Generic[T]):
    """Gathers ``predict(texts)`` calls from many coroutines into batched calls of ``fn``.

    Args:
        fn: the batch function, ``texts → one result per text`` (run on a worker thread).
        max_batch: most texts in one call; a request bigger than this still goes in one call of its own.
        max_wait_s: how long a batch may wait for more requests, only when the previous batch was shared.
        use_thread: run ``fn`` on a worker thread rather than on the event loop.
    """

    def __init__(
        self,
        fn: Callable[[Sequence[str]], list[T]],
        *,
        max_batch: int = 512,
        max_wait_s: float = 0.001,
        use_thread: bool = False,
    ):
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.use_thread = use_thread
        self._queue: list[_Pending[T]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="groundswell-predict")
        self._shared_last = False
        #: Sizes of recent batches (requests per model call), for tests and the benchmark.
        self.batches = 0
        self.requests = 0

    async def predict(self, texts: Sequence[str]) -> list[T]:
        """One result per text, computed in whatever batch this request joins."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # First call, or the previous loop ended (tests run one loop per test): start a fresh consumer.
            self._queue = [p for p in self._queue if p.future.get_loop() is loop]
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run())
        future: asyncio.Future[list[T]] = loop.create_future()
        self._queue.append(_Pending(texts, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._shared_last and self.max_wait_s > 0 and self._size() < self.max_batch:
                await asyncio.sleep(self.max_wait_s)
            while self._queue:
                batch = self._take()
                self._shared_last = len(batch) > 1
                texts = [t for p in batch for t in p.texts]
                try:
                    if self.use_thread:
                        results = await loop.run_in_executor(self._executor, self.fn, texts)
                    else:
                        results = self.fn(texts)
                except Exception as exc:
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                self.batches += 1
                self.requests += len(batch)
                start = 0
                for p in batch:
                    end = start + len(p.texts)
                    if not p.future.done():
                        p.future.set_result(results[start:end])
                    start = end

    def _size(self) -> int:
        return sum(len(p.texts) for p in self._queue)

    def _take(self) -> list[_Pending[T]]:
        taken: list[_Pending[T]] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0].texts) <= self.max_batch):
            item = self._queue.pop(0)
            taken.append(item)
            size += len(item.texts)
        return taken

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)
