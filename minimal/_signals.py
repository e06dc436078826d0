"""SIGINT and SIGTERM handled alike by every long command (docs/architecture.md).

Inside :class:`StopSignals` the first SIGINT or SIGTERM only sets a flag: the training loop or
sweep finishes its current step (or job), writes a checkpoint, marks the run ``interrupted`` and
the command exits with status 128 + signal.  A second signal raises :class:`Aborted` at once.
Outside the main thread (e.g. a Dask worker) no handler is installed and the flag stays unset.
"""

from __future__ import annotations

import signal
import sys
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Aborted(KeyboardInterrupt):
    """A second stop signal arrived while the first was being honoured."""

    def __init__(self, signum: int):
        super().__init__(f"aborted by a second signal {signal.Signals(signum).name}")
        self.signum = int(signum)


class Interrupted(KeyboardInterrupt):
    """Work stopped by a signal after saving what it had (a sweep whose jobs checkpointed);
    the command exits with 128 + ``signum``."""

    def __init__(self, signum: int, what: str = "interrupted"):
        super().__init__(what)
        self.signum = int(signum)


class StopSignals:
    """Context manager; call the instance (or read ``signum``) to ask whether to stop."""

    def __init__(self, what: str = "finishing the current step and saving a checkpoint",
                 quiet: bool = False):
        self.what = what
        self.quiet = quiet
        self.signum: int | None = None
        self._old: dict = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handler(self, signum, frame):
        if self.signum is not None:
            raise Aborted(signum)
        self.signum = int(signum)
        if not self.quiet:
            print(f"\n{signal.Signals(signum).name}: {self.what} (a second signal aborts)",
                  file=sys.stderr, flush=True)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in HANDLED:
                self._old[s] = signal.getsignal(s)
                signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> bool:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
        return False
