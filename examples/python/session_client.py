#!/usr/bin/env python3
"""A session client for ws-lifecycle, written from docs/protocol.md alone.

It keeps a session across reconnects: a cursor (epoch, offset) per topic,
duplicates dropped, gaps not trusted (it resumes instead), every recovery
told to the application, sends numbered per client instance and resent
until acknowledged, full-jitter backoff, a heartbeat of its own, and it
stops for good on the close codes the protocol calls final.

Needs Python 3.11 and `websockets` 10 (Debian 12: python3-websockets). Run as
the conformance client suite runs it (docs/conformance.md):

    npx ws-lifecycle conformance client -- python3 examples/python/session_client.py

It reads the server's URL from WSL_CONFORMANCE_URL, prints one JSON line
per thing it hands its application (message, recovery, unsubscribed,
closed) and does what each JSON line on its stdin asks (send, close).
"""

import asyncio
import json
import os
import random
import secrets
import sys

try:
    import websockets
except ImportError:
    sys.exit("session_client.py needs the websockets package (Debian: apt install python3-websockets; tested with 10.4)")

PROTOCOL = "ws-lifecycle.v1"
# Section 7: after these the client stops; retrying would be refused again.
FINAL_CODES = {1002, 1003, 1007, 1008, 1009, 4400, 4403}
# Section 7: after these it waits at least a second.
SLOW_CODES = {1012, 1013}
# Section 1.3: an upgrade refused with these is final; others (5xx) are retried.
FINAL_STATUSES = {401, 403}


class Breach(Exception):
    """The server broke the protocol on this connection (section 5.6): resume instead of trusting it."""


class SessionClient:
    def __init__(self, url, emit, heartbeat_interval=15.0, heartbeat_timeout=10.0, min_delay=0.25, max_delay=10.0):
        self.url = url
        self.emit = emit
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.min_delay = min_delay
        self.max_delay = max_delay
        # Section 3.2: one random id per instance, 128 bits, the same in every hello.
        self.client_id = secrets.token_urlsafe(16)
        self.session = None
        self.cursors = {}  # topic -> (epoch, offset), section 5.1
        self.pending = []  # (id, data) not yet acknowledged, in id order
        self.last_id = 0
        self.max_frame_bytes = None
        self.ws = None
        self.started = set()  # topics whose recovery came on this connection
        self.welcomed = False
        self.welcomed_once = False  # a welcome came on the current connection
        self.stopped = False

    # What the application asks -------------------------------------------

    async def send(self, data):
        """Number a message and send it now if welcomed; it is resent after every welcome until acknowledged (3.3)."""
        self.last_id += 1
        self.pending.append((self.last_id, data))
        if self.welcomed:
            await self._write({"type": "send", "id": self.last_id, "data": data})

    async def close(self):
        """Close for good."""
        self.stopped = True
        if self.ws is not None:
            await self.ws.close(1000, "closed by the application")

    # The connection loop --------------------------------------------------

    async def run(self):
        attempt = 0
        while not self.stopped:
            code = await self._connect_once()
            if self.stopped:
                return
            if code in FINAL_CODES:
                self.stopped = True
                self.emit({"event": "closed", "code": code})
                return
            if self.welcomed_once:
                attempt = 0  # section 7: k starts again after a welcome
            attempt += 1
            # Section 7: full jitter, min(max, min * 2^(k-1)); at least a second after 1012 and 1013.
            delay = random.uniform(0, min(self.max_delay, self.min_delay * 2 ** (attempt - 1)))
            if code in SLOW_CODES:
                delay = max(delay, 1.0)
            await asyncio.sleep(delay)

    async def _connect_once(self):
        """One connection, from the upgrade to its close; the close code (1006 when it just dropped)."""
        self.welcomed = False
        self.welcomed_once = False
        try:
            ws = await websockets.connect(self.url, subprotocols=[PROTOCOL], ping_interval=None, close_timeout=1, max_size=None)
        except websockets.exceptions.InvalidStatusCode as error:
            return 1008 if error.status_code in FINAL_STATUSES else 1006
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake):
            return 1006
        self.ws = ws
        try:
            if ws.subprotocol != PROTOCOL:
                # Section 1.2: the server does not speak the protocol.
                await ws.close(1002, "subprotocol not selected")
                return 1002
            await self._write(self._hello())
            await self._read(ws)
        except Breach as breach:
            print(f"session_client: {breach}; resuming", file=sys.stderr)
            await ws.close(1000, "protocol breach")
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self.ws = None
            self.welcomed = False
        return ws.close_code if ws.close_code is not None else 1006

    async def _read(self, ws):
        """Read frames until the connection closes; ping a server that went quiet, give it up if it stays quiet (8.2)."""
        while True:
            try:
                text = await asyncio.wait_for(ws.recv(), self.heartbeat_interval)
            except asyncio.TimeoutError:
                await self._write({"type": "ping"})
                try:
                    text = await asyncio.wait_for(ws.recv(), self.heartbeat_timeout)
                except asyncio.TimeoutError:
                    # A half-open connection never reports a close: give it up and resume on a new one.
                    ws.transport.abort()
                    return
            await self._frame(text)

    def _hello(self):
        hello = {"type": "hello", "client": self.client_id, "topics": {t: {"epoch": e, "offset": o} for t, (e, o) in self.cursors.items()}}
        if self.session is not None:
            hello["session"] = self.session
        # Section 5.5: never a hello larger than the server reads; the oldest cursors go first.
        while self.max_frame_bytes is not None and len(json.dumps(hello).encode()) > self.max_frame_bytes and hello["topics"]:
            del hello["topics"][next(iter(hello["topics"]))]
        return hello

    async def _write(self, frame):
        if self.ws is not None and self.ws.open:
            await self.ws.send(json.dumps(frame))

    # Frames from the server ------------------------------------------------

    async def _frame(self, text):
        if not isinstance(text, str):
            raise Breach("a binary message")
        try:
            frame = json.loads(text)
        except ValueError:
            raise Breach("a frame that is not JSON")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise Breach("a frame without a type")
        kind = frame["type"]
        if kind == "welcome":
            await self._welcome(frame)
        elif kind == "recovery":
            self._recovery(frame)
        elif kind == "message":
            self._message(frame)
        elif kind == "unsubscribed":
            topic = frame.get("topic")
            self.started.discard(topic)
            self.cursors.pop(topic, None)  # 4.4: the cursor is dropped
            self.emit({"event": "unsubscribed", "topic": topic})
        elif kind == "ack":
            self.pending = [(i, d) for (i, d) in self.pending if i != frame.get("id")]
        elif kind == "error":
            print(f"session_client: server error {frame.get('code')}: {frame.get('message')}", file=sys.stderr)
        # replayed, pong, and frame types this client does not know are ignored (2.3).

    async def _welcome(self, frame):
        self.session = frame["session"]
        self.max_frame_bytes = (frame.get("limits") or {}).get("maxFrameBytes")
        self.started = set()
        # 4.1, 5.5: keep cursors only of the topics the session follows now.
        followed = set(frame.get("topics") or [])
        self.cursors = {t: c for t, c in self.cursors.items() if t in followed}
        self.welcomed_once = True
        # 3.3: every unacknowledged send again, in id order, before any new one.
        index = 0
        while index < len(self.pending):
            send_id, data = self.pending[index]
            await self._write({"type": "send", "id": send_id, "data": data})
            index += 1
        self.welcomed = True

    def _recovery(self, frame):
        topic = frame["topic"]
        self.started.add(topic)
        if frame.get("recovered") is not True:
            # 5.3: the stream continues here, even when that is lower than the cursor; any reason, known or not.
            self.cursors[topic] = (frame["epoch"], frame["offset"])
        event = {"event": "recovery", "topic": topic, "recovered": frame.get("recovered") is True, "epoch": frame["epoch"], "offset": frame["offset"]}
        if "reason" in frame:
            event["reason"] = frame["reason"]
        self.emit(event)

    def _message(self, frame):
        topic, epoch, offset = frame.get("topic"), frame.get("epoch"), frame.get("offset")
        cursor = self.cursors.get(topic)
        if cursor is not None and cursor[0] == epoch and offset <= cursor[1]:
            return  # 5.2: a duplicate
        if topic not in self.started:
            raise Breach(f"a message of {topic} before its recovery")
        if cursor is None or cursor[0] != epoch or offset != cursor[1] + 1:
            raise Breach(f"message {offset} of {topic} where {None if cursor is None else cursor[1] + 1} was due")
        self.cursors[topic] = (epoch, offset)
        event = {"event": "message", "topic": topic, "epoch": epoch, "offset": offset}
        if "b64" in frame:
            event["b64"] = frame["b64"]
        else:
            event["data"] = frame.get("data")
        self.emit(event)


def emit(event):
    print(json.dumps(event), flush=True)


async def main():
    url = os.environ.get("WSL_CONFORMANCE_URL")
    if not url:
        print("WSL_CONFORMANCE_URL is not set: run this through `ws-lifecycle conformance client -- ...`", file=sys.stderr)
        sys.exit(2)
    heartbeat = float(os.environ.get("WSL_CONFORMANCE_HEARTBEAT_MS", "0")) / 1000
    client = SessionClient(url, emit, **({"heartbeat_interval": heartbeat, "heartbeat_timeout": heartbeat} if heartbeat > 0 else {}))
    running = asyncio.create_task(client.run())

    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        instruction = json.loads(line)
        if instruction.get("do") == "send":
            await client.send(instruction.get("data"))
        elif instruction.get("do") == "close":
            break
    if not client.stopped:
        await client.close()
        emit({"event": "closed", "code": 1000})
    running.cancel()


if __name__ == "__main__":
    asyncio.run(main())
