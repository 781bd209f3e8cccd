"""One exception hierarchy for assay.

Every error carries a stable, kebab-case ``reason`` code and maps to one of the
documented exit codes: 1 (not trusted), 2 (bad input or usage), 3 (environment).
Layers raise these; only the CLI turns them into a line on stderr and an exit code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNTRUSTED = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3


class AssayError(Exception):
    """Base class: a failure with a stable reason code and an exit code."""

    exit_code: int = EXIT_INPUT

    def __init__(self, reason: str, message: str, *, step: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.step = step
        self.hint = hint

    def line(self) -> str:
        """The one-line rendering: ``error[reason]: message — hint``."""
        text = f"error[{self.reason}]: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text


class InputError(AssayError):
    """Malformed or unusable input: exit code 2."""

    exit_code = EXIT_INPUT


class VerificationError(AssayError):
    """The artifact is not trusted: exit code 1."""

    exit_code = EXIT_UNTRUSTED


class EnvironmentFailure(AssayError):
    """Network, service, device or permission problem: exit code 3."""

    exit_code = EXIT_ENVIRONMENT
