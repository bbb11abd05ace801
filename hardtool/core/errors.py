"""One error type for every stage, so the CLI can print one line and exit without a traceback,
and the exit codes every command uses."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: "internal error: ..." (rerun with --verbose)
EXIT_BAD_INPUT = 2  # the message names the problem and the fix
EXIT_DOES_NOT_FIT = 3  # memplan / build: the model needs more SRAM or flash than the target has
EXIT_NOT_BIT_EXACT = 4  # flash-and-bench / run: device output differs from the host int8 reference
EXIT_INTERRUPTED = 130  # Ctrl-C


class HardtoolError(Exception):
    """A user-facing failure: the message names the problem and the fix.

    ``exit_code`` lets a stage give a documented, distinct code (e.g. memplan's "does not fit").
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Interrupted(HardtoolError):
    """Ctrl-C after which the command still kept something (e.g. partial bench results); the
    message says what. Plain KeyboardInterrupt means nothing was written."""

    exit_code = EXIT_INTERRUPTED
