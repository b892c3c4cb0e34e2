"""The rules of huxiao: zones, duty, check-ins, incidents, scoring, jurisdictions.

Nothing here imports the web framework; persistence sits behind small repository
functions that take a session as a keyword argument.
"""
