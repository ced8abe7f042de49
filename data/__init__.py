"""The data layer: DuckDB schema and store access, ingest adapters, HJ 212 protocol, sample data.

SQL lives here and only here (STYLE.md rule 5): other packages call small parameterised
functions in :mod:`data.store` and friends and get DataFrames back.
"""

from pathlib import Path

#: the small real sample shipped with the repository (Beijing Dec 2016, the national day, map layers)
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
