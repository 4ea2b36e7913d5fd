"""Errors a user can act on: each prints as one line that names the case and the reason."""

from __future__ import annotations


class FapisegError(Exception):
    """An expected failure; the command line prints it as one line, without a traceback."""


class CaseError(FapisegError):
    """A case (``<patient>/<study>``) cannot be used, and why."""

    def __init__(self, case: str, reason: str) -> None:
        super().__init__(f"{case}: {reason}")
        self.case = case
        self.reason = reason
