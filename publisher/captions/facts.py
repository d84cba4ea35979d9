"""What a caption is grounded in: a listing's facts, or a creative and its template.

These are plain values, read from the database by `publisher.posts.caption` and
handed to whichever writer composes the caption (the model or the built-in one).
Nothing about a user is part of them; free text from listings (a description an
agent typed, say) is scrubbed of e-mail addresses and phone numbers before it is
kept, because such text often carries the agent's own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# Phone numbers: ten digits or more in groups separated by a space, a dot, a
# slash or any dash (spaced or not), with an optional country prefix (+44, or the
# 1 of 1-800-...); an international one after a `+`, in groups of any size
# (+33 1 23 45 67 89); and a seven-digit local one (555-1234).
_SEP = r"(?:\s*[-\u2010-\u2015./]\s*|\s+)"
_PHONE = re.compile(
    rf"(?<![\w])(?:\+?\d{{1,3}}{_SEP}?)?(?:\(\d{{2,4}}\)|\d{{2,4}})"
    rf"(?:{_SEP}?\d{{2,4}}){{2,4}}(?![\w])"
)
_INTERNATIONAL = re.compile(
    rf"(?<![\w+])\+\d{{1,3}}(?:{_SEP}?(?:\(\d{{1,4}}\)|\d{{1,4}})){{2,6}}(?![\w])"
)
_LOCAL = re.compile(r"(?<![\w.,/-])\d{3}[-\u2010-\u2015.]\d{4}(?![\w.,/-])")
_INTERNATIONAL_DIGITS = 8
_PHONE_DIGITS = 10
EMAIL_REMOVED = "[e-mail removed]"
PHONE_REMOVED = "[phone removed]"
REMOVED_MARKS = (EMAIL_REMOVED, PHONE_REMOVED)
# Listing descriptions are marketing text; a longer one is cut (at a word).
MAX_DESCRIPTION_CHARS = 1500


@dataclass(frozen=True)
class ListingFacts:
    """The property a post is about, as the brand's listing row has it."""

    id: str
    address: str
    city: str | None
    state: str | None
    postal_code: str | None
    price: Decimal | None
    currency: str
    bedrooms: int | None
    bathrooms: Decimal | None
    square_feet: int | None
    status: str | None
    property_type: str | None
    description: str | None
    photo_urls: list[str] = field(default_factory=list)

    @property
    def place(self) -> str:
        """The address with city, state and postal code, as one line."""
        region = " ".join(p for p in (self.state, self.postal_code) if p)
        return ", ".join(p for p in (self.address, self.city, region) if p)

    def to_json(self) -> dict[str, Any]:
        """The facts a model is given, as JSON values (absent facts left out)."""
        facts: dict[str, Any] = {
            "address": self.place,
            "price": price_text(self.price, self.currency),
            "bedrooms": self.bedrooms,
            "bathrooms": None if self.bathrooms is None else float(self.bathrooms),
            "area_square_feet": self.square_feet,
            "status": self.status,
            "property_type": self.property_type,
            "description": self.description,
        }
        return {key: value for key, value in facts.items() if value is not None}


@dataclass(frozen=True)
class CreativeFacts:
    """A post's rendered creative and the metadata of its template (or asset)."""

    name: str | None
    template_type: str | None
    medium: str
    video: bool
    image_url: str | None

    def to_json(self) -> dict[str, Any]:
        facts = {
            "template_name": self.name,
            "template_type": self.template_type,
            "medium": self.medium,
            "video": self.video,
        }
        return {key: value for key, value in facts.items() if value is not None}


@dataclass(frozen=True)
class Grounding:
    """Everything a writer may use: the brand's name, the post's creative, and the
    listing when the post is about one."""

    brand_name: str
    creative: CreativeFacts
    listing: ListingFacts | None

    @property
    def kind(self) -> str:
        return "listing" if self.listing is not None else "creative"


def price_text(price: Decimal | None, currency: str) -> str | None:
    """`$649,000` for dollars, `649,000 EUR` otherwise; cents only when there are."""
    if price is None or price.is_nan() or price <= 0:
        # NUMERIC allows NaN, and a listing row may hold a placeholder 0 or -1.
        return None
    whole = price == price.to_integral_value()
    amount = f"{price:,.0f}" if whole else f"{price:,.2f}"
    return f"${amount}" if currency.upper() == "USD" else f"{amount} {currency}"


def scrub(text: str | None, limit: int = MAX_DESCRIPTION_CHARS) -> str | None:
    """Free text made safe to pass on: no e-mail addresses or phone numbers, no
    control characters, whitespace runs collapsed, at most `limit` characters."""
    if text is None:
        return None
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cf"} and ch != "\n" else ch
        for ch in text
    )
    cleaned = _EMAIL.sub(EMAIL_REMOVED, cleaned)
    cleaned = _INTERNATIONAL.sub(_international_or_number, cleaned)
    cleaned = _PHONE.sub(_phone_or_number, cleaned)
    cleaned = _LOCAL.sub(PHONE_REMOVED, cleaned)
    cleaned = re.sub(r"[ \t]+", " ", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    return cleaned or None


def _phone_or_number(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE_REMOVED if digits >= _PHONE_DIGITS else match.group()


def _international_or_number(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE_REMOVED if digits >= _INTERNATIONAL_DIGITS else match.group()
