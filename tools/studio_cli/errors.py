"""What a command ends with: its exit code, and an error a person can act on.

Exit codes (the same for every command): 0 the request or every job followed succeeded; 1 a job
or request failed (or was refused, or does not exist); 2 a usage error (a bad flag or value,
nothing was done); 3 still running (``watch`` gave up waiting, ``results`` of an unfinished
job); 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNFINISHED = 3
    INTERRUPTED = 130


class CliError(Exception):
    """An error the command reports in one line (and a hint what to do); never a traceback."""

    code = Exit.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Refused(CliError, ValueError):
    """The request cannot run (an invalid job file, a job in the wrong state); nothing was written."""


class UsageError(CliError, ValueError):
    """A value on the command line can never work (``--generations 9``, ``back/dancing``)."""

    code = Exit.USAGE


class NotFound(CliError, LookupError):
    """The job (or stack, or function) named does not exist."""


class StackUnreachable(CliError):
    """AWS (or the local stack) could not be reached or refused the credentials."""
