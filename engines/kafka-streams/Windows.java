package boontadata.kafkastreams;

import boontadata.Counters;
import boontadata.Event;
import boontadata.Results;
import boontadata.Sums;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.WallclockTimestampExtractor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * boontadata's windows in Kafka Streams: the topology, as Kafka Streams users write it.
 *
 * <p>The events topic is keyed by device and each device's events are in one partition, so the
 * windows are per device (its categories aggregated side by side), with no repartitioning: a
 * task is a partition of the events topic. Kafka Streams has no watermark: a task's stream time
 * is the largest timestamp it has seen, and moves only when its own partition brings a record.
 *
 * <ul>
 *   <li><b>Event time</b>: a TimestampExtractor reads {@code dt}; tumbling {@code TimeWindows}
 *   with a grace of out-of-orderness + allowed lateness; one final result per window, emitted
 *   once the task's stream time passes its end + grace ({@code suppress(untilWindowCloses)}).
 *   A record behind its window's end + grace is dropped (the task's {@code dropped-records}). So
 *   a window is emitted later than by a watermark engine (after the whole grace, not at the
 *   watermark), but once, with its late records; and a task whose partition falls silent holds
 *   its windows until it speaks again. ({@code EmitStrategy.onWindowClose()}, the newer way to
 *   say the same, left the last data window of each stream unemitted here, Kafka Streams 4.1.2
 *   with the record cache off: its final results are only checked when a record comes.)
 *   <li><b>Processing time</b>: the wall clock when a record is read
 *   ({@code WallclockTimestampExtractor}); the windows are kept in a store and a wall-clock
 *   punctuator emits each one when the clock passes its end, with or without new records.
 *   <li><b>Deduplication</b> by {@code id}, in a window store that remembers ids for as long as a
 *   resend can still reach an open window (Kafka Streams has no operator for it).
 *   <li><b>The events counted</b> ({@code --ids true}): each cell's {@code Sums} keeps their ids beside its sums, so
 *   they are in the aggregate's value as its serde stores it, in the window store and the suppression buffer alike.
 * </ul>
 */
public final class Windows {
    private Windows() {}

    /** A window of one device: its categories' sums side by side, each with the ids it counted when {@code ids}. */
    static final class Cells {
        public TreeMap<String, Sums> byCategory = new TreeMap<>();

        Cells add(Event e, boolean ids) {
            byCategory.computeIfAbsent(e.c(), c -> new Sums(ids)).add(e.id(), e.m1(), e.m2());
            return this;
        }

        /** The results of this device's window ending at {@code end}, as engine {@code engine} writes them. */
        List<KeyValue<String, String>> rows(String engine, String mode, String device, long end) {
            List<KeyValue<String, String>> rows = new ArrayList<>();
            byCategory.forEach((c, sums) -> rows.add(KeyValue.pair(device, Results.row(engine, mode, end, device, c, sums))));
            return rows;
        }
    }

    static Topology topology(String engine, String mode, String eventsTopic, String resultsTopic, long windowMs, long outOfOrdernessMs, long allowedLatenessMs,
                             long dedupHorizonMs, boolean ids) {
        boolean eventTime = mode.equals("event-time");
        Duration window = Duration.ofMillis(windowMs);
        Duration grace = Duration.ofMillis(outOfOrdernessMs + allowedLatenessMs);
        Duration remember = eventTime ? window.plus(grace) : Duration.ofMillis(dedupHorizonMs);
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.windowStoreBuilder(Stores.persistentWindowStore("seen-ids", remember, remember, false), Serdes.String(), Serdes.Long()));

        TimestampExtractor clock = eventTime ? new DeviceTime() : new WallclockTimestampExtractor();
        // A record that is not an event is null (Event.read has counted it).
        KStream<String, Event> events = builder.stream(eventsTopic, Consumed.with(Serdes.String(), EVENTS).withTimestampExtractor(clock))
            .filter((device, e) -> e != null)
            .processValues(() -> new FirstOfEachId(remember), "seen-ids");

        KStream<String, String> results;
        if (eventTime) {
            results = events.groupByKey(Grouped.with(Serdes.String(), EVENTS))
                .windowedBy(TimeWindows.ofSizeAndGrace(window, grace))
                .aggregate(Cells::new, (device, e, cells) -> cells.add(e, ids), Materialized.with(Serdes.String(), CELLS))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .flatMap((w, cells) -> cells.rows(engine, mode, w.key(), w.window().end()));
        } else {
            builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("open-windows"), Serdes.String(), CELLS));
            results = events.process(() -> new ProcessingTimeWindows(engine, mode, windowMs, ids), "open-windows");
        }
        results.to(resultsTopic, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    /** Event time: the device time; a record that is not an event keeps its partition's time (it is dropped next). */
    static final class DeviceTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            return record.value() instanceof Event e ? e.dt() : Math.max(partitionTime, 0);
        }
    }

    /**
     * Forwards the first record of each id; remembers ids for {@code remember} of stream time, in a
     * window store: logged to a changelog, it survives a restart under exactly_once_v2.
     */
    static final class FirstOfEachId implements FixedKeyProcessor<String, Event, Event> {
        private final Duration remember;
        private FixedKeyProcessorContext<String, Event> context;
        private WindowStore<String, Long> seen;

        FirstOfEachId(Duration remember) {
            this.remember = remember;
        }

        @Override
        public void init(FixedKeyProcessorContext<String, Event> context) {
            this.context = context;
            this.seen = context.getStateStore("seen-ids");
        }

        @Override
        public void process(FixedKeyRecord<String, Event> record) {
            String id = record.value().id();
            long t = record.timestamp();
            try (WindowStoreIterator<Long> earlier = seen.fetch(id, t - remember.toMillis(), t + remember.toMillis())) {
                if (earlier.hasNext()) {
                    Counters.DUPLICATES.incrementAndGet();
                    return;
                }
            }
            seen.put(id, t, t);
            context.forward(record);
        }
    }

    /** Processing time: windows by the record's (wall-clock) time, each emitted when the wall clock passes its end. */
    static final class ProcessingTimeWindows implements Processor<String, Event, String, String> {
        private final String engine;
        private final String mode;
        private final long windowMs;
        private final boolean ids;
        private ProcessorContext<String, String> context;
        private KeyValueStore<String, Cells> open;
        /** The wall clock at the last punctuation: every window ending by then has been emitted. */
        private long closedUpTo = Long.MIN_VALUE;

        ProcessingTimeWindows(String engine, String mode, long windowMs, boolean ids) {
            this.engine = engine;
            this.mode = mode;
            this.windowMs = windowMs;
            this.ids = ids;
        }

        @Override
        public void init(ProcessorContext<String, String> context) {
            this.context = context;
            this.open = context.getStateStore("open-windows");
            context.schedule(Duration.ofMillis(100), PunctuationType.WALL_CLOCK_TIME, this::closeUpTo);
        }

        @Override
        public void process(Record<String, Event> record) {
            // Timestamped when polled, processed a little later: a record whose window the punctuator has
            // emitted since is counted in the window open now, rather than emitting that window again.
            long t = Math.max(record.timestamp(), closedUpTo);
            long end = Math.floorDiv(t, windowMs) * windowMs + windowMs;
            // Keyed by end first: the windows come out of the store in the order they close.
            String key = String.format("%020d|%s", end, record.key());
            Cells cells = open.get(key);
            open.put(key, (cells == null ? new Cells() : cells).add(record.value(), ids));
        }

        private void closeUpTo(long now) {
            List<String> closed = new ArrayList<>();
            try (KeyValueIterator<String, Cells> windows = open.all()) {
                while (windows.hasNext()) {
                    var w = windows.next();
                    long end = Long.parseLong(w.key.substring(0, 20));
                    if (end > now) {
                        break;
                    }
                    String device = w.key.substring(21);
                    for (KeyValue<String, String> row : w.value.rows(engine, mode, device, end)) {
                        context.forward(new Record<>(row.key, row.value, now));
                    }
                    closed.add(w.key);
                }
            }
            closed.forEach(open::delete);
            closedUpTo = Math.max(closedUpTo, now);
        }
    }

    /** The stores' JSON; the events' serde reads with {@link Event#read}, which counts what is not an event. */
    static final ObjectMapper JSON = new ObjectMapper();
    static final Serde<Event> EVENTS = Serdes.serdeFrom((topic, e) -> json(e), (topic, bytes) -> Event.read(bytes));
    static final Serde<Cells> CELLS = Serdes.serdeFrom((topic, cells) -> json(cells), (topic, bytes) -> read(bytes, Cells.class));

    static byte[] json(Object value) {
        try {
            return JSON.writeValueAsBytes(value);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static <T> T read(byte[] bytes, Class<T> type) {
        try {
            return bytes == null ? null : JSON.readValue(bytes, type);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
