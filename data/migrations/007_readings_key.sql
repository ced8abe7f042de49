-- envtrust store, migration 007 (issue 11, ingest hardening). Data only, no schema change.
-- Before issue 11 a store could take readings at impossible times ('infinity', year 0001 stored
-- as 1 BC) and, at such times, a second copy of a (station_id, ts, parameter) key. The ingest now
-- refuses both (implausible_time; the key check before COMMIT, data/schema.py). This moves what
-- an older store already holds to the quarantine, with the reason, so the key rule holds for every
-- row: readings before 1980 or at +-infinity, and every copy of a key after its first (lowest
-- batch, then insertion order). The window's upper end moves with the clock, so rows dated in the
-- future are left alone here (a reading dated 2099 is quarantined by the ingest, never stored now).
CREATE TEMP TABLE _m007_out AS
WITH dup_keys AS (
    SELECT station_id, ts, parameter FROM readings GROUP BY ALL HAVING count(*) > 1
),
ranked AS (
    SELECT r.rowid AS rid, r.*,
           row_number() OVER (PARTITION BY r.station_id, r.ts, r.parameter
                              ORDER BY r.batch_id NULLS LAST, r.rowid) AS copy_no
    FROM readings r SEMI JOIN dup_keys d
      ON d.station_id = r.station_id AND d.ts = r.ts AND d.parameter = r.parameter
)
SELECT rowid AS rid, station_id, ts, parameter, value, flag, batch_id, 'implausible_time' AS reason
FROM readings WHERE isinf(ts) OR ts < TIMESTAMP '1980-01-01'
UNION ALL
SELECT rid, station_id, ts, parameter, value, flag, batch_id, 'duplicate_key' AS reason
FROM ranked WHERE copy_no > 1 AND NOT (isinf(ts) OR ts < TIMESTAMP '1980-01-01');

INSERT INTO quarantine (quarantine_id, batch_id, source, raw, reason, detail, received_at)
SELECT nextval('quarantine_seq'), batch_id, 'migration 007',
       CAST(json_object('station_id', station_id, 'ts', CAST(ts AS VARCHAR), 'parameter', parameter,
                        'value', value, 'flag', flag) AS VARCHAR),
       reason,
       CASE reason WHEN 'implausible_time' THEN 'stored before issue 11 at a time outside 1980 .. now; moved out of readings'
            ELSE 'second copy of a stored (station, time, parameter) key, stored before issue 11; the first is kept' END,
       timezone('UTC', now())
FROM _m007_out ORDER BY rid;

DELETE FROM readings WHERE rowid IN (SELECT rid FROM _m007_out);
DROP TABLE _m007_out;
