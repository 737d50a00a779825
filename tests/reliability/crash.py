"""The crash test: ``webcrm-fortnox sync --once`` killed with SIGKILL at random moments.

Both emulators run as processes over loopback; the sync runs as a process too, with a
configuration file and a SQLite state store as a user would have them. The initial import holds
organisations made in webCRM and customers made in Fortnox, Fortnox articles, deliveries with
quotation lines made in webCRM and orders and invoices with rows made in Fortnox, so documents
flow both ways (:mod:`tests.reliability.crash_documents`). The sync is killed after a random
delay (most land mid-request or between requests; some during a state commit) and started
again, people editing both systems in between, until the wanted number of kills is reached;
then it is run to completion. At the end: no duplicate in either system (customers by name and
key, documents by idempotency key), every eligible record and document linked exactly once,
both sides equal on every synced field and on the lines, every edit present, no create of
unknown outcome left, and one more run writes nothing.

The CI form is ``tests/reliability/test_crash.py`` (small data, a few kills); the full form is
``scripts/crash_test.py`` (at least 1,000 organisations and 30 kills).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import tenant, write_tenant_config, writes_in
from tests.reliability.checks import duplicates, problems, read_world
from tests.reliability.crash_documents import (
    Paperwork,
    document_duplicates,
    document_problems,
    read_documents,
)
from tests.support.servers import cli_server
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.domain.article import ENTITY as ARTICLE
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.domain.document import ENTITY as DOCUMENT
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.transport.limiters import LimiterRegistry
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

#: webCRM Types given to organisations: most sync, some (prospects) must be left alone.
TYPES = ("Customer", "Customer", "Customer", "Private Customer", "Prospect")
ROOT = Path(__file__).resolve().parents[2]


def all_create_routes(config: TenantConfig) -> list[str]:
    """The creates a sync of ``config`` makes, documents first: ``fortnox /3/orders``, …

    A kill timed from one lands between the record being made and the sync recording it, the
    moment idempotency keys exist for.
    """
    target = "/3/orders" if config.delivery_target == "order" else "/3/invoices"
    return [
        f"fortnox {target}",
        "webcrm /Deliveries",
        "fortnox /3/customers",
        "webcrm /Organisations",
    ]


def _at_create(kill: int, share: float) -> bool:
    """Whether kill number ``kill`` (from 0) is one timed from a create: ``share`` of them,
    spread evenly."""
    return math.floor((kill + 1) * share) > math.floor(kill * share)


ENTITIES = (CUSTOMER, ARTICLE, DOCUMENT)


@dataclass
class CrashFigures:
    """What a crash run did and found."""

    organisations: int = 0
    customers: int = 0
    articles: int = 0
    deliveries: int = 0
    #: of the deliveries, those under organisations whose Type does not sync
    excluded_deliveries: int = 0
    fortnox_documents: int = 0
    rate_limits: bool = True
    kills: int = 0
    #: kills that landed after the killed process had written something to a system
    kills_mid_work: int = 0
    #: kills delivered as soon as a create reached a system, by system and route
    kills_at_create: dict[str, int] = field(default_factory=dict)
    #: kills after which the state store held a create of unknown outcome
    kills_leaving_a_pending_create: int = 0
    edits: int = 0
    document_edits: int = 0
    starts: int = 0
    exits: dict[int, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    links: int = 0
    document_links: int = 0
    #: records on a side more often than people made them (customers, documents)
    duplicates: tuple[int, int] = (0, 0)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> str:
        return "\n".join(
            [
                f"organisations created in webCRM   {self.organisations}",
                f"customers created in Fortnox      {self.customers}",
                f"articles created in Fortnox       {self.articles}",
                f"deliveries created in webCRM      {self.deliveries}",
                f"  of which do not sync (prospect) {self.excluded_deliveries}",
                f"orders/invoices made in Fortnox   {self.fortnox_documents}",
                f"client rate limits                {'vendors' if self.rate_limits else 'none'}",
                f"edits between runs                {self.edits} customers, "
                f"{self.document_edits} documents",
                f"sync processes started            {self.starts}",
                f"SIGKILLs                          {self.kills}",
                f"  of which after it had written   {self.kills_mid_work}",
                f"  at once after a create          {sum(self.kills_at_create.values())} "
                f"{self.kills_at_create}",
                f"  leaving a create pending        {self.kills_leaving_a_pending_create}",
                f"exit statuses of unkilled runs    {self.exits}",
                f"data-changing requests            {self.writes}",
                f"links in the state store          {self.links} customers, "
                f"{self.document_links} documents",
                f"duplicates                        {self.duplicates[0]} customers, "
                f"{self.duplicates[1]} documents",
                f"problems found                    {len(self.problems)}",
                *[f"  {problem}" for problem in self.problems[:50]],
                f"wall time                         {self.seconds:.1f} s",
            ]
        )


def unlimited_connector() -> Connector:
    """A connector whose clients ignore Fortnox's 25-per-5-s limit.

    For arranging and checking data only, against emulators started with ``--no-rate-limit``:
    the sync under test runs as its own process with the real limits.
    """
    connector = Connector()
    connector.fortnox_limiters = LimiterRegistry(1_000_000, 1.0)
    connector.webcrm_limiters = LimiterRegistry(1_000_000, 1.0)
    return connector


def _fresh_tenant(fortnox: str, webcrm: str) -> TenantConfig:
    return tenant(
        name="crash",
        # A killed process's last request has landed (or never will) by the time the next one
        # starts: its lookups need not give it the five minutes a timed-out request gets.
        unanswered_create_wait_seconds=2,
        webcrm={"base_url": webcrm, "api_token": DEFAULT_API_TOKEN},
        fortnox={"base_url": fortnox, "auth_url": fortnox, "ws_url": "ws://127.0.0.1:1/topics-v1"},
    )


class People:
    """People working in both systems between runs; remembers what each record must say."""

    def __init__(self, config: TenantConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.expected: dict[str, dict[str, Any]] = {}
        self.organisations: dict[str, int] = {}
        self.prospects: set[int] = set()
        self.customers: dict[str, str] = {}
        self.edits = 0
        self.paperwork = Paperwork(config, rng)

    async def create(
        self,
        organisations: int,
        customers: int,
        *,
        deliveries: int = 0,
        fortnox_documents: int = 0,
        articles: bool = False,
    ) -> None:
        """Make records in both systems.

        Args:
            organisations: in webCRM, of random Types (a fifth prospects, which do not sync).
            customers: in Fortnox.
            deliveries: with lines, in webCRM, under organisations whose Type syncs; one more
                in twenty (at least one) goes under a prospect (it must not sync).
            fortnox_documents: orders and invoices with rows, in Fortnox, for its customers.
            articles: also make the Fortnox articles lines name.
        """
        async with unlimited_connector().clients(self.config) as clients:
            for _ in range(organisations):
                i = len(self.organisations)
                name, kind = f"Organisation {i:05d} AB", self.rng.choice(TYPES)
                self.organisations[name] = await clients.webcrm.create_organisation(
                    {"OrganisationName": name, "OrganisationType": kind,
                     "OrganisationTelephone": f"08-{i:06d}", "OrganisationCity": "Lund"}
                )  # fmt: skip
                if kind != "Prospect":
                    self.expected[name] = {"name": name, "phone": f"08-{i:06d}", "city": "Lund"}
                else:
                    self.prospects.add(self.organisations[name])
            for _ in range(customers):
                i = len(self.customers)
                name = f"Kund {i:05d} AB"
                created = await clients.fortnox.customers.create(
                    Customer(name=name, city="Umeå", phone1=f"090-{i:06d}")
                )
                self.customers[name] = str(created.customer_number)
                self.expected[name] = {"name": name, "phone": f"090-{i:06d}", "city": "Umeå"}
            if articles:
                await self.paperwork.create_articles(clients)
            eligible = sorted(set(self.organisations.values()) - self.prospects)
            if eligible:
                for _ in range(deliveries):
                    organisation = self.rng.choice(eligible)
                    await self.paperwork.create_delivery(clients, organisation, eligible=True)
            if self.prospects and deliveries:
                for _ in range(max(1, deliveries // 20)):
                    organisation = self.rng.choice(sorted(self.prospects))
                    await self.paperwork.create_delivery(clients, organisation, eligible=False)
            if self.customers:
                for _ in range(fortnox_documents):
                    customer = self.rng.choice(sorted(self.customers.values()))
                    await self.paperwork.create_fortnox_document(clients, customer)

    async def edit(self, count: int) -> None:
        """Change the phone of ``count`` random records and ``count`` random documents, each
        in the system it was made in."""
        async with unlimited_connector().clients(self.config) as clients:
            await self.paperwork.edit(clients, count)
            for name in self.rng.sample(sorted(self.expected), min(count, len(self.expected))):
                self.edits += 1
                phone = f"070-{self.edits:06d}"
                if name in self.organisations:
                    await clients.webcrm.update_organisation(
                        self.organisations[name], {"OrganisationTelephone": phone}
                    )
                else:
                    await clients.fortnox.customers.update(
                        self.customers[name], Customer(phone1=phone)
                    )
                self.expected[name]["phone"] = phone


async def _writes(config: TenantConfig) -> dict[str, int]:
    async with (
        httpx.AsyncClient(base_url=config.fortnox.base_url) as fortnox,
        httpx.AsyncClient(base_url=config.webcrm.base_url) as webcrm,
    ):
        return {"fortnox": await writes_in(fortnox), "webcrm": await writes_in(webcrm)}


async def _reset_stats(config: TenantConfig) -> None:
    for base in (config.fortnox.base_url, config.webcrm.base_url):
        async with httpx.AsyncClient(base_url=base) as api:
            await api.delete("/_emulator/stats")


async def _set_latency(config: TenantConfig, latency_ms: float) -> None:
    for base in (config.fortnox.base_url, config.webcrm.base_url):
        async with httpx.AsyncClient(base_url=base) as api:
            response = await api.put("/_emulator/faults", json={"latency_ms": latency_ms})
            response.raise_for_status()


async def _verify(
    config: TenantConfig, state_url: str, people: People, figures: CrashFigures
) -> None:
    """Count links and duplicates into ``figures`` and add every problem found."""
    db = await StateDatabase.open(state_url)
    try:
        state = db.tenant(config.name)
        async with unlimited_connector().clients(config) as clients:
            world = await read_world(config, clients, state)
            documents = await read_documents(config, clients, state)
        found = problems(world, config, people.expected)
        found += document_problems(documents, config, people.paperwork)
        for entity in ENTITIES:
            pending = await state.pending_intents(entity)
            found += [f"{entity} create of unknown outcome left: {i}" for i in pending]
        found += [f"open error: {error.reason}" for error in await state.open_errors()]
        figures.links, figures.document_links = len(world.links), len(documents.links)
        figures.duplicates = (
            sum(len(names) for names in duplicates(world).values()),
            len(document_duplicates(documents, people.paperwork)),
        )
        figures.problems += found
    finally:
        await db.close()


async def _created(api: httpx.AsyncClient, path: str) -> int:
    """Records created so far through ``path`` on the emulator ``api`` talks to."""
    rows = (await api.get("/_emulator/stats")).json()["requests"]
    return sum(
        row["count"]
        for row in rows
        if row["method"] == "POST" and row["route"] == path and row["status"] < 300
    )


async def _await_a_create(
    config: TenantConfig, process: subprocess.Popen[bytes], route: str, limit: float
) -> bool:
    """Whether ``process`` made a create on ``route`` (``fortnox /3/orders``); returns as soon
    as the emulator has carried it out (false: the process ended first, or ``limit`` s passed).

    The sync records a create's outcome only after writing back what the target assigned, a
    few requests later, so a kill right after this returns usually leaves the create pending.
    """
    system, path = route.split(" ", 1)
    base = config.fortnox.base_url if system == "fortnox" else config.webcrm.base_url
    async with httpx.AsyncClient(base_url=base) as api:
        before = await _created(api, path)
        deadline = time.monotonic() + limit
        while process.poll() is None and time.monotonic() < deadline:
            if await _created(api, path) > before:
                return True
    return False


async def _pending_creates(state_url: str, tenant: str) -> int:
    db = await StateDatabase.open(state_url)
    try:
        state = db.tenant(tenant)
        return sum([len(await state.pending_intents(entity)) for entity in ENTITIES])
    finally:
        await db.close()


def _wait_for_a_write(
    config: TenantConfig, before: dict[str, int], process: subprocess.Popen[bytes], limit: float
) -> None:
    """Return once ``process`` has written to a system (or ended, or ``limit`` s passed)."""
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline:
        if asyncio.run(_writes(config)) != before:
            return
        time.sleep(0.02)


def _sync_process(config_file: Path, log: Path, *, rate_limits: bool) -> subprocess.Popen[bytes]:
    """``webcrm-fortnox sync --once`` as a process of its own.

    Without ``rate_limits`` it is the same command with clients that allow themselves any
    rate (:mod:`tests.reliability.unlimited_cli`).
    """
    program = "webcrm_fortnox" if rate_limits else "tests.reliability.unlimited_cli"
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT)) if p)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", program, "sync", "--once", "--config", str(config_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200", "PYTHONPATH": path},
        )


def crash_run(
    folder: Path,
    *,
    organisations: int,
    customers: int,
    deliveries: int = 0,
    fortnox_documents: int | None = None,
    kills: int,
    max_delay: float,
    mid_write_share: float = 0.7,
    at_create_share: float = 0.3,
    create_routes: Sequence[str] | None = None,
    at_create_latency_ms: float = 25.0,
    latency_ms: float = 2.0,
    seed: int = 0,
    run_timeout: float = 600.0,
    rate_limits: bool = True,
) -> CrashFigures:
    """Run the whole crash test in ``folder`` and return its figures (``problems`` empty: pass).

    Args:
        folder: where the configuration, state store and sync logs go.
        organisations: organisations made in webCRM before the first sync (a fifth are prospects,
            which must not sync).
        customers: customers made in Fortnox before the first sync.
        deliveries: deliveries with lines made in webCRM under organisations whose Type syncs
            before the first sync (and one in twenty more, at least one, under prospects, which
            must not sync); with any, Fortnox articles for the lines to name are made too.
        fortnox_documents: orders and invoices with rows made in Fortnox for its customers
            before the first sync (default: a fifth of ``deliveries``).
        kills: SIGKILLs to deliver before the sync may finish.
        max_delay: a kill comes a uniform random 0.2 … ``max_delay`` seconds after a start
            (landing anywhere, start-up and reading included), or after its first write.
        mid_write_share: of the other kills, the share timed from the first write rather than
            the start.
        at_create_share: the share of kills (spread evenly) delivered at once after a create
            reached a system, in the moment between a record being made and the sync recording
            it: a Fortnox order (or invoice), a webCRM delivery, a Fortnox customer, a webCRM
            organisation, in turn.
        create_routes: the creates those kills are timed from (default: every one of
            :func:`all_create_routes`).
        at_create_latency_ms: ``latency_ms`` in the runs those kills interrupt, so the kill
            comes while the sync still writes back what the target assigned, before it records
            the create's outcome.
        latency_ms: added by both emulators to every API request, to widen the windows
            between a request being carried out and its answer being handled.
        seed: for the random delays and Types.
        run_timeout: the longest one uninterrupted sync may take.
        rate_limits: the sync keeps the vendors' rate limits (Fortnox's 25 requests per 5 s,
            webCRM's 250 a minute), as in production; without, it runs as fast as the
            emulators answer (they never enforce the limits here).
    """
    rng = random.Random(seed)
    routes_wanted = create_routes
    if fortnox_documents is None:
        fortnox_documents = deliveries // 5
    figures = CrashFigures(rate_limits=rate_limits)
    started = time.monotonic()
    with ExitStack() as stack:
        no_limit = ("--seed", "empty", "--no-rate-limit")
        fortnox = stack.enter_context(cli_server("emulate", "fortnox", *no_limit))
        webcrm = stack.enter_context(cli_server("emulate", "webcrm", *no_limit))
        config = _fresh_tenant(fortnox, webcrm)
        state_url = f"sqlite:///{folder / 'state.db'}"
        config_file = write_tenant_config(folder / "webcrm-fortnox.toml", state_url, config)
        log = folder / "sync.log"
        people = People(config, rng)
        routes = list(all_create_routes(config) if routes_wanted is None else routes_wanted)
        asyncio.run(
            people.create(
                organisations,
                customers,
                deliveries=deliveries,
                fortnox_documents=fortnox_documents,
                articles=bool(deliveries or fortnox_documents),
            )
        )
        asyncio.run(_reset_stats(config))
        asyncio.run(_set_latency(config, latency_ms))
        while True:
            killing = figures.kills < kills
            at_create = killing and _at_create(figures.kills, at_create_share)
            if at_create:
                # Slower answers: the sync is still writing back what the target assigned
                # when the create is seen and the kill comes.
                asyncio.run(_set_latency(config, at_create_latency_ms))
            before = asyncio.run(_writes(config))
            process = _sync_process(config_file, log, rate_limits=rate_limits)
            figures.starts += 1
            created = None
            try:
                delay = rng.uniform(0.2, max_delay)
                if at_create:
                    # Each kind of create in turn; a run that ends before making one is
                    # followed by new records, so the next run makes it.
                    landed = sum(figures.kills_at_create.values())
                    route = routes[landed % len(routes)]
                    if asyncio.run(_await_a_create(config, process, route, run_timeout)):
                        created, delay = route, 0.0
                elif killing and rng.random() < mid_write_share:
                    _wait_for_a_write(config, before, process, run_timeout)
                code = process.wait(delay if killing else run_timeout)
            except subprocess.TimeoutExpired:
                if not killing:
                    process.kill()
                    process.wait()
                    figures.problems.append(f"a sync ran longer than {run_timeout} s")
                    break
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                asyncio.run(_set_latency(config, latency_ms))
                figures.kills += 1
                if asyncio.run(_writes(config)) != before:
                    figures.kills_mid_work += 1
                if created is not None:
                    figures.kills_at_create[created] = figures.kills_at_create.get(created, 0) + 1
                if asyncio.run(_pending_creates(state_url, config.name)):
                    figures.kills_leaving_a_pending_create += 1
                # People edit between restarts too; those edits must survive the crashes.
                asyncio.run(people.edit(2))
                continue
            asyncio.run(_set_latency(config, latency_ms))
            figures.exits[code] = figures.exits.get(code, 0) + 1
            if code == 0 and not killing:
                break
            if code != 0:
                figures.problems.append(f"sync exited {code}; see {log}")
                break
            # It finished before the kill: people carry on working, so the next run has work.
            asyncio.run(people.edit(3))
            more = 1 if deliveries or fortnox_documents else 0
            asyncio.run(people.create(2, 1, deliveries=more, fortnox_documents=more))
        asyncio.run(_set_latency(config, 0))
        figures.writes = asyncio.run(_writes(config))
        paperwork = people.paperwork
        figures.organisations = len(people.organisations)
        figures.customers = len(people.customers)
        figures.articles = len(paperwork.articles)
        figures.deliveries = paperwork.deliveries
        figures.excluded_deliveries = sum(
            1 for d in paperwork.documents.values() if d.system == "webcrm" and not d.eligible
        )
        figures.fortnox_documents = paperwork.fortnox_documents
        figures.edits = people.edits
        figures.document_edits = paperwork.edits
        asyncio.run(_verify(config, state_url, people, figures))
        asyncio.run(_reset_stats(config))
        quiet = _sync_process(config_file, log, rate_limits=rate_limits)
        if quiet.wait(run_timeout) != 0:
            figures.problems.append(f"the run after the crashes exited {quiet.returncode}")
        quiet_writes = asyncio.run(_writes(config))
        if quiet_writes != {"fortnox": 0, "webcrm": 0}:
            figures.problems.append(f"the run after the crashes wrote {quiet_writes}")
    figures.seconds = time.monotonic() - started
    return figures
