"""Progress reporting for long work: a tqdm bar on a terminal, otherwise one log line every
``interval`` seconds (cluster logs, nohup) with rate and ETA; nothing when disabled."""

from __future__ import annotations

import os
import sys
import time


def _eta(seconds: float) -> str:
    if not seconds or seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """``update(n, **postfix)`` after each unit of work; ``close()`` at the end."""

    def __init__(self, total: int, initial: int = 0, unit: str = "step", desc: str = "",
                 enabled: bool = True, interval: float | None = None, stream=None):
        self.total = int(total)
        self.n = int(initial)
        self.unit = unit
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        if interval is None:
            interval = float(os.environ.get("MINIMAL_PROGRESS_INTERVAL", "30"))
        self.interval = interval
        self.postfix: dict = {}
        self._bar = None
        self._t0 = time.perf_counter()
        self._n0 = self.n
        self._last = self._t0
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.total, initial=self.n, unit=unit, desc=desc or None,
                             dynamic_ncols=True, leave=True, file=self.stream)

    def update(self, n: int = 1, **postfix) -> None:
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if not self.enabled:
            return
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(self.postfix, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self.log_line(now)

    def log_line(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        done = self.n - self._n0
        rate = done / max(now - self._t0, 1e-9)
        left = (self.total - self.n) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.n / self.total if self.total else 100.0
        extra = ", ".join(f"{k} {v}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        print(f"{head}{self.unit} {self.n}/{self.total} ({pct:.0f}%), {rate:.3g} {self.unit}/s, "
              f"ETA {_eta(left)}" + (f", {extra}" if extra else ""), file=self.stream,
              flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
