-- event_reviews as the engine's labels (issue 10): each review keeps what it judged - the event's
-- station, kind, hours and the models that fired (model -> peak surprise, JSON) - so the label
-- outlives the event row, which every scoring run replaces.
ALTER TABLE event_reviews ADD COLUMN IF NOT EXISTS station_id VARCHAR;
ALTER TABLE event_reviews ADD COLUMN IF NOT EXISTS kind VARCHAR;
ALTER TABLE event_reviews ADD COLUMN IF NOT EXISTS start TIMESTAMP;
ALTER TABLE event_reviews ADD COLUMN IF NOT EXISTS "end" TIMESTAMP;
ALTER TABLE event_reviews ADD COLUMN IF NOT EXISTS models_json VARCHAR;
UPDATE event_reviews SET station_id = e.station_id, kind = e.kind, start = e.start, "end" = e."end",
    models_json = CAST(json_extract(e.evidence_json, '$.models') AS VARCHAR)
FROM events e WHERE e.event_id = event_reviews.event_id AND event_reviews.station_id IS NULL;
