"""Geographic building blocks: coordinate systems, GeoJSON parsing, distances and zones.

Pure Python on shapely and pyproj; knows nothing of the API or the database.
"""
