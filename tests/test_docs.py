"""The package documents itself in docs/: every page a docstring cites exists, no module cites a
file outside the repository, and every page the docs index lists exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sources():
    return sorted((ROOT / "minimal").rglob("*.py"))


def test_cited_docs_pages_exist():
    missing = []
    for f in _sources():
        for page in re.findall(r"docs/([\w.-]+\.(?:md|json))", f.read_text()):
            if not (ROOT / "docs" / page).exists():
                missing.append(f"{f.relative_to(ROOT)} cites docs/{page}")
    assert not missing, missing


def test_no_citation_outside_the_repository():
    bad = []
    pattern = re.compile(r"shared/spec|\.\./shared|other_systems\.md|minimal_models\.md|"
                         r"(?<!docs/)\b(task|network|cot|design)\.md\b")
    for f in _sources():
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if pattern.search(line):
                bad.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, bad


def test_docs_index_and_readme_links_resolve():
    for index in (ROOT / "docs" / "README.md", ROOT / "README.md"):
        text = index.read_text()
        for target in re.findall(r"\]\(([^)#]+\.md)\)", text):
            assert (index.parent / target).exists(), f"{index.name} links to {target}"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    """The README's API example is executed as written (in a scratch directory)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "[[Model]] logistic" in out and (tmp_path / "runs" / "ih" / "run.json").exists()
