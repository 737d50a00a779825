"""webCRM organisations as a :class:`~webcrm_fortnox.engine.ports.RecordSource` of customers.

Every organisation is read (the engine must see one whose Type leaves the configured set), and
marked eligible only when its Type is a customer type. Changes come from ``/Queries`` on
``OrganisationUpdatedAt`` with an overlap, read by :mod:`~.webcrm_feed` on webCRM's own clock, so
the two machines' clocks never have to agree.

An organisation created from a Fortnox customer carries that customer's number in the
configured customer-number field, which is also its idempotency key: webCRM can look it up
through ``/Queries``, and that field can be flagged unique in webCRM.

The field setup (``/FieldsMetadata/Organisation``) is read once, before the first mapping, for
the dropdown options (a setup found complete is kept by the client for an hour);
:meth:`WebcrmOrganisations.check_setup` reports what it lacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from webcrm_fortnox.domain.customer_spec import ENTITY
from webcrm_fortnox.domain.types import is_synced_type, type_key
from webcrm_fortnox.domain.webcrm_fields import TYPE_FIELD
from webcrm_fortnox.domain.webcrm_organisation import (
    organisation_payload,
    organisation_to_customer,
)
from webcrm_fortnox.domain.webcrm_setup import SetupProblem, check_setup, dropdowns, type_options
from webcrm_fortnox.engine.adapters.common import text_values
from webcrm_fortnox.engine.adapters.webcrm_feed import read_changes
from webcrm_fortnox.engine.ports import ChangeBatch, Fields, SourceRecord, System
from webcrm_fortnox.errors import NotFound
from webcrm_fortnox.webcrm.models import ORGANISATION, Organisation
from webcrm_fortnox.webcrm.timing import SETUP_MAX_AGE

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import TenantConfig
    from webcrm_fortnox.webcrm.client import WebcrmClient


class WebcrmOrganisations:
    """Organisations of one webCRM system, as canonical customers.

    Args:
        client: the system's webCRM client.
        tenant: the tenant's configuration (field table, Type values).
    """

    system: System = "webcrm"
    entity: str = ENTITY

    def __init__(self, client: WebcrmClient, tenant: TenantConfig) -> None:
        self.client = client
        self.tenant = tenant
        self.number_field = tenant.fields.customer_number
        self._metadata: list[dict[str, Any]] | None = None
        self._dropdowns: dict[str, list[str]] = {}
        self._type_options: list[str] = []

    async def _setup(self) -> list[dict[str, Any]]:
        if self._metadata is None:
            rows = await self.client.fields_metadata("Organisation", max_age=SETUP_MAX_AGE)
            self._metadata = [row.model_dump(mode="json", by_alias=True) for row in rows]
            self._dropdowns = dropdowns(self.tenant, self._metadata)
            self._type_options = type_options(self._metadata)
        return self._metadata

    async def check_setup(self) -> list[SetupProblem]:
        """What webCRM's field setup lacks for this configuration (empty when all is in place).

        Each problem says which custom field to create, or which Type option to add.
        """
        problems = check_setup(self.tenant, await self._setup())
        if problems:
            self.client.forget_setup()  # read afresh next run: it may be being fixed
        return problems

    def _record(self, organisation: Organisation) -> SourceRecord:
        data = organisation.model_dump(mode="json", by_alias=True)
        fields = organisation_to_customer(data, self.tenant, self._dropdowns)
        eligible = is_synced_type(organisation.type, self.tenant)
        reason = None
        if not eligible:
            shown = organisation.type or "none"
            reason = f"its Type ({shown}) is not one of the customer types that sync"
        return SourceRecord(
            id=str(organisation.id),
            fields=fields,
            modified_at=organisation.updated_at,
            eligible=eligible,
            excluded_reason=reason,
            key=fields.get("customer_number"),
        )

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Organisations updated since ``cursor`` (every organisation when it is ``None``)."""
        await self._setup()
        read = await read_changes(
            self.client,
            cursor,
            self.client.organisations,
            lambda since: self.client.changed_since(ORGANISATION, since),
        )
        records = [self._record(o) for o in read.rows]
        return ChangeBatch(records=records, next_cursor=read.next_cursor)

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every organisation, eligible or not."""
        await self._setup()
        async for organisation in self.client.organisations():
            yield self._record(organisation)

    async def get(self, id: str) -> SourceRecord | None:
        """The organisation with this id, or ``None`` when there is none."""
        await self._setup()
        try:
            return self._record(await self.client.get_organisation(int(id)))
        except NotFound:
            return None

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Create an organisation with the Type for new customers and the key in its number field.

        The key is the Fortnox customer number, so the organisation carries the number whichever
        system owns numbers, and a lost answer is resolved by looking that field up.
        """
        await self._setup()
        values = {**text_values(fields), "customer_number": idempotency_key}
        body = self._body(values, None, values)
        new_id = await self.client.create_organisation(body, unique_field=self.number_field)
        return self._record(await self.client.get_organisation(new_id))

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Write ``changes`` (one PUT of those fields; webCRM keeps the others).

        The record returned is ``current`` with the changes laid over it: it is not read back,
        since the next change read lists the organisation again anyway.
        """
        await self._setup()
        current_type = None
        if "customer_type" in changes:
            # The Type is kept when it already says the right kind, so it must be read.
            current_type = (await self.client.get_organisation(int(id))).type or ""
        values = {**text_values(current.fields), **text_values(changes)}
        body = self._body(values, current_type, changes)
        if body:
            await self.client.update_organisation(int(id), body)
        fields = {**current.fields, **changes}
        return SourceRecord(
            id=id,
            fields=fields,
            modified_at=current.modified_at,
            eligible=current.eligible,
            excluded_reason=current.excluded_reason,
            key=text_values(fields).get("customer_number"),
        )

    def _body(
        self, values: Mapping[str, str | None], current_type: str | None, fields: Iterable[str]
    ) -> dict[str, Any]:
        body = organisation_payload(
            values,
            self.tenant,
            fields=list(fields),
            current_type=current_type,
            dropdowns=self._dropdowns,
        )
        if TYPE_FIELD in body:
            body[TYPE_FIELD] = self._type_option(body[TYPE_FIELD])
        return body

    def _type_option(self, value: str) -> str:
        # A dropdown is set with its full "NN: label" string (recorded in webCRM's ERP
        # integration), so a configured "Customer" is written as the option webCRM lists.
        for option in self._type_options:
            if type_key(option) == type_key(value):
                return option
        return value

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The organisation whose customer-number field holds ``idempotency_key``, if any."""
        await self._setup()
        found = await self.client.find_organisations(self.number_field, idempotency_key)
        if not found:
            return None
        return self._record(min(found, key=lambda organisation: organisation.id))
