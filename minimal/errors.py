"""Exception and warning hierarchy, and the exit statuses of the command line.

Every error a user can cause derives from :class:`MinimalError` (itself a ``ValueError``), so a
caller can catch one family; the CLI turns these into a one-line ``error: ...`` and exit status 2
(bad input, reported before any work starts).  Failures *after* a run started (divergence,
non-finite state, I/O) are :class:`RunFailed` and exit with status 3.  See ``docs/architecture.md``
("Exit and run statuses").
"""

from __future__ import annotations

#: exit statuses shared by every command (docs/architecture.md)
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3


def exit_status_for_signal(signum: int) -> int:
    """128 + n after signal n (SIGINT 130, SIGTERM 143)."""
    return 128 + int(signum)


class MinimalError(ValueError):
    """Base class of every user-facing error raised by ``minimal``."""


class ConfigError(MinimalError):
    """A configuration value is out of its allowed range or inconsistent with another value.

    ``str(err)`` is a single line naming the parameter, the offending value and the rule.
    """

    def __init__(self, name: str, value, rule: str):
        self.name = name
        self.value = value
        self.rule = rule
        super().__init__(self._format())

    def _format(self) -> str:
        return f"{self.name}={self.value!r} is invalid: {self.rule}"

    def with_prefix(self, prefix: str) -> "ConfigError":
        """Return a copy whose parameter name is qualified as ``prefix.name``."""
        err = type(self)(f"{prefix}.{self.name}" if prefix else self.name, self.value, self.rule)
        return err


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value has the wrong type (also a ``TypeError``)."""


class UnknownNameError(MinimalError):
    """An unknown preset, figure, split, model or field name was requested."""


class RunDirError(MinimalError):
    """A run directory is missing, incompatible with the requested config, or corrupt."""


class RunLockedError(RunDirError):
    """Another live process holds the run directory's lock."""


class CurveFileError(MinimalError):
    """A learning-curve file cannot be read or does not satisfy the fitting requirements."""


class RunFailed(MinimalError):
    """A run that started and then failed (exit status 3); its run.json says ``failed``."""

    reason = "error"


class TrainingDiverged(RunFailed):
    """The training loss became NaN or infinite."""

    reason = "diverged"


class NonFiniteState(RunFailed):
    """Parameters, optimiser state or metrics became NaN or infinite."""

    reason = "non-finite"


class RunCollapsed(RunFailed):
    """The run collapsed (loss pinned at chance with vanishing gradients) and the config asked
    to stop on collapse."""

    reason = "collapsed"


class ConfigWarning(UserWarning):
    """A valid but probably unintended configuration (e.g. data that cannot reward ICL)."""


class RunWarning(UserWarning):
    """Something about a run a user should know (a collapsed run, a stale lock taken over)."""
