"""The audit log of every change: who (a user, API key, device, the CLI or the server
itself, never a name the client wrote), when, from which address, in which request,
what changed and why. Every write path calls :func:`record` in its own transaction."""

from facerec.audit.service import cli_actor, record

__all__ = ["cli_actor", "record"]
