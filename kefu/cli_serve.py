"""``kefu serve``, ``kefu keys``, ``kefu agents``: run the chat server and manage who may use it."""
from __future__ import annotations

import json
import os
import secrets

import click
from rich.console import Console

from kefu.server.auth import hash_password, new_key
from kefu.store.chats import Agent

out = Console()
DEMO_FILE = "demo.json"


def demo_credentials(engine, tenant: str, port: int) -> dict:
    """A widget key for the demo page and an agent account, created once and kept in $KEFU_HOME/demo.json.

    The agent password is ``KEFU_DEMO_AGENT_PASSWORD`` when set, else random.
    """
    path = engine.config.home / DEMO_FILE
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    chats = engine.chats
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    key_ok = saved.get("widget_key") and saved.get("tenant") == tenant and saved.get("origins") == origins
    if key_ok:
        from kefu.server.auth import digest

        key_ok = chats.find_key(digest(saved["widget_key"])) is not None
    if not key_ok:
        saved["widget_key"], _ = new_key(chats, tenant, "widget", label="demo page", origins=origins)
        saved["origins"] = origins
    password = os.environ.get("KEFU_DEMO_AGENT_PASSWORD") or saved.get("agent_password") \
        or secrets.token_urlsafe(9)
    if chats.get_agent(tenant, "agent") is None:
        chats.add_agent(Agent(tenant, "agent", hash_password(password), "supervisor", "Demo Agent"))
    elif password != saved.get("agent_password"):
        chats.set_agent_password(tenant, "agent", hash_password(password))
    saved.update({"tenant": tenant, "agent_username": "agent", "agent_password": password})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return saved


def serve_cmd() -> click.Command:
    @click.command("serve")
    @click.option("--host", default=None, help="Listen address (setting host; 127.0.0.1).")
    @click.option("--port", type=int, default=None, help="Port (setting port; 8000).")
    @click.option("--demo", is_flag=True, help="Create a demo widget key and agent account, and print them.")
    @click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
                  help="Server processes (each loads the models).")
    @click.pass_context
    def serve(ctx, host, port, demo, workers) -> None:
        """Run the HTTP API, the web chat widget (/demo) and the agent console (/console)."""
        import uvicorn

        from kefu.server.app import create_app

        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        config = engine.config
        host, port = host or config.host, port or config.port
        app = create_app(config, engine)
        if demo:
            creds = demo_credentials(engine, tenant, port)
            app.state.demo_widget_key = creds["widget_key"]
            out.print(f"[bold]kefu[/] demo shop with the chat widget: http://{host}:{port}/demo")
            out.print(f"agent console: http://{host}:{port}/console — tenant [bold]{tenant}[/], user "
                      f"[bold]agent[/], password [bold]{creds['agent_password']}[/] (kept in "
                      f"{config.home / DEMO_FILE})", highlight=False)
        out.print(f"API docs: http://{host}:{port}/docs", highlight=False)
        engine.service.nlu(tenant).warm_up()
        if workers > 1:
            raise click.UsageError("--workers > 1: run several `kefu serve` processes behind a load balancer "
                                   "(they share the store)")
        from kefu.server.routes_voice import warm_up_in_background

        warm_up_in_background(app)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

    return serve


def keys_cmd() -> click.Group:
    @click.group("keys")
    def keys() -> None:
        """API keys: admin keys for the admin API, widget keys for web pages."""

    @keys.command("create")
    @click.option("--kind", type=click.Choice(["admin", "widget"]), required=True)
    @click.option("--origin", "origins", multiple=True, help="Page origin a widget key may be used from.")
    @click.option("--label", default="", help="A name to recognise the key by.")
    @click.pass_context
    def create(ctx, kind, origins, label) -> None:
        """Create a key for the tenant; it is printed once and stored only as a hash."""
        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        raw, key = new_key(engine.chats, tenant, kind, label=label, origins=list(origins))
        click.echo(json.dumps({"key": raw, "id": key.id, "tenant": tenant, "kind": kind,
                               "origins": key.origins}))

    @keys.command("list")
    @click.pass_context
    def list_(ctx) -> None:
        """The tenant's keys (ids, kinds, labels, origins; never the keys)."""
        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        for k in engine.chats.list_keys(tenant):
            click.echo(json.dumps({"id": k.id, "kind": k.kind, "label": k.label, "origins": k.origins}))

    @keys.command("revoke")
    @click.argument("key_id", type=int)
    @click.pass_context
    def revoke(ctx, key_id) -> None:
        """Revoke key KEY_ID."""
        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        engine.chats.delete_key(tenant, key_id)
        click.echo(f"revoked key {key_id}")

    return keys


def agents_cmd() -> click.Group:
    @click.group("agents")
    def agents() -> None:
        """Agent accounts for the console."""

    @agents.command("add")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["agent", "supervisor"]), default="agent", show_default=True)
    @click.option("--name", "display_name", default="", help="Name shown to customers.")
    @click.option("--password-env", default="KEFU_AGENT_PASSWORD", show_default=True,
                  help="Environment variable holding the password (never on the command line).")
    @click.pass_context
    def add(ctx, username, role, display_name, password_env) -> None:
        """Create agent USERNAME with the password from the environment."""
        from kefu.errors import InputError

        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        password = os.environ.get(password_env)
        if not password:
            raise InputError(f"set the password in the environment variable {password_env}")
        if not 1 <= len(username) <= 64 or not username.replace("_", "").replace(".", "").replace(
                "-", "").replace("@", "").isalnum() or not username.isascii():
            raise InputError("username must be 1-64 ASCII letters, digits, '.', '_', '-' or '@'")
        engine.chats.add_agent(Agent(tenant, username, hash_password(password), role, display_name or username))
        click.echo(f"agent {username} ({role}) added to tenant {tenant}")

    return agents


def migrate_cmd() -> click.Command:
    @click.command("migrate")
    @click.option("--to", "url", required=True, help="Target database URL, e.g. postgresql://user@host/kefu.")
    @click.option("--tenant", "tenants", multiple=True, help="Only these tenants (default: every tenant).")
    @click.option("--no-chats", is_flag=True, help="Knowledge only; leave conversations, agents and keys.")
    @click.pass_context
    def migrate(ctx, url, tenants, no_chats) -> None:
        """Copy this home's knowledge, graph (and chats) into another database, then verify counts and checksums."""
        from kefu.engine import _backend, _is_postgres
        from kefu.registry import resolve
        from kefu.store.migrate import migrate as run

        engine = ctx.obj["engine"]
        dst = resolve("store", _backend(engine.config.store, url))(url)
        dst_chats = None if no_chats else resolve("chatstore", _backend(engine.config.chat_store, url))(url)
        dst_graph = resolve("graphstore", "postgres" if _is_postgres(url) else "sqlite")(url)
        try:
            report = run(engine.store, dst, list(tenants) or None, src_chats=None if no_chats else engine.chats,
                         dst_chats=dst_chats, src_graph=engine.graph, dst_graph=dst_graph,
                         progress=lambda line: out.print(line, highlight=False))
        finally:
            dst.close()
            dst_graph.close()
            if dst_chats is not None:
                dst_chats.close()
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
        if not report.ok:
            raise click.ClickException("the copy does not match the source: " + "; ".join(report.problems[:5]))

    return migrate


def register(main: click.Group) -> None:
    main.add_command(serve_cmd())
    main.add_command(migrate_cmd())
    main.add_command(keys_cmd())
    main.add_command(agents_cmd())


__all__ = ["register", "demo_credentials"]
