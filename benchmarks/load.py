"""Load benchmark: N simulated browser sessions on gunicorn + MariaDB + Redis, Switchboard against the naive dashboard.

Usage (from the repository root; `pip install -r requirements-bench.txt`):

    python benchmarks/load.py [--url mysql+pymysql://root@127.0.0.1:3306/sb_bench]
                              [--redis redis://127.0.0.1:6379/0] [--sessions 1,10,50]
                              [--seconds 60] [--workers 4] [--aligned]

What it does and measures: benchmarks/loadtest/__init__.py. This file is only its command, kept beside the
package (benchmarks/loadtest/, not benchmarks/load/: a package named like this script would shadow it).
"""
from __future__ import annotations

import sys
from pathlib import Path


def run() -> int:
    """Put the repository root on the path (a script's own folder is there instead), then run the benchmark."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.loadtest.runner import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
