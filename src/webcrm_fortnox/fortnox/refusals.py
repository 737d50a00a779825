"""Which part of a document a Fortnox refusal is about, told from its code and message alone.

Kept apart from :mod:`webcrm_fortnox.fortnox.classify` (which reads HTTP responses), so that the
document adapter can tell without importing an HTTP library.
"""

from __future__ import annotations

#: Codes of refusals about a document's rows (their articles, descriptions, housework, VAT),
#: which name no field; and the start of such messages whose code is a generic one.
ROW_CODES = frozenset({2001302, 2002980, 2003977, 2004021, 2004167})
ROW_MESSAGES = ("kunde inte hämta/hitta moms",)


def about_rows(code: int | str | None, message: str | None) -> bool:
    """Whether a refusal is about a document's rows rather than its header."""
    if code in ROW_CODES:
        return True
    lowered = (message or "").strip().casefold()
    return any(lowered.startswith(start) for start in ROW_MESSAGES)
