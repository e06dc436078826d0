"""Exception and warning hierarchy.

Every error a user can cause derives from :class:`MinimalError` (itself a ``ValueError``), so a
caller can catch one family; the CLI turns these into a one-line ``error: ...`` and exit status 2.
"""

from __future__ import annotations


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


class CurveFileError(MinimalError):
    """A learning-curve file cannot be read or does not satisfy the fitting requirements."""


class ConfigWarning(UserWarning):
    """A valid but probably unintended configuration (e.g. data that cannot reward ICL)."""
