"""No secret in logs, command output, error messages or the state store, after full runs.

Two tenants sync through the real command line (one whose webCRM token is wrong, so error
messages are produced) with every logger at DEBUG, httpx and httpcore included. Every
credential is collected: the configured ones, and every ``Authorization`` header the clients
actually sent (tokens the vendors issued). No piece of one (8 characters running) may appear
anywhere a person or a file sees.
"""

from __future__ import annotations

import base64
import logging
import ssl
from pathlib import Path

import httpx
import pytest

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, tenant
from tests.reliability.taps import Tap
from tests.support.secrets import shown_pieces
from webcrm_fortnox.config import ConfigError, parse_config
from webcrm_fortnox.fortnox.auth import OAuthClient
from webcrm_fortnox.service.connections import Connector

WRONG_TOKEN = "00000000-0000-4000-8000-0000deadbeef"
#: the emulator's client id: public, and a piece of the emulator's client secret
PUBLIC = ("emulator",)


async def test_no_secret_reaches_logs_output_or_the_state_store(
    env: Systems, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent: set[str] = set()

    async def collect(tap: Tap, number: int, request: httpx.Request) -> None:
        value = request.headers.get("authorization")
        if value:
            sent.add(value.split(" ", 1)[-1])  # the token or the Basic blob

    for system in ("fortnox", "webcrm"):
        env.connector.transports[system] = Tap(env.connector.transports[system], collect)
    await env.organisation(OrganisationName="Acme AB")
    await env.customer(Name="Berg AB")
    good = tenant()
    bad = tenant(name="wrong", webcrm={"api_token": WRONG_TOKEN})
    path = config_file(tmp_path, good, bad)
    caplog.set_level(logging.DEBUG)

    outputs = [
        await cli(env.connector, "sync", "--once", "--config", path),
        await cli(env.connector, "errors", "--config", path),
        await cli(env.connector, "status", "--config", path),
        await cli(env.connector, "status", "--json", "--config", path),
    ]

    assert outputs[0].exit_code == 1  # the wrong token stopped its tenant
    assert "wrong" in outputs[0].output
    secrets = {good.webcrm.api_token.get_secret_value(), WRONG_TOKEN}
    secrets.add(good.fortnox.client_secret.get_secret_value())
    secrets.add(base64.b64encode(b"emulator:emulator-secret").decode())
    secrets |= {s for s in sent if len(s) >= 16}
    assert len(secrets) > 4  # tokens were issued and used
    seen = {
        "command output": "\n".join(o.output for o in outputs),
        "logs": caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records),
    }
    state = b"".join(f.read_bytes() for f in sorted(tmp_path.iterdir()) if "state.db" in f.name)  # noqa: ASYNC240
    seen["state store"] = state.decode("utf-8", errors="replace")
    for where, text in seen.items():
        shown = shown_pieces(text, secrets, public=PUBLIC)
        assert not shown, f"pieces of a secret are in the {where}: {shown}"


async def test_clients_verify_tls_certificates() -> None:
    connector = Connector()
    for system in ("fortnox", "webcrm"):
        async with connector.http(system) as http:
            pool = http._transport._pool  # type: ignore[attr-defined]
            context: ssl.SSLContext = pool._ssl_context
            assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    oauth = OAuthClient("id", "secret")  # its own HTTP client when given none
    context = oauth.http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    await oauth.aclose()


@pytest.mark.parametrize("url", ["http://api.webcrm.com", "http://10.0.0.5:8782"])
def test_plain_http_only_on_loopback_unless_allowed(url: str) -> None:
    data = {
        "name": "t",
        "customer_types": ["Customer"],
        "webcrm": {"base_url": url, "api_token": "x"},
        "fortnox": {"client_id": "c", "client_secret": "s", "tenant_id": 1},
    }
    with pytest.raises(ConfigError, match="base_url"):
        parse_config({"tenant": [data]}, Path("t.toml"), environ={})
    loopback = {**data, "webcrm": {"base_url": "http://127.0.0.1:8782", "api_token": "x"}}
    parse_config({"tenant": [loopback]}, Path("t.toml"), environ={})
    allowed = {**data, "allow_insecure_http": True}
    parse_config({"tenant": [allowed]}, Path("t.toml"), environ={})
