"""The overlay: our own writes win over the cache's older copies, until the watch shows them or
they are FRESH_SECONDS old; a TFModel's writes never show in another's view."""

from typing import Any

from tfmodel_operator.controller.overlay import FRESH_SECONDS, Overlay

KEY = ("ns", "m")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def obj(kind: str, name: str, version: str, **body: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "resourceVersion": version}, **body}


def test_a_write_wins_over_an_older_watched_copy_and_adds_what_the_watch_has_not_shown() -> None:
    overlay = Overlay(Clock())
    overlay.remember(KEY, obj("ConfigMap", "m-config", "12", data={"new": "1"}))
    overlay.remember(KEY, obj("Service", "m", "13"))
    newest = overlay.over(KEY, [obj("ConfigMap", "m-config", "10", data={"old": "1"})])
    assert sorted((o["kind"], o["metadata"]["resourceVersion"]) for o in newest) == [
        ("ConfigMap", "12"), ("Service", "13"),
    ]  # fmt: skip
    assert overlay.over(("ns", "other"), []) == []


def test_once_the_watch_shows_the_write_or_a_newer_copy_the_watched_copy_is_used() -> None:
    overlay = Overlay(Clock())
    overlay.remember(KEY, obj("ConfigMap", "m-config", "12"))
    overlay.remember(KEY, obj("Service", "m", "13"))
    newest = overlay.over(KEY, [obj("ConfigMap", "m-config", "12", seen=True),
                                obj("Service", "m", "20", seen=True)])  # fmt: skip
    assert all(o.get("seen") for o in newest)
    assert len(overlay) == 0  # and the writes are forgotten


def test_a_write_the_watch_never_shows_is_dropped_after_fresh_seconds() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    overlay.remember(KEY, obj("ConfigMap", "m-config", "12"))
    clock.now += FRESH_SECONDS - 1
    assert [o["metadata"]["resourceVersion"] for o in overlay.over(KEY, [])] == ["12"]
    clock.now += 2
    assert (
        overlay.over(KEY, [obj("ConfigMap", "m-config", "10")])[0]["metadata"]["resourceVersion"]
        == "10"
    )
    assert len(overlay) == 0


def test_an_unnumbered_resource_version_counts_as_oldest_so_the_watched_copy_wins() -> None:
    overlay = Overlay(Clock())
    overlay.remember(KEY, obj("ConfigMap", "m-config", "not-a-number"))
    assert (
        overlay.over(KEY, [obj("ConfigMap", "m-config", "3")])[0]["metadata"]["resourceVersion"]
        == "3"
    )


def test_forget_drops_every_write_of_the_tfmodel() -> None:
    overlay = Overlay(Clock())
    overlay.remember(KEY, obj("ConfigMap", "m-config", "12"))
    overlay.remember(("ns", "other"), obj("ConfigMap", "other-config", "14"))
    overlay.forget(KEY)
    assert overlay.over(KEY, []) == []
    assert len(overlay) == 1
