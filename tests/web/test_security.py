"""The page's guarantees about who may do what: each refusal changes nothing."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from tests.web.site import PASSWORDS, TOKEN, Site, csrf_of, settings, site
from webcrm_fortnox.engine.ports import ErrorReport
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.web.app import SESSION_COOKIE
from webcrm_fortnox.web.security import SECURITY_HEADERS, LoginLimiter


async def _requests(s: Site) -> int:
    return (await ReadModel(s.db).requests()).total


async def test_nobody_anonymous_reads_or_acts(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        page = await http.get("/fleet")
        fragment = await http.get("/fleet/rows")
        tenant = await http.get("/tenants/acme")
        chart = await http.get("/tenants/acme/charts/lag.svg")
        action = await http.post("/tenants/acme/sync", data={"csrf": "x"})

        assert (page.status_code, page.headers["location"]) == (303, "/login")
        assert (tenant.status_code, tenant.headers["location"]) == (303, "/login")
        assert fragment.status_code == chart.status_code == action.status_code == 401
        assert fragment.headers["HX-Redirect"] == "/login"
        assert "acme" not in fragment.text and "acme" not in chart.text
        assert await _requests(s) == 0


async def test_an_operator_signs_in_with_a_password(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        wrong = await s.sign_in(http, "anna", "not-it")
        unknown = await s.sign_in(http, "nobody", PASSWORDS["anna"])
        assert wrong.status_code == unknown.status_code == 401
        assert (await http.get("/fleet")).status_code == 303

        signed_in = await s.sign_in(http)

        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/fleet")
        fleet = await http.get("/fleet")
        assert fleet.status_code == 200 and "anna (operator)" in fleet.text
        assert all(name in fleet.text for name in ("acme", "bolt", "cedar"))


async def test_the_token_signs_in_only_from_a_form_post(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        assert (await http.get(f"/fleet?token={TOKEN}")).status_code == 303
        assert (await http.get(f"/login?token={TOKEN}")).status_code == 200
        assert (await http.get("/fleet")).status_code == 303

        form = await http.get("/login")
        signed_in = await http.post("/login", data={"csrf": csrf_of(form.text), "token": TOKEN})

        assert signed_in.status_code == 303
        assert "token (operator)" in (await http.get("/fleet")).text


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await s.sign_in(http)
        csrf = await s.csrf(http)

        missing = await http.post("/tenants/acme/sync")
        wrong = await http.post("/tenants/acme/sync", data={"csrf": csrf[::-1]})
        other_form = await http.post("/tenants/acme/errors/retry", data={"scope": "all"})
        assert missing.status_code == wrong.status_code == other_form.status_code == 403
        assert await _requests(s) == 0

        by_form = await http.post("/tenants/acme/sync", data={"csrf": csrf})
        by_header = await http.post("/tenants/acme/full-sync", headers={"X-CSRF-Token": csrf})

        assert by_form.status_code == 303 and by_header.status_code == 303
        assert [r.kind for r in (await ReadModel(s.db).requests()).rows] == ["full sync", "sync"]


async def test_signing_in_needs_the_login_forms_csrf_token(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await http.get("/login")
        refused = await http.post("/login", data={"name": "anna", "password": PASSWORDS["anna"]})

        assert refused.status_code == 403
        assert (await http.get("/fleet")).status_code == 303


async def test_a_read_only_operator_reads_but_cannot_act(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await s.sign_in(http, "rita")

        page = await http.get("/tenants/acme")
        assert page.status_code == 200 and "rita (read-only)" in page.text
        assert "Take webCRM" not in page.text and "Retry all" not in page.text
        assert "Sync now" not in page.text and "08-111" in page.text
        csrf = csrf_of(page.text)
        for path in ("/tenants/acme/sync", "/tenants/acme/errors/retry", "/tenants/acme/pause"):
            refused = await http.post(path, data={"csrf": csrf, "scope": "all"})
            assert refused.status_code == 403, path
            assert "may only read" in refused.text
        assert await _requests(s) == 0


async def test_login_attempts_are_limited_per_address_and_name(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        for _ in range(5):
            assert (await s.sign_in(http, "anna", "guess")).status_code == 401

        refused = await s.sign_in(http)

        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
        assert (await http.get("/fleet")).status_code == 303


def test_the_limiter_forgets_failures_once_the_window_has_passed() -> None:
    now = [0.0]
    limiter = LoginLimiter(attempts=2, window=60, clock=lambda: now[0])
    limiter.failed("address:1", "name:anna")
    now[0] = 10
    limiter.failed("address:1", "name:anna")

    assert limiter.wait("address:1") == pytest.approx(50)
    assert limiter.wait("name:anna", "address:2") == pytest.approx(50)
    assert limiter.wait("address:2") == 0
    now[0] = 60.5  # the first failure has left the window
    assert limiter.wait("address:1") == 0
    limiter.failed("address:1")
    assert limiter.wait("address:1") == pytest.approx(9.5)
    limiter.succeeded("address:1")
    assert limiter.wait("address:1") == 0


async def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        answers = [await http.get("/login"), await http.get("/static/htmx.min.js")]
        answers.append(await http.get("/fleet"))  # a redirect
        await s.sign_in(http)
        answers += [await http.get("/fleet"), await http.get("/tenants/acme/charts/lag.svg")]
        answers.append(await http.get("/tenants/nobody"))

    assert [a.status_code for a in answers] == [200, 200, 303, 200, 200, 404]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)


async def test_no_password_or_token_reaches_a_page_a_cookie_a_url_or_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with site(tmp_path) as s, s.client() as http:
        for name in ("anna", "rita"):
            answer = await s.sign_in(http, name)
            seen += [answer.text, answer.headers.get("location", ""), str(answer.url)]
            seen += _cookie_payloads(http.cookies.get(SESSION_COOKIE))
            await s.sign_in(http, name, "a-wrong-password")  # a failure is logged too
        form = await http.get("/login")
        answer = await http.post("/login", data={"csrf": csrf_of(form.text), "token": TOKEN})
        seen += [
            answer.headers.get("location", ""),
            *_cookie_payloads(http.cookies.get(SESSION_COOKIE)),
        ]
        for path in ("/fleet", "/fleet/rows", "/tenants/acme", "/tenants/acme/requests"):
            page = await http.get(path)
            seen += [page.text, str(page.url)]
    seen += [
        record.getMessage() + json.dumps(record.__dict__, default=str) for record in caplog.records
    ]

    assert any("signed in" in line for line in seen)  # the log was captured at all
    for secret in (TOKEN, *PASSWORDS.values(), "a-wrong-password"):
        assert not [text for text in seen if secret in text], secret


def _cookie_payloads(cookie: str | None) -> list[str]:
    """The session cookie and its decoded content (signed, not encrypted: anyone can read it)."""
    assert cookie
    payload = cookie.split(".")[0]
    return [cookie, base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()]


async def test_the_session_cookie_is_http_only_same_site_and_secure_when_asked(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s, s.client() as http:
        plain = (await http.get("/login")).headers["set-cookie"].lower()
    (tmp_path / "tls").mkdir()
    async with site(tmp_path / "tls", admin=settings(secure_cookies=True)) as s, s.client() as http:
        # a browser sends a secure cookie back over HTTPS only: the form's answer shows it
        secure = (await http.get("/login")).headers["set-cookie"].lower()

    assert "httponly" in plain and "samesite=strict" in plain and "secure" not in plain
    assert "httponly" in secure and "samesite=strict" in secure and "secure" in secure


async def test_an_unknown_address_is_the_pages_own_refusal_with_its_headers(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        answer = await http.get("/no/such/page")

    assert answer.status_code == 404 and "<html" in answer.text and "Not Found" in answer.text
    assert answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


async def test_a_vendors_message_is_shown_as_text_never_as_markup(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await s.db.tenant("acme").record_error(
            ErrorReport("customer", "webcrm", "9", "refused", vendor_message="<script>x()</script>")
        )
        await s.sign_in(http)

        page = await http.get("/tenants/acme")

    assert "<script>x()</script>" not in page.text
    assert "&lt;script&gt;x()&lt;/script&gt;" in page.text
