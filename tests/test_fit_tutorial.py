"""docs/tutorial-fit-your-logs.md stays true: every ``$ minimal …`` command in its console
blocks is run and its output compared with the page; every python block is executed and
compared with the console block that follows it.

Comparison: whitespace runs are collapsed; a line "…" skips any number of output lines;
numbers may differ by two units of the last printed digit plus 2e-5 relative (BLAS and libm builds
round differently), every other token must be equal."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "tutorial-fit-your-logs.md"
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _blocks(text):
    """[(kind, lines)] of the fenced blocks."""
    out, cur, kind = [], None, None
    for line in text.splitlines():
        m = re.match(r"^```(\w*)\s*$", line)
        if m and cur is None:
            kind, cur = m.group(1), []
        elif line.startswith("```") and cur is not None:
            out.append((kind, cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def _steps():
    """[(kind, source, expected_lines)] in page order."""
    steps = []
    pending_python = None
    for kind, lines in _blocks(DOC.read_text()):
        if kind == "python":
            pending_python = "\n".join(lines)
            continue
        if kind != "console":
            continue
        if not any(ln.startswith("$ ") for ln in lines):
            assert pending_python is not None, "an output block without a command or code"
            steps.append(("python", pending_python, lines))
            pending_python = None
            continue
        cmd, exp = None, []
        for ln in lines:
            if ln.startswith("$ "):
                if cmd is not None:
                    steps.append(("shell", cmd, exp))
                cmd, exp = ln[2:], []
            else:
                exp.append(ln)
        steps.append(("shell", cmd, exp))
    return steps


def _tok_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    ca, cb = a.strip("[](),;"), b.strip("[](),;")
    if _NUM.match(ca) and _NUM.match(cb):
        decimals = len(cb.split(".")[1]) if "." in cb and "e" not in cb.lower() else 0
        unit = 10.0 ** -decimals
        return abs(float(ca) - float(cb)) <= 2 * unit + 2e-5 * abs(float(cb)) and \
            a.replace(ca, "") == b.replace(cb, "")
    return False


def _line_matches(actual: str, expected: str) -> bool:
    ta, te = actual.split(), expected.split()
    return len(ta) == len(te) and all(_tok_equal(x, y) for x, y in zip(ta, te))


def _matches(actual_lines, expected_lines) -> str | None:
    """None when ``actual_lines`` fit the expected ones (with … wildcards), else a message."""
    act = [ln for ln in actual_lines if ln.strip()]
    exp = [ln for ln in expected_lines if ln.strip()]

    def go(i, j):
        if j == len(exp):
            return i == len(act)
        if exp[j].strip() == "…":
            return any(go(k, j + 1) for k in range(i, len(act) + 1))
        return i < len(act) and _line_matches(act[i], exp[j]) and go(i + 1, j + 1)
    if go(0, 0):
        return None
    return "expected:\n" + "\n".join(exp) + "\n--- actual:\n" + "\n".join(act)


def test_tutorial_has_the_steps_it_promises():
    steps = _steps()
    cmds = [s for k, s, _ in steps if k == "shell"]
    assert any("--summary" in c for c in cmds) and any("--model logistic,three-factor,"
                                                       "nested-logits" in c for c in cmds)
    assert any("--plot" in c for c in cmds) and any("--append" in c for c in cmds)
    assert any(k == "python" for k, _, _ in steps)


def test_tutorial_commands_and_outputs(tmp_path, monkeypatch):
    from minimal.cli import main
    monkeypatch.chdir(tmp_path)
    for kind, src, expected in _steps():
        buf = io.StringIO()
        if kind == "shell":
            argv = shlex.split(src)
            assert argv[0] == "minimal", src
            with contextlib.redirect_stdout(buf):
                code = main(argv[1:])
            assert code == 0, src
        else:
            with contextlib.redirect_stdout(buf):
                exec(compile(src, str(DOC), "exec"), {})
        msg = _matches(buf.getvalue().splitlines(), expected)
        if msg:
            pytest.fail(f"{src}\n{msg}")
    for name in ("runs.csv", "fits.png", "one.png", "fits.csv"):
        assert (tmp_path / name).stat().st_size > 500
