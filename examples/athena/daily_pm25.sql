-- Hourly PM2.5 per device over one day (UTC) by when the air was measured, from the lake table that
-- `reaqtions deploy` creates. Run it in the stack's workgroup (`reaqtions`) against database `reaqtions_lake`
-- (Athena console, or awswrangler.athena.read_sql_query(sql, database="reaqtions_lake", workgroup="reaqtions")).
--
-- The year/month/day/hour predicates prune partitions: only those hours' objects are read (and billed). Which hours
-- hold a day's readings follows the stack's layout (`partitioning`, docs/analysing.md):
--   event (the default for new stacks): readings are filed under the hour they were measured, so the day's own
--     partitions hold every one of them, however late it arrived: the predicate below.
--   arrival: readings are filed under the hour they arrived, so widen the partitions from the hour before the day
--     to as late as its readings may still arrive (here an hour after it):
--       WHERE ((year = 2026 AND month = 11 AND day = 24 AND hour = 23)
--              OR (year = 2026 AND month = 11 AND day = 25)
--              OR (year = 2026 AND month = 11 AND day = 26 AND hour = 0))
-- Either way the rows are then chosen by "_reading_time" (RFC 3339 in UTC with milliseconds, such as
-- 2026-11-25T21:00:00.000Z, so a day is a string range). Rows written before the transform added it have none and
-- are left out here; `reaqtions report` reads them by their TIME.
-- It counts every line the lake holds, copies that retries left there included; readings_once.sql (the stack's
-- saved query `<stack>-readings-once`) gives each reading once: to aggregate each reading once, put this SELECT
-- over its `kept` in place of its last one (it reads yesterday: for the day below, put DATE '2026-11-26' in
-- place of current_date).
SELECT device_id,
       hour(from_iso8601_timestamp("_reading_time")) AS hour_measured,
       round(avg(pm2_5), 1) AS pm2_5_avg,
       max(aqi)             AS aqi_max,
       count(*)             AS readings
FROM readings
WHERE year = 2026 AND month = 11 AND day = 25
  AND "_reading_time" >= '2026-11-25T00:00:00.000Z' AND "_reading_time" < '2026-11-26T00:00:00.000Z'
  AND pm2_5 IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
