"""Normal forms of customer values, so equal data compares equal whichever system it came from.

Everything is a string and ``""`` is blank. Text loses surrounding and repeated white space;
identifiers with a known structure (Swedish organisation numbers, EU VAT numbers) take their
compact form when they are valid and stay as given when they are not (a person can still see and
fix them); countries become ISO 3166 alpha-2 codes, the form Fortnox uses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from babel import Locale
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.se import orgnr as se_orgnr

from webcrm_fortnox.domain.fields import COMPANY, PRIVATE

_SPACES = re.compile(r"\s+")
# C0 and C1 control characters other than white space, the soft hyphen, zero-width characters,
# bidirectional marks, embeddings, overrides and isolates, invisible operators, the BOM.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff]"
)

# Languages whose country names are understood when reading webCRM, besides the configured one:
# the Nordic languages webCRM systems are run in, English, and the larger EU languages.
READ_LANGUAGES: Final = ("sv", "da", "nb", "nn", "fi", "is", "en", "de", "fr", "es", "nl", "it")

# Territory codes babel knows that are not ISO 3166-1 countries (continents, the EU, the UN,
# pseudo and exceptionally reserved codes); Fortnox's CountryCode takes ISO 3166-1 alpha-2.
_NOT_COUNTRIES: Final = frozenset(
    {"AC", "CP", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
)


def text(value: Any) -> str:
    """Strip and collapse white space and drop invisible characters; ``None`` and non-strings
    become text or blank.

    Invisible characters (control characters such as a bell or escape, zero-width spaces and
    joiners, direction marks and overrides, the soft hyphen, a byte-order mark) carry nothing a
    person can see or fix in either system, and Fortnox refuses them (2000359): a text holding
    one is the same text without it.
    """
    if value is None:
        return ""
    return _SPACES.sub(" ", _INVISIBLE.sub("", str(value))).strip()


def upper(value: Any) -> str:
    """Text in upper case (currency codes)."""
    return text(value).upper()


def organisation_number(value: Any) -> str:
    """A Swedish organisation number in compact form (``5560360793``) when valid."""
    raw = text(value)
    try:
        return str(se_orgnr.validate(raw))
    except StdnumError:
        return raw


def display_organisation_number(value: str) -> str:
    """The form people read and type: ``556036-0793`` for a valid Swedish number."""
    if se_orgnr.is_valid(value):
        return str(se_orgnr.format(value))
    return value


def vat_number(value: Any) -> str:
    """An EU VAT number in compact form (``SE556036079301``) when valid."""
    raw = text(value)
    try:
        return str(eu_vat.validate(raw))
    except StdnumError:
        return raw


def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code the mapping knows."""
    return frozenset(_names_by_code("en"))


@functools.cache
def _names_by_code(language: str) -> Mapping[str, str]:
    territories = Locale.parse(language).territories
    return {
        code: name
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


@functools.cache
def _codes_by_name(language: str) -> Mapping[str, str]:
    # The configured language is consulted first, so its spelling decides if two languages
    # happen to use one name for different countries.
    index: dict[str, str] = {}
    for lang in (language, *READ_LANGUAGES):
        for code, name in _names_by_code(lang).items():
            index.setdefault(name.casefold(), code)
    return index


def country_code(value: Any, language: str = "sv") -> str:
    """The ISO code of a country given by code or by name in a known language.

    Returns the code (``"SE"``), ``""`` for blank, or the cleaned text unchanged when it names
    no country this mapping knows (kept so a person can see and correct it).
    """
    raw = text(value)
    if not raw:
        return ""
    if raw.upper() in _names_by_code("en"):
        return raw.upper()
    return _codes_by_name(language).get(raw.casefold(), raw)


def country_name(code: str, language: str = "sv") -> str:
    """The country's name in ``language`` (``"SE"`` → ``"Sverige"``); non-codes pass through."""
    return _names_by_code(language).get(code, code)


def customer_type(value: Any) -> str:
    """``company`` or ``private`` from Fortnox's ``COMPANY``/``PRIVATE`` (blank → company)."""
    return PRIVATE if text(value).upper() == "PRIVATE" else COMPANY


# The normal form of each canonical field; fields not listed are plain text.
NORMALISERS: Final[Mapping[str, Callable[[Any], str]]] = {
    "currency": upper,
    "vat_number": vat_number,
    "organisation_number": organisation_number,
    "customer_type": customer_type,
}
COUNTRY_FIELDS: Final = frozenset({"country", "visiting_country"})


def normalise_field(field: str, value: Any, language: str = "sv") -> str:
    """The normal form of ``value`` for the canonical ``field``.

    Args:
        field: a canonical field name.
        value: the value as either system holds it.
        language: the language country names are written in, tried first when reading one.
    """
    if field in COUNTRY_FIELDS:
        return country_code(value, language)
    return NORMALISERS.get(field, text)(value)
