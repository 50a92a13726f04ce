"""The benchmark harness behind `make bench`; not collected by the tests.

It builds its own PostgreSQL databases (named `ir_bench_...`), measures the purge
against the fastest single statement and a naive ORM loop, the API while the
purge runs, and the cost of the jobs' two scans as the table grows, then drops
everything it created. `docs/performance.md` explains the figures.
"""
