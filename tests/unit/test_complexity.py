"""Every function of the product reads in one pass: radon's cyclomatic complexity of 10 or less (grades A and B).

The product is what runs for users: the root modules and the packages beside them. The benchmarks and the tests
are tools, not held to it."""
from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app.py", "cli.py", "config.py", "gunicorn.conf.py", "access", "alerts", "database", "demo",
           "monitoring", "queries", "schema", "serving", "widgets")
MOST = 10  # the top of grade B


def _product_files() -> list[Path]:
    files = []
    for name in PRODUCT:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def test_the_product_is_all_there_is_to_check():
    """A new package of the product is listed above, or this test names it."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(PRODUCT), sorted(packages - set(PRODUCT))
    assert len(_product_files()) > 50


def _functions(blocks) -> list:
    """The functions among radon's blocks, with the functions defined inside them (radon lists methods beside
    the functions, and grades a class by its methods)."""
    found = []
    for block in blocks:
        if type(block).__name__ != "Class":
            found += [block, *_functions(block.closures)]
    return found


def test_no_function_of_the_product_reaches_grade_c():
    over = [f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} {cc_rank(block.complexity)} ({block.complexity})"
            for path in _product_files() for block in _functions(cc_visit(path.read_text()))
            if block.complexity > MOST]
    assert over == []
