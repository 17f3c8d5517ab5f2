"""One-ahead prefetching: prepare the next item in a worker thread while the caller works."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def prefetched(items: Iterable[T], prepare: Callable[[T], U]) -> Iterator[U]:
    """Yield prepare(item) for each item; the next item is pulled and prepared meanwhile.

    While the caller writes page k to the database (waiting on the socket, GIL
    released), the worker fetches and encodes page k+1. Errors from pulling or
    preparing surface, in order, when their item would have been yielded.
    """
    iterator = iter(items)

    def pull() -> object:
        try:
            item = next(iterator)
        except StopIteration:
            return _DONE
        return prepare(item)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        future = pool.submit(pull)
        while True:
            result = future.result()
            if result is _DONE:
                return
            future = pool.submit(pull)
            yield result  # type: ignore[misc]
