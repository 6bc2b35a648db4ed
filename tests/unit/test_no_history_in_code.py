"""Code and docs say why, not when: no tracker or review references in comments, docstrings or docs.

A comment that names the ticket or the review finding it came from says nothing to a reader who has neither;
the reason belongs in the sentence itself, the history in git. This scans the project's own text files (not
.venv, node_modules or .git) for the shapes such references take and lists every place found.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# An issue, a finding or an item by number, whatever the case, with or without a '#' before an issue's number.
REFERENCE = re.compile(r"issue #?[0-9]+|findings? [0-9]+|item [0-9]+", re.IGNORECASE)
SCANNED_SUFFIXES = {".py", ".md", ".js", ".css", ".toml", ".conf", ".sh", ".html", ".yml", ".yaml", ".cfg",
                    ".ini", ".txt"}
SKIPPED_FOLDERS = {".venv", "node_modules", ".git", "__pycache__", ".pytest_cache", ".hypothesis"}
SCRIPT_FOLDERS = {".ci"}  # their scripts have no suffix


def scanned_files(root: Path) -> list[Path]:
    """Return the project's text files under root that a reference could hide in, in path order."""
    found = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(part in SKIPPED_FOLDERS for part in parts) or not path.is_file():
            continue
        if path.suffix in SCANNED_SUFFIXES or (not path.suffix and parts[0] in SCRIPT_FOLDERS):
            found.append(path)
    return sorted(found)


def references(root: Path) -> list[str]:
    """Return every line under root that names an issue, finding or item by number, as 'path:line: text'."""
    places = []
    for path in scanned_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if REFERENCE.search(line):
                places.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return places


def test_no_comment_or_doc_names_an_issue_finding_or_item_by_number():
    places = references(ROOT)
    assert not places, "say why instead of naming the reference:\n" + "\n".join(places)


def test_the_scan_finds_references_in_code_docs_and_scripts_and_skips_installed_packages(tmp_path):
    number = 12  # built at run time, so this file holds no reference itself
    (tmp_path / "widgets").mkdir()
    (tmp_path / "widgets" / "feed.py").write_text(f"x = 1\n# Capped (Issue #{number}).\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "security.md").write_text(f"Intro.\n\n**Limits** (findings {number} and 3).\n")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.css").write_text(f"/* Focus (item {number}). */\n")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(f"#!/bin/sh\n# see finding {number}\n")
    for skipped in (".venv/lib", "node_modules/pkg", ".git/hooks"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "notes.md").write_text(f"issue {number}\n")
    (tmp_path / "clean.py").write_text("# An issue with numbers: the findings hold; item count 12.\n")

    assert references(tmp_path) == [
        f".ci/run:2: # see finding {number}",
        f"assets/app.css:1: /* Focus (item {number}). */",
        f"docs/security.md:3: **Limits** (findings {number} and 3).",
        f"widgets/feed.py:2: # Capped (Issue #{number}).",
    ]
