"""Make a written caption fit Instagram's rules, whoever wrote it.

A model may wrap its answer in quotes or a code fence, add forty hashtags or run
past 2,200 characters. The answer is tidied, extra hashtags are dropped, extra
@mentions lose their `@` (the name stays as text), and an over-long caption is cut
at a word and ends with an ellipsis. Each change is reported, so the person who
asked sees what was done to the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from publisher.rules import (
    MAX_CAPTION_CHARS,
    MAX_HASHTAGS,
    MAX_MENTIONS,
    caption_problems,
    hashtag_spans,
    mention_spans,
)

# A fenced answer, perhaps after one line of preamble ("Here is your caption:").
_FENCE = re.compile(
    r"^(?:[^\n`]*:[ \t]*\n+)?```[\w-]*\n(?P<body>.*?)\n?```$", re.DOTALL
)
_LABEL = re.compile(r"^(?:instagram\s+)?caption\s*:\s*", re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "“": "”", "«": "»"}
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Fitted:
    """The caption as returned, and what was changed to make it fit."""

    caption: str
    adjustments: list[str] = field(default_factory=list)


def tidy(answer: str) -> str:
    """The caption inside a model's answer: no fence, label or wrapping quotes,
    nothing a post could not store."""
    # What a post could not store (a NUL, half of a surrogate pair) or Instagram
    # would not show (other control characters) goes; line breaks and tabs stay.
    text = "".join(
        ch
        for ch in answer
        if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs"}
    ).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    text = _LABEL.sub("", text, count=1)
    closing = _QUOTES.get(text[:1])
    inner = text[1:-1]
    # Quotes wrap the answer only when none are inside: `"Sold!" and "Wow!"` is
    # a caption that quotes twice.
    if closing and len(text) > 1 and text.endswith(closing) and closing not in inner:
        text = inner.strip()
    return text


def fit_caption(caption: str) -> Fitted:
    """The caption within 2,200 characters, 30 hashtags and 20 mentions."""
    adjustments: list[str] = []
    caption = _fit_tags(caption, adjustments)
    if len(caption) > MAX_CAPTION_CHARS:
        before = len(caption)
        caption = _cut(caption, MAX_CAPTION_CHARS)
        adjustments.append(
            f"cut from {before:,} to {len(caption):,} characters "
            f"(Instagram allows {MAX_CAPTION_CHARS:,})"
        )
    assert not caption_problems(caption), caption_problems(caption)
    return Fitted(caption, adjustments)


def _fit_tags(caption: str, adjustments: list[str]) -> str:
    """At most 30 hashtags and 20 mentions. Dropping one can join its neighbours
    into a new one (`#@name` loses its `@` and becomes the hashtag `#name`, `@@name`
    is still a mention), so both are dropped again until neither is over; each
    pass removes a `#` or an `@`, so it ends."""
    hashtags_seen = mentions_seen = 0
    while True:
        hashtags = hashtag_spans(caption)
        if len(hashtags) > MAX_HASHTAGS:
            hashtags_seen = hashtags_seen or len(hashtags)
            caption = _remove(caption, hashtags[MAX_HASHTAGS:])
            continue
        mentions = mention_spans(caption)
        if len(mentions) > MAX_MENTIONS:
            mentions_seen = mentions_seen or len(mentions)
            ats = {start for start, _ in mentions[MAX_MENTIONS:]}
            caption = "".join(ch for at, ch in enumerate(caption) if at not in ats)
            continue
        break
    if hashtags_seen:
        adjustments.append(f"kept the first {MAX_HASHTAGS} of {hashtags_seen} hashtags")
    if mentions_seen:
        adjustments.append(
            f"kept the first {MAX_MENTIONS} of {mentions_seen} @mentions "
            "(the others stay as plain names)"
        )
    return caption


def _remove(text: str, spans: list[tuple[int, int]]) -> str:
    """The text without the spans, and without the blank runs they leave."""
    kept = []
    last = 0
    for start, end in spans:
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    joined = "".join(kept)
    joined = re.sub(r"[ \t]{2,}", " ", joined)
    joined = re.sub(r"[ \t]+\n", "\n", joined)
    return joined.strip()


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at the last space or line break before it.
    A cut hashtag or mention would be a different one, so a partial word goes."""
    room = text[: limit - len(_ELLIPSIS)]
    cut = max(room.rfind(" "), room.rfind("\n"))
    if cut > limit // 2:
        room = room[:cut]
    return room.rstrip(" \n,.;:-") + _ELLIPSIS
