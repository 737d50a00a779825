"""A day of work on both sides, synced while the systems misbehave, then checked.

People create and edit customers in both systems (with the faults off: people are not the
subject); each sync runs with the faults on. Afterwards the faults go off, one recovery cycle
runs (retry of stored errors, then an incremental sync, as the service does), and the checks
of :mod:`tests.reliability.checks` must all hold, and a further sync must write nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tests.e2e.harness import Systems, tenant
from tests.reliability.checks import World, problems, read_world
from tests.reliability.taps import Hook, Tap
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.store import StateDatabase

Toggle = Callable[[bool], Awaitable[None]]

#: Fortnox's ``lastmodified`` has minute precision: let a minute pass between rounds.
MINUTE = 61
#: How long a create that got no answer is given to land here (the product gives it minutes).
SETTLE = timedelta(seconds=1)


class Scenario:
    """Records on both sides with unique names, and the values people last gave them."""

    def __init__(
        self,
        env: Systems,
        db: StateDatabase,
        faults: Toggle,
        before: Hook | None = None,
        config: TenantConfig | None = None,
    ) -> None:
        self.env = env
        self.db = db
        self.config = config or tenant()
        self.faults = faults
        self.expected: dict[str, dict[str, Any]] = {}
        self.runs: list[TenantRun] = []
        #: the sync's own requests to each system pass through these
        self.taps: dict[str, Tap] = {}
        for system in ("fortnox", "webcrm"):
            inner = env.connector.transports[system]
            self.taps[system] = Tap(inner, before)
            env.connector.transports[system] = self.taps[system]

    async def add(self, round: int, count: int) -> None:
        """People create ``count`` organisations in webCRM and as many customers in Fortnox."""
        for i in range(count):
            name = f"W{round}-{i} AB"
            await self.env.organisation(
                OrganisationName=name, OrganisationTelephone=f"08-{round}{i}"
            )
            self.expected[name] = {"name": name, "phone": f"08-{round}{i}"}
            name = f"F{round}-{i} AB"
            await self.env.customer(Name=name, City=f"Lund {round}{i}")
            self.expected[name] = {"name": name, "city": f"Lund {round}{i}"}

    async def edit(self, round: int) -> None:
        """People edit records on both sides, including the far side of synced pairs."""
        world = await self.world()
        for index, name in enumerate(sorted(self.expected)):
            phone = f"070-{round}{index}"
            organisation = world.by_name("webcrm").get(name)
            customer = world.by_name("fortnox").get(name)
            if index % 2 and organisation is not None:
                await self.env.edit_organisation(organisation.id, OrganisationTelephone=phone)
            elif customer is not None:
                await self.env.edit_customer(customer.id, Phone1=phone)
            else:
                continue  # not synced yet and this side does not have it
            self.expected[name]["phone"] = phone

    async def sync(self, mode: Mode = Mode.INCREMENTAL, *, faulty: bool = True) -> TenantRun:
        """One run; with ``faulty``, the faults are on for exactly its duration."""
        self.env.clock.advance(MINUTE)
        if faulty:
            await self.faults(True)
        try:
            run = await self.env.sync(self.config, self.db, mode=mode, create_settle=SETTLE)
        finally:
            if faulty:
                await self.faults(False)
        self.runs.append(run)
        return run

    async def world(self) -> World:
        async with self.env.connector.clients(self.config) as clients:
            return await read_world(self.config, clients, self.db.tenant(self.config.name))

    async def play(self) -> None:
        """Two rounds of people's work, each synced under faults."""
        await self.add(0, 3)
        await self.sync()
        await self.edit(1)
        await self.add(1, 2)
        await self.sync()

    def endings(self) -> Counter[int | str]:
        """How the sync's requests to both systems ended: status, or ``"dropped"``."""
        return self.taps["fortnox"].endings + self.taps["webcrm"].endings

    async def recover_and_check(self) -> None:
        """Faults off: one recovery cycle, then every promise holds and nothing is left to do.

        It comes after a create that got no answer has had time to land (or not), as the next
        cycle does in life; before that, its lookup would not send it again.
        """
        self.env.clock.advance(SETTLE.total_seconds())  # the emulators' and the sync's clock
        await asyncio.sleep(SETTLE.total_seconds())  # real time, for emulators as processes
        await self.sync(Mode.RETRY, faulty=False)
        recovered = await self.sync(faulty=False)
        assert recovered.exit_code == 0, recovered.reason or [
            (o.action.kind, o.webcrm_id, o.fortnox_id, o.detail)
            for result in recovered.results
            for o in result.needing_attention
        ]
        assert problems(await self.world(), self.config, self.expected) == []
        await self.env.reset_stats()
        quiet = await self.sync(faulty=False)
        assert quiet.exit_code == 0
        assert await self.env.writes() == {"fortnox": 0, "webcrm": 0}
        state = self.db.tenant(self.config.name)
        assert await state.pending_intents("customer") == []
        assert await state.open_errors() == []
