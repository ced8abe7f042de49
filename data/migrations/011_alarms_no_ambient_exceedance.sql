-- envtrust store, migration 011 (cases range): an ambient station's daily exceedance is air quality,
-- not a party's violation, so it is no longer an enforcement alarm (envtrust.alarms.AUDIENCES; the
-- situation map shows it to leaders). Its open alarms go, with their pushes not yet sent; alarms of
-- the rule already linked to a case stay with the case.
DELETE FROM webhook_outbox WHERE delivered_at IS NULL AND topic = 'alarm.raised'
    AND subject IN (SELECT alarm_id FROM alarms WHERE rule = 'air_daily_exceedance' AND status = 'open');
DELETE FROM alarms WHERE rule = 'air_daily_exceedance' AND status = 'open';
