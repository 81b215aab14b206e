"""Options shared by the ``kefu`` commands in every ``cli_*`` module."""
from __future__ import annotations

import re

import click

from kefu.errors import InputError

TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def check_tenant(tenant: str) -> str:
    """``tenant`` stripped, or ``InputError`` when it is not a valid tenant id."""
    tenant = tenant.strip()
    if not TENANT_ID.fullmatch(tenant):
        raise InputError(f"tenant id {tenant[:80]!r} is invalid: use 1-64 ASCII letters, digits, '-', "
                         f"'_' or '.', starting with a letter or digit")
    return tenant


def tenant_option(fn):
    """``--tenant`` after the command name too (``kefu ingest PATH --tenant acme``)."""

    def use(ctx: click.Context, _param, value: str | None) -> None:
        if value is not None:
            ctx.obj["tenant"] = check_tenant(value)

    return click.option("--tenant", "-t", "_tenant", default=None, expose_value=False,
                        callback=use, help="Tenant id (overrides the global --tenant).")(fn)
