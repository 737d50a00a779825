"""The administrator's page over a real SQLite state store, served on a free loopback port."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.harness import state_url
from webcrm_fortnox.config.models import AdminSettings
from webcrm_fortnox.engine.ports import ConflictReport, ErrorReport, Policy
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.web.security import hash_password
from webcrm_fortnox.web.serve import admin_site

PASSWORDS = {"anna": "anna-correct-horse", "rita": "rita-battery-staple"}
TOKEN = "admin-token-7f3a9c1e"
TOKEN_ENV = "WEBCRM_FORTNOX_TEST_ADMIN_TOKEN"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)  # Argon2 is slow on purpose: hash each once per run


def settings(**changes: object) -> AdminSettings:
    """Two operators (anna may act, rita only reads) and a token from the environment."""
    data: dict[str, object] = {
        "user": [
            {"name": "anna", "password_hash": _hash(PASSWORDS["anna"])},
            {"name": "rita", "password_hash": _hash(PASSWORDS["rita"]), "role": "read-only"},
        ],
        "token": f"env:{TOKEN_ENV}",
        **changes,
    }
    return AdminSettings.model_validate(data, context={"environ": {TOKEN_ENV: TOKEN}})


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Site:
    """A served page and its store."""

    url: str
    db: StateDatabase

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False)

    async def sign_in(
        self, client: httpx.AsyncClient, name: str = "anna", password: str | None = None
    ) -> httpx.Response:
        form = await client.get("/login")
        data = {"csrf": csrf_of(form.text), "name": name}
        data["password"] = PASSWORDS.get(name, "") if password is None else password
        return await client.post("/login", data=data)

    async def csrf(self, client: httpx.AsyncClient, page: str = "/fleet") -> str:
        return csrf_of((await client.get(page)).text)


async def seed(db: StateDatabase) -> None:
    """Tenant ``acme``: synced, one open error on an article, one open conflict on a customer's
    phone; tenant ``bolt``: failing; tenant ``cedar``: never run."""
    acme = db.tenant("acme")
    cycle = await acme.start_cycle("cycle", "incremental")
    await acme.finish_cycle(cycle, "completed", {"customer": {"synced": 3}}, None, {"state": "ok"})
    await acme.record_error(
        ErrorReport(
            entity="article",
            system="fortnox",
            record_id="A-100",
            reason="Fortnox refused the article: the description is too long",
            field="description",
            vendor_code="2000359",
            vendor_message="Description too long",
            name="Very long article",
        )
    )
    link = await acme.save_link("customer", "101", "7", {"phone": "08-1"})
    await acme.add_conflicts(
        "customer",
        link,
        [ConflictReport("phone", "08-111", "08-222", "08-1", Policy.MANUAL, None)],
    )
    bolt = db.tenant("bolt")
    cycle = await bolt.start_cycle("cycle", "incremental")
    await bolt.finish_cycle(
        cycle,
        "stopped",
        {},
        "webCRM did not answer",
        {"state": "failing", "reason": "webCRM is down"},
    )


@asynccontextmanager
async def site(
    tmp_path: Path,
    *,
    admin: AdminSettings | None = None,
    configured: list[str] | None = None,
    backend: str = "sqlite",
) -> AsyncIterator[Site]:
    """The page over a seeded store: a SQLite file in ``tmp_path``, or a PostgreSQL schema."""
    with state_url(backend, tmp_path) as url:
        db = await StateDatabase.open(url)
        try:
            await seed(db)
            names = ["acme", "bolt", "cedar"] if configured is None else configured
            async with admin_site(db, admin or settings(), configured=names) as address:
                yield Site(address, db)
        finally:
            await db.close()
