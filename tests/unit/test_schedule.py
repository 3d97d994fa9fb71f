"""The poll schedule: TF Serving is asked again when the spec or the ready pods change, every
poll while unsettled (backing off while nobody answers), and at the jittered slow check."""

from tfmodel_operator.controller.decision.serving import PodServing
from tfmodel_operator.controller.schedule import PollSchedule

KEY = ("ns", "m")
PODS = frozenset({("m-a", "127.0.1.1")})
IDENTITY = (3, PODS)
ANSWERED = (PodServing("m-a"),)
SILENT = (PodServing("m-a", error="connection refused"),)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schedule(clock: Clock) -> PollSchedule:
    return PollSchedule(poll_seconds=2.0, slow_seconds=300.0, clock=clock, jitter=lambda: 1.0)


def test_never_asked_is_due_and_answers_hold_until_their_poll() -> None:
    clock = Clock()
    polls = schedule(clock)
    assert polls.answers(KEY, IDENTITY) is None
    polls.record(KEY, IDENTITY, ANSWERED)
    polls.settle(KEY, False)
    assert polls.answers(KEY, IDENTITY) == ANSWERED
    assert polls.due() == []
    clock.now += 2.0
    assert polls.answers(KEY, IDENTITY) is None
    assert polls.due() == [KEY]


def test_a_new_generation_or_another_set_of_ready_pods_is_asked_at_once() -> None:
    clock = Clock()
    polls = schedule(clock)
    polls.record(KEY, IDENTITY, ANSWERED)
    assert polls.answers(KEY, (4, PODS)) is None
    assert polls.answers(KEY, (3, PODS | {("m-b", "127.0.1.2")})) is None
    assert polls.answers(KEY, IDENTITY) == ANSWERED


def test_settled_waits_for_the_slow_check_and_is_not_polled() -> None:
    clock = Clock()
    polls = schedule(clock)
    polls.record(KEY, IDENTITY, ANSWERED)
    polls.settle(KEY, True)
    clock.now += 299.0
    assert polls.answers(KEY, IDENTITY) == ANSWERED
    assert polls.due() == []
    clock.now += 1.0
    assert polls.answers(KEY, IDENTITY) is None
    assert polls.due() == []  # the slow check comes with the resync, not the poll loop


def test_while_no_pod_answers_the_poll_backs_off_to_the_slow_check() -> None:
    clock = Clock()
    polls = schedule(clock)
    polls.settle(KEY, False)
    intervals = []
    polls.record(KEY, IDENTITY, SILENT)  # the first ask polls at the normal pace
    for _ in range(10):
        waited = 0.0
        while polls.answers(KEY, IDENTITY) is not None:
            clock.now += 1.0
            waited += 1.0
        intervals.append(waited)
        polls.record(KEY, IDENTITY, SILENT)
    assert intervals[:6] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert intervals[-1] == 300.0
    polls.record(KEY, IDENTITY, ANSWERED)  # an answer: back to the normal pace
    clock.now += 2.0
    assert polls.answers(KEY, IDENTITY) is None


def test_the_slow_check_is_jittered() -> None:
    clock = Clock()
    polls = PollSchedule(2.0, 300.0, clock, jitter=lambda: 0.8)
    polls.record(KEY, IDENTITY, ANSWERED)
    clock.now += 240.0
    assert polls.answers(KEY, IDENTITY) is None


def test_asked_at_drop_and_forget() -> None:
    clock = Clock()
    polls = schedule(clock)
    assert polls.asked_at(KEY) is None
    polls.record(KEY, IDENTITY, ANSWERED)
    assert polls.asked_at(KEY) == 1000.0
    polls.settle(KEY, False)
    polls.drop_answers(KEY)
    assert polls.asked_at(KEY) is None
    assert polls.due() == [KEY]  # never asked (again): due
    polls.forget(KEY)
    assert polls.due() == []
