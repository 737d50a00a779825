"""OAuth against a scripted token endpoint: caching, renewal, rotation, serialisation, errors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from webcrm_fortnox.errors import ReconnectNeeded, TransientError
from webcrm_fortnox.fortnox.auth import (
    AuthorizationCodeAuth,
    OAuthClient,
    ServiceAccountAuth,
    TokenSet,
)
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.transport.retry import RetryPolicy

URLS = FortnoxUrls.single_host("http://fortnox.test")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """Grants numbered tokens and rotates refresh tokens, refusing a used one like Fortnox."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.issued = 0
        self.valid_refresh = {"r0"}
        self.fail_with: Callable[[httpx.Request], httpx.Response] | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # let concurrent callers interleave
        if self.fail_with is not None:
            return self.fail_with(request)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.issued += 1
        body = {"access_token": f"a{self.issued}", "expires_in": 3600, "token_type": "bearer",
                "scope": "customer"}  # fmt: skip
        if form["grant_type"] == "refresh_token":
            if form["refresh_token"] not in self.valid_refresh:
                return httpx.Response(
                    400,
                    json={"error": "invalid_grant", "error_description": "Invalid refresh token"},
                )
            self.valid_refresh = {f"r{self.issued}"}
            body["refresh_token"] = f"r{self.issued}"
        return httpx.Response(200, json=body)

    def form(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.requests[index].content.decode()).items()}


@pytest.fixture
def endpoint() -> TokenEndpoint:
    return TokenEndpoint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def oauth(endpoint: TokenEndpoint, clock: FakeClock):
    async def no_sleep(_: float) -> None:
        return None

    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    client = OAuthClient("cid", "secret", urls=URLS, http=http, clock=clock, sleep=no_sleep)
    yield client
    await http.aclose()


async def test_service_account_posts_client_credentials_with_tenant(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    auth = ServiceAccountAuth(oauth, 4711)
    assert await auth.headers() == {"Authorization": "Bearer a1"}
    request = endpoint.requests[0]
    assert str(request.url) == "http://fortnox.test/oauth-v1/token"
    assert request.headers["TenantId"] == "4711"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:secret").decode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert endpoint.form() == {"grant_type": "client_credentials"}


async def test_token_is_reused_until_a_minute_before_expiry(
    oauth: OAuthClient, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    auth = ServiceAccountAuth(oauth, 1)
    await auth.headers()
    clock.now += 3600 - 61
    assert await auth.access_token() == "a1"
    clock.now += 2
    assert await auth.access_token() == "a2"
    assert len(endpoint.requests) == 2


async def test_invalidate_drops_only_the_refused_token(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    auth = ServiceAccountAuth(oauth, 1)
    await auth.headers()
    await auth.invalidate({"Authorization": "Bearer stale"})
    assert await auth.access_token() == "a1"
    await auth.invalidate({"Authorization": "Bearer a1"})
    assert await auth.access_token() == "a2"


async def test_rotation_persists_the_new_refresh_token_before_use(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    stored: list[TokenSet] = []

    async def persist(token: TokenSet) -> None:
        stored.append(token)

    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=persist)
    assert await auth.access_token() == "a1"
    assert [t.refresh_token for t in stored] == ["r1"]
    assert endpoint.form() == {"grant_type": "refresh_token", "refresh_token": "r0"}
    await auth.invalidate({"Authorization": "Bearer a1"})
    assert await auth.access_token() == "a2"
    assert endpoint.form() == {"grant_type": "refresh_token", "refresh_token": "r1"}
    assert [t.refresh_token for t in stored] == ["r1", "r2"]


async def test_access_token_is_not_used_when_persisting_fails(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    calls = 0

    async def flaky_store(token: TokenSet) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")

    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=flaky_store)
    with pytest.raises(OSError):
        await auth.headers()
    # The spent token is not reused: the next attempt rotates the one received meanwhile.
    assert await auth.access_token() == "a2"
    assert endpoint.form() == {"grant_type": "refresh_token", "refresh_token": "r1"}
    assert auth.refresh_token == "r2"


async def test_concurrent_callers_share_one_refresh(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    stored: list[str | None] = []

    async def persist(token: TokenSet) -> None:
        await asyncio.sleep(0)
        stored.append(token.refresh_token)

    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=persist)
    tokens = await asyncio.gather(*(auth.access_token() for _ in range(20)))
    assert set(tokens) == {"a1"}
    assert len(endpoint.requests) == 1 and stored == ["r1"]


async def test_stored_valid_access_token_skips_the_first_refresh(
    oauth: OAuthClient, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    async def persist(token: TokenSet) -> None:
        return None

    held = TokenSet("stored", expires_at=clock.now + 1800, refresh_token="r0")
    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=persist, token=held)
    assert await auth.access_token() == "stored"
    assert endpoint.requests == []


async def test_used_refresh_token_needs_a_reconnect(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    async def persist(token: TokenSet) -> None:
        return None

    auth = AuthorizationCodeAuth(oauth, refresh_token="spent", on_rotate=persist)
    with pytest.raises(ReconnectNeeded) as caught:
        await auth.headers()
    assert caught.value.code == "invalid_grant"


async def test_wrong_client_secret_needs_a_reconnect(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    endpoint.fail_with = lambda _: httpx.Response(
        401,
        json={"error": "invalid_client", "error_description": "The client credentials are invalid"},
    )
    with pytest.raises(ReconnectNeeded):
        await ServiceAccountAuth(oauth, 1).headers()


async def test_lost_refresh_answer_is_not_resent(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    endpoint.fail_with = lost

    async def persist(token: TokenSet) -> None:
        return None

    with pytest.raises(TransientError):
        await AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=persist).headers()
    assert len(endpoint.requests) == 1


async def test_token_endpoint_5xx_is_retried_for_client_credentials(
    oauth: OAuthClient, endpoint: TokenEndpoint
) -> None:
    failures = iter([httpx.Response(503, text="down"), httpx.Response(502, text="down")])

    def flaky(request: httpx.Request) -> httpx.Response:
        response = next(failures, None)
        if response is None:
            endpoint.fail_with = None
            return httpx.Response(200, json={"access_token": "ok", "expires_in": 3600})
        return response

    endpoint.fail_with = flaky
    assert await ServiceAccountAuth(oauth, 1).access_token() == "ok"
    assert len(endpoint.requests) == 3


async def test_connection_refused_is_retried_even_for_refresh(
    endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    attempts = 0

    async def refuse_once(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise httpx.ConnectError("refused", request=request)
        return await endpoint(request)

    async def no_sleep(_: float) -> None:
        return None

    async def persist(token: TokenSet) -> None:
        return None

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse_once)) as http:
        oauth = OAuthClient("cid", "s", urls=URLS, http=http, clock=clock, sleep=no_sleep,
                            retry=RetryPolicy(attempts=3))  # fmt: skip
        auth = AuthorizationCodeAuth(oauth, refresh_token="r0", on_rotate=persist)
        assert await auth.access_token() == "a1"
    assert attempts == 2


def test_authorize_url_carries_the_documented_parameters() -> None:
    oauth = OAuthClient("cid", "secret", urls=FortnoxUrls())
    url = oauth.authorize_url(
        scopes=["customer", "invoice"],
        state="xyz",
        redirect_uri="https://example.org/cb",
        service_account=True,
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://apps.fortnox.se/oauth-v1/auth"
    assert "scope=customer%20invoice" in parts.query
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "scope": ["customer invoice"],
        "state": ["xyz"],
        "access_type": ["offline"],
        "response_type": ["code"],
        "redirect_uri": ["https://example.org/cb"],
        "account_type": ["service"],
    }


async def test_exchange_code_sends_code_and_redirect_uri(
    oauth: OAuthClient, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    def granted(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "a", "refresh_token": "r",
                                         "expires_in": 3600, "scope": "customer"})  # fmt: skip

    endpoint.fail_with = granted
    token = await oauth.exchange_code("c0de", redirect_uri="https://example.org/cb")
    assert token == TokenSet("a", expires_at=clock.now + 3600, refresh_token="r", scope="customer")
    assert endpoint.form() == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": "https://example.org/cb",
    }


async def test_revoke(oauth: OAuthClient, endpoint: TokenEndpoint) -> None:
    endpoint.fail_with = lambda _: httpx.Response(200, json={"revoked": True})
    assert await oauth.revoke("r0") is True
    assert str(endpoint.requests[0].url).endswith("/oauth-v1/revoke")
    assert endpoint.form() == {"token_type_hint": "refresh_token", "token": "r0"}


class StoredToken:
    """A rotation lock over one stored token, as the vault's, in memory; can fail a save."""

    def __init__(self, token: TokenSet | None, *, failing_saves: int = 0) -> None:
        self.token = token
        self.failing_saves = failing_saves
        self.saved: list[str | None] = []

    @contextlib.asynccontextmanager
    async def rotation(self) -> AsyncIterator[StoredToken]:
        yield self

    async def save(self, token: TokenSet) -> None:
        if self.failing_saves:
            self.failing_saves -= 1
            raise OSError("database unreachable")
        self.token = token
        self.saved.append(token.refresh_token)


async def test_a_token_renewed_by_another_process_is_used_not_renewed_again(
    oauth: OAuthClient, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    stale = TokenSet("a0", expires_at=clock.now - 1, refresh_token="r0")
    store = StoredToken(stale)
    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", rotation=store.rotation, token=stale)
    # Meanwhile another process rotated r0 and stored what it got.
    store.token = TokenSet("elsewhere", expires_at=clock.now + 3600, refresh_token="r9")

    assert await auth.access_token() == "elsewhere"
    assert endpoint.requests == []  # r0 is spent: sending it would have been refused
    assert auth.refresh_token == "r9"


async def test_a_rotation_that_could_not_be_stored_is_retried_with_the_token_in_hand(
    oauth: OAuthClient, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    store = StoredToken(
        TokenSet("a0", expires_at=clock.now - 1, refresh_token="r0"), failing_saves=1
    )
    auth = AuthorizationCodeAuth(oauth, refresh_token="r0", rotation=store.rotation)

    with pytest.raises(OSError):
        await auth.headers()
    # The store still has the spent r0; the next attempt rotates r1, received meanwhile.
    assert await auth.access_token() == "a2"
    assert endpoint.form() == {"grant_type": "refresh_token", "refresh_token": "r1"}
    assert store.saved == ["r2"]
