"""The operator dashboard: plain HTML, CSS and JavaScript modules shipped in the package
(``dashboard_assets/``), served under ``/dashboard/`` beside the API they call, with the
settings they need at ``/dashboard/config.json``.

Nothing is fetched from elsewhere and nothing is built: the browser loads the files as they
are. The pages are public (they hold no data); every call they make to ``/api/v1`` carries
the signed-in user's bearer token. A content security policy keeps the pages to their own
scripts and to the API (and the identity provider, to sign in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASSETS = Path(__file__).parent / "dashboard_assets"
PREFIX = "/dashboard"

REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)
"""A study report is one offline file with its own styles: it may load nothing."""


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard is told about its installation."""

    issuer: str | None = None
    """An OpenID provider to sign in with (authorisation code with PKCE); None: users paste a
    token (``osed token create``)."""
    client_id: str = "osed-dashboard"
    """The dashboard's public client at the provider (redirect URI: ``…/dashboard/``)."""
    scope: str = "openid"
    estimation_prefix: str = "se"
    node_series: Sequence[str] = ("{prefix}/node/{id}/#",)
    """Series patterns shown for a node (``{prefix}``: the estimation's, ``{id}``: the node)."""
    branch_series: Sequence[str] = ("{prefix}/branch/{id}/#",)
    series_first: Sequence[str] = ()
    """Words that put an element's series first in its picker (``/managed/``)."""
    voltage_limits_pu: tuple[float, float] = (0.9, 1.1)
    """The band a node's voltage must stay in (EN 50160: ±10 %)."""
    loading_limit: float = 1.0
    title: str = "OSED"
    report: Path | None = None
    """A study's HTML report, served at ``/dashboard/report.html`` and linked."""
    series_hint: str | None = None
    """The series pattern the time-series view opens with (None: every series)."""
    time_range: tuple[str, str] | None = None
    """The range charts show (ISO 8601 start and end); None: the last day."""
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)

    def config(self) -> dict[str, Any]:
        def patterns(templates: Sequence[str]) -> list[str]:
            return [t.replace("{prefix}", self.estimation_prefix) for t in templates]

        return {
            "api": "/api/v1",
            "title": self.title,
            "sign_in": None
            if self.issuer is None
            else {"issuer": self.issuer, "client_id": self.client_id, "scope": self.scope},
            "series": {"node": patterns(self.node_series), "branch": patterns(self.branch_series)},
            "series_hint": self.series_hint,
            "series_first": list(self.series_first),
            "time_range": None
            if self.time_range is None
            else {"start": self.time_range[0], "end": self.time_range[1]},
            "voltage_limits_pu": list(self.voltage_limits_pu),
            "loading_limit": self.loading_limit,
            "report": None if self.report is None else f"{PREFIX}/report.html",
            "links": [{"title": title, "href": href} for title, href in self.links],
        }

    def policy(self) -> str:
        """The pages' content security policy: own files, the API, and the issuer's origin
        (its discovery document and token endpoint are fetched to sign in)."""
        connect = "'self'"
        if self.issuer is not None:
            parts = urlsplit(self.issuer)
            connect += f" {parts.scheme}://{parts.netloc}"
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        )


class _Headers:
    """Adds fixed headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, sending)


def mount(app: FastAPI, dashboard: Dashboard, served: dict[str, bool]) -> None:
    """Serve the dashboard under ``/dashboard/`` (its routes stay out of the OpenAPI
    document: they are pages, not the API). ``served``: which resources the API has, so the
    pages ask for none that is not there."""
    common = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    config = {**dashboard.config(), "served": served}

    @app.get(PREFIX, include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @app.get(f"{PREFIX}/config.json", include_in_schema=False)
    async def settings() -> JSONResponse:
        return JSONResponse(config, headers=common)

    report = dashboard.report
    if report is not None:

        @app.get(f"{PREFIX}/report.html", include_in_schema=False)
        async def study_report() -> FileResponse:
            return FileResponse(
                report,
                media_type="text/html; charset=utf-8",
                headers={**common, "Content-Security-Policy": REPORT_POLICY},
            )

    files = StaticFiles(directory=ASSETS, html=True)
    headers = {**common, "Content-Security-Policy": dashboard.policy()}
    app.mount(PREFIX, _Headers(files, headers), name="dashboard")
