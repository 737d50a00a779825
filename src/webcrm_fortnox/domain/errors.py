"""Errors of the mapping between canonical records and a system's own form."""

from __future__ import annotations

from webcrm_fortnox.errors import ValidationError


class MappingError(ValidationError):
    """A canonical value that cannot be written to a system in its own form.

    It is a :class:`~webcrm_fortnox.errors.ValidationError` because, like a vendor's
    rejection, sending the record unchanged can never succeed: the engine records it against the
    record and carries on with the others.
    """

    def __init__(self, explanation: str, *, system: str, field: str) -> None:
        super().__init__(explanation, system=system, field=field)
