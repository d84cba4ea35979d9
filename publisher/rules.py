"""Instagram's caption rules, checked locally so a doomed post fails before any call.

Meta refuses a caption over 2,200 characters, with more than 30 hashtags or with more
than 20 @mentions. The counting rules below are this project's reading of those limits:

- Characters are Python ``str`` length, that is Unicode code points. Meta does not
  say how it counts; an emoji outside the Basic Multilingual Plane is one code point
  here but two UTF-16 units, so a caption right at the limit and full of such emoji
  could still be refused by Meta.
- A hashtag is a ``#`` directly followed by at least one word character, where word
  characters are Unicode-aware (letters and digits of any script, and ``_``). Each such
  ``#`` counts once, so ``#sold#newhome`` is two hashtags and ``##sold`` is one.
- A mention is an ``@`` directly followed by an Instagram-username-like run of ASCII
  letters, digits, ``.`` and ``_`` containing at least one letter, digit or ``_``. An
  ``@`` right after a word character or a dot is part of an e-mail address
  (``sales@agency.com``), not a mention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20

_HASHTAG = re.compile(r"#\w+")
_MENTION = re.compile(r"(?<![\w.])@[A-Za-z0-9._]*[A-Za-z0-9_]")


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: the field it concerns, a stable rule name and a message."""

    field: str
    rule: str
    message: str


def hashtag_spans(caption: str) -> list[tuple[int, int]]:
    """Where each hashtag is (its ``#`` and the word after it), in order."""
    return [match.span() for match in _HASHTAG.finditer(caption)]


def mention_spans(caption: str) -> list[tuple[int, int]]:
    """Where each @mention is (its ``@`` and the username), in order."""
    return [match.span() for match in _MENTION.finditer(caption)]


def hashtag_count(caption: str) -> int:
    """How many hashtags the caption carries, as the module docstring defines them."""
    return len(hashtag_spans(caption))


def mention_count(caption: str) -> int:
    """How many @mentions the caption carries, as the module docstring defines them."""
    return len(mention_spans(caption))


def caption_problems(caption: str) -> list[RuleViolation]:
    """Every Instagram caption rule the caption breaks; empty when it is acceptable."""
    problems: list[RuleViolation] = []

    length = len(caption)
    if length > MAX_CAPTION_CHARS:
        problems.append(
            RuleViolation(
                "caption",
                "caption_length",
                f"The caption has {length:,} characters; Instagram allows at most "
                f"{MAX_CAPTION_CHARS:,}.",
            )
        )

    hashtags = hashtag_count(caption)
    if hashtags > MAX_HASHTAGS:
        problems.append(
            RuleViolation(
                "caption",
                "caption_hashtags",
                f"The caption has {hashtags} hashtags; Instagram allows at most "
                f"{MAX_HASHTAGS}.",
            )
        )

    mentions = mention_count(caption)
    if mentions > MAX_MENTIONS:
        problems.append(
            RuleViolation(
                "caption",
                "caption_mentions",
                f"The caption has {mentions} @mentions; Instagram allows at most "
                f"{MAX_MENTIONS}.",
            )
        )

    return problems
