"""The web page: static files under /app/, served with headers that lock it down.

The page is plain HTML, CSS and ES modules with no build step; it only calls the
JSON API with the token the user signs in with, which it keeps in sessionStorage
and sends as a bearer header, never in a URL.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
PREFIX = "/app"

# No inline script or style, nothing from another origin, never framed. Blob
# downloads (the PDF) are navigations of an <a download>, which no directive here
# governs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # The files are small and change with a release; revalidating keeps a user
    # from running an old app.js against a newer API.
    "cache-control": "no-cache",
}


class PageHeaders:
    """Add PAGE_HEADERS to every answer under /app and to the / redirect.

    Only there: /docs (Swagger UI) loads inline script from a CDN and would break
    under this policy, and the JSON API answers need none of it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.decode().lower() not in PAGE_HEADERS
                ]
                headers += [(k.encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def mount_web(app: FastAPI) -> None:
    """Serve the page at /app/ and send / there. Neither is part of the API."""
    app.mount(PREFIX, StaticFiles(directory=STATIC, html=True), name="web")

    async def to_page(request: object) -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    app.add_route("/", to_page, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_middleware(PageHeaders)
