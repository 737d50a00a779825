"""The mapping settings the domain reads, each named by what it needs.

The domain is below the configuration: it defines here what its mappings read, and the
configuration's models (:class:`~webcrm_fortnox.config.models.TenantConfig` and its tables)
provide it, without the domain knowing them. A test can pass any object of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol


class FieldTable(Protocol):
    """A table of canonical field → the webCRM field holding it (``[tenant.fields]``,
    ``[tenant.documents.fields]``)."""

    def mapping(self) -> dict[str, str]:
        """The fields mapped, by canonical name."""
        ...


class FieldPolicy(Protocol):
    """How one field syncs: its direction, its conflict policy, whether a blank overwrites."""

    @property
    def direction(self) -> Literal["both", "to_fortnox", "to_webcrm"]: ...

    @property
    def conflict(self) -> str: ...

    @property
    def blank_overwrites(self) -> bool: ...


class Language(Protocol):
    """The language webCRM writes country names in."""

    @property
    def country_language(self) -> str: ...


class CustomerTypes(Protocol):
    """Which webCRM organisation Types sync, which of them are private persons, and which a
    new organisation gets."""

    @property
    def customer_types(self) -> Sequence[str]: ...

    @property
    def private_customer_types(self) -> Sequence[str]: ...

    @property
    def company_type_for_new(self) -> str: ...

    @property
    def private_type_for_new(self) -> str | None: ...


class CustomerMapping(CustomerTypes, Protocol):
    """Everything the customer mappings read: the Types, the field table, the language of
    country names, who owns customer numbers, and each field's policy."""

    @property
    def fields(self) -> FieldTable: ...

    @property
    def webcrm(self) -> Language: ...

    @property
    def customer_number_owner(self) -> Literal["fortnox", "webcrm"]: ...

    def policy(self, field: str) -> FieldPolicy:
        """The field's effective policy."""
        ...


class DocumentFields(Protocol):
    """``[tenant.documents]`` as the document mapping reads it."""

    @property
    def fields(self) -> FieldTable: ...


class DocumentMapping(Protocol):
    """What the document mapping reads: what a delivery becomes, and its field table."""

    @property
    def delivery_target(self) -> Literal["order", "invoice"]: ...

    @property
    def documents(self) -> DocumentFields: ...


class ArticleFields(Protocol):
    """``[tenant.articles]`` as the article mapping reads it: where an article lives in a
    product-register item."""

    @property
    def article_number_field(self) -> str: ...

    @property
    def name_field(self) -> str: ...

    @property
    def inactive_suffix(self) -> str: ...
