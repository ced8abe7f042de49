-- envtrust store, migration 012 (cases range): an engine suspicion reaches enforcement through the
-- analyst (seed 003 item 9: the monitoring centre makes the preliminary determination, 初步认定, and
-- pushes it). alarms.pushed_at / pushed_by: when and by whom an alarm was put to enforcement (webhook
-- outbox + officer's inbox); NULL while a suspected-interference alarm waits for the analyst.
ALTER TABLE alarms ADD COLUMN pushed_at TIMESTAMP;
ALTER TABLE alarms ADD COLUMN pushed_by VARCHAR;
-- the rules that are themselves a determination (at an outlet) were pushed when raised
UPDATE alarms SET pushed_at = raised_at, pushed_by = 'rule' WHERE rule <> 'suspected_interference'
    AND (rule = 'outlet_daily_exceedance' OR station_id IN (SELECT station_id FROM stations
                                                            WHERE kind = 'polluter_outlet'))
    AND alarm_id IN (SELECT subject FROM webhook_outbox WHERE topic = 'alarm.raised');
-- interference alarms whose event an analyst confirmed, or whose case went to enforcement, count as pushed
UPDATE alarms SET pushed_at = raised_at, pushed_by = 'analyst' WHERE rule = 'suspected_interference' AND (
    json_extract_string(evidence_json, '$.event_id') IN (SELECT event_id FROM events WHERE status = 'confirmed')
    OR alarm_id IN (SELECT l.ref_id FROM case_links l JOIN case_events e USING (case_id)
                    WHERE l.kind = 'alarm' AND e.action = 'transfer_clue'));
-- the others wait for the analyst: their pushes not yet sent go (one is queued on confirmation)
DELETE FROM webhook_outbox WHERE delivered_at IS NULL AND topic = 'alarm.raised'
    AND subject IN (SELECT alarm_id FROM alarms WHERE rule = 'suspected_interference' AND pushed_at IS NULL);
-- a monitoring station's missing data and flags are the monitoring centre's (envtrust.alarms.alarm_audience):
-- their pushes not yet sent go too
DELETE FROM webhook_outbox WHERE delivered_at IS NULL AND topic = 'alarm.raised'
    AND subject IN (SELECT a.alarm_id FROM alarms a JOIN stations s USING (station_id)
                    WHERE a.rule IN ('data_missing', 'flag_anomaly') AND s.kind <> 'polluter_outlet');
