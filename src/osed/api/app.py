"""The platform API: one FastAPI application under ``/api/v1`` over what the runtime holds
(docs/api.md). OpenAPI at ``/api/v1/openapi.json``, interactive documentation at
``/api/v1/docs``.

Each resource joins only when its backing part is given: the EDC manager's and the
balancer's routers (the same their own services serve), the scenario runs, the network and
its areas, the markets of the Market Agents, the ledger, the time series, and events from
the bus; with OSED's local issuer, its discovery document and keys under ``/.well-known``.
Every route but those and ``/healthz`` and ``/readyz`` asks for a bearer token (unless the
API is open); every error is ``application/problem+json``; a POST with an
``Idempotency-Key`` is answered once per key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from osed.agents.bus_service import MarketAgentService
from osed.api import buildings as buildings_api
from osed.api import events as events_api
from osed.api import grid as grid_api
from osed.api import issuer as issuer_api
from osed.api import ledger as ledger_api
from osed.api import market_prices as market_prices_api
from osed.api import markets as markets_api
from osed.api import me as me_api
from osed.api import quotes as quotes_api
from osed.api import series as series_api
from osed.api import studies as studies_api
from osed.api.auth import Authenticator
from osed.api.dashboard import Dashboard
from osed.api.dashboard import mount as mount_dashboard
from osed.api.estimates import EstimateFollower
from osed.api.events import EventHub, Feed
from osed.api.idempotency import DEFAULT_TTL, IdempotentPosts
from osed.api.market_access import MarketAccess, market_access
from osed.api.openapi_doc import described, rewrite
from osed.api.problems import ProblemBodies, install_handlers, problem
from osed.api.series_owners import SeriesOwners
from osed.api.strict_query import strict_query
from osed.domain.time import Clock, SystemClock
from osed.edge import api as edc_api
from osed.edge.manager import EdcManager
from osed.grid.network import Network
from osed.optimizer.budget import MAX_REQUEST_BYTES
from osed.optimizer_service import app as balancer_api
from osed.ports.bus import Bus
from osed.ports.idempotency import IdempotencyStore
from osed.ports.identity import TokenValidator
from osed.ports.intelligence import DecisionStore
from osed.ports.jobs import JobStore
from osed.ports.ledger import LedgerStore
from osed.ports.studies import StudyRuns
from osed.ports.timeseries import TimeSeriesStore
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore

BASE = "/api/v1"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True)
class Balancer:
    """The balancer's job store (opened in the server's event loop) and its limits."""

    open_store: Callable[[], JobStore]
    max_time_limit_s: float = 600.0
    queue_timeout: timedelta | None = None
    max_request_bytes: int = MAX_REQUEST_BYTES


@dataclass(frozen=True)
class Studies:
    """The scenario runs (opened in the server's event loop) and the bundled scenarios'
    names the API states."""

    open_runs: Callable[[], StudyRuns]
    bundled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parts:
    """What the API serves; a part left out leaves its resource out of the API."""

    edc_manager: EdcManager | None = None
    decisions: DecisionStore | None = None
    balancer: Balancer | None = None
    studies: Studies | None = None
    """Scenario runs: submitted, played by the runtime's workers, read back."""
    markets: Mapping[str, MarketAgentService | MarketAccess] = field(default_factory=dict)
    """The markets: Market Agent services of this process, or markets whose agent runs in
    another process (:class:`~osed.agents.remote_market.RemoteMarket`)."""
    ledger: LedgerStore | None = None
    series: Callable[[], TimeSeriesStore] | None = None
    """Opens the time-series store (in the server's event loop)."""
    network: Network | None = None
    bus: Bus | None = None
    """Where estimates and events are followed (started by its owner)."""
    estimation_prefix: str = "se"
    feeds: tuple[Feed, ...] = ()
    buildings: tuple[buildings_api.OwnedBuilding, ...] = ()
    """The building agents the process runs, each with the party its building belongs to."""
    readiness: Callable[[], dict[str, bool]] | None = None


def event_feeds(
    markets: Mapping[str, object],
    *,
    estimation_prefix: str | None,
    decision_topic: str | None,
) -> tuple[Feed, ...]:
    """The usual feeds: each market's transactions (to their party only), the estimates'
    summaries and the grid intelligence's decisions."""
    feeds = [
        Feed(f"cts/{market}/transactions/+", "market.transaction", events_api.last_level)
        for market in sorted(markets)
    ]
    if estimation_prefix:
        feeds.append(Feed(f"{estimation_prefix}/summary", "grid.estimate"))
    if decision_topic:
        feeds.append(Feed(decision_topic, "intelligence.decision"))
    return tuple(feeds)


def create_app(
    parts: Parts,
    *,
    validator: TokenValidator | None = None,
    open: bool = False,
    idempotency: Callable[[], IdempotencyStore] | None = None,
    idempotency_ttl: timedelta = DEFAULT_TTL,
    clock: Clock | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    issuer: issuer_api.IssuerDocuments | None = None,
    dashboard: Dashboard | None = None,
) -> FastAPI:
    """The API over ``parts``. ``validator`` turns bearer tokens into principals (required
    unless ``open``, which serves every request as the anonymous administrator);
    ``idempotency`` opens the key store (default: SQLite in memory); ``issuer``: the local
    issuer whose discovery document and JWKS the API publishes; ``dashboard``: the
    operator dashboard served under ``/dashboard/`` (none: not served)."""
    clock = clock or SystemClock()
    authenticator = Authenticator(validator, open=open)
    caller = authenticator.dependency()
    opened: dict[str, Any] = {}
    follower = None
    view = None if parts.network is None else grid_api.GridView(parts.network)
    if view is not None and parts.bus is not None and parts.estimation_prefix:
        follower = EstimateFollower(parts.bus, view.areas, parts.estimation_prefix)
    hub = EventHub(parts.bus, list(parts.feeds)) if parts.bus is not None and parts.feeds else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            keys = (idempotency or _memory_keys)()
            stack.callback(keys.close)
            opened["idempotency"] = keys
            if parts.balancer is not None:
                jobs = parts.balancer.open_store()
                stack.callback(jobs.close)
                opened["jobs"] = jobs
            if parts.studies is not None:
                runs = parts.studies.open_runs()
                stack.callback(runs.close)
                opened["studies"] = runs
            if parts.series is not None:
                series = parts.series()
                stack.callback(series.close)
                opened["series"] = series
            for started in (follower, hub):
                if started is not None:
                    await started.start()
                    stack.push_async_callback(started.stop)
            yield
            opened.clear()

    app = FastAPI(
        title="OSED platform API",
        version="1",
        description=(
            "One API for OSED's platform: network, EDCs and grid functions, markets, "
            "optimisations, ledger, time series and live events (docs/api.md)."
        ),
        lifespan=lifespan,
        dependencies=[Depends(strict_query)],
        openapi_url=f"{BASE}/openapi.json",
        docs_url=f"{BASE}/docs",
        redoc_url=None,
    )
    app.state.estimates = follower
    app.state.events = hub
    install_handlers(app)
    app.add_middleware(
        IdempotentPosts,
        store=lambda: opened.get("idempotency"),
        authenticator=authenticator,
        clock=clock,
        max_body=max_request_bytes,
        ttl=idempotency_ttl,
    )
    app.add_middleware(_SizeLimit, max_bytes=max_request_bytes)
    app.add_middleware(ProblemBodies)

    app.include_router(me_api.create_router(caller=caller, described=described), prefix=BASE)
    if parts.edc_manager is not None:
        app.include_router(
            edc_api.create_router(
                parts.edc_manager, decisions=parts.decisions, caller=caller, described=described
            ),
            prefix=BASE,
            tags=["edcs"],
        )
    components: dict[str, Any] = {}
    if parts.balancer is not None:
        options = parts.balancer
        app.include_router(
            balancer_api.create_router(
                lambda: opened["jobs"],
                clock=clock,
                max_time_limit_s=options.max_time_limit_s,
                queue_timeout=options.queue_timeout,
                max_request_bytes=options.max_request_bytes,
                caller=caller,
                described=described,
                base=BASE,
            ),
            prefix=BASE,
            tags=["optimizations"],
        )
        components.update(balancer_api.components())
    if parts.studies is not None:
        app.include_router(
            studies_api.create_router(
                lambda: opened["studies"],
                bundled=parts.studies.bundled,
                clock=clock,
                caller=caller,
                described=described,
                base=BASE,
            ),
            prefix=BASE,
        )
    if view is not None:
        app.include_router(
            grid_api.create_router(
                view,
                estimates=follower,
                caller=caller,
                described=described,
            ),
            prefix=BASE,
        )
    if parts.markets:
        markets = market_access(parts.markets)
        for module in (markets_api, quotes_api, market_prices_api):
            app.include_router(
                module.create_router(markets, caller=caller, described=described), prefix=BASE
            )
    if parts.ledger is not None:
        app.include_router(
            ledger_api.create_router(parts.ledger, caller=caller, described=described),
            prefix=BASE,
        )
    if parts.series is not None:
        app.include_router(
            series_api.create_router(
                lambda: opened["series"],
                caller=caller,
                described=described,
                owners=SeriesOwners({b.agent.building.id: b.party for b in parts.buildings}),
            ),
            prefix=BASE,
        )
    if parts.buildings:
        app.include_router(
            buildings_api.create_router(parts.buildings, caller=caller, described=described),
            prefix=BASE,
        )
    if hub is not None:
        app.include_router(
            events_api.create_router(hub, caller=caller, described=described), prefix=BASE
        )
    open_paths = OPEN_PATHS
    if issuer is not None:
        app.include_router(issuer_api.create_router(issuer))
        open_paths = OPEN_PATHS | issuer_api.PATHS

    @app.get("/healthz", include_in_schema=True, tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"description": "a part is not ready"}},
    )
    async def ready() -> JSONResponse:
        services = {} if parts.readiness is None else parts.readiness()
        up = all(services.values())
        return JSONResponse({"ready": up, "services": services}, status_code=200 if up else 503)

    if dashboard is not None:
        served = {
            "network": view is not None,
            "estimates": follower is not None,
            "edcs": parts.edc_manager is not None,
            "decisions": parts.edc_manager is not None and parts.decisions is not None,
            "optimizations": parts.balancer is not None,
            "studies": parts.studies is not None,
            "markets": bool(parts.markets),
            "ledger": parts.ledger is not None,
            "series": parts.series is not None,
            "events": hub is not None,
        }
        mount_dashboard(app, dashboard, served)

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = rewrite(schema, open_paths=open_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _memory_keys() -> IdempotencyStore:
    return SqliteIdempotencyStore(":memory:")


class _SizeLimit:
    """A body declared larger than ``max_bytes`` is refused (413) before it is read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                answer = problem(
                    413,
                    "too_large",
                    detail=f"the body is larger than {self.max_bytes} bytes",
                    instance=str(scope.get("path", "")),
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
