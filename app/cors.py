"""CORS for browsers on other origins (NOOK_CORS_ORIGINS: comma-separated origins, or *)."""

from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def init_app(app: Flask) -> None:
    """Answer preflights and add the CORS headers for allowed origins."""
    origins = {o.strip() for o in (app.config.get("CORS_ORIGINS") or "").split(",") if o.strip()}
    if not origins:
        return

    def allowed(origin: str | None) -> str | None:
        if origin and ("*" in origins or origin in origins):
            return "*" if "*" in origins else origin
        return None

    @app.before_request
    def preflight() -> Response | None:
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        origin = allowed(request.headers.get("Origin"))
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Expose-Headers"] = "ETag"
            response.headers["Access-Control-Max-Age"] = "600"
            if origin != "*":
                response.vary.add("Origin")
        return response
