"""`score_store(last_days=...)`: the store's recent window is scored with earlier context read
but not saved - the operational re-scoring a monitoring centre runs (and what the demo uses)."""

import pandas as pd

from data.ingest import ingest_files
from envtrust.scoring import score_store


def test_last_days_saves_only_the_recent_window(store, sample_dir):
    ingest_files(store, sorted((sample_dir / "beijing").glob("*")), progress=False)
    latest = pd.Timestamp(store.execute("SELECT max(ts) FROM readings").fetchall()[0][0])

    summary = score_store(store, progress=False, last_days=7)

    first_saved = pd.Timestamp(store.execute("SELECT min(ts) FROM scores").fetchall()[0][0])
    assert first_saved >= latest - pd.Timedelta(days=7)
    n_window = store.execute("SELECT count(*) FROM readings WHERE ts >= ?",
                             [(latest - pd.Timedelta(days=7)).to_pydatetime()]).fetchall()[0][0]
    assert summary.readings == n_window  # one score per reading of the window, none from the context
    ends = store.execute('SELECT min("end") FROM events').fetchall()[0][0]
    assert ends is None or pd.Timestamp(ends) >= latest - pd.Timedelta(days=7)
