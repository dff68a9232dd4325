"""The service commands of ``dutygrid``: ``serve``, and ``token create|list|revoke``.

They are registered on the main command line (:data:`server.cli.app`) when this module is imported,
which :mod:`server.cli` does. A token is printed once, when it is created; the database keeps only
its hash, so a lost token cannot be shown again: revoke it and create another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from server.audit import cli_entry, record
from server.auth import (
    MAX_TOKEN_DAYS,
    Role,
    create_token,
    list_tokens,
    parse_role,
    revoke_token,
)
from server.cli import DbOption, JsonOption, Output, _safe_url, app, settings_for, user_errors
from server.errors import ServiceError
from server.storage import Store, database_url

token_app = typer.Typer(
    name="token",
    help="API tokens: create (printed once), list, revoke.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

_ROLES = ", ".join(r.value for r in Role)


@contextmanager
def _service_errors(out: Output) -> Iterator[None]:
    """Turn the service's own errors (a bad role, an unknown token) into exit status 2."""
    try:
        yield
    except ServiceError as exc:
        error = {"error": type(exc).__name__, "message": exc.message, "field": exc.field}
        out.fail(error, exc.message)


@app.command("serve")
def serve_command(
    db: DbOption = None,
    host: Annotated[
        str, typer.Option(help="address to listen on; 0.0.0.0 for every interface")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated)"
        ),
    ] = "127.0.0.1",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="worker processes (each answers requests on its own core; 1 to a core at most)",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="log every request (leave it to the proxy in front, where there is one: a "
            "line per request costs about a tenth of a small page's time)"
        ),
    ] = True,
) -> None:
    """Run the web service: API docs at /docs, OGC API – Features at /ogc, sign-in at /login."""
    import uvicorn  # noqa: PLC0415 - only the service needs it

    from server.app import create_app  # noqa: PLC0415 - keeps the other commands light

    out = Output(as_json=False)
    settings = settings_for(db)
    url = database_url(settings.database_url)
    with user_errors(out), Store.open(url) as store:
        tokens = _tokens(store)
    if not any(t.status() == "active" for t in tokens):
        out.warn(
            "the database has no active token, so no one can sign in: create one with "
            f"`dutygrid token create --db {db or settings.database_url} --role admin --name NAME`"
        )
    out.errors.print(f"serving {_safe_url(url)} on http://{host}:{port} (API docs at /docs)")
    if workers > 1:
        # each worker makes the app anew, and finds the database in the environment
        os.environ["DUTYGRID_DATABASE_URL"] = url
    uvicorn.run(
        create_app(settings) if workers == 1 else "server.asgi:app_from_environment",
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
        access_log=access_log,
    )


def _tokens(store: Store) -> list[Any]:
    with store.connection() as connection:
        return list_tokens(connection)


@token_app.command("create")
def token_create_command(
    role: Annotated[str, typer.Option("--role", help=f"one of: {_ROLES}")],
    name: Annotated[str, typer.Option("--name", help="who holds it, e.g. '王伟 (新城中队)'")],
    db: DbOption = None,
    squad: Annotated[
        list[str] | None, typer.Option("--squad", help="a squad granted (repeat for more)")
    ] = None,
    officer: Annotated[
        str | None, typer.Option("--officer", help="the officer it belongs to (officer role)")
    ] = None,
    expires: Annotated[
        float | None,
        typer.Option(
            "--expires",
            help=f"days until it expires, at most {MAX_TOKEN_DAYS}; 0 for never (default: 90)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token and print it, this once; only its hash is kept."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    days = settings.token_days if expires is None else expires
    with (
        user_errors(out),
        _service_errors(out),
        Store.open(database_url(settings.database_url)) as store,
        store.transaction() as connection,
    ):
        token, secret = create_token(
            connection,
            role=parse_role(role),
            name=name,
            created_by=cli_entry("token create", action="token.create").actor,
            squads=squad or (),
            officer_id=officer,
            expires_days=days or None,
        )
        record(
            connection,
            cli_entry("token create", action="token.create", summary=token.to_dict()),
        )

    def text() -> None:
        out.console.print(f"created token {token.id} for {token.name} ({token.role.value})")
        out.console.print(f"expires: {token.expires_at or 'never'}")
        out.console.print(secret, markup=False)
        out.errors.print(
            "[yellow]This is the only time the token is shown: give it to its holder now.[/yellow]"
        )

    out.done({"token": secret, **token.to_dict()}, text)


@token_app.command("list")
def token_list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the tokens: id, name, role, squads, expiry, revocation and last use."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    with user_errors(out), Store.open(database_url(settings.database_url), create=False) as store:
        tokens = [t.to_dict() for t in _tokens(store)]

    def text() -> None:
        from rich.table import Table  # noqa: PLC0415

        table = Table("id", "name", "role", "squads", "status", "expires", "last used")
        for t in tokens:
            table.add_row(
                t["id"],
                t["name"],
                t["role"],
                ", ".join(t["squads"]),
                t["status"],
                t["expires_at"] or "never",
                t["last_used_at"] or "",
            )
        out.console.print(table)

    out.done({"tokens": tokens}, text)


@token_app.command("revoke")
def token_revoke_command(
    token_id: Annotated[str, typer.Argument(help="the token's id (tok_…), from `token list`")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: it and its browser sessions stop working at once."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    url = database_url(settings.database_url)
    with (
        user_errors(out),
        _service_errors(out),
        Store.open(url, create=False) as store,
        store.transaction() as connection,
    ):
        token, was_active = revoke_token(connection, token_id)
        if was_active:
            summary = {"token_id": token.id, "name": token.name, "role": token.role.value}
            record(connection, cli_entry("token revoke", action="token.revoke", summary=summary))

    def text() -> None:
        state = "revoked" if was_active else "was already revoked"
        out.console.print(f"token {token.id} ({token.name}) {state}")

    out.done({**token.to_dict(), "unchanged": not was_active}, text)
