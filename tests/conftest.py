"""Test configuration.

Hypothesis runs with a fresh random seed on every invocation (as a newcomer runs the README's
command); the seed is printed in the session header so that any failure can be reproduced with
``python -m pytest -p hypothesis --hypothesis-seed=N``.  Passing ``--hypothesis-seed`` fixes it.
"""

import os
import random
import sys

import minimal  # noqa: F401  (first: caps BLAS/Numba threads before NumPy loads)
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "default", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_SEED = None


def pytest_configure(config):
    global _SEED
    from hypothesis import core
    given = config.getoption("--hypothesis-seed", default=None)
    if given is None and not settings.default.derandomize:
        _SEED = random.SystemRandom().randrange(2**32)
        core.global_force_seed = _SEED
    else:
        _SEED = given


def pytest_report_header(config):
    if _SEED is None:
        return "hypothesis: derandomised profile"
    return (f"hypothesis seed: {_SEED} (reproduce with: python -m pytest -p hypothesis "
            f"--hypothesis-seed={_SEED})")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The seed again at the end (``-q`` hides the header)."""
    terminalreporter.write_line(pytest_report_header(config))
