"""The one read-ahead helper: same items in the same order, errors where they happened, a clean stop."""

import threading

import pytest

from lift3d.datasets.prefetch import prefetch


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_same_items_in_order(depth):
    assert list(prefetch(iter(range(20)), depth)) == list(range(20))
    assert list(prefetch([], depth)) == []


def test_depth_zero_runs_in_the_callers_thread():
    threads = []

    def items():
        for i in range(3):
            threads.append(threading.current_thread())
            yield i

    assert list(prefetch(items(), 0)) == [0, 1, 2]
    assert set(threads) == {threading.current_thread()}
    threads.clear()
    assert list(prefetch(items(), 2, name="reader")) == [0, 1, 2]
    assert {t.name for t in threads} == {"reader"}


def test_an_error_comes_where_its_item_would_have():
    def items():
        yield 1
        yield 2
        raise KeyError("third")

    got = []
    with pytest.raises(KeyError, match="third"):
        for x in prefetch(items(), 2):
            got.append(x)
    assert got == [1, 2]


def test_closing_stops_the_worker_and_closes_the_source():
    closed = threading.Event()

    def forever():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    stream = prefetch(forever(), 2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()  # joins the worker
    assert closed.is_set()
    assert threading.active_count() == before
