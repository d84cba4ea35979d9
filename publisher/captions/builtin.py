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
# matched on whole words in order ("Just Sold", "JustSold" and "JUST_SOLD" alike,
# and "Active Under Contract" before "Active"); the first that matches wins.
_HEADLINES = (
    ("just sold", "Just sold"),
    ("sold", "Just sold"),
    # RESO's standard status for a sale that has gone through.
    ("closed", "Just sold"),
    ("under contract", "Under contract"),
    ("pending", "Under contract"),
    ("contingent", "Under contract"),
    ("coming soon", "Coming soon"),
    ("open house", "Open house"),
    ("price reduced", "Price reduced"),
    ("price drop", "Price reduced"),
    ("just listed", "Just listed"),
    ("new listing", "Just listed"),
    ("active", "Just listed"),
    ("for sale", "For sale"),
    ("for lease", "For lease"),
    ("lease", "For lease"),
    ("for rent", "For rent"),
    ("rental", "For rent"),
)
_LISTING_TAGS = {
    "Just sold": "#JustSold",
    "Under contract": "#UnderContract",
    "Coming soon": "#ComingSoon",
    "Open house": "#OpenHouse",
    "Price reduced": "#PriceReduced",
    "Just listed": "#JustListed",
    "For sale": "#ForSale",
    "For lease": "#ForLease",
    "For rent": "#ForRent",
}

# Greetings for posts that are not about a listing, by the template type (else
# its name), matched on whole words, plurals too ("Valentines", "MothersDay").
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
        "new year",
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
    ("july 4", "Happy Fourth of July from {brand}!", "#FourthOfJuly"),
    ("fourth of july", "Happy Fourth of July from {brand}!", "#FourthOfJuly"),
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


def _words(text: str | None) -> list[str]:
    """The words of a type, status or name, lowercase: `JustSold`, `just_sold`
    and `Just Sold` all give ["just", "sold"]."""
    return [
        word.lower()
        for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", text or "")
    ]


def _says(words: list[str], phrase: str, *, plural: bool = False) -> bool:
    """Whether the words hold the phrase's words in a row (each also with an `s`
    after it with `plural`: "Valentines", "MothersDay"), or run together into it
    (`justsold`)."""
    wanted = phrase.split()
    if "".join(words) == "".join(wanted):
        return True
    for at in range(len(words) - len(wanted) + 1):
        run = words[at : at + len(wanted)]
        if all(
            got == want or (plural and got == want + "s")
            for got, want in zip(run, wanted, strict=True)
        ):
            return True
    return False


def _headline(listing: ListingFacts, creative: CreativeFacts) -> str:
    for source in (creative.template_type, listing.status):
        words = _words(source)
        for phrase, headline in _HEADLINES:
            if _says(words, phrase):
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
    described = _first_sentences(listing.description or "")
    if described:
        lines.append(described)
    tag = _LISTING_TAGS.get(headline)
    tags = [*([tag] if tag else []), "#RealEstate"]
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


def _first_sentences(text: str) -> str | None:
    """As many whole sentences as fit in a few lines, leaving out those that held
    contact details; else the first, cut at a word; None when none is left."""
    paragraph = " ".join(text.split())
    sentences = [
        sentence
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph)
        if sentence and not any(mark in sentence for mark in REMOVED_MARKS)
    ]
    kept = ""
    for sentence in sentences:
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > _DESCRIPTION_CHARS:
            break
        kept = candidate
    if kept or not sentences:
        return kept or None
    return sentences[0][:_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + "…"


def _greeting(creative: CreativeFacts, brand: str) -> str:
    for source in (creative.template_type, creative.name):
        words = _words(source)
        for phrase, text, tags in _GREETINGS:
            if _says(words, phrase, plural=True):
                return f"{text.format(brand=brand)}\n\n{tags}"
    name = creative.name or creative.template_type
    opening = f"{name}, from {brand}." if name else f"From all of us at {brand}."
    return f"{opening}\n\n#RealEstate"
