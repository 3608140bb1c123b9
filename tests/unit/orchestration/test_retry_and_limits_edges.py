"""The edges of the retry policy and of the concurrency limits: the values just inside and just
outside each rule, and what each refusal says (the survivors of `make mutate` on retry.py and
limits.py; no database)."""

from __future__ import annotations

import random

import pytest

from orchestration.exceptions import InvalidLimits
from orchestration.limits import MAX_KEY_LENGTH, NO_LIMITS, check_template, concurrency_key, parse_limits
from orchestration.retry import RetryPolicy

# --- Retry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},  # one attempt, no retry
        {"base_seconds": 0},  # retry at once
        {"cap_seconds": 0},
        {"factor": 1},  # a constant wait
        {"jitter": 0},  # no spread
        {"jitter": 1},  # anywhere between no wait and the full one
    ],
)
def test_a_policy_at_the_edge_of_each_rule_is_accepted(kwargs: dict) -> None:
    policy = RetryPolicy(**kwargs)
    assert {k: getattr(policy, k) for k in kwargs} == kwargs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1, got 0"),
        ({"base_seconds": -1}, "base_seconds and cap_seconds must not be negative"),
        ({"cap_seconds": -0.5}, "base_seconds and cap_seconds must not be negative"),
        ({"factor": 0.99}, "factor must be at least 1, got 0.99"),
        ({"jitter": -0.1}, "jitter must be between 0 and 1, got -0.1"),
        ({"jitter": 1.01}, "jitter must be between 0 and 1, got 1.01"),
    ],
)
def test_a_nonsensical_policy_is_refused_with_the_whole_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + message.replace(".", r"\.") + r"$"):
        RetryPolicy(**kwargs)


def test_without_jitter_each_wait_is_exactly_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=3, factor=2, cap_seconds=20, jitter=0)
    assert [policy.next_delay(n) for n in range(1, 6)] == [3, 6, 12, 20, None]
    assert policy.bounds(1) == (3, 3)


def test_with_full_jitter_a_wait_may_be_anything_up_to_the_backoff() -> None:
    policy = RetryPolicy(base_seconds=10, jitter=1)
    assert policy.bounds(1) == (0, 10)
    delays = [policy.next_delay(1, rng=random.Random(i)) for i in range(200)]
    assert min(delays) < 1 and max(delays) > 9


def test_the_attempt_before_the_last_still_gets_a_retry() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0, base_seconds=1)
    assert policy.next_delay(2) == 2
    assert policy.next_delay(3) is None


def test_a_stored_policy_ignores_fields_it_does_not_know_and_keeps_the_ones_it_does() -> None:
    stored = {"max_attempts": 4, "base_seconds": 1.5, "retired_field": True}
    assert RetryPolicy.from_dict(stored) == RetryPolicy(max_attempts=4, base_seconds=1.5)
    assert RetryPolicy.from_dict(None) == RetryPolicy()
    assert RetryPolicy.from_dict(None, max_attempts=1) == RetryPolicy(max_attempts=1)
    assert RetryPolicy().as_dict() == {
        "max_attempts": 3,
        "base_seconds": 2.0,
        "factor": 2.0,
        "cap_seconds": 300.0,
        "jitter": 0.5,
    }


# --- Concurrency limits ------------------------------------------------------------------------


def test_no_limits_is_false_and_any_limit_is_true() -> None:
    assert not NO_LIMITS
    assert not parse_limits("")
    assert parse_limits("a=1")
    assert parse_limits("p:*=1")


def test_a_limit_of_one_is_accepted_and_zero_is_not() -> None:
    assert parse_limits("design-ia=1").limit_of("design-ia") == 1
    with pytest.raises(InvalidLimits, match=r"^limit of 'design-ia' must be at least 1, got 0$"):
        parse_limits("design-ia=0")


def test_limits_given_as_a_mapping_are_parsed_like_the_text() -> None:
    limits = parse_limits({"design-ia": 8, "project:*": "2"})
    assert limits.limit_of("design-ia") == 8
    assert limits.limit_of("project:p1") == 2
    assert limits.limit_of("other") is None


def test_the_value_is_what_follows_the_last_equals_sign() -> None:
    assert parse_limits("a=b=3").limit_of("a=b") == 3


def test_empty_entries_are_skipped_wherever_they_stand() -> None:
    limits = parse_limits(" ,design-ia=8,, ,ads-management=4,")
    assert (limits.limit_of("design-ia"), limits.limit_of("ads-management")) == (8, 4)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("design-ia", "entry 'design-ia' is not 'key=limit'"),
        ("  =3", "entry '=3' is not 'key=limit'"),
        ("design-ia=many", "limit of 'design-ia' must be a whole number, got 'many'"),
        ("design-ia=", "limit of 'design-ia' must be a whole number, got ''"),
        ("*=3", "key '*': '*' may only end a non-empty prefix"),
        ("a*b*=3", "key 'a*b*': '*' may only end a non-empty prefix"),
        ("project:**=2", "key 'project:**': '*' may only end a non-empty prefix"),
        ("a*b=3", "key 'a*b': '*' may only end a prefix"),
    ],
)
def test_a_bad_limits_spec_is_refused_with_the_whole_reason(spec: str, message: str) -> None:
    with pytest.raises(InvalidLimits) as refused:
        parse_limits(spec)
    assert str(refused.value) == message


def test_a_bad_limit_in_a_mapping_names_its_value() -> None:
    with pytest.raises(InvalidLimits) as refused:
        parse_limits({"design-ia": None})
    assert str(refused.value) == "limit of 'design-ia' must be a whole number, got None"


def test_a_key_of_the_longest_length_is_accepted_and_one_more_is_not() -> None:
    longest = "k" * MAX_KEY_LENGTH
    assert parse_limits(f"{longest}=2").limit_of(longest) == 2
    with pytest.raises(InvalidLimits) as refused:
        parse_limits(f"{longest}k=2")
    assert str(refused.value) == f"key {'k' * 40!r}... is longer than {MAX_KEY_LENGTH} characters"


def test_limited_keeps_only_the_keys_that_have_a_limit_with_their_limit() -> None:
    limits = parse_limits("design-ia=8,project:*=2")
    assert limits.limited(["design-ia", "ads", "project:p1", ""]) == {"design-ia": 8, "project:p1": 2}
    assert limits.limited([]) == {}


def test_a_key_template_is_cut_to_the_longest_key() -> None:
    key = concurrency_key("project:{project}", action="a.b", project_id="p" * 300)
    assert key == ("project:" + "p" * 300)[:MAX_KEY_LENGTH]
    assert concurrency_key("{agent}:{project}", action="mail.send") == "mail:-"
    assert concurrency_key("{run}", action="a.b", run_id="r1") == "r1"


@pytest.mark.parametrize("template", ["{customer}", "{0}", "{agent", "{agent!x}"])
def test_a_template_naming_anything_but_the_four_placeholders_is_refused_by_name(template: str) -> None:
    with pytest.raises(InvalidLimits) as refused:
        check_template(template)
    assert str(refused.value) == (
        f"concurrency key {template!r} may use only {{agent}}, {{action}}, {{run}} and {{project}}"
    )


def test_a_template_of_the_four_placeholders_is_accepted() -> None:
    assert check_template("{agent}/{action}/{run}/{project}") is None


def test_like_patterns_escape_backslashes_too() -> None:
    assert parse_limits("a\\b=1").like_patterns() == ["a\\\\b"]


def test_the_agent_of_a_key_is_the_action_before_its_first_dot() -> None:
    assert concurrency_key("{agent}", action="mail.send.bulk") == "mail"
