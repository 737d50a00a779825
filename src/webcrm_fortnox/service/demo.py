"""``webcrm-fortnox demo``: the whole product on the bundled emulators, in one command.

It serves both emulators on free loopback ports (in this process), seeds them with a Nordic
company's data, writes a configuration and an SQLite state store into a folder, matches and
imports, then runs the service while simulated people edit both systems (one edit on both sides
at once becomes a conflict, one record is one Fortnox refuses) and measures how long each edit
takes to appear on the other side. It ends with a summary and what to try next.

The emulators run without their rate limits unless asked (``--rate-limits``): at Fortnox's 25
requests per 5 seconds the first import of a few hundred customers alone takes minutes.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.config import Config, TenantConfig, write_config
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.engine.apply import RecordOutcome
from webcrm_fortnox.engine.matching import MatchResult, Pair
from webcrm_fortnox.engine.ports import MatchVerdict
from webcrm_fortnox.fortnox.emulator import create_app as fortnox_app
from webcrm_fortnox.service.connections import Connector, TenantClients
from webcrm_fortnox.service.daemon import ServiceOptions, SyncService
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.job import WorkerSettings
from webcrm_fortnox.service.reports import refusal_line
from webcrm_fortnox.service.runner import SyncOptions, TenantRun, match_tenant, sync_tenant
from webcrm_fortnox.service.status import tenant_status
from webcrm_fortnox.service.tenants import open_state, run_tenant
from webcrm_fortnox.store import StateDatabase, TenantState
from webcrm_fortnox.webcrm.emulator import create_app as webcrm_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

CLIENT_ID = "emulator"
CLIENT_SECRET = "emulator-secret"
#: Give up waiting for one edit to arrive after this long (it is then reported as not arrived).
EDIT_PATIENCE = 20.0


@dataclass(frozen=True)
class DemoOptions:
    """How big and how long.

    Attributes:
        folder: where the configuration, state store and emulator data go (default: a new
            temporary folder).
        duration: seconds the service runs while people edit.
        organisations: webCRM organisations to seed.
        deliveries: webCRM deliveries (with lines) to seed.
        articles: Fortnox articles (with prices).
        customers: Fortnox customers that exist before the integration starts.
        invoices: Fortnox invoices (a third of them booked).
        orders: Fortnox orders.
        rate_limits: keep the vendors' rate limits in the emulators.
    """

    folder: Path | None = None
    duration: float = 30.0
    organisations: int = 300
    deliveries: int = 40
    articles: int = 36
    customers: int = 12
    invoices: int = 10
    orders: int = 6
    rate_limits: bool = False


#: The short variant (``demo --quick``), also what the test runs.
QUICK = DemoOptions(
    duration=6.0, organisations=60, deliveries=8, articles=12, customers=5, invoices=4, orders=2
)


@dataclass
class Latencies:
    """Measured propagation times, per direction."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    missed: int = 0

    def add(self, direction: str, value: float | None) -> None:
        if value is None:
            self.missed += 1
        else:
            self.seconds.setdefault(direction, []).append(value)


def _tenant(fortnox_url: str, webcrm_url: str) -> TenantConfig:
    ws = fortnox_url.replace("http://", "ws://") + "/topics-v1"
    data: dict[str, Any] = {
        "name": "demo",
        "customer_types": ["Customer", "Private Customer"],
        "private_customer_types": ["Private Customer"],
        "new_customer_type": "Customer",
        "customer_number_owner": "fortnox",
        "allow_insecure_http": True,
        "webcrm_poll_seconds": 2,
        "sync_interval_seconds": 360,
        "webcrm": {"base_url": webcrm_url, "api_token": DEFAULT_API_TOKEN},
        "fortnox": {
            "base_url": fortnox_url,
            "auth_url": fortnox_url,
            "ws_url": ws,
            "auth": "service-account",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant_id": 1,
        },
    }
    return TenantConfig.model_validate(data)


@asynccontextmanager
async def _emulators(
    folder: Path, options: DemoOptions, clock: EmulatorClock
) -> AsyncIterator[tuple[str, str]]:
    """Both emulators on free loopback ports, their data kept in ``folder``."""
    for name in ("fortnox.db", "webcrm.db"):
        (folder / name).unlink(missing_ok=True)  # a demo starts from its own seed every time
    limits = options.rate_limits
    apps = (
        fortnox_app(data=folder / "fortnox.db", seed="empty", rate_limit=limits, clock=clock),
        webcrm_app(data=folder / "webcrm.db", seed="empty", rate_limit=limits, clock=clock),
    )
    async with AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(serving(app, date_header=False)) for app in apps]
        yield urls[0], urls[1]


async def _seed(fortnox_url: str, webcrm_url: str, options: DemoOptions) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        answer = await http.post(
            f"{fortnox_url}/_emulator/seed",
            json={
                "seed": "demo",
                "customers": options.customers,
                "articles": options.articles,
                "orders": options.orders,
                "invoices": options.invoices,
            },
        )
        answer.raise_for_status()
        answer = await http.post(
            f"{webcrm_url}/_emulator/seed",
            json={
                "seed": "demo",
                "organisations": options.organisations,
                "deliveries": options.deliveries,
            },
        )
        answer.raise_for_status()
        for url in (fortnox_url, webcrm_url):
            await http.delete(f"{url}/_emulator/stats")


async def _api_calls(url: str) -> int:
    async with httpx.AsyncClient() as http:
        rows = (await http.get(f"{url}/_emulator/stats")).json()["requests"]
    return sum(row["count"] for row in rows if not row["route"].startswith("/_emulator"))


class Demo:
    """One demo run; :meth:`run` does it all and returns the exit status."""

    def __init__(self, console: Console, options: DemoOptions) -> None:
        self.console = console
        self.options = options
        self.folder = options.folder or Path(tempfile.mkdtemp(prefix="webcrm-fortnox-demo-"))
        self.latencies = Latencies()
        self.notes: list[str] = []
        self.clock = EmulatorClock()

    def say(self, text: str, style: str | None = None) -> None:
        import os

        if os.environ.get("DEMO_T"):
            text = f"[{time.monotonic() - self._t0:5.1f}] {text}"
        self.console.print(Text(text, style=style or ""))

    _t0 = time.monotonic()

    async def run(self) -> int:
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.say(f"webcrm-fortnox demo in {self.folder}", "bold")
        # One clock for the emulators and the service, so that the hour after the import can
        # pass in a moment (see _live).
        clock = self.clock
        async with _emulators(self.folder, self.options, clock) as (fortnox_url, webcrm_url):
            self.say(f"Fortnox emulator on {fortnox_url}, webCRM emulator on {webcrm_url}")
            await _seed(fortnox_url, webcrm_url, self.options)
            self.say(
                f"Seeded webCRM with {self.options.organisations} organisations (some of Types "
                f"that do not sync) and {self.options.deliveries} deliveries with lines; Fortnox "
                f"with {self.options.customers} customers, {self.options.articles} articles and "
                f"{self.options.invoices} invoices (some booked)."
            )
            tenant = _tenant(fortnox_url, webcrm_url)
            config_file = self._write_config(tenant)
            connector = self._connector(clock)
            async with open_state(self._state_url()) as db:
                await self._match(tenant, db, connector)
                await self._import(tenant, db, connector)
                # The service starts the next day, as it would in a company: Fortnox's minute-
                # precision change window no longer covers the whole import.
                clock.advance(24 * 3600)
                service_calls = await self._live(tenant, db, connector)
                status = await tenant_status(db, tenant, None)
            calls = {
                "webCRM": await _api_calls(webcrm_url),
                "Fortnox": await _api_calls(fortnox_url),
            }
        self._summary(status, calls, service_calls, time.monotonic() - started)
        self._next_steps(config_file, fortnox_url, webcrm_url)
        return 0

    def _connector(self, clock: EmulatorClock) -> Connector:
        if self.options.rate_limits:
            return Connector(clock=clock)
        # Without the emulators' limits the clients need not keep the vendors' limits either.
        return Connector(clock=clock, fortnox_rate=(10_000, 1.0), webcrm_rate=(10_000, 1.0))

    def _state_url(self) -> str:
        return f"sqlite:///{self.folder / 'state.db'}"

    def _write_config(self, tenant: TenantConfig) -> Path:
        (self.folder / "state.db").unlink(missing_ok=True)
        config = Config.model_validate(
            {"state": {"url": self._state_url()}, "tenant": [tenant.model_dump()]}
        )
        path = write_config(self.folder / "webcrm-fortnox.toml", config)
        self.say(f"Wrote {path}")
        return path

    async def _match(self, tenant: TenantConfig, db: StateDatabase, connector: Connector) -> None:
        found: list[MatchResult] = []

        async def accept(result: MatchResult) -> list[tuple[Pair, MatchVerdict]]:
            found.append(result)
            return [(p, MatchVerdict.ACCEPTED) for p in result.pairs if p.key != "decision"]

        async def task(config: TenantConfig, state: TenantState, c: TenantClients) -> TenantRun:
            return await match_tenant(config, state, c.webcrm, c.fortnox, accept, now=c.now)

        run = await run_tenant(tenant, db, connector, task)
        if run.stopped or not found:
            raise DemoError(f"match failed: {run.reason}")
        result = found[0]
        self.say(
            f"match: {len(result.pairs)} pairs accepted, {len(result.ambiguous)} ambiguous, "
            f"{len(result.webcrm_only)} only in webCRM, {len(result.fortnox_only)} only in Fortnox"
        )

    async def _import(self, tenant: TenantConfig, db: StateDatabase, connector: Connector) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            bars: dict[str, Any] = {}

            def advance(done: int, total: int, outcome: RecordOutcome) -> None:
                entity = outcome.action.entity
                if entity not in bars:
                    bars[entity] = progress.add_task(f"initial import: {entity}", total=total)
                progress.update(bars[entity], completed=done, total=total)

            async def task(config: TenantConfig, state: TenantState, c: TenantClients) -> TenantRun:
                options = SyncOptions(trigger="demo import", progress=advance, now=c.now)
                return await sync_tenant(config, state, c.webcrm, c.fortnox, options)

            run = await run_tenant(tenant, db, connector, task)
        if run.stopped:
            raise DemoError(f"the initial import stopped: {run.reason}")
        for result in run.results:
            shown = ", ".join(f"{n} {status}" for status, n in result.counts.items())
            self.say(f"initial import of {result.entity}s: {shown or 'nothing to do'}")

    async def _live(self, tenant: TenantConfig, db: StateDatabase, connector: Connector) -> int:
        """Run the service while people edit; returns the API calls the service made."""
        options = ServiceOptions(worker=WorkerSettings(debounce=0.2), metrics_port=None)
        service = SyncService([tenant], db, connector, options)
        task = asyncio.create_task(service.run())
        worker = service.workers[tenant.name]
        self.say(
            f"Running the service for {self.options.duration:.0f} s while people edit both "
            "systems ..."
        )
        try:
            await service.started.wait()
            # The people have their own connector: their requests never wait for the service's.
            people_connector = self._connector(self.clock)
            async with people_connector.clients(tenant) as people:
                await _until(lambda: _true(worker.syncs >= 1 and service.feeds[0].live), 20)
                users = People(people, db.tenant(tenant.name), self)
                await users.act(worker, time.monotonic() + self.options.duration)
        finally:
            service.stop()
            await task
        return int(
            sum(
                sample.value
                for metric in service.metrics.api_calls.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
        )

    def _summary(
        self, status: dict[str, Any], calls: dict[str, int], service_calls: int, seconds: float
    ) -> None:
        table = Table(title="Summary", title_justify="left")
        for column in ("Entity", "In sync", "Excluded", "Failing", "Open conflicts"):
            table.add_column(column, justify="left" if column == "Entity" else "right")
        for entity, counts in status["entities"].items():
            table.add_row(
                entity,
                *(str(counts[k]) for k in ("in_sync", "excluded", "failing", "open_conflicts")),
            )
        self.console.print(table)
        self.say(
            f"API calls: webCRM {calls['webCRM']}, Fortnox {calls['Fortnox']} (the emulators' "
            f"counts, simulated people included; the service itself made {service_calls} "
            "while running)"
        )
        for direction, values in sorted(self.latencies.seconds.items()):
            self.say(
                f"Propagation {direction}: median {statistics.median(values):.1f} s, "
                f"max {max(values):.1f} s over {len(values)} edit(s)"
            )
        if self.latencies.missed:
            self.say(f"{self.latencies.missed} edit(s) had not arrived within {EDIT_PATIENCE} s")
        for note in self.notes:
            self.say(note)
        self.say(f"Done in {seconds:.0f} s.", "bold")

    def _next_steps(self, config_file: Path, fortnox_url: str, webcrm_url: str) -> None:
        fortnox_port = fortnox_url.rsplit(":", 1)[1]
        webcrm_port = webcrm_url.rsplit(":", 1)[1]
        folder = self.folder
        self.say("What to try next:", "bold")
        for line in (
            f"  webcrm-fortnox status --config {config_file}",
            f"  webcrm-fortnox errors --config {config_file}",
            f"  webcrm-fortnox conflicts --config {config_file}",
            "  The emulators stopped with the demo; their data is kept. Serve them again on the "
            "same addresses, then run the service:",
            f"  webcrm-fortnox emulate fortnox --port {fortnox_port} --data {folder}/fortnox.db "
            "--no-rate-limit",
            f"  webcrm-fortnox emulate webcrm --port {webcrm_port} --data {folder}/webcrm.db "
            "--no-rate-limit",
            f"  webcrm-fortnox run --config {config_file}",
            f"  (Fortnox was on {fortnox_url}, webCRM on {webcrm_url}; the configuration is "
            f"{config_file})",
        ):
            self.say(line)


class DemoError(Exception):
    """The demo could not go on; ``str()`` says why."""


async def _true(value: bool) -> bool:
    return value


async def _until(check: Callable[[], Awaitable[bool]], patience: float) -> float | None:
    """Seconds until ``check`` holds, or ``None`` after ``patience`` seconds."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > patience:
            return None
        await asyncio.sleep(0.1)
    return time.monotonic() - start


class People:
    """Simulated users editing both systems through their APIs."""

    def __init__(self, clients: TenantClients, state: TenantState, demo: Demo) -> None:
        self.webcrm = clients.webcrm
        self.fortnox = clients.fortnox
        self.state = state
        self.demo = demo
        self.edits = 0

    async def _customer(self, number: str) -> dict[str, Any]:
        body = await self.fortnox.call("GET", f"customers/{number}")
        return dict(body["Customer"])

    async def _organisation(self, organisation_id: str) -> dict[str, Any]:
        response = await self.webcrm.transport.request("GET", f"Organisations/{organisation_id}")
        return dict(response.json())

    async def _edit_fortnox(self, number: str, phone: str) -> None:
        await self.fortnox.call("PUT", f"customers/{number}", json={"Customer": {"Phone1": phone}})

    async def _edit_webcrm(self, organisation_id: str, phone: str) -> None:
        await self.webcrm.update_organisation(
            int(organisation_id), {"OrganisationTelephone": phone}
        )

    def _phone(self) -> str:
        self.edits += 1
        return f"08-{500 + self.edits:03d} {self.edits % 100:02d} {(self.edits * 7) % 100:02d}"

    async def act(self, worker: Any, until: float) -> None:
        links = await self.state.links("customer")
        if len(links) < 4:
            raise DemoError("too few linked customers to edit")
        await self.conflict(worker, links[0].webcrm_id, links[0].fortnox_id)
        await self.rejected()
        await self.new_on_both_sides()
        turn = 1
        while time.monotonic() < until:
            link = links[turn % len(links)]
            turn += 1
            phone = self._phone()
            if turn % 2:
                await self._edit_fortnox(link.fortnox_id, phone)
                arrived = partial(self._webcrm_has, link.webcrm_id, phone)
                direction = "Fortnox → webCRM"
            else:
                await self._edit_webcrm(link.webcrm_id, phone)
                arrived = partial(self._fortnox_has, link.fortnox_id, phone)
                direction = "webCRM → Fortnox"
            self.demo.latencies.add(direction, await _until(arrived, EDIT_PATIENCE))
            await asyncio.sleep(0.3)

    async def _webcrm_has(self, organisation_id: str, phone: str) -> bool:
        return (await self._organisation(organisation_id)).get("OrganisationTelephone") == phone

    async def _fortnox_has(self, number: str, phone: str) -> bool:
        return (await self._customer(number)).get("Phone1") == phone

    async def conflict(self, worker: Any, organisation_id: str, number: str) -> None:
        """A sales person and an accountant change the same phone number at the same time."""
        before = len(await self.state.conflicts("customer"))
        async with worker.lock:  # both edits land before the next sync looks
            await self._edit_webcrm(organisation_id, "08-111 11 11")
            await self._edit_fortnox(number, "08-222 22 22")
        seconds = await _until(lambda: self._more_conflicts(before), EDIT_PATIENCE)
        if seconds is not None:
            conflict = (await self.state.conflicts("customer"))[-1]
            kept = conflict.report.resolution or "nobody yet"
            self.demo.notes.append(
                f"Conflict: webCRM {conflict.report.webcrm_value!r} vs Fortnox "
                f"{conflict.report.fortnox_value!r} on {conflict.report.field}; policy "
                f"{conflict.report.policy.value}, kept: {kept}"
            )

    async def _more_conflicts(self, before: int) -> bool:
        return len(await self.state.conflicts("customer")) > before

    async def rejected(self) -> None:
        """A new customer whose visiting address holds pasted directions: webCRM takes them,
        Fortnox's VisitingAddress takes 128 characters and refuses the customer."""
        directions = "Storgatan 1, ingång från gården, andra trappan, ringklocka Ekonomi. " * 3
        new_id = await self.webcrm.create_organisation(
            {
                "OrganisationName": "Inklistrad Adress AB",
                "OrganisationType": "Customer",
                "OrganisationCustom1": directions,
            }
        )
        seconds = await _until(lambda: self._failing(str(new_id)), EDIT_PATIENCE)
        if seconds is not None:
            errors = [e for e in await self.state.open_errors() if e.record_id == str(new_id)]
            self.demo.notes.append(
                f"Refused: {refusal_line(errors[0])} (`webcrm-fortnox errors` lists it)"
            )

    async def _failing(self, record_id: str) -> bool:
        return any(e.record_id == record_id for e in await self.state.open_errors())

    async def new_on_both_sides(self) -> None:
        """A new organisation in webCRM and a new customer in Fortnox."""
        name = "Nya Kunden i Norrland AB"
        await self.webcrm.create_organisation(
            {"OrganisationName": name, "OrganisationType": "Customer"}
        )
        self.demo.latencies.add(
            "webCRM → Fortnox (new)", await _until(lambda: self._in_fortnox(name), EDIT_PATIENCE)
        )
        other = "Bokföringsbyrån Syd AB"
        await self.fortnox.call("POST", "customers", json={"Customer": {"Name": other}})
        self.demo.latencies.add(
            "Fortnox → webCRM (new)", await _until(lambda: self._in_webcrm(other), EDIT_PATIENCE)
        )

    async def _in_fortnox(self, name: str) -> bool:
        body = await self.fortnox.call("GET", "customers", params={"name": name})
        return any(c.get("Name") == name for c in body.get("Customers", []))

    async def _in_webcrm(self, name: str) -> bool:
        return bool(await self.webcrm.find_organisations("OrganisationName", name))


async def run_demo(console: Console, options: DemoOptions) -> int:
    """Run the demo; 0 when it completed, 1 when it could not."""
    try:
        return await Demo(console, options).run()
    except DemoError as error:
        console.print(Text(f"The demo could not complete: {error}", style="bold red"))
        return 1


__all__: Sequence[str] = ("QUICK", "DemoOptions", "run_demo")
