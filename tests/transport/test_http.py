"""ApiTransport: retries, re-authentication, rate-limit handling and statistics."""

from __future__ import annotations

import random
from collections.abc import Mapping

import httpx
import pytest

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    NoAnswer,
    NotFound,
    RateLimited,
    TransientError,
)
from webcrm_fortnox.fortnox.auth import OAuthClient
from webcrm_fortnox.service.connections import Connector
from webcrm_fortnox.transport.http import (
    ApiTransport,
    http_client,
    masked_url,
    no_answer,
    tls_context,
)
from webcrm_fortnox.transport.ratelimit import RateLimiter
from webcrm_fortnox.transport.retry import RetryPolicy
from webcrm_fortnox.webcrm.client import WebcrmClient


class Auth:
    def __init__(self) -> None:
        self.token = 1
        self.invalidated: list[Mapping[str, str]] = []

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer t{self.token}"}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        self.invalidated.append(dict(rejected))
        self.token += 1


def classify(response: httpx.Response) -> ApiError:
    status = response.status_code
    if status == 401:
        return AuthExpired("401", status=status)
    if status == 404:
        return NotFound("404", status=status)
    if status == 429:
        return RateLimited("429", status=status)
    return TransientError("5xx", status=status)


class RecordingLimiter(RateLimiter):
    """Notes penalties instead of waiting them out."""

    def __init__(self, limit: int, period: float) -> None:
        super().__init__(limit, period)
        self.penalties: list[float] = []

    def penalise(self, seconds: float) -> None:
        self.penalties.append(seconds)


class Harness:
    def __init__(self, *answers: httpx.Response | type[Exception]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.auth = Auth()
        self.limiter = RecordingLimiter(100, 1.0)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.transport = ApiTransport(
            system="test",
            base_url="http://api.test/3/",
            auth=self.auth,
            classify=classify,
            limiter=self.limiter,
            retry=RetryPolicy(attempts=4, rng=random.Random(1)),
            http=httpx.AsyncClient(transport=httpx.MockTransport(self.handle)),
            sleep=sleep,
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else httpx.Response(200, json={"ok": True})
        if isinstance(answer, type):
            raise answer("boom", request=request)  # type: ignore[call-arg]
        return answer


async def test_success_passes_through_with_url_params_and_json() -> None:
    h = Harness()
    response = await h.transport.request("POST", "/customers", params={"a": 1}, json={"x": 1})
    assert response.json() == {"ok": True}
    request = h.requests[0]
    assert str(request.url) == "http://api.test/3/customers?a=1"
    assert request.content == b'{"x":1}'
    assert request.headers["Authorization"] == "Bearer t1"
    assert h.transport.stats.as_dict() == {"calls": 1, "rate_limited": 0, "retries": 0, "errors": 0}


async def test_5xx_on_get_is_retried_with_backoff() -> None:
    h = Harness(httpx.Response(503), httpx.Response(502))
    assert (await h.transport.request("GET", "x")).status_code == 200
    assert len(h.requests) == 3 and len(h.sleeps) == 2 and all(s > 0 for s in h.sleeps)
    assert h.transport.stats.retries == 2


async def test_5xx_on_post_is_not_retried() -> None:
    h = Harness(httpx.Response(503))
    with pytest.raises(TransientError):
        await h.transport.request("POST", "x", json={})
    assert len(h.requests) == 1


async def test_dropped_response_on_post_is_not_retried_but_on_put_it_is() -> None:
    h = Harness(httpx.ReadError)
    with pytest.raises(TransientError) as caught:
        await h.transport.request("POST", "x", json={})
    assert not caught.value.not_sent and len(h.requests) == 1
    h = Harness(httpx.ReadError)
    assert (await h.transport.request("PUT", "x", json={})).status_code == 200
    assert len(h.requests) == 2


async def test_idempotent_flag_overrides_the_method_default() -> None:
    h = Harness(httpx.ReadError)
    with pytest.raises(TransientError):
        await h.transport.request("PUT", "x/createinvoice", idempotent=False)
    assert len(h.requests) == 1


async def test_refused_connection_is_retried_even_for_post() -> None:
    h = Harness(httpx.ConnectError)
    assert (await h.transport.request("POST", "x", json={})).status_code == 200
    assert len(h.requests) == 2


async def test_after_a_request_got_no_answer_the_next_ones_are_tried_once_until_one_does() -> None:
    h = Harness(*[httpx.ConnectError] * 5)
    with pytest.raises(NoAnswer):
        await h.transport.request("GET", "x")
    assert len(h.requests) == 4  # every attempt the policy allows
    with pytest.raises(NoAnswer):
        await h.transport.request("GET", "x")
    assert len(h.requests) == 5  # the system is down: tried once, no backoff
    assert (await h.transport.request("GET", "x")).status_code == 200
    h.answers = [httpx.ConnectError]
    assert (await h.transport.request("GET", "x")).status_code == 200  # retried again
    assert len(h.requests) == 8


async def test_a_failing_answer_counts_as_an_answer() -> None:
    h = Harness(*[httpx.ConnectError] * 4, httpx.Response(503), httpx.ConnectError)
    with pytest.raises(NoAnswer):
        await h.transport.request("GET", "x")
    assert (await h.transport.request("GET", "x")).status_code == 200
    assert len(h.requests) == 7


async def test_429_penalises_the_limiter_and_retries_even_a_post() -> None:
    h = Harness(httpx.Response(429))
    assert (await h.transport.request("POST", "x", json={})).status_code == 200
    assert len(h.requests) == 2
    assert h.limiter.penalties and h.limiter.penalties[0] >= 5.0
    assert h.sleeps == [0.0]  # the wait happens in the limiter, for every task at once
    assert h.transport.stats.rate_limited == 1


async def test_401_renews_credentials_once_and_repeats() -> None:
    h = Harness(httpx.Response(401))
    assert (await h.transport.request("POST", "x", json={})).status_code == 200
    assert h.auth.invalidated == [{"Authorization": "Bearer t1"}]
    assert [r.headers["Authorization"] for r in h.requests] == ["Bearer t1", "Bearer t2"]


async def test_second_401_is_raised() -> None:
    h = Harness(httpx.Response(401), httpx.Response(401))
    with pytest.raises(AuthExpired):
        await h.transport.request("GET", "x")
    assert len(h.requests) == 2


async def test_client_errors_are_raised_at_once() -> None:
    h = Harness(httpx.Response(404))
    with pytest.raises(NotFound):
        await h.transport.request("GET", "x")
    assert len(h.requests) == 1 and h.sleeps == []


async def test_retries_stop_after_the_last_attempt() -> None:
    h = Harness(*[httpx.Response(503)] * 10)
    with pytest.raises(TransientError):
        await h.transport.request("GET", "x")
    assert len(h.requests) == 4


async def test_form_fields_are_sent_urlencoded() -> None:
    h = Harness()
    await h.transport.request("POST", "Auth/ApiLogin", data={"authCode": "a b"})
    request = h.requests[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"authCode=a+b"


def _refused(url: str) -> httpx.ConnectError:
    """What httpx raises when nothing listens: the refusal sits two causes down."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
        except ConnectionRefusedError as refusal:
            raise OSError("All connection attempts failed") from refusal
    except OSError as error:
        try:
            raise httpx.ConnectError("All connection attempts failed") from error
        except httpx.ConnectError as connect:
            return connect


async def test_no_answer_names_the_address_and_the_network_reason() -> None:
    h = Harness(*[httpx.ConnectError] * 4)
    with pytest.raises(NoAnswer) as caught:
        await h.transport.request("GET", "x")
    assert caught.value.address == "http://api.test"
    assert caught.value.not_sent and caught.value.system == "test"

    refused = no_answer("webcrm", "http://127.0.0.1:9/Organisations", _refused("x"), not_sent=True)
    assert str(refused) == "no answer from http://127.0.0.1:9: connection refused"
    timed_out = no_answer("fortnox", "https://api.test/3", httpx.ReadTimeout("x"), not_sent=False)
    assert timed_out.reason == "timed out" and not timed_out.not_sent


@pytest.mark.parametrize(
    ("url", "shown", "origin"),
    [
        ("http://127.0.0.1:8782/", "http://127.0.0.1:8782", "http://127.0.0.1:8782"),
        ("https://api.test/3?token=abc", "https://api.test/3", "https://api.test"),
        (
            "https://me:s3cret@api.test:8443/x",
            "https://me:***@api.test:8443/x",
            "https://me:***@api.test:8443",
        ),
        ("https://me@api.test", "https://me@api.test", "https://me@api.test"),
        ("not a url", "not a url", "not a url"),
        (
            "me:s3cret@nowhere",
            "(an address that cannot be read)",
            "(an address that cannot be read)",
        ),
    ],
)
def test_an_address_is_shown_without_its_password_or_query(
    url: str, shown: str, origin: str
) -> None:
    assert masked_url(url) == shown
    assert masked_url(url, origin=True) == origin
    assert "s3cret" not in masked_url(url) and "abc" not in masked_url(url)


async def test_no_answer_never_shows_a_password_of_the_address() -> None:
    error = no_answer("webcrm", "https://me:s3cret@api.test/x", _refused("x"), not_sent=True)
    assert "s3cret" not in str(error) and "s3cret" not in repr(error.to_dict())
    assert error.address == "https://me:***@api.test"


def _tls_of(client: httpx.AsyncClient) -> object:
    """The TLS context an httpx client's connection pool opens connections with."""
    transport = client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    return transport._pool._ssl_context


async def test_every_client_of_the_process_shares_one_tls_context() -> None:
    connector = Connector()
    clients = [
        http_client(),
        connector.http("fortnox"),
        connector.http("webcrm"),
        OAuthClient("id", "secret").http,
        WebcrmClient("token").http,
    ]
    try:
        assert {id(_tls_of(client)) for client in clients} == {id(tls_context())}
    finally:
        for client in clients:
            await client.aclose()
