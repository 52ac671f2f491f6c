"""Plain ASGI middleware: the request-size limit (before any body is held) and the headers every answer carries."""

from __future__ import annotations

import json

# The page loads nothing from anywhere but this server; the camera stream and picked files are blob: URLs.
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer")]


class BodyTooLarge(Exception):
    """Raised from `receive` when a body without a Content-Length (chunked) passes the limit."""

    def __init__(self, limit: int):
        super().__init__(f"request body larger than {limit / 1e6:g} MB (--max-body-mb)")


async def send_error(send, status: int, message: str) -> None:
    """A JSON error sent without reading the body, so the connection is closed after it."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a declared Content-Length over the limit before reading a byte; a chunked body is counted as it
    arrives and stopped at the limit. Memory per request is thus bounded by the limit."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"").strip()
        if length.isdigit() and int(length) > self.limit:  # uvicorn's parser answers 400 to a malformed one
            return await send_error(send, 413, f"request body of {int(length) / 1e6:.1f} MB is larger than "
                                               f"{self.limit / 1e6:g} MB (--max-body-mb)")
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
