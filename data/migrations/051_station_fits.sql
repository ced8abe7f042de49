-- Kept per-station fits (issue 12): the isolation forest each station was last fitted with, so an
-- incremental run applies it to the new hours instead of refitting every station every hour. One
-- row per station and model; a run applies a row only when its engine_version is the run's (the
-- envtrust version, the forest's storage format, scikit-learn's version and the pipeline's fit
-- fingerprint) and its fit window ended recently enough, else it refits and replaces the row.
CREATE TABLE IF NOT EXISTS station_fits (
    station_id      VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,          -- 'iforest'
    engine_version  VARCHAR NOT NULL,
    fit_from        TIMESTAMP NOT NULL,        -- the station-hours it was fitted on (UTC)
    fit_to          TIMESTAMP NOT NULL,
    fit_rows        INTEGER NOT NULL,
    fitted_at       TIMESTAMP NOT NULL,
    run_id          VARCHAR NOT NULL,          -- the scoring run that fitted it
    fit             BLOB NOT NULL,             -- compressed .npz of plain arrays, read without pickle
    PRIMARY KEY (station_id, model)
);
