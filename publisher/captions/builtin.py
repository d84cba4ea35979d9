"""The built-in writer: a caption composed from the facts alone, with no model.

It is what answers when no model is configured (and what the demo shows). The same
facts always give the same caption: a listing's headline facts under a headline
that fits the template or the listing's status, or a greeting that fits the
template's type (Christmas, New Year, Just Sold, ...) signed with the brand's name.
"""

from __future__ import annotations

import re
from decimal import Decimal

from publisher.captions.facts import (
    REMOVED_MARKS,
    CreativeFacts,
    Grounding,
    ListingFacts,
    price_text,
)

# Headlines for listing posts, by the template type or the listing's status,
# matched on lowercase letters only ("Just Sold", "JustSold" and "just_sold" alike).
_HEADLINES = (
    ("justsold", "Just sold"),
    ("sold", "Just sold"),
    # RESO's standard status for a sale that has gone through.
    ("closed", "Just sold"),
    # Before "active", which it contains: an inactive listing is not just listed.
    ("inactive", "Now showing"),
    ("undercontract", "Under contract"),
    ("pending", "Under contract"),
    ("comingsoon", "Coming soon"),
    ("openhouse", "Open house"),
    ("pricereduced", "Price reduced"),
    ("pricedrop", "Price reduced"),
    ("justlisted", "Just listed"),
    ("newlisting", "Just listed"),
    ("active", "Just listed"),
    ("forsale", "For sale"),
    ("lease", "For lease"),
    ("rent", "For rent"),
)
_LISTING_TAGS = {
    "Just sold": "#JustSold",
    "Under contract": "#UnderContract",
    "Coming soon": "#ComingSoon",
    "Open house": "#OpenHouse",
    "Price reduced": "#PriceReduced",
    "Just listed": "#JustListed",
}

# Greetings for posts that are not about a listing, by the template type.
_GREETINGS = (
    (
        "christmas",
        "Merry Christmas from {brand}! Wishing you and yours a warm, "
        "joyful holiday season.",
        "#MerryChristmas #HappyHolidays",
    ),
    (
        "hanukkah",
        "Happy Hanukkah from {brand}! May your home be full of light.",
        "#HappyHanukkah",
    ),
    (
        "newyear",
        "Happy New Year from {brand}! Here's to new beginnings and new homes.",
        "#HappyNewYear",
    ),
    (
        "thanksgiving",
        "Happy Thanksgiving from {brand}! We're grateful for every "
        "client and neighbor.",
        "#HappyThanksgiving",
    ),
    (
        "halloween",
        "Happy Halloween from {brand}! Have a safe and spooky night.",
        "#HappyHalloween",
    ),
    (
        "easter",
        "Happy Easter from {brand}! Wishing you a bright spring.",
        "#HappyEaster",
    ),
    (
        "valentine",
        "Happy Valentine's Day from {brand}! Here's to the homes we love.",
        "#ValentinesDay",
    ),
    ("independence", "Happy Independence Day from {brand}!", "#FourthOfJuly"),
    ("july4", "Happy Fourth of July from {brand}!", "#FourthOfJuly"),
    ("fourthofjuly", "Happy Fourth of July from {brand}!", "#FourthOfJuly"),
    ("mother", "Happy Mother's Day from {brand}!", "#MothersDay"),
    ("father", "Happy Father's Day from {brand}!", "#FathersDay"),
    ("holiday", "Happy holidays from {brand}!", "#HappyHolidays"),
    ("birthday", "Happy birthday from {brand}!", "#HappyBirthday"),
    ("anniversary", "Happy anniversary from {brand}!", "#Anniversary"),
    (
        "sold",
        "Another one sold by {brand}! Thinking of making a move? Let's talk.",
        "#JustSold #RealEstate",
    ),
)
_DESCRIPTION_CHARS = 280


def write_caption(grounding: Grounding) -> str:
    """The built-in caption for the post these facts describe."""
    if grounding.listing is not None:
        return _listing_caption(grounding.listing, grounding.creative)
    return _greeting(grounding.creative, grounding.brand_name)


def _letters(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def _headline(listing: ListingFacts, creative: CreativeFacts) -> str:
    for source in (creative.template_type, listing.status):
        letters = _letters(source)
        for key, headline in _HEADLINES:
            if key in letters:
                return headline
    return "Now showing"


def _listing_caption(listing: ListingFacts, creative: CreativeFacts) -> str:
    headline = _headline(listing, creative)
    lines = [f"{headline}: {listing.place}" if listing.place else headline]
    details = [
        _count(listing.bedrooms, "bedroom"),
        _count(listing.bathrooms, "bathroom"),
        None if listing.square_feet is None else f"{listing.square_feet:,} sq ft",
        listing.property_type,
    ]
    facts = " · ".join(d for d in details if d)
    if facts:
        lines.append(facts)
    price = price_text(listing.price, listing.currency)
    if price and headline != "Just sold":
        lines.append(f"Offered at {price}")
    if listing.description:
        lines.append(_first_sentences(listing.description))
    tags = [_LISTING_TAGS.get(headline, "#ForSale"), "#RealEstate"]
    if listing.city:
        tags.append("#" + re.sub(r"\W", "", listing.city))
    tags.append("#HomeSweetHome")
    return "\n\n".join([*lines, " ".join(tags)])


def _count(value: int | Decimal | None, noun: str) -> str | None:
    if value is None:
        return None
    # A NUMERIC(4,1) column gives Decimal("2.0"): two bathrooms, not "2.0".
    number = f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)
    return f"{number} {noun}" + ("" if number == "1" else "s")


def _first_sentences(text: str) -> str:
    """As many whole sentences as fit in a few lines (leaving out those that held
    contact details); else the start, cut at a word."""
    paragraph = " ".join(text.split())
    sentences = [
        sentence
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph)
        if not any(mark in sentence for mark in REMOVED_MARKS)
    ]
    kept = ""
    for sentence in sentences:
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > _DESCRIPTION_CHARS:
            break
        kept = candidate
    if kept:
        return kept
    return paragraph[:_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + "…"


def _greeting(creative: CreativeFacts, brand: str) -> str:
    letters = _letters(creative.template_type) or _letters(creative.name)
    for key, text, tags in _GREETINGS:
        if key in letters:
            return f"{text.format(brand=brand)}\n\n{tags}"
    name = creative.name or creative.template_type
    opening = f"{name}, from {brand}." if name else f"From all of us at {brand}."
    return f"{opening}\n\n#RealEstate"
