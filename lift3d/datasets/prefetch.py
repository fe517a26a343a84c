"""Read ahead: run an iterator in a background thread, a bounded number of items ahead.

Used by the multi-view image loader (`lift3d.datasets.multiview`: batches are decoded while the model
steps) and by the learnable-triangulation trainer (training batches read ahead of the step). Building a
batch is mostly numpy, OpenCV and file reads, which release the GIL, so one thread overlaps it with the
device work. The items and their order are those of the plain iterator.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int, *, name: str = "lift3d-prefetch") -> Iterator[T]:
    """Iterate `items` in a daemon thread, up to `depth` items ahead of the consumer.

    Args:
        items: Any iterable (typically a generator that builds batches); it is iterated, and closed when it
            has one, in the worker thread only.
        depth: Items held ready (a bounded queue); 0 or less: iterate `items` in the caller's thread, no
            thread at all.
        name: The worker thread's name (shows in debuggers and thread dumps).

    Yields:
        The items of `items`, in order. An exception raised while producing an item is re-raised here, in
        the consumer's thread, where that item would have come.

    Closing the returned generator (or dropping it) stops the worker after its current item, closes `items`
    and waits for the thread to end, so nothing runs on after the consumer is gone.
    """
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        # a timeout, not a blocking put: a consumer that stopped reading must not strand the worker
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as err:  # handed to the consumer
            put((_END, err))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, err = q.get()
            if item is _END:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join()
