"""One exception tree for kefu.

Every error carries an HTTP status and a stable ``code`` so that the CLI and the
server can report it the same way: ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations


class KefuError(Exception):
    """Root of every error kefu raises on purpose."""

    code = "kefu_error"
    status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        """The JSON body the server returns for this error."""
        body = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return {"error": body}

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(KefuError):
    """A setting is unknown, malformed or out of range."""

    code = "config_error"
    status = 500


class InputError(KefuError):
    """The caller gave something kefu cannot use (bad argument, bad question)."""

    code = "invalid_input"
    status = 400


class IngestError(InputError):
    """A file could not be ingested; ``path`` and ``line`` say where."""

    code = "ingest_error"
    status = 422

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path
        self.line = line


class ConflictError(InputError):
    """The request contradicts earlier state (e.g. an idempotency key reused for another message)."""

    code = "conflict"
    status = 409


class NotFoundError(KefuError):
    """A source, document, conversation or tenant does not exist."""

    code = "not_found"
    status = 404


class BackendError(KefuError):
    """A backend (store, embedder, generator) failed or is not installed."""

    code = "backend_error"
    status = 503


class StoreError(BackendError):
    """The store could not complete an operation; nothing was half-written."""

    code = "store_error"
