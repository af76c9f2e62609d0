package boontadata.samza;

import static org.apache.samza.operators.windows.Windows.keyedTumblingWindow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Serializable;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.samza.application.StreamApplication;
import org.apache.samza.application.descriptors.StreamApplicationDescriptor;
import org.apache.samza.operators.KV;
import org.apache.samza.operators.functions.FilterFunction;
import org.apache.samza.operators.windows.WindowPane;
import org.apache.samza.runtime.ProcessorLifecycleListener;
import org.apache.samza.serializers.JsonSerdeV2;
import org.apache.samza.serializers.KVSerde;
import org.apache.samza.serializers.StringSerde;
import org.apache.samza.system.SystemStreamMetadata.OffsetType;
import org.apache.samza.system.kafka.descriptors.KafkaSystemDescriptor;

/**
 * boontadata's windows in Apache Samza: the application, in Samza's high-level API, as Samza users write it.
 *
 * <pre>
 * events ─▶ parse ─▶ first of each id ─▶ keyedTumblingWindow (device, category) ─▶ results
 * </pre>
 *
 * <ul>
 *   <li><b>Processing time only.</b> Samza's windows are on the wall clock: a message joins the pane of the
 *   window its arrival falls in ({@code now - now % length}), panes end on the clock's multiples of the length, and
 *   a pane fires at the first timer tick after its end. The timer ticks every {@code task.window.ms}, which Samza
 *   sets to the window length for an application with windows: a pane leaves up to one window after its end. Samza
 *   1.8's high-level API has no event time, no watermark and no lateness, so this engine declares processing time
 *   alone.
 *   <li><b>Deduplication</b> by {@code id} in a filter before the windows (Samza has no operator for it), ids
 *   remembered for the dedup horizon of the wall clock.
 *   <li>A pane's state is in a RocksDB store, as Samza keeps every window operator's.
 * </ul>
 */
public final class Windows implements StreamApplication {
    static final ObjectMapper JSON = new ObjectMapper();

    /** What the application counts: its tasks run in this JVM. */
    static final AtomicLong CONSUMED = new AtomicLong();
    static final AtomicLong MALFORMED = new AtomicLong();
    static final AtomicLong DUPLICATES = new AtomicLong();
    static final AtomicLong EMITTED = new AtomicLong();

    private final String brokers;
    private final String events;
    private final String results;
    private final long windowMs;
    private final long dedupHorizonMs;
    private final Runnable started;

    Windows(String brokers, String events, String results, long windowMs, long dedupHorizonMs, Runnable started) {
        this.brokers = brokers;
        this.events = events;
        this.results = results;
        this.windowMs = windowMs;
        this.dedupHorizonMs = dedupHorizonMs;
        this.started = started;
    }

    @Override
    public void describe(StreamApplicationDescriptor app) {
        var kafka = new KafkaSystemDescriptor("kafka")
            .withConsumerConfigs(java.util.Map.of("bootstrap.servers", brokers))
            .withProducerBootstrapServers(List.of(brokers.split(",")));
        // A job reads its stream from the start: Samza's default is the newest offset.
        // (A stream's id takes no dots; the topics are named after the run.)
        var input = kafka.getInputDescriptor("events", new StringSerde()).withPhysicalName(events).withOffsetDefault(OffsetType.OLDEST);
        var output = kafka.getOutputDescriptor("results", KVSerde.of(new StringSerde(), new StringSerde())).withPhysicalName(results);
        app.withDefaultSystem(kafka);
        app.withProcessorLifecycleListenerFactory((processor, config) -> new ProcessorLifecycleListener() {
            @Override
            public void afterStart() {
                started.run();
            }
        });

        long length = windowMs;
        app.getInputStream(input)
            .flatMap(Windows::parse)
            .filter(new FirstOfEachId(dedupHorizonMs))
            .window(keyedTumblingWindow((Event e) -> e.di + "\t" + e.c, Duration.ofMillis(length), Sums::new, Sums::add, new StringSerde(),
                new JsonSerdeV2<>(Sums.class)), "windows")
            .map(pane -> row(pane, length))
            .sendTo(app.getOutputStream(output));
    }

    /** An event as the simulator sends it (docs/SPEC.md §1). */
    public static final class Event implements Serializable {
        String id;
        String di;
        String c;
        long m1;
        double m2;
    }

    /** A pane's aggregate: what Samza keeps in the window's store. */
    public static final class Sums implements Serializable {
        public long count;
        public long m1Sum;
        public double m2Sum;

        static Sums add(Event e, Sums s) {
            s.count += 1;
            s.m1Sum += e.m1;
            s.m2Sum += e.m2;
            return s;
        }
    }

    /** The record as an event, or nothing (counted) when it is not a whole, well-typed event. */
    static List<Event> parse(String record) {
        CONSUMED.incrementAndGet();
        try {
            JsonNode n = JSON.readTree(record);
            if (n != null && n.path("dt").isIntegralNumber() && n.path("m1").isIntegralNumber() && n.path("m2").isNumber() && n.path("id").isTextual()
                && n.path("di").isTextual() && n.path("c").isTextual()) {
                Event e = new Event();
                e.id = n.get("id").asText();
                e.di = n.get("di").asText();
                e.c = n.get("c").asText();
                e.m1 = n.get("m1").asLong();
                e.m2 = n.get("m2").asDouble();
                return List.of(e);
            }
        } catch (Exception e) {
            // not JSON: malformed, as below
        }
        MALFORMED.incrementAndGet();
        return List.of();
    }

    /** Lets the first event of each id through; an id is remembered for {@code rememberMs} of the wall clock. */
    static final class FirstOfEachId implements FilterFunction<Event> {
        private final long rememberMs;
        private final LinkedHashMap<String, Long> seen = new LinkedHashMap<>();

        FirstOfEachId(long rememberMs) {
            this.rememberMs = rememberMs;
        }

        @Override
        public boolean apply(Event e) {
            long now = System.currentTimeMillis();
            // Ids are kept in arrival order: forget from the oldest while they are past their time.
            for (Iterator<Long> until = seen.values().iterator(); until.hasNext() && until.next() < now; ) {
                until.remove();
            }
            if (seen.putIfAbsent(e.id, now + rememberMs) != null) {
                DUPLICATES.incrementAndGet();
                return false;
            }
            return true;
        }
    }

    /** A fired pane as a result row (docs/SPEC.md §5), keyed by device; the pane id is the window's start. */
    static KV<String, String> row(WindowPane<String, Sums> pane, long windowMs) {
        String[] key = pane.getKey().getKey().split("\t", 2);
        Sums s = pane.getMessage();
        long end = Long.parseLong(pane.getKey().getPaneId()) + windowMs;
        var row = JSON.createObjectNode().put("engine", "samza").put("mode", "processing-time").put("window_end", end).put("di", key[0]).put("c", key[1])
            .put("count", s.count).put("m1_sum", s.m1Sum).put("m2_sum", s.m2Sum).put("emitted_at", System.currentTimeMillis());
        EMITTED.incrementAndGet();
        return KV.of(key[0], row.toString());
    }
}
