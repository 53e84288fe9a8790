-- Yesterday's readings (UTC), each counted once, as `reaqtions report` counts them: the copies that retries leave
-- in the lake (Firehose delivers at least once; a producer resends what may have arrived) are dropped, and only
-- they. `reaqtions deploy` saves this query in the stack's workgroup as `<stack>-readings-once` (Athena console,
-- Saved queries); run it against database `reaqtions_lake` in workgroup `reaqtions`, or from pandas with
-- awswrangler.athena.read_sql_query(sql, database="reaqtions_lake", workgroup="reaqtions").
--
-- A copy has the key of an earlier line, (device_id, sim_run, seq), or (device_id, reading time) for a reading
-- without a seq, and the same values in every other column but the two the pipeline adds (_firehose_arrival,
-- _reading_time). The first line in the order of the object's key ("$path") and then the arrival is kept (Trino
-- has no line number within an object). Lines with one key and other values are conflicts, both kept; lines
-- without a key (no device_id, or neither a seq nor a time) are always kept. docs/analysing.md says more.
--
-- The partition predicate in `lines` is on the table scan, under the window functions, so Athena prunes by it:
-- dropping copies scans the same bytes as reading every line. The partition columns are in no PARTITION BY, so a
-- copy filed under another hour (a retry that arrived later) is still found. The predicate below is for a stack
-- filed by the hour readings were measured (partitioning event, the default for new stacks). For a stack filed
-- by arrival, read from the hour before the day to an hour after it (readings arrive after they are measured):
-- WHERE ((year = year(current_date - INTERVAL '2' DAY) AND month = month(current_date - INTERVAL '2' DAY) AND day = day(current_date - INTERVAL '2' DAY) AND hour BETWEEN 23 AND 23) OR (year = year(current_date - INTERVAL '1' DAY) AND month = month(current_date - INTERVAL '1' DAY) AND day = day(current_date - INTERVAL '1' DAY)) OR (year = year(current_date) AND month = month(current_date) AND day = day(current_date) AND hour BETWEEN 0 AND 0))
-- Both take today as current_date in UTC, Athena's session zone.
WITH lines AS (
SELECT "device_id", "seq", "sim_run", "time", "user_input", "no2", "co", "pm01", "pm2_5", "pm10", "aqi", "eco2", "tvoc", "p", "t", "rh", "_firehose_arrival", "_reading_time",
  "$path" AS object_path, coalesce(try(from_iso8601_timestamp("_reading_time")), CASE WHEN try(from_iso8601_timestamp("_firehose_arrival")) IS NULL THEN try(from_iso8601_timestamp("time")) WHEN try(from_iso8601_timestamp("time")) >= from_iso8601_timestamp('2024-01-01T00:00:00.000Z') AND try(from_iso8601_timestamp("time")) <= try(from_iso8601_timestamp("_firehose_arrival")) + INTERVAL '3600' SECOND THEN try(from_iso8601_timestamp("time")) ELSE try(from_iso8601_timestamp("_firehose_arrival")) END) AS reading_at,
  CASE WHEN seq >= 0 THEN NULL ELSE nullif("time", '') END AS key_time,
  coalesce(device_id <> '' AND (seq >= 0 OR nullif("time", '') IS NOT NULL), false) AS keyed
FROM "readings"
WHERE ((year = year(current_date - INTERVAL '1' DAY) AND month = month(current_date - INTERVAL '1' DAY) AND day = day(current_date - INTERVAL '1' DAY)))
),
numbered AS (
SELECT lines.*,
  CASE WHEN keyed THEN row_number() OVER (PARTITION BY key_time, "device_id", "seq", "sim_run", "time", "user_input", "no2", "co", "pm01", "pm2_5", "pm10", "aqi", "eco2", "tvoc", "p", "t", "rh" ORDER BY object_path, "_firehose_arrival", "_reading_time") ELSE 1 END AS copy_number,
  CASE WHEN keyed THEN count(*) OVER (PARTITION BY key_time, "device_id", "seq", "sim_run", "time", "user_input", "no2", "co", "pm01", "pm2_5", "pm10", "aqi", "eco2", "tvoc", "p", "t", "rh") - 1 ELSE 0 END AS copies_dropped
FROM lines
WHERE reading_at >= CAST(current_date - INTERVAL '1' DAY AS timestamp with time zone)
  AND reading_at < CAST(current_date AS timestamp with time zone)
),
kept AS (
SELECT numbered.*,
  CASE WHEN keyed AND row_number() OVER (PARTITION BY device_id, key_time, CASE WHEN seq >= 0 THEN sim_run END, CASE WHEN seq >= 0 THEN seq END ORDER BY object_path, "_firehose_arrival", "_reading_time") > 1 THEN 1 ELSE 0 END AS conflict
FROM numbered
WHERE copy_number = 1
)
SELECT "device_id", "seq", "sim_run", "time", "user_input", "no2", "co", "pm01", "pm2_5", "pm10", "aqi", "eco2", "tvoc", "p", "t", "rh", "_firehose_arrival", "_reading_time"
FROM kept
ORDER BY reading_at, device_id, seq;
