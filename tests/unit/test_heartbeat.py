"""The work loop's heartbeat, with an injected clock: what the liveness probe and the Lease ask."""

from tfmodel_operator.controller.heartbeat import LOOP_STALE, RECONCILE_STALE, Heartbeat


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_to_judge_before_the_work_loop_starts() -> None:
    clock = Clock()
    heart = Heartbeat(clock)
    clock.now += 10 * LOOP_STALE
    assert heart.trouble() == ""


def test_an_event_loop_that_stopped_beating_is_wedged() -> None:
    clock = Clock()
    heart = Heartbeat(clock)
    heart.beat()
    clock.now += LOOP_STALE
    assert heart.trouble() == ""
    clock.now += 1
    assert heart.trouble() == f"the event loop has not run for {LOOP_STALE + 1:.0f} s"
    heart.beat()
    assert heart.trouble() == ""


def test_a_reconcile_that_runs_too_long_is_wedged_until_it_ends() -> None:
    clock = Clock()
    heart = Heartbeat(clock)
    with heart.working(("ns", "slow")):
        clock.now += RECONCILE_STALE - 1
        with heart.working(("ns", "quick")):
            pass
        heart.beat()
        assert heart.trouble() == ""
        clock.now += 2
        heart.beat()
        assert (
            heart.trouble()
            == f"the reconcile of ('ns', 'slow') has run for {RECONCILE_STALE + 1:.0f} s"
        )
    assert heart.trouble() == ""
