"""Every API error as JSON, `{"error": {"code", "message"[, "field"]}}`: the typed
errors the services raise, and HTTP's own (an unknown path, a wrong method, a body
too large or not JSON, too many attempts, a crash) for any path under /api/.

app.error_handlers sends every error on a path under API_PATHS here; this module
draws JSON and knows nothing of the HTML pages.
"""

from __future__ import annotations

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.api.spec import HTTP_CODES
from app.errors import MoochError

API_PATHS = "/api/"

MESSAGES = {
    404: "There is nothing here.",
    405: "This method is not allowed here.",
    500: "Something went wrong on our side; it has been logged.",
}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers=None
) -> Response:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    response = jsonify(error=error)
    response.status_code = status
    for name, value in headers or ():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mooch"'
    return response


def service_error(exc: MoochError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers())


def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        message = f"The body is larger than {request.max_content_length} bytes."
    elif status == 429:
        message = f"Too many attempts from your address ({exc.description}); try again later."
    else:
        message = MESSAGES.get(status) or exc.description or exc.name
    # Allow (405) and Retry-After (429) are worth keeping; the HTML's Content-Type is not.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return error_response(status, HTTP_CODES.get(status, f"http_{status}"), message, None, headers)
