"""``connect fortnox`` and ``connect webcrm``: obtain or check a tenant's credentials.

``connect fortnox`` runs OAuth's authorization-code flow (reference §1.1): it prints (and tries to
open) Fortnox's authorize address, receives the redirect on a one-shot HTTP server on 127.0.0.1,
checks ``state``, exchanges the code, checks the company's licence and scopes, and stores the
tokens encrypted (:mod:`webcrm_fortnox.service.vault`). A tenant with ``auth = "service-account"``
needs no tokens: its access is checked only. ``connect webcrm`` logs in with the API token and
checks the plan and the field setup.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from rich.console import Console
from rich.text import Text

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.errors import ApiError, AuthError
from webcrm_fortnox.fortnox.auth import OAuthClient, TokenSet
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.service.access import Access, check_fortnox, check_webcrm, fortnox_scopes
from webcrm_fortnox.service.connections import Connector
from webcrm_fortnox.service.vault import FortnoxGrant, TokenVault
from webcrm_fortnox.webcrm.client import WebcrmClient

#: The redirect a Fortnox integration registers for ``connect``: http://127.0.0.1:8765/callback.
DEFAULT_PORT = 8765
CALLBACK_PATH = "/callback"
#: How long to wait for the person to approve in the browser.
DEFAULT_TIMEOUT = 600.0

OpenUrl = Callable[[str], Awaitable[None]]


class ConnectError(Exception):
    """The flow did not complete; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class Redirect:
    """What the browser brought back: ``code`` and ``state``, or ``error``."""

    code: str | None
    state: str | None
    error: str | None


_PAGE = (
    "<!doctype html><meta charset=utf-8><title>webcrm-fortnox</title>"
    "<p>{message} You can close this window.</p>"
)


class LoopbackRedirect:
    """A one-shot HTTP server on 127.0.0.1 that takes the OAuth redirect.

    Args:
        port: the port (0: any free one; the real Fortnox needs the registered one).
    """

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.port = port
        self._server: asyncio.Server | None = None
        self._answer: asyncio.Future[Redirect] | None = None

    @property
    def uri(self) -> str:
        """The ``redirect_uri`` to send."""
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> LoopbackRedirect:
        self._answer = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait(self, seconds: float) -> Redirect:
        """The redirect, once the browser brings it.

        Raises:
            ConnectError: none came within ``seconds``.
        """
        assert self._answer is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), seconds)
        except TimeoutError:
            raise ConnectError(
                f"no answer from the browser within {seconds:.0f} s; run connect again"
            ) from None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # the headers say nothing we need
            parts = request_line.split(" ")
            target = urlsplit(parts[1]) if len(parts) >= 2 else None
            if target is None or target.path != CALLBACK_PATH:
                await self._reply(writer, 404, "Not the connect callback.")
                return
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            redirect = Redirect(query.get("code"), query.get("state"), query.get("error"))
            done = redirect.code is not None or redirect.error is not None
            message = "Fortnox is connected." if redirect.code else "Fortnox did not connect."
            await self._reply(writer, 200, message)
            if done and self._answer is not None and not self._answer.done():
                self._answer.set_result(redirect)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = _PAGE.format(message=message).encode()
        reason = "OK" if status == 200 else "Not Found"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


async def open_in_browser(url: str) -> None:
    """Try to open ``url`` in the user's browser (the address is printed either way)."""
    import webbrowser

    with contextlib.suppress(Exception):
        await asyncio.to_thread(webbrowser.open, url)


async def authorize(
    oauth: OAuthClient,
    tenant: TenantConfig,
    console: Console,
    open_url: OpenUrl,
    *,
    port: int = DEFAULT_PORT,
    wait_seconds: float = DEFAULT_TIMEOUT,
) -> TokenSet:
    """Run the browser part of the flow and exchange the code for the first tokens.

    Raises:
        ConnectError: the browser brought an error, a wrong state, or nothing in time.
        ApiError: Fortnox refused the code.
    """
    state = secrets.token_urlsafe(24)
    async with LoopbackRedirect(port) as redirect:
        url = oauth.authorize_url(
            scopes=fortnox_scopes(tenant), state=state, redirect_uri=redirect.uri
        )
        console.print(Text(f"Open this address and approve access for {tenant.name}:"))
        console.print(Text(url), soft_wrap=True)
        await open_url(url)
        answer = await redirect.wait(wait_seconds)
    if answer.error is not None:
        raise ConnectError(f"Fortnox did not grant access: {answer.error}")
    # An unguessable state echoed back proves the redirect answers this request.
    if answer.state != state or answer.code is None:
        raise ConnectError("the redirect did not carry this request's state; run connect again")
    return await oauth.exchange_code(answer.code, redirect_uri=redirect.uri)


def _print_access(console: Console, system: str, access: Access) -> None:
    for problem in access.problems:
        console.print(Text(f"{system}: {problem}", style="bold red"))
    if access.setup:
        console.print(Text("Create or change in webCRM's configuration (or in [tenant.fields]):"))
        for setup in access.setup:
            console.print(Text(f"  - {setup}"))


async def connect_fortnox(
    tenant: TenantConfig,
    connector: Connector,
    vault: TokenVault | None,
    console: Console,
    *,
    open_url: OpenUrl = open_in_browser,
    port: int = DEFAULT_PORT,
    wait_seconds: float = DEFAULT_TIMEOUT,
) -> int:
    """Connect (or, for a service account, check) one tenant's Fortnox company.

    Returns:
        0 connected and everything the sync needs is there; 1 otherwise.
    """
    if tenant.fortnox.auth == "service-account":
        async with connector.clients(tenant) as clients:
            return await _report_fortnox(console, tenant, clients.fortnox, "uses a service account")
    if vault is None:
        raise ConnectError("no key for storing tokens is configured")
    async with connector.http("fortnox") as http:
        oauth = connector.oauth(tenant, http)
        try:
            token = await authorize(
                oauth, tenant, console, open_url, port=port, wait_seconds=wait_seconds
            )
        except ApiError as error:
            raise ConnectError(f"Fortnox refused the authorization: {error}") from None
        grant = FortnoxGrant(token)
        # Stored before anything else uses the refresh token: losing it means connecting again.
        await vault.save(tenant.name, grant)
    async with connector.clients(tenant, vault=vault) as clients:
        code = await _report_fortnox(console, tenant, clients.fortnox, "is connected")
        stored = await vault.load(tenant.name)
        if stored is not None and stored.tenant_id is None and clients.fortnox_auth is not None:
            # The company id keys Fortnox's rate limit; keep it with the tokens.
            company = await _company_id(clients.fortnox)
            if company is not None:
                await vault.save(tenant.name, FortnoxGrant(stored.token, company))
    return code


async def _company_id(client: FortnoxClient) -> int | None:
    try:
        return (await client.company_information()).database_number
    except ApiError:
        return None


async def _report_fortnox(
    console: Console, tenant: TenantConfig, client: FortnoxClient, how: str
) -> int:
    try:
        access = await check_fortnox(client, tenant)
    except AuthError as error:
        console.print(Text(f"Fortnox: {error.explanation}", style="bold red"))
        return 1
    _print_access(console, "Fortnox", access)
    if not access.ok:
        return 1
    company = f" ({access.company})" if access.company else ""
    console.print(Text(f"{tenant.name}: Fortnox{company} {how}; access checked."))
    return 0


async def connect_webcrm(tenant: TenantConfig, connector: Connector, console: Console) -> int:
    """Check the tenant's webCRM API token, plan and field setup; 0 when all is in place."""
    async with connector.http("webcrm") as http:
        client = WebcrmClient(
            tenant.webcrm.api_token.get_secret_value(),
            base_url=tenant.webcrm.base_url,
            limiters=connector.webcrm_limiters,
            http=http,
            clock=connector.clock.monotonic,
            sleep=connector.sleep,
        )
        access = await check_webcrm(client, tenant)
    _print_access(console, "webCRM", access)
    if not access.ok:
        return 1
    console.print(
        Text(f"{tenant.name}: webCRM accepts the API token; the field setup is complete.")
    )
    return 0
