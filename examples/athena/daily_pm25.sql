-- Hourly PM2.5 per device over one day, from the lake table that `reaqtions deploy` creates.
-- Run it in the stack's workgroup (`reaqtions`) against database `reaqtions_lake` (Athena console, or
-- awswrangler.athena.read_sql_query(sql, database="reaqtions_lake", workgroup="reaqtions")).
-- The year/month/day/hour predicates prune partitions: only that day's objects are read (and billed).
SELECT device_id,
       hour,
       round(avg(pm2_5), 1) AS pm2_5_avg,
       max(aqi)             AS aqi_max,
       count(*)             AS readings
FROM readings
WHERE year = 2026 AND month = 11 AND day = 25
  AND pm2_5 IS NOT NULL
GROUP BY device_id, hour
ORDER BY device_id, hour;
