"""One error type for every stage, so the CLI can print one line and exit without a traceback."""

from __future__ import annotations


class HardtoolError(Exception):
    """A user-facing failure: the message names the problem and the fix.

    ``exit_code`` lets a stage give a documented, distinct code (e.g. memplan's "does not fit").
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
