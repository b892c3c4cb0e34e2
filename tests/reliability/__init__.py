"""The long reliability suites (`make test-reliability`): crash durability and database outage.

They run as scripts (`python -m tests.reliability.crash_durability`, `python -m tests.reliability.database_outage`),
not under pytest's default collection: each starts real server processes, kills them or the database, and
prints its figures (and writes them as JSON under tests/reliability/results/).
"""
