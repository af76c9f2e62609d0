-- boontadata's Flink job: the whole computation, in Flink SQL. job.py runs
-- these statements in order, with ${NAME} filled in from the job's flags
-- (and ${ENGINE}, the engine's name: its folder's).

-- 1. The events topic as a table. `t` is the time the windows follow:
--    event time: the device time `dt`, with a watermark `out-of-orderness`
--      behind the latest `dt` seen, generated per Kafka partition by the source;
--      a silent partition holds it back (no source idleness);
--    processing time: PROCTIME(), the wall clock when a record is processed.
--    A record that is not JSON, or has a field of the wrong type, becomes a row
--    of NULLs (json.ignore-parse-errors); statement 3 leaves it out. A new
--    consumer group starts at the earliest offsets, a known one where it committed.
CREATE TABLE events (
    id STRING, di STRING, dt BIGINT, c STRING, m1 BIGINT, m2 DOUBLE,
    t AS ${TIME_COLUMN}
) WITH (
    'connector' = 'kafka', 'format' = 'json', 'json.ignore-parse-errors' = 'true',
    'properties.bootstrap.servers' = '${BROKERS}', 'topic' = '${EVENTS}',
    'properties.group.id' = '${GROUP}', 'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest'
);

-- 2. The results topic: one JSON row per window (docs/SPEC.md §5), keyed by device.
--    A line that ends in `-- with --ids true` is there only when the job's
--    flag --ids is true (job.py leaves it out otherwise).
CREATE TABLE results (
    engine STRING, mode STRING, window_end BIGINT, di STRING, c STRING,
    `count` BIGINT, m1_sum BIGINT, m2_sum DOUBLE,
    ids ARRAY<STRING>,  -- with --ids true
    emitted_at BIGINT
) WITH (
    'connector' = 'kafka', 'format' = 'json', 'key.format' = 'raw', 'key.fields' = 'di',
    'value.fields-include' = 'ALL',
    'properties.bootstrap.servers' = '${BROKERS}', 'topic' = '${RESULTS}'
);

-- 3. Each message once: the first row of its id (Flink's deduplication
--    pattern, ROW_NUMBER() = 1, its ids kept for table.exec.state.ttl), of
--    whole events only.
CREATE TEMPORARY VIEW firsts AS
SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY t) AS rn FROM events
    WHERE id IS NOT NULL AND di IS NOT NULL AND dt IS NOT NULL AND c IS NOT NULL
      AND m1 IS NOT NULL AND m2 IS NOT NULL
)
WHERE rn = 1;

-- 4. The windows: tumbling windows per device and category (the TUMBLE
--    window table function), emitted once, when the watermark (or, in
--    processing time, the clock) passes their end. Window functions have no
--    allowed lateness: a row that comes after its window fired is dropped.
--    With --ids true, ARRAY_AGG(id) names the events counted, one entry each.
--    Times leave as epoch milliseconds, in UTC.
INSERT INTO results
SELECT '${ENGINE}', '${MODE}',
       EXTRACT(EPOCH FROM window_end) * 1000 + EXTRACT(MILLISECOND FROM window_end),
       di, c, COUNT(*), SUM(m1), SUM(m2),
       ARRAY_AGG(id),  -- with --ids true
       EXTRACT(EPOCH FROM LOCALTIMESTAMP) * 1000 + EXTRACT(MILLISECOND FROM LOCALTIMESTAMP)
FROM TABLE(TUMBLE(TABLE firsts, DESCRIPTOR(t), ${WINDOW}))
GROUP BY window_start, window_end, di, c;
