"""factmark's benchmark: `uv run python -m bench --help`. See bench/README.md for the figures.

The harness starts its own PostgreSQL and the API in its production configuration, loads data
at scale through COPY and INSERT ... SELECT, drives load from outside the server process (wrk)
and compares every workload with the same SQL sent by a plain asyncpg client.
"""
