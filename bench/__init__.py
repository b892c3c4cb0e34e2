"""Benchmarks for huxiao: `python -m bench.run [scenario ...]` (see bench/README.md).

- `bench.harness`   servers in subprocesses, wrk and pgbench runs, interleaved repeats, medians, tables
- `bench.database`  the `huxiao_bench` database and the data a scenario needs (never the demo database)
- `bench.scenarios` one module per scenario, registered by name
"""
