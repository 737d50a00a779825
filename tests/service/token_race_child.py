"""One process of the token race (``test_token_race``): opens a tenant's clients from the state
store as ``run`` does, waits for the start signal, then calls Fortnox, which needs a refresh.

Run as ``python -m tests.service.token_race_child STATE_URL KEY_FILE API_URL AUTH_URL FOLDER N``;
prints ``{"access_token": …}`` and exits 0, or prints the error and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from webcrm_fortnox.config.tenant_tables import validate_tenant
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

TENANT = "acme"


async def race(url: str, key: str, api: str, auth: str, folder: Path, n: str) -> str:
    tenant = validate_tenant(
        {
            "name": TENANT,
            "customer_types": ["Customer"],
            "allow_insecure_http": True,
            "webcrm": {"api_token": "not-used-here"},
            "fortnox": {
                "auth": "authorization-code",
                "base_url": api,
                "auth_url": auth,
                "client_id": "emulator",
                "client_secret": "emulator-secret",
            },
        },
        environ={},
    )
    db = await StateDatabase.open(url)
    try:
        connector = Connector(keys=KeySource(path=Path(key)))
        vault = connector.vault(ServiceStore(db))
        async with connector.clients(tenant, vault=vault) as clients:
            (folder / f"ready-{n}").touch()
            deadline = time.monotonic() + 30
            while not (folder / "go").exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("no start signal")
                await asyncio.sleep(0.005)
            await clients.fortnox.company_information()
            assert clients.fortnox_auth is not None
            return await clients.fortnox_auth.access_token()
    finally:
        await db.close()


def main() -> None:
    url, key, api, auth, folder, n = sys.argv[1:]
    try:
        token = asyncio.run(race(url, key, api, auth, Path(folder), n))
    except Exception as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        sys.exit(1)
    print(json.dumps({"access_token": token}))


if __name__ == "__main__":
    main()
