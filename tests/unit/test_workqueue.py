"""The keyed work queue: coalescing, one worker per key, backoff."""

import asyncio

from tfmodel_operator.controller.workqueue import BACKOFF_MAX, WorkQueue


def test_repeated_adds_coalesce_into_one_reconcile() -> None:
    async def scenario() -> list[str]:
        queue = WorkQueue[str]()
        for key in ["a", "b", "a", "a", "b"]:
            queue.add(key)
        return [await queue.get(), await queue.get(), str(len(queue))]

    assert asyncio.run(scenario()) == ["a", "b", "0"]


def test_a_key_added_while_it_is_reconciled_comes_back_after_done_not_before() -> None:
    async def scenario() -> tuple[int, int, str]:
        queue = WorkQueue[str]()
        queue.add("a")
        key = await queue.get()
        queue.add("a")  # an event arrives during the reconcile
        during = len(queue)
        queue.done(key)
        return during, len(queue), await queue.get()

    assert asyncio.run(scenario()) == (0, 1, "a")


def test_retries_back_off_exponentially_up_to_a_limit_and_reset_on_success() -> None:
    async def scenario() -> list[float]:
        queue = WorkQueue[str]()
        delays = [queue.retry("a") for _ in range(12)]
        queue.succeeded("a")
        return [*delays, queue.retry("a")]

    delays = asyncio.run(scenario())
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[11] == BACKOFF_MAX
    assert delays[12] == 1.0


def test_events_asked_for_soon_coalesce_into_one_delayed_reconcile() -> None:
    async def scenario() -> tuple[int, int, str, int]:
        queue = WorkQueue[str]()
        for _ in range(5):
            queue.add_soon("a", 0.05)
        before = len(queue)
        await asyncio.sleep(0.1)
        after = len(queue)
        key = await queue.get()
        await asyncio.sleep(0.1)
        return before, after, key, len(queue)

    assert asyncio.run(scenario()) == (0, 1, "a", 0)
