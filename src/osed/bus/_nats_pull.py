"""Messages of a durable JetStream pull consumer, pulled ahead onto one inbox.

nats-py's ``fetch`` is one round trip per batch and a ``wait_for`` timer per message. Here pull
requests (``batch`` messages, expiring after ``expires``) go to one inbox subscription and are
renewed while the handler works, so the next messages are already here when it is done. What
is asked and not yet delivered is tracked per request: a request ends when its last message
came, on the broker's 408 (expired; it comes after any message of that request), and, should
that be lost, ``GRACE`` after its expiry.

``close()`` waits for every request to end before it unsubscribes, then hands every message
not handled back to the consumer (NAK, in the order they came), for the next subscriber at once.
Handing back earlier would let the requests still open take the same messages again, and
unsubscribing earlier would race with deliveries already on their way: either leaves messages
in an inbox nobody reads until ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

log = logging.getLogger(__name__)

STATUS = "Status"
DESCRIPTION = "Description"
GRACE = 0.5  # seconds after its expiry that a request counts as ended without its 408
NATS_ERRORS = (nats.errors.Error, nats.js.errors.Error)


class PullFeed:
    """Pulls from consumer ``consumer`` of ``stream``; :meth:`take` returns what arrived."""

    def __init__(
        self, nc: NatsClient, stream: str, consumer: str, *, batch: int, expires: float
    ) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._batch = max(1, batch)
        self._expires = expires
        self._inbox = nc.new_inbox()
        self._sub: NatsSubscription | None = None
        self._ready: deque[Msg] = deque()
        # Open requests, oldest first: [messages still to come, when the broker ends it].
        self._asked: deque[list[float]] = deque()
        self._credit = 0  # messages still to come over all open requests
        self._arrival: asyncio.Future[None] | None = None
        self._stopping = False

    async def open(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)

    async def take(self) -> deque[Msg]:
        """What arrived since the last call, in order; waits up to ``expires`` for the first
        message. Tops the pull requests up before returning, so the next messages come while
        the caller handles these."""
        await self._top_up()
        if not self._ready and not self._stopping:
            await self._wait(self._expires)
            await self._top_up()  # the wait may have used up every request
        ready, self._ready = self._ready, deque()
        return ready

    def reset(self) -> None:
        """After a reconnection: the broker may have lost our requests; ask again now."""
        self._asked.clear()
        self._credit = 0
        self.wake()

    def wake(self) -> None:
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)

    async def close(self, unhandled: Iterable[Msg] = ()) -> None:
        """Ask for nothing more, wait for the open requests to end (at most ``expires`` +
        ``GRACE``), unsubscribe and hand back (NAK) ``unhandled`` and every message not taken."""
        self._stopping = True
        self._ready.extendleft(reversed(list(unhandled)))
        loop = asyncio.get_running_loop()
        until = max((at for _, at in self._asked), default=0.0) + GRACE
        self._forget_expired(loop.time())
        while self._credit > 0 and loop.time() < until:
            await self._wait(until - loop.time())
            self._forget_expired(loop.time())
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await sub.unsubscribe()
        while self._ready:
            with contextlib.suppress(*NATS_ERRORS):
                await self._ready.popleft().nak()

    async def _top_up(self) -> None:
        if self._stopping:
            return
        now = asyncio.get_running_loop().time()
        self._forget_expired(now)
        # Asked and not yet delivered stays between batch/2 and batch, so the broker streams
        # on while the handler works; unhandled here are at most two batches.
        if self._credit > self._batch // 2 or len(self._ready) > self._batch:
            return
        wanted = self._batch - self._credit
        request = b'{"batch":%d,"expires":%d}' % (wanted, int(self._expires * 1e9))
        await self._nc.publish(self._next, request, reply=self._inbox)
        self._asked.append([wanted, now + self._expires])
        self._credit += wanted

    async def _wait(self, timeout: float) -> None:
        self._arrival = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._arrival
        except TimeoutError:
            pass
        finally:
            self._arrival = None

    def _forget_expired(self, now: float) -> None:
        asked = self._asked
        while asked and asked[0][1] + GRACE < now:
            self._credit -= int(asked.popleft()[0])

    async def _on_msg(self, msg: Msg) -> None:
        if msg.reply:  # a message of the stream (statuses come without a reply subject)
            self._ready.append(msg)
            asked = self._asked
            if asked:
                self._credit -= 1
                head = asked[0]
                head[0] -= 1
                if not head[0]:
                    asked.popleft()
        else:
            self._on_status(msg)
        arrival = self._arrival
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    def _on_status(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get(STATUS)
        if status in ("408", "404"):  # the oldest request expired (or found nothing)
            if self._asked:
                self._credit -= int(self._asked.popleft()[0])
        elif status == "409":  # e.g. the consumer was deleted: every request is void
            log.warning("pull from %s ended: %s", self._next, headers.get(DESCRIPTION))
            self._asked.clear()
            self._credit = 0
        elif status != "100":  # 100 is a heartbeat
            log.warning("unexpected status %s on pulling %s", status, self._next)
