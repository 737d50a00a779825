"""Fortnox customers as a :class:`~webcrm_fortnox.engine.ports.RecordSource`.

Fortnox lists customers with ten fields only (reference §5.1), so every changed customer is read
in full by number. Changes come from ``lastmodified`` (minute precision, Swedish local time,
re-read with an overlap by the client); the cursor is the instant the read *started*, so a
change made while reading is found again. When the service's change feed has announced every
change since such a read (``announced``), only the announced customers are read, and the cursor
stays where the last ``lastmodified`` read left it: the next one, the scheduled cycle's, reads
everything since, in case the feed missed a change.

A customer created from a webCRM organisation carries the organisation's id in
``ExternalReference`` (the idempotency key). Fortnox cannot search that field, so the adapter
keeps an index of the keys of every customer it has read, and brings it up to date by reading
the customers changed since it last looked; a cold index first looks back ``key_lookback``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from webcrm_fortnox.domain.customer_spec import ENTITY
from webcrm_fortnox.domain.fortnox_customer import (
    customer_from_fortnox,
    customer_key,
    customer_payload,
)
from webcrm_fortnox.engine.adapters.common import (
    Announced,
    blame_field,
    fortnox_changes,
    text_values,
)
from webcrm_fortnox.engine.ports import ChangeBatch, Fields, SourceRecord, System, utcnow
from webcrm_fortnox.errors import NotFound, ValidationError
from webcrm_fortnox.fortnox.models import Customer

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import TenantConfig
    from webcrm_fortnox.fortnox.client import FortnoxClient

#: How far back a cold key index looks for customers created from webCRM. Unresolved creates
#: are looked up on the next run, so this only has to outlast an outage of the service.
DEFAULT_KEY_LOOKBACK = timedelta(days=14)


class FortnoxCustomers:
    """Customers of one Fortnox company, in canonical form.

    Args:
        client: the company's Fortnox client.
        tenant: the tenant's configuration (customer-number ownership).
        now: the current time (tests pass the emulator's clock); cursors are taken from it.
        key_lookback: how far back a cold key index searches (see the module docstring).
        announced: every customer changed since the cursor's read, when the change feed
            vouches for that (:class:`~.common.Announced`); ``None`` reads by ``lastmodified``.
    """

    system: System = "fortnox"
    entity: str = ENTITY

    def __init__(
        self,
        client: FortnoxClient,
        tenant: TenantConfig,
        *,
        now: Callable[[], datetime] = utcnow,
        key_lookback: timedelta = DEFAULT_KEY_LOOKBACK,
        announced: Announced | None = None,
    ) -> None:
        self.client = client
        self.tenant = tenant
        self._now = now
        self.key_lookback = key_lookback
        self.announced = announced
        self._number_by_key: dict[str, str] = {}
        self._seen: set[str] = set()
        self._indexed_since: datetime | None = None

    def _record(self, customer: Customer) -> SourceRecord:
        data: dict[str, Any] = customer.model_dump(by_alias=True)
        record = SourceRecord(
            id=str(customer.customer_number),
            fields=customer_from_fortnox(data),
            key=customer_key(data),
        )
        self._seen.add(record.id)
        if record.key is not None:
            self._number_by_key[record.key] = record.id
        return record

    async def _full(self, number: str) -> SourceRecord | None:
        try:
            return self._record(await self.client.customers.get(number))
        except NotFound:
            # Listed a moment ago, gone now: it was deleted in between.
            return None

    async def _read(self, items: AsyncIterator[Any]) -> list[SourceRecord]:
        return await self._read_numbers([str(item.customer_number) async for item in items])

    async def _read_numbers(self, numbers: list[str]) -> list[SourceRecord]:
        records = []
        for number in dict.fromkeys(numbers):
            record = await self._full(number)
            if record is not None:
                records.append(record)
        return records

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Customers changed since ``cursor`` (every customer when it is ``None``); only the
        announced ones, with the cursor left as it is, when the change feed vouches for them."""
        return await fortnox_changes(
            cursor,
            self.announced,
            self._now,
            read_announced=lambda announced: self._read_numbers(sorted(announced.customers)),
            read_listed=self._listed,
        )

    async def _listed(self, since: datetime | None, started: datetime) -> list[SourceRecord]:
        if since is not None:
            return await self._read(self.client.customers.changed_since(since))
        records = await self._read(self.client.customers.iterate())
        self._indexed_since = started
        return records

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every customer, read in full."""
        started = self._now()
        async for item in self.client.customers.iterate():
            record = await self._full(str(item.customer_number))
            if record is not None:
                yield record
        self._indexed_since = started

    async def get(self, id: str) -> SourceRecord | None:
        """The customer with this number, or ``None`` when there is none."""
        return await self._full(id)

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Create a customer carrying ``idempotency_key`` in ``ExternalReference``.

        The customer number is sent only when webCRM owns customer numbers; otherwise Fortnox
        assigns the next one.
        """
        values = text_values(fields)
        body = customer_payload(
            values,
            creating=True,
            send_customer_number=self.tenant.customer_number_owner == "webcrm",
            key=idempotency_key,
        )
        try:
            created = await self.client.customers.create(Customer.model_validate(body))
        except ValidationError as error:
            raise blame_field(error, values) from None
        return self._record(created)

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Send only ``changes`` (a partial PUT; blanks clear with ``API_BLANK``)."""
        values = {**text_values(current.fields), **text_values(changes)}
        body = customer_payload(values, creating=False, fields=list(changes))
        if not body:
            return await self._full(id) or current
        try:
            updated = await self.client.customers.update(id, Customer.model_validate(body))
        except ValidationError as error:
            raise blame_field(error, text_values(changes)) from None
        return self._record(updated)

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The customer created from the webCRM organisation ``idempotency_key``, if any."""
        number = self._number_by_key.get(idempotency_key)
        if number is None:
            await self._refresh_index()
            number = self._number_by_key.get(idempotency_key)
        if number is None:
            return None
        record = await self._full(number)
        if record is None or record.key != idempotency_key:
            self._number_by_key.pop(idempotency_key, None)
            return None
        return record

    async def _refresh_index(self) -> None:
        started = self._now()
        since = self._indexed_since or started - self.key_lookback
        async for item in self.client.customers.changed_since(since):
            number = str(item.customer_number)
            if number not in self._seen:
                await self._full(number)
        self._indexed_since = started
