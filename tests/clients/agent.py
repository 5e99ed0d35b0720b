"""A browser agent's CometD client, run by the end-to-end tests against /cometd:
aiocometd (PyPI `aiocometd-ng`, the maintained fork of `aiocometd`, whose 0.4.5 passes
`loop=` to asyncio and fails on Python 3.10 and later), unmodified. It handshakes over
long-polling with the agent's session token, moves to WebSocket with the same client
id, subscribes to /me/interactions and prints one JSON line on stdout per event:
  {"event": "handshake", "successful": true, "clientId": "...", "transport": "websocket"}
  {"event": "subscribe", "successful": true, "subscription": "/me/interactions"}
  {"event": "message", "channel": "/me/interactions", "id": "7", "data": {...}}
  {"event": "error", "error": "..."}  (then it exits with status 1)

Usage: python agent.py --url http://127.0.0.1:8080/cometd --token <agent token>
"""

import argparse
import asyncio
import json
import sys

from aiocometd_ng import Client, ConnectionType
from aiocometd_ng.exceptions import AiocometdException
from aiocometd_ng.extensions import AuthExtension


def emit(line):
    print(json.dumps(line), flush=True)


class SessionToken(AuthExtension):
    """Puts the agent's session token in the handshake's `ext.token`."""

    def __init__(self, token):
        self.token = token

    async def outgoing(self, payload, headers):
        for message in payload:
            if message.get("channel") == "/meta/handshake":
                message.setdefault("ext", {})["token"] = self.token

    async def incoming(self, payload, headers=None):
        pass

    async def authenticate(self):
        pass


async def run(url, token):
    # connection_timeout=None: its watchdog passes `loop=` to asyncio.wait_for, which
    # Python 3.10 removed.
    client = Client(
        url,
        connection_types=[ConnectionType.WEBSOCKET],
        auth=SessionToken(token),
        connection_timeout=None,
    )
    try:
        await client.open()
        transport = client.connection_type.value if client.connection_type else None
        emit({"event": "handshake", "successful": True,
              "clientId": client._transport.client_id, "transport": transport})
        await client.subscribe("/me/interactions")
        emit({"event": "subscribe", "successful": True,
              "subscription": "/me/interactions"})
        async for message in client:
            emit({"event": "message", "channel": message.get("channel"),
                  "id": message.get("id"), "data": message.get("data")})
    except AiocometdException as error:
        emit({"event": "error", "error": repr(error)})
        sys.exit(1)
    finally:
        await client.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.token))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
