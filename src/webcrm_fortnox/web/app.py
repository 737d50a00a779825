"""The administrator's page: a FastAPI app of server-rendered pages and htmx fragments.

Two pages, the **fleet** (every tenant, paged and filtered on the server) and a **tenant**
(counts, runs, charts, errors, conflicts, match review, requests), each made of fragments with
a route of their own: the page includes them when it is rendered, and htmx fetches them again
to refresh a part or after an action. Without JavaScript every page still reads, and every
action is a plain form post answered with a redirect back.

Actions never act: each records an admin request (see :mod:`webcrm_fortnox.web.data`) that
whatever runs the tenant carries out; the requests fragment shows its outcome when done, and
tells the other fragments to refresh (the ``settled`` event) once one they are waiting for is.

Every route but ``/login`` and ``/static`` needs a signed-in operator; see
:mod:`webcrm_fortnox.web.security` for sessions, CSRF, roles, rate limits and headers.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from webcrm_fortnox.config.models import AdminSettings
from webcrm_fortnox.store.queries import FleetFilter, QueueState, TenantOverview
from webcrm_fortnox.store.requests import RequestKind, RequestState
from webcrm_fortnox.web import charts
from webcrm_fortnox.web.data import SiteData
from webcrm_fortnox.web.security import (
    SECURITY_HEADERS,
    LoginLimiter,
    Operator,
    Operators,
    csrf_matches,
    new_csrf_token,
)

log = logging.getLogger(__name__)

_HERE = Path(str(files("webcrm_fortnox.web")))
#: The name of the session cookie (signed, not encrypted: it holds no secret).
SESSION_COOKIE = "webcrm_fortnox_admin"
#: The health values the fleet filter offers.
HEALTHS = ("ok", "failing", "reconnect needed", "not connected", "never run")
#: Healths whose fix is to connect Fortnox again: the tenant page says how.
RECONNECT = ("reconnect needed", "not connected")


@dataclass(frozen=True)
class Site:
    """What the app runs with.

    Attributes:
        data: the page's reads and requests over the state store.
        operators: who may sign in.
        limiter: failed sign-ins per client address and name.
        config_file: the configuration file, named in the reconnect instructions.
    """

    data: SiteData
    operators: Operators
    limiter: LoginLimiter
    config_file: Path | None = None


def create_app(
    data: SiteData,
    settings: AdminSettings,
    *,
    one_time: tuple[str, str] | None = None,
    config_file: Path | None = None,
    root_path: str = "",
) -> FastAPI:
    """The administrator's app over ``data``.

    Args:
        data: reads and requests over the state store.
        settings: the configuration's ``[admin]`` (operators, token, session settings).
        one_time: a name and password that also sign in as an operator (``demo``'s).
        config_file: the configuration file, for the reconnect instructions.
        root_path: the path the page is served under behind a reverse proxy (``/sync``).
    """
    site = Site(data, Operators(settings, one_time), LoginLimiter(), config_file)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, root_path=root_path)
    app.state.site = site
    templates = Jinja2Templates(directory=_HERE / "templates")
    templates.env.globals["healths"] = HEALTHS
    templates.env.filters["when"] = _when
    templates.env.filters["seconds"] = _seconds
    templates.env.filters["value"] = _value
    templates.env.filters["queue"] = _queue
    key = secrets.token_urlsafe(32)
    if settings.session_key is not None:
        key = settings.session_key.get_secret_value()
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_hours * 3600,
        same_site="strict",
        https_only=settings.secure_cookies,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("operator", _signed_in(request))
        context["csrf"] = request.session.get("csrf", "")
        context["root"] = request.scope.get("root_path", "")
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    # signing in and out -----------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        request.session.setdefault("csrf", new_csrf_token())
        return render(request, "login.html", operator=None, error=None)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.session.get("csrf"), _field(form, "csrf")):
            raise HTTPException(403, "the form is out of date: load the page again")
        name, password, token = (_field(form, k) or "" for k in ("name", "password", "token"))
        client = f"address:{request.client.host if request.client else '?'}"
        keys = (client, f"name:{name}") if name else (client,)
        wait = site.limiter.wait(*keys)
        if wait > 0:
            log.warning("sign-in refused: too many failures", extra={"client": client})
            return render(
                request,
                "login.html",
                status_code=429,
                operator=None,
                error=f"Too many failed sign-ins: try again in {int(wait) + 1} s.",
            )
        who = site.operators.token(token) if token else site.operators.password(name, password)
        if who is None:
            site.limiter.failed(*keys)
            # not the name typed: a password typed into the wrong box would land in the log
            log.info("sign-in failed", extra={"client": client})
            return render(
                request, "login.html", status_code=401, operator=None, error="Not signed in."
            )
        site.limiter.succeeded(*keys)
        # A new session on every sign-in: nothing of the one before carries over.
        request.session.clear()
        request.session.update({"who": who.name, "role": who.role, "csrf": new_csrf_token()})
        log.info("signed in", extra={"operator": who.name, "role": who.role})
        return RedirectResponse(f"{request.scope.get('root_path', '')}/fleet", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await _guard(request, act=False)
        request.session.clear()
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)

    # the fleet --------------------------------------------------------------------------------

    @app.get("/")
    async def home(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/fleet", status_code=303)

    async def fleet_context(request: Request) -> dict[str, Any]:
        query = request.query_params
        health = query.get("health") or None
        has_errors = {"yes": True, "no": False}.get(query.get("errors", ""))
        where = FleetFilter(
            health=health if health in HEALTHS else None,
            name=(query.get("name") or "").strip() or None,
            has_errors=has_errors,
        )
        page_number = _page(request)
        page = await site.data.fleet(where, page_number)
        filters = {
            "health": where.health or "",
            "name": where.name or "",
            "errors": query.get("errors", "") if has_errors is not None else "",
        }
        return {
            "page": page,
            "page_number": page_number,
            "filters": filters,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "now": site.data.now(),
        }

    @app.get("/fleet", response_class=HTMLResponse)
    async def fleet(request: Request) -> Response:
        operator = await _page_guard(request)
        if isinstance(operator, Response):
            return operator
        return render(request, "fleet.html", **await fleet_context(request))

    @app.get("/fleet/rows", response_class=HTMLResponse)
    async def fleet_rows(request: Request) -> Response:
        await _guard(request, act=False)
        return render(request, "_fleet_rows.html", **await fleet_context(request))

    # a tenant ---------------------------------------------------------------------------------

    async def tenant_or_404(name: str) -> Any:
        overview = await site.data.overview(name)
        if overview is None:
            raise HTTPException(404, f"there is no tenant {name}")
        return overview

    @app.get("/tenants/{name}", response_class=HTMLResponse)
    async def tenant(request: Request, name: str) -> Response:
        operator = await _page_guard(request)
        if isinstance(operator, Response):
            return operator
        overview = await tenant_or_404(name)
        page = await site.data.tenant_page(overview, 0)
        return render(
            request,
            "tenant.html",
            tenant=overview,
            counts=page.counts,
            cycles=page.cycles,
            errors=await site.data.errors(name, 0),
            conflicts=await site.data.conflicts(name, 0),
            proposals=await site.data.proposals(name, 0),
            requests=(await site.data.recent_requests(name)).rows,
            reconnect=_needs_fortnox_grant(overview),
            config_file=site.config_file,
            now=site.data.now(),
        )

    def fragment(path: str, template: str, load: Callable[[str, int], Awaitable[Any]]) -> None:
        async def show(request: Request, name: str) -> Response:
            await _guard(request, act=False)
            overview = await tenant_or_404(name)
            return render(
                request, template, tenant=overview, items=await load(name, _page(request))
            )

        app.add_api_route(f"/tenants/{{name}}/{path}", show, response_class=HTMLResponse)

    fragment("errors", "_errors.html", site.data.errors)
    fragment("conflicts", "_conflicts.html", site.data.conflicts)
    fragment("matches", "_matches.html", site.data.proposals)
    fragment("runs", "_runs.html", site.data.cycles)

    @app.get("/tenants/{name}/counts", response_class=HTMLResponse)
    async def counts(request: Request, name: str) -> Response:
        await _guard(request, act=False)
        overview = await tenant_or_404(name)
        return render(request, "_counts.html", tenant=overview, counts=await site.data.counts(name))

    @app.get("/tenants/{name}/requests", response_class=HTMLResponse)
    async def requests(request: Request, name: str) -> Response:
        await _guard(request, act=False)
        overview = await tenant_or_404(name)
        shown = (await site.data.recent_requests(name)).rows
        response = render(request, "_requests.html", tenant=overview, requests=shown)
        watched = {int(i) for i in request.query_params.getlist("watch") if i.isdigit()}
        ended = (RequestState.DONE, RequestState.FAILED)
        if any(r.id in watched and r.state in ended for r in shown):
            response.headers["HX-Trigger"] = "settled"
        return response

    @app.get("/tenants/{name}/charts/lag.svg")
    async def lag_chart(request: Request, name: str) -> Response:
        await _guard(request, act=False)
        await tenant_or_404(name)
        svg = charts.lag_chart(await site.data.lag_samples(name), site.data.now())
        return Response(svg, media_type="image/svg+xml")

    @app.get("/tenants/{name}/charts/syncs.svg")
    async def syncs_chart(request: Request, name: str) -> Response:
        await _guard(request, act=False)
        await tenant_or_404(name)
        svg = charts.syncs_chart(await site.data.sync_starts(name), site.data.now())
        return Response(svg, media_type="image/svg+xml")

    # actions: each records a request ----------------------------------------------------------

    async def record(
        request: Request, name: str, kind: RequestKind, arguments: dict[str, Any]
    ) -> Response:
        operator = await _guard(request, act=True)
        overview = await tenant_or_404(name)
        made = await site.data.request(name, kind, arguments, operator.name)
        log.info(
            "admin request recorded",
            extra={"tenant": name, "kind": kind.value, "request": made.id, "by": operator.name},
        )
        root = request.scope.get("root_path", "")
        if request.headers.get("HX-Request") != "true":
            return RedirectResponse(f"{root}/tenants/{name}#requests", status_code=303)
        shown = (await site.data.recent_requests(name)).rows
        return render(request, "_requests.html", tenant=overview, requests=shown)

    @app.post("/tenants/{name}/errors/retry")
    async def retry(request: Request, name: str) -> Response:
        form = await request.form()
        one = _field(form, "one")
        if one is not None:
            ids = [_number(one, "one")]
        elif _field(form, "scope") == "all":
            return await record(request, name, RequestKind.RETRY, {})
        else:
            ids = [_number(v, "error_id") for v in form.getlist("error_id") if isinstance(v, str)]
            if not ids:
                raise HTTPException(400, "choose the errors to retry")
        for error_id in ids:
            row = await site.data.read.error(error_id)
            if row is None or row.tenant != name:
                raise HTTPException(404, f"tenant {name} has no error {error_id}")
        return await record(request, name, RequestKind.RETRY, {"error_ids": ids})

    @app.post("/tenants/{name}/conflicts/{conflict_id}/take")
    async def take(request: Request, name: str, conflict_id: int) -> Response:
        side = _field(await request.form(), "side")
        if side not in ("webcrm", "fortnox"):
            raise HTTPException(400, "side must be webcrm or fortnox")
        row = await site.data.read.conflict(conflict_id)
        if row is None or row.tenant != name:
            raise HTTPException(404, f"tenant {name} has no conflict {conflict_id}")
        arguments = {"conflict_id": conflict_id, "side": side}
        return await record(request, name, RequestKind.TAKE, arguments)

    @app.post("/tenants/{name}/matches/{proposal_id}/{verdict}")
    async def decide(request: Request, name: str, proposal_id: int, verdict: str) -> Response:
        kinds = {"accept": RequestKind.ACCEPT, "reject": RequestKind.REJECT}
        kinds["choose"] = RequestKind.CHOOSE
        if verdict not in kinds:
            raise HTTPException(404, f"no such decision {verdict!r}")
        proposal = await site.data.read.match_proposal(proposal_id)
        if proposal is None or proposal.tenant != name:
            raise HTTPException(404, f"tenant {name} has no match proposal {proposal_id}")
        return await record(request, name, kinds[verdict], {"proposal_id": proposal_id})

    simple = {
        "import": RequestKind.IMPORT,
        "sync": RequestKind.SYNC,
        "full-sync": RequestKind.FULL_SYNC,
        "pause": RequestKind.PAUSE,
        "resume": RequestKind.RESUME,
    }

    @app.post("/tenants/{name}/{action}")
    async def act(request: Request, name: str, action: str) -> Response:
        if action not in simple:
            raise HTTPException(404, f"no such action {action!r}")
        arguments: dict[str, Any] = {}
        if action == "pause":
            reason = (_field(await request.form(), "reason") or "").strip()
            arguments = {"reason": reason} if reason else {}
        return await record(request, name, simple[action], arguments)

    # who is signed in -------------------------------------------------------------------------

    async def _page_guard(request: Request) -> Operator | Response:
        """The operator of a page request, or the redirect to sign in."""
        who = _signed_in(request)
        if who is None:
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}/login", status_code=303)
        return who

    async def _guard(request: Request, *, act: bool) -> Operator:
        """The operator of a fragment or action; an action must carry the session's CSRF
        token and come from an operator who may act. Refusals change nothing."""
        who = _signed_in(request)
        if who is None:
            root = request.scope.get("root_path", "")
            raise HTTPException(401, "sign in first", headers={"HX-Redirect": f"{root}/login"})
        if request.method != "GET":
            given = request.headers.get("X-CSRF-Token") or _field(await request.form(), "csrf")
            if not csrf_matches(request.session.get("csrf"), given):
                raise HTTPException(403, "the form is out of date: load the page again")
            if act and not who.may_act:
                raise HTTPException(403, f"{who.name} may only read (role {who.role})")
        return who

    # Starlette's own (an unknown address) as well as the routes' refusals: one page for all.
    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, error: StarletteHTTPException) -> Response:
        response = render(
            request, "refused.html", status_code=error.status_code, message=error.detail
        )
        response.headers.update(error.headers or {})
        return response

    return app


def _needs_fortnox_grant(overview: TenantOverview) -> bool:
    """Whether the tenant waits for Fortnox to be connected again. A refused webCRM token is
    "reconnect needed" too, but its reason already says which key of which file to fix."""
    waiting = overview.health in RECONNECT or overview.paused in RECONNECT
    return waiting and not (overview.reason or overview.paused_reason or "").startswith("webCRM")


def _signed_in(request: Request) -> Operator | None:
    who, role = request.session.get("who"), request.session.get("role")
    if not isinstance(who, str) or role not in ("operator", "read-only"):
        return None
    return Operator(who, role)


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise HTTPException(400, f"{name} must be a number (got {text[:20]!r})")
    return int(text)


def _page(request: Request) -> int:
    text = request.query_params.get("page", "0")
    return int(text) if text.isdigit() else 0


def _when(at: Any) -> str:
    """A time as the page shows it: UTC to the second, or a dash."""
    return "—" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    """A duration in words a person reads at a glance."""
    if value is None:
        return "—"
    if value < 90:
        return f"{value:.0f} s"
    if value < 5400:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _queue(queue: QueueState | None) -> str:
    """A tenant's sync jobs in the job queue: ``1 running, 1 waiting until …``, or a dash."""
    if queue is None:
        return "—"
    parts = []
    if queue.running:
        parts.append(f"{queue.running} running")
    if queue.waiting:
        until = "" if queue.next_at is None else f" until {_when(queue.next_at)}"
        parts.append(f"{queue.waiting} waiting{until}")
    return ", ".join(parts) or "no job"


def _value(value: Any) -> str:
    """A field value of a conflict: blank shown as such."""
    return "(blank)" if value in (None, "") else str(value)
