"""Reading, checking and normalising the geodata a city-management bureau has.

Plain functions over GeoDataFrames and shapely geometries: every value comes in as an argument.
"""
