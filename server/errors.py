"""The service's errors, and the one table that turns every error into an HTTP problem.

Routes raise domain errors (:mod:`geodata.errors`, :class:`server.storage.StorageError`, the
``KeyError`` of an unknown layer, and the classes below); :func:`add_exception_handlers` answers
each with an RFC 9457 ``application/problem+json`` document whose status comes from
:data:`PROBLEMS`. Where an error knows the file, row and field to blame, the problem carries them
as extension members. A 5xx problem shows a generic message and a reference; the log holds the
detail under that reference.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from geodata.errors import (
    CoordinateError,
    DuplicateIdError,
    EncodingError,
    FieldError,
    FileTooLargeError,
    GeodataError,
    InputFileError,
    InvalidGeometryError,
    MissingCRSError,
    TableFileError,
)
from server.roster_store import PolicyConflictError, RosterConflictError
from server.storage import StorageError

logger = logging.getLogger("dutygrid.server")

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_TYPE_PREFIX: Final = "urn:dutygrid:problem:"
AUTH_CHALLENGE: Final = 'Bearer realm="dutygrid", Basic realm="dutygrid"'


class ServiceError(Exception):
    """An error of a request to the service, with a message the user can act on.

    Parameters
    ----------
    message
        What is wrong and how to put it right.
    field
        The request parameter or form field to blame, if any.
    extra
        Further members for the problem document (JSON values).
    """

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class AuthError(ServiceError):
    """No credentials, or credentials that are unknown, revoked or expired."""


class PermissionDenied(ServiceError):  # noqa: N818 - the HTTP status's name
    """Credentials whose role does not allow the request."""


class NotFound(ServiceError, LookupError):  # noqa: N818 - the HTTP status's name
    """A resource that does not exist: a feature, a token, a collection."""


class InvalidParameterError(ServiceError, ValueError):
    """A request parameter that is malformed or out of range."""


class UnsupportedUploadError(ServiceError, ValueError):
    """An upload of a file type the service does not accept."""


class Conflict(ServiceError):  # noqa: N818 - the HTTP status's name
    """A request the resource's state does not allow now.

    A solve while another one runs, a published roster changed without ``force``, a roster made
    with no staff stored.
    """


class PreconditionFailed(ServiceError):  # noqa: N818 - the HTTP status's name
    """An ``If-Match`` that names a version the resource no longer has."""


class PreconditionRequired(ServiceError):  # noqa: N818 - the HTTP status's name
    """A change to a resource that needs ``If-Match`` and came without it."""


@dataclass(frozen=True)
class Problem:
    """How one kind of error is answered: HTTP status, title and the type URI's last part."""

    status: int
    title: str
    slug: str


PROBLEMS: Final[dict[type[Exception], Problem]] = {
    # the request
    InvalidParameterError: Problem(400, "Invalid parameter", "invalid-parameter"),
    RequestValidationError: Problem(400, "Invalid parameter", "invalid-parameter"),
    AuthError: Problem(401, "Authentication required", "unauthenticated"),
    PermissionDenied: Problem(403, "Forbidden", "forbidden"),
    NotFound: Problem(404, "Not found", "not-found"),
    KeyError: Problem(404, "Not found", "not-found"),
    PolicyConflictError: Problem(409, "Conflict", "conflict"),
    Conflict: Problem(409, "Conflict", "conflict"),
    PreconditionFailed: Problem(412, "Precondition failed", "precondition-failed"),
    RosterConflictError: Problem(412, "Precondition failed", "precondition-failed"),
    FileTooLargeError: Problem(413, "File too large", "file-too-large"),
    UnsupportedUploadError: Problem(415, "Unsupported file type", "unsupported-file-type"),
    PreconditionRequired: Problem(428, "Precondition required", "precondition-required"),
    # the data a user gave
    GeodataError: Problem(422, "Invalid data", "invalid-data"),
    InputFileError: Problem(422, "Unreadable file", "unreadable-file"),
    EncodingError: Problem(422, "Wrong text encoding", "wrong-encoding"),
    MissingCRSError: Problem(422, "Missing coordinate reference system", "missing-crs"),
    CoordinateError: Problem(422, "Implausible coordinates", "implausible-coordinates"),
    InvalidGeometryError: Problem(422, "Invalid geometry", "invalid-geometry"),
    DuplicateIdError: Problem(422, "Duplicate id", "duplicate-id"),
    FieldError: Problem(422, "Invalid field", "invalid-field"),
    # the server
    StorageError: Problem(503, "Database unavailable", "database-unavailable"),
    sa.exc.OperationalError: Problem(503, "Database unavailable", "database-unavailable"),
    Exception: Problem(500, "Internal error", "internal-error"),
}
"""The HTTP answer to each error; an error takes the entry of its nearest class."""


def problem_for(exc: BaseException) -> Problem:
    """Return the table entry of ``exc``: that of its nearest class in :data:`PROBLEMS`."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[Exception]


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    request: Request | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> JSONResponse:
    """Return an ``application/problem+json`` response (RFC 9457).

    Parameters
    ----------
    status
        The HTTP status.
    title
        A short summary of the kind of problem.
    detail
        What went wrong in this request and how to put it right.
    request
        The request, whose path becomes ``instance``.
    slug
        The kind of problem, the last part of its ``type`` URI; ``about:blank`` where None.
    headers
        Headers for the response.
    members
        Extension members; those that are None are left out.
    """
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in members.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _members(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TableFileError):
        return exc.to_dict() | {"message": None}
    if isinstance(exc, GeodataError):
        return {"error": type(exc).__name__, "file": exc.file, "row": exc.row, "field": exc.field}
    if isinstance(exc, ServiceError):
        return {"error": type(exc).__name__, "field": exc.field, **exc.extra}
    return {"error": type(exc).__name__}


def _detail(exc: BaseException) -> str:
    if isinstance(exc, TableFileError):
        # the problems are listed whole: no first row and field before them
        return f"{exc.file}: {exc.message}" if exc.file else exc.message
    if isinstance(exc, KeyError):
        # KeyError's str() quotes its message; the unknown-layer message is meant for users
        return str(exc.args[0]) if exc.args else "not found"
    return str(exc)


def _wants_html(request: Request) -> bool:
    """Whether the request is a browser navigating to a page (not a script or a fetch)."""
    if request.method not in ("GET", "HEAD"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


async def _domain_error(request: Request, exc: Exception) -> Response:
    kind = problem_for(exc)
    if kind.status >= 500:
        reference = secrets.token_hex(6)
        logger.error(
            "%s %s failed (reference %s)",
            request.method,
            request.url.path,
            reference,
            exc_info=exc,
        )
        detail = (
            "the service could not reach its database; try again shortly"
            if kind.status == 503
            else "the service failed to answer this request"
        )
        return problem_response(
            kind.status,
            kind.title,
            f"{detail} (reference {reference}; the server log has the details)",
            request=request,
            slug=kind.slug,
            reference=reference,
        )
    if isinstance(exc, AuthError) and _wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    headers = {"WWW-Authenticate": AUTH_CHALLENGE} if kind.status == 401 else None
    logger.info("%s %s: %s %s", request.method, request.url.path, kind.status, exc)
    return problem_response(
        kind.status,
        kind.title,
        _detail(exc),
        request=request,
        slug=kind.slug,
        headers=headers,
        **_members(exc),
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        errors.append(
            {
                "field": location[-1] if location else None,
                "in": location[0] if location else None,
                "message": str(error.get("msg", "invalid value")),
            }
        )
    kind = PROBLEMS[RequestValidationError]
    field = errors[0]["field"] if errors else None
    message = errors[0]["message"] if errors else "invalid request"
    return problem_response(
        kind.status,
        kind.title,
        f"{field}: {message}" if field else message,
        request=request,
        slug=kind.slug,
        field=field,
        errors=errors,
    )


_METHODS: Final = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Return the methods some route answers at the request's path, sorted.

    Starlette answers a method a path does not have with the methods of the first route at that
    path alone; a path served by several routes (``GET`` and ``POST /login``) has them all.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}
    detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no resource at {request.url.path}; the API is described at /docs"
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        methods = allowed_methods(request)
        if methods:
            headers["Allow"] = ", ".join(methods)
            detail = f"{request.method} is not allowed here; use {', '.join(methods)}"
    return problem_response(
        exc.status_code,
        titles.get(exc.status_code, "Request failed"),
        detail,
        request=request,
        headers=headers or None,
    )


def add_exception_handlers(app: FastAPI) -> None:
    """Answer every error in :data:`PROBLEMS`, and HTTP errors, with problem documents.

    The app's OpenAPI document describes these answers too (see :func:`describe_problems`).
    """
    for cls in PROBLEMS:
        if cls is not RequestValidationError:
            app.add_exception_handler(cls, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's way to amend its document


# --- the problems in the OpenAPI document ----------------------------------------------------

PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "Problem",
    "description": "An error (RFC 9457): what went wrong and how to put it right",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "the kind of problem (a URI)"},
        "title": {"type": "string", "description": "a short summary of the kind"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what went wrong in this request"},
        "instance": {"type": "string", "description": "the path of the request"},
        "error": {"type": "string", "description": "the class of the error"},
        "field": {"type": "string", "description": "the parameter or field to blame"},
        "file": {"type": "string", "description": "the file to blame"},
        "row": {"type": "integer", "description": "the row to blame, from 1"},
        "problems": {
            "type": "array",
            "description": "every bad cell of a table file, the spreadsheet's row numbers",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer"},
                    "field": {"type": "string"},
                    "value": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "reference": {"type": "string", "description": "where the server log has the details"},
        "errors": {
            "type": "array",
            "description": "each invalid parameter",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
"""The JSON schema of a problem document, as :func:`problem_response` writes it (valid in
OpenAPI 3.0 and 3.1 alike)."""

PROBLEM_REF: Final = "#/components/schemas/Problem"
_VALIDATION_REF: Final = "#/components/schemas/HTTPValidationError"


def _title(status: int) -> str:
    titles = [kind.title for kind in PROBLEMS.values() if kind.status == status]
    return titles[0] if titles else "Request failed"


def problem_responses(*statuses: int, ref: str = PROBLEM_REF) -> dict[int | str, Any]:
    """Return the OpenAPI ``responses`` of problems a route answers with, for its decorator.

    Parameters
    ----------
    statuses
        The HTTP statuses, e.g. ``404, 422``.
    ref
        Where the document keeps :data:`PROBLEM_SCHEMA`.
    """
    return {
        status: {
            "description": _title(status),
            "content": {PROBLEM_JSON: {"schema": {"$ref": ref}}},
        }
        for status in statuses
    }


def describe_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Describe in an OpenAPI 3.1 document the problems every operation may answer with.

    FastAPI documents a ``422`` validation error that this service answers as a ``400`` problem
    (:data:`PROBLEMS`); it is replaced. An operation with parameters or a body may answer ``400``,
    one with security requirements ``401`` and ``403``, one with path parameters ``404``.
    Responses a route documents itself are kept.

    Parameters
    ----------
    document
        The document FastAPI made; changed in place.

    Returns
    -------
    dict
        The document.
    """
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            validation = responses.get("422", {}).get("content", {}).get("application/json", {})
            if validation.get("schema", {}).get("$ref") == _VALIDATION_REF:
                del responses["422"]
            parameters = operation.get("parameters", [])
            statuses = []
            if parameters or "requestBody" in operation:
                statuses.append(400)
            if operation.get("security"):
                statuses += [401, 403]
            if any(p.get("in") == "path" for p in parameters):
                statuses.append(404)
            for status, response in problem_responses(*statuses).items():
                responses.setdefault(str(status), response)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if f'"{_VALIDATION_REF}"' not in json.dumps(document.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return document
