-- Records the transform refused in one day, opened back to the device and the bytes it sent.
-- A message from an MQTT device reaches the stream as the IoT rule's envelope
-- {"reaqtions_iot_payload": "<the message, base64>", "device_id": "<the topic's device>"}, and Firehose keeps the
-- record it received (the envelope) in error/: rawdata is that record, base64. A Direct-PUT record is the
-- producer's own bytes, so its device is whatever they say (NULL when they are not JSON).
-- The year/month/day predicates bound the partitions read, as in every query of the lake. Refused records are
-- filed by the hour Firehose refused them in both layouts (Firehose allows no partition keys in the error prefix),
-- so this day is when the pipeline refused them, not when the air was measured.
WITH failed AS (
  SELECT from_utf8(from_base64(rawdata)) AS record, errorcode, errormessage,
         from_unixtime(arrivaltimestamp / 1000) AS arrived
  FROM errors
  WHERE year = 2026 AND month = 11 AND day = 25
)
SELECT coalesce(json_extract_scalar(try(json_parse(record)), '$.device_id'), '(unknown)') AS device_id,
       CASE WHEN json_extract_scalar(try(json_parse(record)), '$.reaqtions_iot_payload') IS NOT NULL
            THEN from_utf8(from_base64(json_extract_scalar(try(json_parse(record)), '$.reaqtions_iot_payload')))
            ELSE record END AS sent,
       errorcode, errormessage, arrived
FROM failed
ORDER BY arrived;
