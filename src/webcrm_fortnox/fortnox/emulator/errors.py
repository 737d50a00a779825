"""Fortnox's error answers: the body shapes, the codes and their Swedish messages.

Three shapes are on record and each is kept exactly, because clients parse them differently:

* 404 (entity not found): ``{"ErrorInformation": {"Error": 1, "Message": …, "Code": …}}``,
  PascalCase (recorded: customers/find_failure.yml);
* 400 (validation, bad filter, accounting rules): the same object with lowercase keys
  (recorded: invoices/filter_invalid.yml);
* 401 (missing, unknown or expired token): ``{"message": "unauthorized"}``
  (recorded: authentication/expired_token.yml).

Responses escape ``/`` as ``\\/`` and non-ASCII as ``\\uXXXX`` like the real API.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse, Response

# Codes with the messages the real API sends (reference §6.2).
INVALID_RESPONSE_TYPE = 1000030
INVALID_CONTENT_TYPE = 1000031
NOT_ALPHANUMERIC = 2000106
NOT_NUMERIC = 2000108
NOT_BOOLEAN = 2000134
CUSTOMER_MISSING = 2000204
INVALID_CHARACTERS = 2000359
ARTICLE_NOT_FOUND = 2000428
TERMS_NOT_FOUND = 2000429
UNIT_NOT_FOUND = 2000432
CUSTOMER_NOT_FOUND = 2000433
INVOICE_NOT_FOUND = 2000434
ORDER_NOT_FOUND = 2000439
INVALID_FILTER = 2000587
INVALID_PARAMETER = 2000588
CUSTOMER_NUMBER_USED = 2000637
NO_SCOPE = 2000663
INVALID_IDENTIFIER = 2000729
NO_API_LICENCE = 2001103
ARTICLE_MISSING = 2001302
NO_DATA = 2001392
UNKNOWN_FIELD = 2001399
JSON_SYNTAX = 2002115
HOUSEWORK_OTHERCOSTS = 2002980
COMPLETED_DOCUMENT = 2003125
ROW_WITHOUT_TEXT = 2003977
HOUSEWORK_DISCONTINUED = 2003157
HOUSEWORK_WRONG_REDUCTION = 2004021
# The emulator's choice: the reference records no code for these answers.
PRICE_NOT_FOUND = 2000430
PRICE_LIST_NOT_FOUND = 2000431
CURRENCY_NOT_FOUND = 2000435
# The reference names no code for a value longer than the field allows; the documented
# "no or incorrect data" code is the closest honest answer.
TOO_LONG = NO_DATA
# Reference §8.5: a row's VAT must be a rate the company has, else "Kunde inte hämta/hitta
# moms"; the message is on record, the code is not, so the generic one is sent with it.
VAT_NOT_FOUND = NO_DATA
VAT_NOT_FOUND_MESSAGE = "Kunde inte hämta/hitta moms."

MESSAGES: dict[int, str] = {
    INVALID_RESPONSE_TYPE: "Invalid response type",
    INVALID_CONTENT_TYPE: "Invalid content type",
    NOT_ALPHANUMERIC: "Värdet måste vara alfanumeriskt ({value})",
    NOT_NUMERIC: "Värdet måste vara numeriskt ({value})",
    NOT_BOOLEAN: "Värdet måste vara en boolean ({value})",
    CUSTOMER_MISSING: "Kunde inte hämta/hitta kund (kundnummer)",
    INVALID_CHARACTERS: "Värdet innehåller ej tillåtna tecken. ({value})",
    ARTICLE_NOT_FOUND: "Kan inte hitta artikeln.",
    TERMS_NOT_FOUND: "Kan inte hitta betalningsvillkoret.",
    UNIT_NOT_FOUND: "Kan inte hitta enheten.",
    CUSTOMER_NOT_FOUND: "Kan inte hitta kunden.",
    INVOICE_NOT_FOUND: "Kan inte hitta fakturan.",
    ORDER_NOT_FOUND: "Kan inte hitta ordern.",
    INVALID_FILTER: "Ett ogiltigt filter har använts.",
    INVALID_PARAMETER: "Ogiltig parameter i anropet.",
    CUSTOMER_NUMBER_USED: (
        "Kundnummer {value} används redan. Kundnumret har redan använts men blivit raderat."
    ),
    NO_SCOPE: "Har inte behörighet för scope",
    INVALID_IDENTIFIER: "A valid identifier was not provided.",
    NO_API_LICENCE: "Api-licens saknas.",
    ARTICLE_MISSING: "Kunde inte hitta artikel",
    NO_DATA: "Ingen eller felaktig typ av data.",
    UNKNOWN_FIELD: "Felaktigt fältnamn",
    JSON_SYNTAX: "Error deserializing JSON: JSON_ERROR_SYNTAX",
    HOUSEWORK_OTHERCOSTS: "Kan inte sätta typen övrig kostnad på en rad markerad som husarbete.",
    COMPLETED_DOCUMENT: "Ett klarmarkerat dokument kan inte ändras",
    # Reference §6.2 records the code and its meaning (a row with a quantity but neither a
    # description nor an article), not the wording: this Swedish message is the emulator's.
    ROW_WITHOUT_TEXT: "Rad med antal saknar benämning och artikelnummer.",
    HOUSEWORK_DISCONTINUED: "Skattereduktion för den valda typen av husarbete har upphört.",
    HOUSEWORK_WRONG_REDUCTION: (
        "Dokument med skattereduktionstypen '{value}' får inte innehålla rader med "
        "husarbetestypen '{detail}'."
    ),
    PRICE_NOT_FOUND: "Kan inte hitta priset.",
    PRICE_LIST_NOT_FOUND: "Kan inte hitta prislistan.",
    CURRENCY_NOT_FOUND: "Kan inte hitta valutan.",
}


class FortnoxJSONResponse(JSONResponse):
    """JSON escaped the way Fortnox escapes it (``\\/`` and ``\\u00e4``)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=True, separators=(",", ":"))
        return text.replace("/", "\\/").encode("ascii")


class FortnoxError(Exception):
    """An API answer other than success; raised anywhere, rendered by the app's handler.

    Args:
        status: the HTTP status.
        code: the Fortnox error code.
        message: the Swedish message; defaults to the one in :data:`MESSAGES`.
        value: fills ``{value}`` in the message.
        detail: fills ``{detail}`` in the message.
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        value: object = "",
        detail: object = "",
    ) -> None:
        template = message if message is not None else MESSAGES.get(code, "")
        self.status = status
        self.code = code
        self.message = template.format(value=value, detail=detail)
        super().__init__(f"{status} {code} {self.message}")

    def naming(self, field: str) -> FortnoxError:
        """This error with the offending field named in a trailing parenthesis, as Fortnox does
        in field errors (e.g. "… existerar inte. (PurchaseAccount)", reference §5.2). Only for
        the generic "no or wrong data" code, whose message otherwise names nothing."""
        if self.code == NO_DATA and not self.message.rstrip().endswith(")"):
            self.message = f"{self.message} ({field})"
        return self

    def body(self) -> dict[str, Any]:
        if self.status == 404:
            # recorded: */find_failure.yml — PascalCase on 404s
            return {"ErrorInformation": {"Error": 1, "Message": self.message, "Code": self.code}}
        return {"ErrorInformation": {"error": 1, "message": self.message, "code": self.code}}

    def response(self) -> Response:
        return FortnoxJSONResponse(self.body(), status_code=self.status)


def invalid(code: int, *, value: object = "", detail: object = "") -> FortnoxError:
    """A 400 with the lowercase ErrorInformation body."""
    return FortnoxError(400, code, value=value, detail=detail)


def not_found(code: int) -> FortnoxError:
    """A 404 with the PascalCase ErrorInformation body."""
    return FortnoxError(404, code)


def unauthorized() -> Response:
    """The 401 every API call without a valid token gets (recorded: expired_token.yml)."""
    return FortnoxJSONResponse({"message": "unauthorized"}, status_code=401)


def too_many_requests() -> Response:
    """The 429 for an exceeded rate limit.

    The real body is not on record; the reference suggests a bare ``message`` like the 401. No
    ``Retry-After`` header either, because none was ever observed on Fortnox responses.
    """
    return FortnoxJSONResponse({"message": "Too Many Requests"}, status_code=429)
