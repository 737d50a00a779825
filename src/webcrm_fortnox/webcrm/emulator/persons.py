"""``/Persons``: the contacts of organisations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec
from webcrm_fortnox.webcrm.emulator.dto import PERSON, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS, telephone_search
from webcrm_fortnox.webcrm.emulator.routing import SystemDep, crud_router, paged
from webcrm_fortnox.webcrm.emulator.system import System


def require_organisation(system: System, organisation_id: int, field: str) -> None:
    """Refuse a link to an organisation that does not exist in this system."""
    if system.of(ORGANISATIONS).get(organisation_id) is None:
        raise bad_request(f"{field}: organisation {organisation_id} does not exist.")


class PersonRules(EntityRules):
    def derive(self, record: Record) -> None:
        names = (record["PersonFirstName"], record["PersonMiddleName"], record["PersonLastName"])
        record["PersonName"] = " ".join(n.strip() for n in names if n.strip())
        record["PersonTelephoneSearch"] = telephone_search(
            record["PersonDirectPhone"], record["PersonMobilePhone"]
        )

    def check(self, system: System, record: Record, previous: Record | None) -> None:
        # recorded: PersonDto.cs writes "-" when the last name is unknown, as webCRM requires one
        if not record["PersonLastName"].strip():
            raise bad_request("The PersonLastName field is required.")
        if previous is None:
            require_organisation(system, record["PersonOrganisationId"], "PersonOrganisationId")


PERSONS = EntityKind(
    name="Person",
    route="/Persons",
    dto=PERSON,
    id_field="PersonId",
    id_series="person",
    audit_prefix="Person",
    derived=("PersonName", "PersonTelephoneSearch", "PersonHistory"),
    # recorded: PersonDto.cs "We cannot change the organisation ID through the API"
    immutable=("PersonOrganisationId",),
    indexes=(IndexSpec("PersonOrganisationId"),),
    hooks=True,
    rules=PersonRules(),
)


def router() -> APIRouter:
    routes = crud_router(PERSONS)

    @routes.get("/Organisations/{id:int}/Persons")
    async def of_organisation(id: int, request: Request, system: SystemDep) -> Response:
        system.get(ORGANISATIONS, id)
        ids = system.of(PERSONS).index("PersonOrganisationId").ids(id)
        return paged(request, system, PERSONS, ids)

    @routes.get("/Persons/ByOrganisation/{id:int}")
    async def by_organisation(id: int, request: Request, system: SystemDep) -> Response:
        # newer than the 2019 specification; seen in 2024 clients (reference §5.2)
        ids = system.of(PERSONS).index("PersonOrganisationId").ids(id)
        return paged(request, system, PERSONS, ids)

    return routes
