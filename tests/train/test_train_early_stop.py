"""Early stopping waits for the annealing: epochs at the schedule's peak do not count."""

from types import SimpleNamespace

from train.trainer import Phase, Trainer


def trainer_at(epoch, patience=2, warm_up=0.25, bad_epochs=0):
    return SimpleNamespace(epoch=epoch, phase=Phase("full", 0, 10), warm_up=warm_up, bad_epochs=bad_epochs,
                           config={"patience": patience})


def counted_epochs(warm_up):
    return [epoch + 1 for epoch in range(10) if Trainer.annealed_half_way(trainer_at(epoch, warm_up=warm_up))]


def test_only_epochs_past_the_middle_of_the_annealing_count():
    # warm-up to epoch 2.5, cosine annealing to epoch 10: half the peak at epoch 6.25
    assert counted_epochs(0.25) == [7, 8, 9, 10]
    assert counted_epochs(0.3) == [7, 8, 9, 10]
    assert counted_epochs(0.6) == [8, 9, 10]


def test_a_later_phase_counts_from_its_own_start():
    # after one frozen epoch, the full phase runs epochs 2-5: 1/4, 2/4, 3/4, 4/4 of it at their ends
    counted = [epoch + 1 for epoch in range(1, 5) if Trainer.annealed_half_way(
        SimpleNamespace(epoch=epoch, phase=Phase("full", 1, 4), warm_up=0.25))]
    assert counted == [4, 5]


def test_should_stop_needs_patience_bad_epochs_and_zero_never_stops():
    assert Trainer.should_stop(trainer_at(9, patience=2, bad_epochs=2))
    assert not Trainer.should_stop(trainer_at(9, patience=2, bad_epochs=1))
    assert not Trainer.should_stop(trainer_at(9, patience=0, bad_epochs=50))
