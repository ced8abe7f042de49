-- issue 15: what the public "all stations at one hour / on one day" reads need, kept in step with
-- the release records by data/release.py (docs/map-cache.md, "The release copy").
--
-- release_by_ts: the CURRENT version of every released value (superseded versions are not in it),
-- sorted by hour, so that "every station at hour t" (the public map) and "every station on day d"
-- (the city ranking) read a few row groups instead of scanning the station-sorted release_values.
-- Every release step writes its new versions here in the same transaction.
CREATE TABLE IF NOT EXISTS release_by_ts AS
    SELECT station_id, ts, parameter, value, status, version FROM release_values
    WHERE superseded_at IS NULL ORDER BY ts, station_id, parameter;

-- release_generation: a number every release step (publish, audit, withhold, finalize, correct)
-- and every change of the station list raises in its own transaction; answers of the public API
-- are cached under it, so a cached answer never outlives the release records it was built from.
CREATE TABLE IF NOT EXISTS release_generation (generation BIGINT NOT NULL);
INSERT INTO release_generation SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM release_generation);
