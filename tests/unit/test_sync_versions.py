"""The model-sync sidecar's rules (storage/versions.py): which versions in a bucket are complete,
which the versions file wants, which local ones may go, and the names it works under."""

import re

import pytest

from tfmodel_operator.storage.versions import (
    ALL,
    Entry,
    Policy,
    by_version,
    incompleteness,
    is_work_dir,
    missing_files,
    parse_policy,
    removable,
    serving_states,
    settling,
    version_number,
    wanted,
    work_dir_name,
)


def files(*paths: str, size: int = 10) -> frozenset[Entry]:
    return frozenset(Entry(path, size, f'"{path}"') for path in paths)


SAVED_MODEL = ("saved_model.pb", "variables/variables.index")
ONE_SHARD = (*SAVED_MODEL, "variables/variables.data-00000-of-00001")
TWO_SHARDS = (
    *SAVED_MODEL,
    "variables/variables.data-00000-of-00002",
    "variables/variables.data-00001-of-00002",
)


# --- the bucket's listing, grouped by version ------------------------------------------------


def test_by_version_keeps_only_files_of_versions() -> None:
    listing = [
        Entry("1/saved_model.pb", 5, '"a"'),
        Entry("1/variables/variables.index", 6, None),
        Entry("12/saved_model.pb", 7, '"b"'),
        Entry("README.md", 1, None),  # not in a version
        Entry("01/saved_model.pb", 1, None),  # not a canonical version number
        Entry("1a/saved_model.pb", 1, None),
        Entry("0/saved_model.pb", 1, None),  # versions start at 1
        Entry("2/", 0, None),  # a console's "folder" objects
        Entry("3/variables/", 0, None),
    ]
    assert by_version(listing) == {
        1: frozenset(
            {Entry("saved_model.pb", 5, '"a"'), Entry("variables/variables.index", 6, None)}
        ),
        12: frozenset({Entry("saved_model.pb", 7, '"b"')}),
    }


@pytest.mark.parametrize(
    ("name", "number"),
    [("1", 1), ("42", 42), ("999999999999999999", 999999999999999999), ("0", None), ("01", None),
     ("-1", None), ("1.0", None), ("", None), ("٣", None), ("1" * 19, None), (".sync-tmp-1-ab", None)],
)  # fmt: skip
def test_version_number(name: str, number: int | None) -> None:
    assert version_number(name) == number


# --- completeness ------------------------------------------------------------------------------


def test_the_marker_makes_a_version_complete_at_once() -> None:
    assert incompleteness(files("_SUCCESS", *ONE_SHARD), previously=None) == ""
    # The exporter writes it last: with it, nothing else is asked, not even a second look.
    assert incompleteness(files("_SUCCESS", "saved_model.pb"), previously=None) == ""


def test_without_a_marker_every_file_and_a_second_identical_listing_are_needed() -> None:
    version = files(*TWO_SHARDS)
    first = incompleteness(version, previously=None)
    assert first == "waiting for its listing to stay the same for one more poll"
    assert settling(first)
    assert incompleteness(version, previously=version) == ""


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        (TWO_SHARDS[1:], "saved_model.pb"),
        ((SAVED_MODEL[0], *TWO_SHARDS[2:]), "variables/variables.index"),
        (SAVED_MODEL, "variables/variables.data-00000-of-<n>"),
        (TWO_SHARDS[:3], "variables/variables.data-00001-of-00002"),  # the -of-n names it
        ((*SAVED_MODEL, TWO_SHARDS[3]), "variables/variables.data-00000-of-00002"),
    ],
)
def test_a_missing_file_keeps_a_version_incomplete(present: tuple[str, ...], missing: str) -> None:
    reason = incompleteness(files(*present), previously=files(*present))
    assert reason == f"waiting for {missing} (or the _SUCCESS marker)"
    assert not settling(reason)


def test_every_shard_named_by_its_count_is_needed() -> None:
    shards = [f"variables/variables.data-{i:05d}-of-00004" for i in range(4)]
    assert missing_files([*SAVED_MODEL, *shards]) == []
    assert missing_files([*SAVED_MODEL, shards[0], shards[3]]) == shards[1:3]
    reason = incompleteness(files(*SAVED_MODEL, shards[0]), previously=None)
    assert reason == f"waiting for {shards[1]} and 2 more (or the _SUCCESS marker)"


def test_shards_of_two_checkpoints_are_not_complete() -> None:
    mixed = [
        *ONE_SHARD,
        "variables/variables.data-00000-of-00002",
        "variables/variables.data-00001-of-00002",
    ]
    assert missing_files(mixed) == ["shards of one checkpoint (found -of-00001 and others)"]


def test_saved_model_pbtxt_stands_for_saved_model_pb() -> None:
    assert missing_files(["saved_model.pbtxt", *ONE_SHARD[1:]]) == []


@pytest.mark.parametrize(
    "changed",
    [
        files(*TWO_SHARDS[:3], "variables/variables.data-00001-of-00002", size=11),  # a size
        files(*TWO_SHARDS) | files("assets/vocab.txt"),  # a file more
        frozenset(Entry(e.path, e.size, '"new"') for e in files(*TWO_SHARDS)),  # re-uploaded
    ],
)
def test_a_listing_that_changed_between_polls_waits_another_poll(changed: frozenset[Entry]) -> None:
    assert incompleteness(changed, previously=files(*TWO_SHARDS)) == (
        "waiting for its listing to stay the same for one more poll"
    )
    assert incompleteness(changed, previously=changed) == ""


@pytest.mark.parametrize(
    "path", ["../evil", "variables/../../x", "a//b", "./saved_model.pb", "/abs"]
)
def test_an_object_name_that_escapes_the_directory_is_never_mirrored(path: str) -> None:
    reason = incompleteness(files("_SUCCESS", *ONE_SHARD, path), previously=None)
    assert reason == f"an object name that is not a plain relative path: {path!r}"


# --- which versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "complete", "expected"),
    [
        (ALL, {1, 2, 5}, {1, 2, 5}),
        (Policy("latest", latest=2), {1, 2, 5}, {2, 5}),
        (Policy("latest", latest=1), {1, 2, 5}, {5}),
        (Policy("latest", latest=5), {1, 2}, {1, 2}),
        (Policy("latest", latest=2), set(), set()),
        (Policy("specific", specific=frozenset({1, 3})), {1, 2}, {1}),  # 3 is not complete yet
        (Policy("latest", latest=1, keep=frozenset({1})), {1, 2, 3}, {1, 3}),  # a labelled one
        (Policy("specific", specific=frozenset({2}), keep=frozenset({1, 4})), {1, 2, 3}, {1, 2}),
        (Policy("all", keep=frozenset({7})), {1}, {1}),  # kept, but not in the bucket
    ],
)
def test_wanted(policy: Policy, complete: set[int], expected: set[int]) -> None:
    assert wanted(policy, complete) == expected


def test_latest_counts_complete_versions_only() -> None:
    # Version 3 is still uploading: "latest 2" means the two newest that can be served.
    listing = {1: files(*ONE_SHARD), 2: files(*ONE_SHARD), 3: files(*SAVED_MODEL)}
    complete = {v for v, f in listing.items() if not incompleteness(f, previously=f)}
    assert wanted(Policy("latest", latest=2), complete) == {1, 2}


@pytest.mark.parametrize(
    ("local", "policy", "serving", "expected"),
    [
        ({1, 2}, Policy("latest", latest=1), {1: "END", 2: "AVAILABLE"}, [1]),
        ({1, 2}, Policy("latest", latest=1), {1: "AVAILABLE", 2: "AVAILABLE"}, []),
        ({1, 2}, Policy("latest", latest=1), {1: "UNLOADING", 2: "AVAILABLE"}, []),
        ({1, 2}, Policy("latest", latest=1), {2: "AVAILABLE"}, [1]),  # not listed: unloaded
        ({1, 2}, Policy("latest", latest=1), None, []),  # TF Serving could not tell
        ({1, 2}, Policy("latest", latest=1, keep=frozenset({1})), {}, []),  # labelled: kept
        ({1, 2}, ALL, {}, []),  # both wanted
    ],
)
def test_removable(
    local: set[int], policy: Policy, serving: dict[int, str] | None, expected: list[int]
) -> None:
    assert removable(local, wanted(policy, {1, 2}), policy, serving) == expected


def test_a_version_that_left_the_bucket_goes_once_unloaded() -> None:
    assert removable({1, 2}, wanted(ALL, {2}), ALL, {1: "AVAILABLE"}) == []
    assert removable({1, 2}, wanted(ALL, {2}), ALL, {1: "END"}) == [1]


# --- the versions file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ('{"latest": 2}', Policy("latest", latest=2)),
        ('{"all": true}', ALL),
        ('{"specific": [2, 1]}', Policy("specific", specific=frozenset({1, 2}))),
        ('{"specific": []}', Policy("specific")),
        ('{"latest": 1, "keep": [3]}', Policy("latest", latest=1, keep=frozenset({3}))),
        ('{"all": true, "keep": []}', ALL),
    ],
)
def test_parse_policy(text: str, policy: Policy) -> None:
    assert parse_policy(text) == policy


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "{",
            "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("[1]", "not a JSON object"),
        ("{}", 'needs exactly one of "latest", "all", "specific"'),
        ('{"latest": 1, "all": true}', 'needs exactly one of "latest", "all", "specific"'),
        ('{"latest": 0}', '"latest" must be a whole number >= 1'),
        ('{"latest": true}', '"latest" must be a whole number >= 1'),
        ('{"latest": 1.5}', '"latest" must be a whole number >= 1'),
        ('{"all": false}', '"all" must be true'),
        ('{"specific": [0]}', '"specific" must be a list of version numbers >= 1'),
        ('{"specific": ["1"]}', '"specific" must be a list of version numbers >= 1'),
        ('{"specific": 1}', '"specific" must be a list of version numbers >= 1'),
        ('{"all": true, "keep": [true]}', '"keep" must be a list of version numbers >= 1'),
        ('{"all": true, "labels": {}}', "unknown key 'labels'"),
    ],
)
def test_parse_policy_refuses_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        parse_policy(text)


def test_parse_policy_refuses_nesting_deeper_than_the_stack() -> None:
    with pytest.raises(ValueError, match=r"^not JSON: maximum recursion depth exceeded"):
        parse_policy("[" * 100_000)


# --- TF Serving's answer (untrusted) ------------------------------------------------------------


def test_serving_states() -> None:
    answer = {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK"}},
            {"version": "1", "state": "END", "status": {"error_code": "OK"}},
        ]
    }
    assert serving_states(answer) == {2: "AVAILABLE", 1: "END"}
    assert serving_states({"model_version_status": []}) == {}


def test_a_version_listed_twice_is_unloaded_only_if_every_entry_says_so() -> None:
    twice = [{"version": "1", "state": "END"}, {"version": "1", "state": "LOADING"}]
    assert serving_states({"model_version_status": twice}) == {1: "LOADING"}
    assert serving_states({"model_version_status": twice[::-1]}) == {1: "LOADING"}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"error": "Servable not found"},
        {"model_version_status": "AVAILABLE"},
        {"model_version_status": [["1", "END"]]},
        {"model_version_status": [{"version": 1, "state": "END"}]},  # TF Serving sends strings
        {"model_version_status": [{"version": "x", "state": "END"}]},
        {"model_version_status": [{"version": "1"}]},
        {"model_version_status": [{"version": "1", "state": 4}]},
    ],
)
def test_an_odd_answer_cannot_tell(answer: object) -> None:
    assert serving_states(answer) is None


# --- the directories it works in ----------------------------------------------------------------


def test_work_directories_are_invisible_to_tf_serving_and_found_again() -> None:
    for purpose in ("tmp", "old"):
        name = work_dir_name(purpose, 12, "0a1b2c3d")
        assert name == f".sync-{purpose}-12-0a1b2c3d"
        assert version_number(name) is None  # TF Serving loads only numeric directories
        assert is_work_dir(name)
    assert not is_work_dir("12")
    assert not is_work_dir(".tmp-12")  # the exporter's, not the sidecar's
