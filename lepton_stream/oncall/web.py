"""HTTP response headers of the alert monitor: every response, its own pages and Faust's.

The page shows values that anyone who can write to `risk-alerts` or
`pipeline-metrics` chooses. The template escapes them; the policy below is the
second wall: the page has no scripts, so the browser is told to run none, load
nothing from elsewhere, submit no form and not be framed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",  # /tables is JSON and /metrics text: never read as HTML
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp middleware (Faust's web driver is aiohttp): the headers on answers and on errors."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404, 405 ...: raised, not returned
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response
