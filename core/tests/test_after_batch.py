"""core.after_batch: work deferred inside an ingest batch runs once the outermost block ends without an error, in
order; a nested block leaves it to the outermost; an error (a rolled-back batch) or `discard()` drops it; a failing
piece does not stop the others."""

import pytest

from core.after_batch import after_batch, defer


def test_work_runs_after_the_outermost_block_in_order():
    done = []
    assert defer(lambda: done.append("now")) is False  # no batch: the caller does it itself
    with after_batch():
        with after_batch():
            assert defer(lambda: done.append(1))
        assert done == []  # the nested block leaves it to the outer one
        defer(lambda: done.append(2))
        assert done == []
    assert done == [1, 2]


def test_an_error_or_a_discard_drops_the_work():
    done = []
    with pytest.raises(ValueError):
        with after_batch():
            defer(lambda: done.append(1))
            raise ValueError("the batch rolled back")
    with after_batch() as deferred:
        defer(lambda: done.append(2))
        deferred.discard()
    assert done == []


def test_a_failing_piece_does_not_stop_the_others(caplog):
    done = []
    with after_batch():
        defer(lambda: 1 / 0)
        defer(lambda: done.append(1))
    assert done == [1]
    assert "deferred after an ingest batch failed" in caplog.text
