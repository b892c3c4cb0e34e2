"""The rules of huxiao: zones, duty, check-ins, incidents, scoring, jurisdictions.

Nothing here imports the web framework; each noun's SQL sits in its own module as
named `Query` statements run through `domain.database.Db` (asyncpg).
"""
