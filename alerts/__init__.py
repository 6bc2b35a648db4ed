"""Alerts: rules judged by one evaluator per deployment, episodes notified once at start and end.

- state.py: the pure state machine (pending, firing, resolved with hysteresis; no data and error apart);
- rules.py: the built-in rules, their settings and the TOML rules file;
- probes.py: what each rule observes (the database, the widgets' failure notes, the memory store, the calls);
- store.py: the shared store (Redis or SQLite): the lease, each rule's state, episodes, mutes, the outbox;
- delivery.py: Apprise delivery of the outbox, retried with backoff on a thread of its own;
- evaluator.py: the thread that holds the lease and evaluates every period from server start.
"""
