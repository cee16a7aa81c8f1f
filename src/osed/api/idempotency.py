"""``Idempotency-Key`` on POST: a retry gets the first answer, and nothing is done twice.

The key is the caller's: kept per principal (issuer and subject) in an
:class:`~osed.ports.idempotency.IdempotencyStore` for ``ttl``. The same key with the same
request (method, path, query and body) replays the stored response with its status and
headers, marked ``Idempotent-Replayed: true``; the same key with another request is 422
naming ``$header.Idempotency-Key``; the same key while its first request still runs is 409.
A 5xx answer is not kept: the retry runs afresh. A request whose token is refused passes
through, to be answered 401 by its route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osed.api.auth import Authenticator
from osed.api.problems import problem
from osed.domain.errors import AuthenticationError, Problem, UnavailableError
from osed.domain.identity import Principal
from osed.domain.time import Clock
from osed.ports.idempotency import MAX_KEY, IdempotencyStore, StoredResponse

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
DEFAULT_TTL = timedelta(hours=24)
LEASE = timedelta(minutes=5)
"""How long a claim holds while its request runs; a process that died frees it then."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=MAX_KEY,
        pattern=r"^[!-~]+$",
        description="required: a retry with the same key and body gets the same answer",
    ),
]
"""The ``Idempotency-Key`` header as a creating route declares it (checked by the middleware;
the route states it so that its OpenAPI document does)."""


def shape_problems(body: Iterable[str], fields: Sequence[str], key: str | None) -> list[Problem]:
    """What is wrong with a creating request's shape: each field of ``body`` not among
    ``fields``, and a missing ``Idempotency-Key``."""
    problems = [
        Problem(f"$.{name}", "unexpected_key", f"not a field: {', '.join(fields)} are")
        for name in body
        if name not in fields
    ]
    if key is None:
        problems.append(
            Problem(f"$header.{HEADER}", "missing", "required: a retry sends the same key")
        )
    return problems


def owner_of(principal: Principal) -> str:
    return f"{principal.issuer}\x1f{principal.subject}"


def fingerprint(scope: Scope, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"")):
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\x00")
    digest.update(body)
    return digest.digest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY and all("!" <= c <= "~" for c in key)


class IdempotentPosts:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Callable[[], IdempotencyStore | None],
        authenticator: Authenticator,
        clock: Clock,
        max_body: int,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.app = app
        self.store = store
        self.authenticator = authenticator
        self.clock = clock
        self.max_body = max_body
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = request.headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        store = self.store()
        if store is None:  # served without its lifespan: keys cannot be kept
            answer = problem(503, "unavailable", detail="the idempotency-key store is not open")
            await answer(scope, receive, send)
            return
        if not valid_key(key):
            await self._refuse_key(scope, receive, send, "must be 1 to 200 printable characters")
            return
        try:
            principal = await self.authenticator.principal(request)
        except (AuthenticationError, UnavailableError):
            await self.app(scope, receive, send)  # its route answers 401 or 503
            return
        body = await self._body(receive)
        if body is None:
            answer = problem(413, "too_large", detail=f"the body is larger than {self.max_body}")
            await answer(scope, receive, send)
            return
        owner, print_ = owner_of(principal), fingerprint(scope, body)
        held = store.claim(owner, key, print_, now=self.clock.now(), lease=LEASE)
        if held is not None:
            if held.fingerprint != print_:
                await self._refuse_key(
                    scope, receive, send, "this key was used for another request"
                )
            elif held.response is None:
                answer = problem(
                    409,
                    "in_progress",
                    detail="the first request with this key is still running: retry later",
                    instance=scope["path"],
                    headers={"Retry-After": "1"},
                )
                await answer(scope, receive, send)
            else:
                await _replay(held.response, send)
            return
        await self._run(scope, body, send, store=store, owner=owner, key=key)

    async def _run(
        self,
        scope: Scope,
        body: bytes,
        send: Send,
        *,
        store: IdempotencyStore,
        owner: str,
        key: str,
    ) -> None:
        sent = False

        async def replayed_body() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        start: Message = {}
        parts: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replayed_body, keep)
        except BaseException:
            store.release(owner, key)
            raise
        status = int(start.get("status", 500))
        if status >= 500:  # the server failed: the retry runs afresh
            store.release(owner, key)
            return
        headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in start.get("headers", [])
        )
        response = StoredResponse(status, headers, b"".join(parts))
        store.complete(owner, key, response, now=self.clock.now(), ttl=self.ttl)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse_key(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        found = Problem(f"$header.{HEADER}", "idempotency_key", message)
        answer = problem(
            422,
            "validation",
            detail="the Idempotency-Key cannot be taken",
            instance=scope["path"],
            errors=[found],
        )
        await answer(scope, receive, send)


async def _replay(response: StoredResponse, send: Send) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    headers.append((REPLAYED.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
