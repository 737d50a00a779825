"""Test helpers for the service: a browser that approves Fortnox's consent, connectors with keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.vault import KeySource


def browser(env: Systems, company: int | None = None) -> Callable[[str], Awaitable[None]]:
    """Opens the authorize address on the in-process Fortnox emulator, which approves at once,
    then follows its redirect to the loopback server over real HTTP, as a browser would."""

    async def open_url(url: str) -> None:
        parts = urlsplit(url)
        query = parts.query + (f"&tenant_id={company}" if company is not None else "")
        answer = await env.fortnox_api.get(f"{parts.path}?{query}")
        assert answer.status_code == 302, answer.text
        async with httpx.AsyncClient() as http:
            back = await http.get(answer.headers["location"])
        assert back.status_code == 200

    return open_url


def keyed_connector(env: Systems, key_file: Path) -> Connector:
    """A connector to ``env``'s emulators that keeps Fortnox tokens under ``key_file``."""
    return Connector(
        clock=env.connector.clock,
        sleep=env.connector.sleep,
        transports=env.connector.transports,
        keys=KeySource(path=key_file),
    )


def code_tenant(**overrides: Any) -> TenantConfig:
    """A tenant whose Fortnox access comes from ``connect`` (authorization code)."""
    fortnox = {"auth": "authorization-code", "tenant_id": None, **overrides.pop("fortnox", {})}
    return tenant(fortnox=fortnox, **overrides)
