"""Unit tests of fitting a written caption to Instagram's rules (no server)."""

from __future__ import annotations

import pytest

from publisher.captions.fit import fit_caption, tidy
from publisher.rules import caption_problems, hashtag_count, mention_count


@pytest.mark.parametrize(
    "answer",
    [
        "Welcome home.",
        '"Welcome home."',
        "“Welcome home.”",
        "'Welcome home.'",
        "Caption: Welcome home.",
        "Instagram caption: Welcome home.",
        "```\nWelcome home.\n```",
        '```text\nCaption: "Welcome home."\n```',
        "  \n Welcome home. \n ",
    ],
)
def test_tidy_takes_the_caption_out_of_fences_labels_and_quotes(answer: str) -> None:
    assert tidy(answer) == "Welcome home."


def test_tidy_keeps_quotes_that_do_not_wrap_the_whole_answer() -> None:
    answer = '"Sunlit" is the word for this kitchen.'

    assert tidy(answer) == answer


def test_tidy_drops_what_a_post_could_not_store() -> None:
    answer = "Home\x00 sweet\x07 home \ud83d\n\nby the sea\t🌊"

    tidied = tidy(answer)

    assert tidied == "Home sweet home \n\nby the sea\t🌊"
    tidied.encode("utf-8")


def test_forty_hashtags_are_cut_to_the_first_thirty() -> None:
    tags = [f"#home{n}" for n in range(40)]

    fitted = fit_caption("A bright cape by the water. " + " ".join(tags))

    assert hashtag_count(fitted.caption) == 30
    assert fitted.caption == "A bright cape by the water. " + " ".join(tags[:30])
    assert fitted.adjustments == ["kept the first 30 of 40 hashtags"]


def test_hashtags_between_words_leave_no_double_spaces() -> None:
    caption = " ".join(f"word{n} #tag{n}" for n in range(35))

    fitted = fit_caption(caption)

    assert hashtag_count(fitted.caption) == 30
    assert "  " not in fitted.caption
    assert fitted.caption.endswith("word33 word34")


def test_twenty_five_mentions_keep_twenty_and_the_others_become_names() -> None:
    names = [f"agent_{n}" for n in range(25)]

    fitted = fit_caption("Thanks to " + " ".join(f"@{name}" for name in names))

    assert mention_count(fitted.caption) == 20
    assert fitted.caption == (
        "Thanks to "
        + " ".join(f"@{name}" for name in names[:20])
        + " "
        + " ".join(names[20:])
    )
    assert fitted.adjustments == [
        "kept the first 20 of 25 @mentions (the others stay as plain names)"
    ]


def test_an_email_address_is_not_a_mention_and_stays() -> None:
    caption = " ".join(f"@a{n}" for n in range(20)) + " write to sales@agency.com"

    fitted = fit_caption(caption)

    assert fitted.caption == caption
    assert fitted.adjustments == []


@pytest.mark.parametrize(
    ("extra", "left"),
    [
        # The second @ was the mention; without it the first one is.
        ("@@twice", " twice"),
        # Without its @ the mention becomes the 31st hashtag, which goes too.
        ("#@tagged", ""),
    ],
)
def test_a_dropped_at_that_joins_into_a_new_tag_is_dropped_too(
    extra: str, left: str
) -> None:
    mentions = " ".join(f"@a{n}" for n in range(20))
    tags = " ".join(f"#t{n}" for n in range(30))

    fitted = fit_caption(f"{mentions} {tags} {extra}")

    assert caption_problems(fitted.caption) == []
    assert mention_count(fitted.caption) == 20
    assert hashtag_count(fitted.caption) == 30
    assert fitted.caption == f"{mentions} {tags}{left}"


def test_three_thousand_characters_are_cut_at_a_word() -> None:
    words = [f"room{n}" for n in range(600)]
    caption = " ".join(words)
    assert len(caption) > 3000

    fitted = fit_caption(caption)

    assert len(fitted.caption) <= 2200
    assert fitted.caption.endswith("…")
    kept = fitted.caption[:-1]
    assert caption.startswith(kept)
    assert caption[len(kept)] == " "
    assert kept.split(" ") == words[: len(kept.split(" "))]
    assert fitted.adjustments == [
        f"cut from {len(caption):,} to {len(fitted.caption):,} characters "
        "(Instagram allows 2,200)"
    ]


def test_a_cut_drops_a_hashtag_it_would_split() -> None:
    caption = "x" * 2190 + " #harborviews"

    fitted = fit_caption(caption)

    assert fitted.caption == "x" * 2190 + "…"


def test_exactly_2200_characters_are_left_alone() -> None:
    caption = ("Harbor light. " * 200)[:2199] + "!"
    assert len(caption) == 2200

    fitted = fit_caption(caption)

    assert fitted.caption == caption
    assert fitted.adjustments == []


def test_every_kind_of_excess_at_once_is_fitted_and_reported() -> None:
    body = " ".join(["Bright rooms, deep garden, harbor views."] * 70)
    caption = (
        body
        + " "
        + " ".join(f"@n{n}" for n in range(25))
        + " "
        + " ".join(f"#t{n}" for n in range(40))
    )

    fitted = fit_caption(caption)

    assert caption_problems(fitted.caption) == []
    assert [a.split(" ")[0] for a in fitted.adjustments] == ["kept", "kept", "cut"]


def test_a_caption_within_the_rules_is_unchanged() -> None:
    caption = "Just listed!\n\n4 bedrooms · 2.5 bathrooms\n\n#JustListed @harbor.realty"

    assert fit_caption(caption).caption == caption
    assert fit_caption(caption).adjustments == []
