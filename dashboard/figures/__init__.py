"""Pure Plotly figure builders for the internal dashboard: DataFrames in, ``go.Figure`` out.

No Dash, no SQL, no I/O except reading our own GeoJSON display layers through ``geo.layers``.
Every call builds a fresh figure (no shared mutable state between requests).
"""
