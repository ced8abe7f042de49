"""The data layer: DuckDB schema and store access, ingest adapters, HJ 212 protocol, sample data.

SQL lives here and only here (STYLE.md rule 5): other packages call small parameterised
functions in :mod:`data.store` and friends and get DataFrames back.
"""
