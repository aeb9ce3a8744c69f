"""The dynamic batcher on its own: concurrent requests gathered into one call within the limits,
each request's rows split back, a bounded queue, a drain that runs what is queued, and a model
failure that costs one batch its answers, never the worker."""

import threading

import numpy as np
import pytest

from edge.serve.batcher import DynamicBatcher, QueueFull, Stopped


class GatedModel(object):
    """Doubles its input; each call waits for the gate (so requests pile up behind a running batch)."""

    def __init__(self):
        self.calls = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(self, rows):
        self.calls.append(rows.shape[0])
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        return rows * 2.0


def rows(value, count=1):
    return np.full((count, 3), float(value), np.float32)


def test_requests_queued_behind_a_running_batch_go_together_and_get_their_own_rows():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch=4, max_delay_s=0.0, max_queue=100).start()
    first = batcher.submit(rows(0))
    assert model.entered.wait(30)
    queued = [batcher.submit(rows(value)) for value in range(1, 7)]   # 6 images while batch 1 runs
    model.gate.set()
    assert first.wait(30).tolist() == [[0.0] * 3]
    for value, pending in enumerate(queued, start=1):
        assert pending.wait(30).tolist() == [[2.0 * value] * 3]
    assert model.calls == [1, 4, 2]              # the queued six: a full batch of 4, then the rest
    assert [p.batch_size for p in queued] == [4, 4, 4, 4, 2, 2]
    batcher.close()


def test_a_multi_image_request_is_never_split_across_batches_and_one_over_the_limit_runs_alone_in_chunks():
    model = GatedModel()
    model.gate.set()
    batcher = DynamicBatcher(model, max_batch=4, max_delay_s=0.0, max_queue=100)
    pending = [batcher.submit(rows(1, 3)), batcher.submit(rows(2, 2)),
               batcher.submit(np.arange(6 * 3, dtype=np.float32).reshape(6, 3))]
    batcher.start()
    outputs = [p.wait(30) for p in pending]
    assert [o.shape[0] for o in outputs] == [3, 2, 6]
    assert outputs[1].tolist() == [[4.0] * 3] * 2
    assert outputs[2].tolist() == (np.arange(6 * 3).reshape(6, 3) * 2.0).tolist()   # its rows in order
    # 3 + 2 > 4: not together; 6 > 4: alone, in runner calls of at most 4 (the model never sees more).
    assert model.calls == [3, 2, 4, 2]
    batcher.close()


def test_a_request_waits_for_company_until_its_batch_fills_or_max_delay_passes():
    model = GatedModel()
    model.gate.set()
    batcher = DynamicBatcher(model, max_batch=2, max_delay_s=30.0, max_queue=100).start()
    first = batcher.submit(rows(1))
    second = batcher.submit(rows(2))           # within the first one's delay: same batch, now full, runs at once
    assert first.wait(30) is not None and second.wait(30) is not None
    assert model.calls == [2] and first.batch_size == 2
    batcher.close()

    alone = DynamicBatcher(model, max_batch=8, max_delay_s=0.05, max_queue=100).start()
    assert alone.submit(rows(3)).wait(30).tolist() == [[6.0] * 3]   # nobody came: it ran alone after the delay
    assert model.calls == [2, 1]
    alone.close()


def test_a_full_queue_refuses_at_once_and_takes_requests_again_once_drained():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch=1, max_delay_s=0.0, max_queue=2).start()
    running = batcher.submit(rows(0))
    assert model.entered.wait(30)
    waiting = [batcher.submit(rows(1)), batcher.submit(rows(2))]
    assert batcher.depth() == 2
    with pytest.raises(QueueFull):
        batcher.submit(rows(3))
    model.gate.set()
    for pending in [running] + waiting:
        pending.wait(30)
    assert batcher.submit(rows(4)).wait(30).tolist() == [[8.0] * 3]
    batcher.close()


def test_close_runs_what_is_queued_without_waiting_for_the_delay_then_refuses():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch=8, max_delay_s=60.0, max_queue=100).start()
    pending = [batcher.submit(rows(value)) for value in range(3)]
    assert not model.entered.wait(0.2)           # the batch waits (a minute) for more company
    model.gate.set()
    assert batcher.close(timeout=30) == 0
    assert [p.wait(0).tolist() for p in pending] == [[[0.0] * 3], [[2.0] * 3], [[4.0] * 3]]
    with pytest.raises(Stopped):
        batcher.submit(rows(5))


def test_what_cannot_run_before_the_drain_deadline_fails_with_stopped():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch=1, max_delay_s=0.0, max_queue=100).start()
    running = batcher.submit(rows(0))
    assert model.entered.wait(30)
    queued = batcher.submit(rows(1))
    assert batcher.close(timeout=0.2) == 1       # the model is still busy with the first
    with pytest.raises(Stopped):
        queued.wait(0)
    model.gate.set()
    assert running.wait(30).tolist() == [[0.0] * 3]


def test_a_failing_batch_fails_its_own_requests_and_the_next_batch_runs():
    model = GatedModel()
    model.fail_next = True
    observed = []
    batcher = DynamicBatcher(model, max_batch=1, max_delay_s=0.0, max_queue=100,
                             observe=lambda batch, images, seconds: observed.append(images)).start()
    failing = batcher.submit(rows(1))
    model.gate.set()
    with pytest.raises(RuntimeError, match="model exploded"):
        failing.wait(30)
    assert batcher.submit(rows(2)).wait(30).tolist() == [[4.0] * 3]
    batcher.close()
    assert observed == [1, 1]


def test_done_callbacks_run_once_finished_even_when_added_late():
    model = GatedModel()
    model.gate.set()
    batcher = DynamicBatcher(model, max_batch=1, max_delay_s=0.0, max_queue=10).start()
    pending = batcher.submit(rows(3))
    seen = []
    done = threading.Event()
    pending.add_done_callback(lambda p: (seen.append(p.output.tolist()), done.set()))
    assert done.wait(30)
    pending.add_done_callback(lambda p: seen.append("late"))
    assert seen == [[[6.0] * 3], "late"]
    batcher.close()
