"""The behaviour every Fortnox resource shares, written once.

A :class:`Collection` is one resource (customers, articles, units, invoices, …): its fields, list
rules, 404 code, ``Location`` word and change-feed events. :func:`crud_routes` gives it the
standard endpoints:

* ``GET /3/{name}``: the list envelope with ``MetaInformation``;
* ``GET /3/{name}/{key}``: ``{"Single": {...}}`` or 404 with PascalCase ErrorInformation;
* ``POST /3/{name}``: 201 with ``Location: {word}`` (recorded: */save_new.yml);
* ``PUT /3/{name}/{key}``: a partial merge, 200 with the whole entity;
* ``DELETE /3/{name}/{key}``: 204 with no body.

A write is computed on a copy and stored only when every check passed, so a refused request
changes nothing. Each stored record keeps its modification time for ``lastmodified``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors, query, schema
from webcrm_fortnox.fortnox.emulator.api import Context, answer, read_entity, requires
from webcrm_fortnox.fortnox.emulator.schema import Spec
from webcrm_fortnox.fortnox.emulator.state import Tenant

Record = dict[str, Any]
# (tenant, the record being built, the parsed changes, creating?) → None; may raise FortnoxError
Prepare = Callable[[Tenant, Record, dict[str, Any], bool], None]
View = Callable[[Tenant, Record], Record]


def _no_prepare(tenant: Tenant, record: Record, changes: dict[str, Any], creating: bool) -> None:
    return None


def _same(tenant: Tenant, record: Record) -> Record:
    return record


@dataclass(frozen=True)
class Series:
    """A number series ("1", "2", …) whose next number is only used up by a stored record, so a
    refused request leaves the series as it was.

    Attributes:
        name: the counter's name in the tenant's storage.
        tables: tables whose keys are taken (a number found there is skipped).
    """

    name: str
    tables: tuple[str, ...]

    def peek(self, tenant: Tenant) -> str:
        number = tenant.emulator.kit.storage.peek_number(tenant.namespace, self.name)
        while any(str(number) in tenant.table(t) for t in self.tables):
            number += 1
        return str(number)

    def claim(self, tenant: Tenant, key: str) -> None:
        storage = tenant.emulator.kit.storage
        if key.isdigit() and int(key) >= storage.peek_number(tenant.namespace, self.name):
            tenant.table("_counters").put(self.name, {"next": int(key) + 1})


@dataclass
class Collection:
    """One resource of the API.

    Attributes:
        name: path segment and storage table (``customers``).
        single: envelope of one entity (``Customer``).
        plural: envelope of the list (``Customers``).
        spec: the entity's fields.
        item_spec: the fields of a list item.
        key: the identifying field (``CustomerNumber``, ``Code``).
        not_found: the 404 code.
        scope: the OAuth scope needed.
        rules: list-query rules.
        location: the bare word of the ``Location`` header on 201.
        topic: the change-feed topic, if any.
        event_names: (created, updated, deleted) event types.
        series: numbers new records when the client gives no key (None: the key is required).
        prepare: resource rules applied to each write after the generic merge.
        item_view: prepares a stored record for the list rendering.
        deletable: whether DELETE exists (not for documents).
    """

    name: str
    single: str
    plural: str
    spec: Spec
    item_spec: Spec
    key: str
    not_found: int
    scope: str
    rules: query.ListRules
    location: str
    topic: str | None = None
    event_names: tuple[str, str, str] | None = None
    series: Series | None = None
    prepare: Prepare = _no_prepare
    item_view: View = _same
    deletable: bool = True
    fields: dict[str, schema.Field] = field(init=False)

    def __post_init__(self) -> None:
        self.fields = schema.by_name(self.spec)

    # -- storage ---------------------------------------------------------------------------

    def table(self, tenant: Tenant) -> Any:
        return tenant.table(self.name)

    def find(self, tenant: Tenant, key: str) -> Record:
        """The stored record, or the resource's 404."""
        record: Record | None = self.table(tenant).get(key)
        if record is None:
            raise errors.not_found(self.not_found)
        return record

    def store(self, tenant: Tenant, record: Record, event: int | None) -> None:
        """Save a record with its modification time and announce it (0 created, 1 updated)."""
        record["_modified"] = tenant.now()
        self.table(tenant).put(str(record[self.key]), record)
        if event is not None and self.topic and self.event_names:
            tenant.publish(self.topic, self.event_names[event], str(record[self.key]))

    # -- rendering -------------------------------------------------------------------------

    def render(self, ctx: Context, record: Record) -> Record:
        return schema.render(self.spec, {**record, "@url": ctx.url(self.name, record[self.key])})

    def render_item(self, ctx: Context, record: Record) -> Record:
        view = self.item_view(ctx.tenant, record)
        return schema.render(self.item_spec, {**view, "@url": ctx.url(self.name, record[self.key])})

    def one(self, ctx: Context, record: Record, status: int = 200) -> Response:
        location = self.location if status == 201 else None
        return answer({self.single: self.render(ctx, record)}, status, location)

    def listing(self, ctx: Context, params: dict[str, str]) -> Response:
        page = query.select(
            self.table(ctx.tenant).values(), params, self.rules, ctx.tenant.today().isoformat()
        )
        items = [self.render_item(ctx, r) for r in page.items]
        return answer({"MetaInformation": page.meta(), self.plural: items})

    # -- writes ----------------------------------------------------------------------------

    def create(self, tenant: Tenant, payload: Any, *, announce: bool = True) -> Record:
        """Build, check and store a new record from a request's entity object.

        Args:
            tenant: the company.
            payload: the object inside the request's envelope.
            announce: publish the change event (seeding does not).
        """
        changes = schema.parse(self.spec, payload, fields=self.fields)
        record = schema.defaults(self.spec)
        schema.merge(record, changes, self.spec)
        if changes.get(self.key) is None:
            if self.series is None:
                raise errors.invalid(errors.NO_DATA)
            record[self.key] = self.series.peek(tenant)
        self.prepare(tenant, record, changes, True)
        if self.series is not None and changes.get(self.key) is None:
            self.series.claim(tenant, str(record[self.key]))
        self.store(tenant, record, 0 if announce else None)
        return record

    def update(self, tenant: Tenant, key: str, payload: Any) -> Record:
        """Merge a request's entity object into a stored record; the key never changes."""
        changes = schema.parse(self.spec, payload, fields=self.fields)
        changes.pop(self.key, None)
        record = copy.deepcopy(self.find(tenant, key))
        schema.merge(record, changes, self.spec)
        self.prepare(tenant, record, changes, False)
        self.store(tenant, record, 1)
        return record

    def delete(self, tenant: Tenant, key: str) -> None:
        self.find(tenant, key)
        self.table(tenant).delete(key)
        if self.topic and self.event_names:
            tenant.publish(self.topic, self.event_names[2], key)


def crud_routes(router: APIRouter, coll: Collection) -> None:
    """Add the standard endpoints of ``coll`` to ``router`` (mounted at ``/3``)."""
    auth = Depends(requires(coll.scope))
    base = f"/{coll.name}"

    @router.get(base, name=f"list {coll.name}")
    async def list_records(request: Request, ctx: Context = auth) -> Response:
        return coll.listing(ctx, dict(request.query_params))

    @router.get(base + "/{key}", name=f"get {coll.name}")
    async def get_record(key: str, ctx: Context = auth) -> Response:
        return coll.one(ctx, coll.find(ctx.tenant, key))

    @router.post(base, name=f"create {coll.name}")
    async def create_record(request: Request, ctx: Context = auth) -> Response:
        payload = await read_entity(request, coll.single)
        return coll.one(ctx, coll.create(ctx.tenant, payload), 201)

    @router.put(base + "/{key}", name=f"update {coll.name}")
    async def update_record(key: str, request: Request, ctx: Context = auth) -> Response:
        payload = await read_entity(request, coll.single)
        return coll.one(ctx, coll.update(ctx.tenant, key, payload))

    if coll.deletable:

        @router.delete(base + "/{key}", name=f"delete {coll.name}")
        async def delete_record(key: str, ctx: Context = auth) -> Response:
            coll.delete(ctx.tenant, key)
            return Response(status_code=204)
