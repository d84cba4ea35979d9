"""Instagram's caption rules, at and just past each limit."""

from __future__ import annotations

import pytest

from publisher.rules import (
    MAX_CAPTION_CHARS,
    RuleViolation,
    caption_problems,
    hashtag_count,
    mention_count,
)


def _rules(caption: str) -> list[str]:
    return [problem.rule for problem in caption_problems(caption)]


def test_caption_of_exactly_2200_characters_is_allowed() -> None:
    assert caption_problems("a" * MAX_CAPTION_CHARS) == []


def test_caption_of_2201_characters_is_refused_with_a_readable_message() -> None:
    assert caption_problems("a" * 2201) == [
        RuleViolation(
            "caption",
            "caption_length",
            "The caption has 2,201 characters; Instagram allows at most 2,200.",
        )
    ]


def test_characters_are_counted_as_code_points() -> None:
    # Each of these emoji is two UTF-16 units but one code point.
    assert caption_problems("🏠" * 2200) == []
    assert _rules("🏠" * 2201) == ["caption_length"]


def test_thirty_hashtags_are_allowed_and_thirty_one_refused() -> None:
    thirty = " ".join(f"#tag{n}" for n in range(30))
    assert caption_problems(thirty) == []

    problems = caption_problems(thirty + " #onemore")
    assert [p.rule for p in problems] == ["caption_hashtags"]
    assert problems[0].message == (
        "The caption has 31 hashtags; Instagram allows at most 30."
    )


@pytest.mark.parametrize(
    ("caption", "count"),
    [
        ("#sold", 1),
        ("#sold#newhome", 2),
        ("##sold", 1),
        ("#", 0),
        ("# not a tag", 0),
        ("#immobilière #不動産 #منزل", 3),
        ("price #1 in town", 1),
        ("C# and F# developers", 0),
    ],
)
def test_hashtag_counting(caption: str, count: int) -> None:
    assert hashtag_count(caption) == count


def test_twenty_mentions_are_allowed_and_twenty_one_refused() -> None:
    twenty = " ".join(f"@agent.{n}" for n in range(20))
    assert caption_problems(twenty) == []

    problems = caption_problems(twenty + " @one_more")
    assert [p.rule for p in problems] == ["caption_mentions"]
    assert problems[0].message == (
        "The caption has 21 @mentions; Instagram allows at most 20."
    )


@pytest.mark.parametrize(
    ("caption", "count"),
    [
        ("Thanks @jane.doe!", 1),
        ("Thanks @jane.", 1),
        ("(@jane_doe)", 1),
        ("@a @b @c", 3),
        ("Write to sales@agency.com", 0),
        ("first.last@example.org", 0),
        ("an @ alone", 0),
        ("@... nothing", 0),
    ],
)
def test_mention_counting(caption: str, count: int) -> None:
    assert mention_count(caption) == count


def test_emails_do_not_count_towards_the_mention_limit() -> None:
    emails = " ".join(f"agent{n}@agency.com" for n in range(40))
    assert caption_problems(emails) == []


def test_every_broken_rule_is_reported() -> None:
    caption = "x" * 2200 + " #t" * 31 + " @u" * 21

    assert _rules(caption) == ["caption_length", "caption_hashtags", "caption_mentions"]
