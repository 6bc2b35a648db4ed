"""Load benchmark: N simulated browser sessions on gunicorn + MariaDB + Redis, Switchboard against the
naive dashboard. Run it with benchmarks/load.py.

Everything stays on this machine: the database and Redis must be on 127.0.0.1
(the script may drop and reseed the database), the servers bind 127.0.0.1 on a
free port, and every run is bounded in time. Locust runs as a library in this
one process (not distributed): the 2-core machine also runs gunicorn and MariaDB.

The data: 200,000 calls of ~16 KB `raw` and 20,000 appointments, seeded by the
seeding logic of benchmarks/naive_vs_switchboard.py. The seeded "ongoing" calls
age out two hours after seeding (ongoing means created in the last 2 h), and
"today" and "the last 7 days" move with the clock, so the database is
dropped and reseeded when it is missing, holds fewer calls, or its newest call
is older than 90 minutes, which leaves half an hour for the runs (reseeding
takes about 2 minutes with mysqlclient installed, twice that with PyMySQL alone).

For each mode and each N of --sessions, a fresh server:
- switchboard: `gunicorn -c gunicorn.conf.py` with DATABASE_URL, CACHE_REDIS_URL,
  a CACHE_KEY_PREFIX of its own (runs share no cache entries; the keys are
  deleted afterwards), SWITCHBOARD_BIND on a free port and SWITCHBOARD_WORKERS;
  the database has Switchboard's indexes.
- naive: benchmarks/naive_dashboard.py (SELECT *, N+1, no cache) under gunicorn
  with the worker, thread and timeout settings of gunicorn.conf.py, on the same
  database without the indexes (`schema.migrate.rollback` before the naive runs,
  `schema.migrate.migrate` after, always).

A session is one open dashboard tab: it loads the page once (`/`,
`/_dash-layout`, `/_dash-dependencies` and the company list), then polls
every widget on its own clock at its interval, POSTing the payload the Dash
renderer sends. The widgets are the server's own (page.py): every server
callback that a dcc.Interval of the layout triggers, at that interval's period
(with config.py's defaults: ongoing 5 s, activity 15 s, stats 60 s, memory
10 s, self-cost 10 s), each named by its interval's id; the values sent are
the page's props, from the layout and the answers so far. The first poll of each widget is the page's initial
callback. A tab's widgets tick on the tab's clock, which started when the tab
was opened: a random moment of the last minute, so that N tabs poll out of step
as N people's tabs do (with --aligned, every tab opens within the 4 s of the
warm-up and all polls come in step: everyone opening the dashboard at once).
As a browser's dcc.Interval does, a tick sends its request whether or not the
previous one has answered (over at most 6 connections a tab, a browser's limit
per host; a request may wait for one of them before its 30 s run). Like a
browser, a session resends a request once when the server closed the kept-alive
connection just as it was reused (counted and printed).

Most of the time a session shows the default feed; now and then (on average every 2 minutes, at random) it switches to a
common filter (calls only, missed, a search for "Schmidt", outbound) and back
after 15-60 s, or pages to "Older" and back; a filter change posts the URL
sync, the pager and the feed callbacks, in order, as the page does. Naive
sessions poll the naive endpoints for the same three data widgets at the same
intervals with the same filter changes (sessions use the same random seed in
both modes). Requests are named by widget, so Locust's statistics are per
widget. A request fails on an HTTP error, a client timeout (30 s, gunicorn's
worker timeout) or a widget answering "stale" (its query failed).

Measured per mode and N, over the window after a 5 s warm-up (page loads not
counted): per widget p50/p95/p99 and request counts (Locust), requests per
second, errors, database statements per minute (`Com_select`; also `Questions`
minus this script's own SHOW) and bytes the database sent per minute
(`Bytes_sent`) from deltas of MariaDB's SHOW GLOBAL STATUS (server-wide: other
clients of the server count too, so their rate just before the run is printed),
Switchboard's own statements per widget (its /metrics counters, read from
every worker at the start and the end of the window), the server's own request
times (its access log), the CPU of the server, this process, MariaDB and the
rest of the host (the server's with the workers max_requests replaced, whose
number is printed), and the total PSS of the gunicorn master and its workers at
the end of the window (and the peak of samples every 5 s).

It is a benchmark, not a test: it prints the load targets (p95, PSS, statements,
the naive dashboard's ratios) as a table of checks (verdict, check, threshold,
figure) and exits 0 whatever they say (non-zero only when it cannot run).

The modules: sessions.py (the simulated tabs; Locust's own runner takes it
too), page.py (what a page polls), servers.py (gunicorn started and stopped,
shared with tests/support/gunicorn.py), probes.py (database status, PSS, CPU,
/metrics, the server's log), data.py (the benchmark database), report.py (the
checks and tables), runner.py (the runs and the command line).
"""
