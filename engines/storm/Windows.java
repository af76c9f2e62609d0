package boontadata.storm;

import boontadata.Counters;
import boontadata.FirstOfEachId;
import boontadata.Results;
import boontadata.Sums;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicOutputCollector;
import org.apache.storm.topology.IRichBolt;
import org.apache.storm.topology.IRichSpout;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.topology.base.BaseWindowedBolt;
import org.apache.storm.topology.base.BaseWindowedBolt.Duration;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.Values;
import org.apache.storm.windowing.TupleWindow;

/**
 * boontadata's windows in Apache Storm: the topology, as Storm users write it.
 *
 * <pre>
 * events (KafkaSpout) ─▶ first-of-each-id (by device) ─▶ windows (by device) ─▶ results (KafkaBolt)
 *                                                         └─ late tuples ─▶ late
 * </pre>
 *
 * (The spout and the KafkaBolt, Kafka's plumbing, are Job.java's.)
 *
 * <ul>
 *   <li><b>Event time</b>: a {@code BaseWindowedBolt} with a tumbling window on the tuples'
 *   {@code dt} ({@code withTimestampField}), a watermark {@code withLag(out-of-orderness)} behind
 *   the latest {@code dt} the bolt has seen, every {@code withWatermarkInterval}; windows fire when
 *   the watermark passes their end. Storm has no allowed lateness and fires each window once: a
 *   tuple behind the watermark goes to the late stream, counted as dropped. A window is
 *   (end − length, end]: a tuple at exactly a window's end is counted in it, not in the next.
 *   <li><b>Processing time</b>: the count-free tumbling window on the wall clock: a timer fires a
 *   window every window length from the bolt's start, holding the tuples that arrived since the
 *   last. Its windows end on the bolt's own clock, not on the clock's multiples of the length.
 *   <li><b>Deduplication</b> by {@code id} in a bolt before the windows, ids remembered for as long
 *   as a resend can reach an open window.
 *   <li><b>The events counted</b> ({@code --ids true}): each cell's {@code Sums} keeps the ids of the window's tuples
 *   it counted, beside its sums.
 * </ul>
 */
public final class Windows {
    private Windows() {}

    /** An event's fields, as the spout emits them. */
    static final Fields EVENT = new Fields("id", "di", "dt", "c", "m1", "m2");

    static StormTopology topology(IRichSpout events, IRichBolt results, String engine, String mode, long windowMs, long outOfOrdernessMs, long dedupHorizonMs,
                                  boolean ids) {
        boolean eventTime = mode.equals("event-time");
        TopologyBuilder b = new TopologyBuilder();
        b.setSpout("events", events, 1);
        long remember = eventTime ? windowMs + outOfOrdernessMs : dedupHorizonMs;
        b.setBolt("first-of-each-id", new FirstOfEachIdBolt(remember, eventTime), 1).fieldsGrouping("events", new Fields("di"));

        BaseWindowedBolt windows = new TumblingWindows(engine, mode, ids).withTumblingWindow(Duration.of((int) windowMs));
        if (eventTime) {
            windows = windows.withTimestampField("dt").withLag(Duration.of((int) outOfOrdernessMs)).withWatermarkInterval(Duration.of(100))
                .withLateTupleStream("late");
            b.setBolt("late", new CountLate(), 1).shuffleGrouping("windows", "late");
        }
        b.setBolt("windows", windows, 1).fieldsGrouping("first-of-each-id", new Fields("di"));
        b.setBolt("results", results, 1).shuffleGrouping("windows");
        return b.createTopology();
    }

    /** Forwards the first tuple of each id, an id remembered for {@code rememberMs} of its time. */
    static final class FirstOfEachIdBolt extends BaseBasicBolt {
        private final FirstOfEachId seen;
        private final boolean eventTime;

        FirstOfEachIdBolt(long rememberMs, boolean eventTime) {
            this.seen = new FirstOfEachId(rememberMs);
            this.eventTime = eventTime;
        }

        @Override
        public void execute(Tuple t, BasicOutputCollector out) {
            long now = eventTime ? t.getLongByField("dt") : System.currentTimeMillis();
            if (seen.first(t.getStringByField("id"), now)) {
                out.emit(t.getValues());
            }
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(EVENT);
        }
    }

    /**
     * One window's tuples, aggregated per device and category, as results (docs/SPEC.md §5), each
     * with the ids of the tuples it counted when {@code ids}.
     *
     * <p>Storm's watermark thread fires the windows a new watermark passes before it starts sending
     * tuples behind that watermark to the late stream: a tuple taken in just then lands in a window
     * that has fired, is never in any window, and expires unseen. Such a tuple is dropped as late
     * too, and counted so: it comes back among a window's expired tuples without having been in a
     * window before (a tuple that was may expire several windows later: the window manager's scan
     * stops at a tuple far ahead of the window, as one of a partition read ahead of the others is).
     */
    static final class TumblingWindows extends BaseWindowedBolt {
        private final String engine;
        private final String mode;
        private final boolean ids;
        private OutputCollector out;
        /** The tuples that have been in a window and have not expired yet. */
        private final Set<Tuple> windowed = Collections.newSetFromMap(new IdentityHashMap<>());

        TumblingWindows(String engine, String mode, boolean ids) {
            this.engine = engine;
            this.mode = mode;
            this.ids = ids;
        }

        @Override
        public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector collector) {
            this.out = collector;
        }

        @Override
        public void execute(TupleWindow window) {
            Counters.LATE.addAndGet(window.getExpired().stream().filter(t -> !windowed.remove(t)).count());
            windowed.addAll(window.get());
            Map<String, TreeMap<String, Sums>> cells = new HashMap<>();
            for (Tuple t : window.get()) {
                cells.computeIfAbsent(t.getStringByField("di"), d -> new TreeMap<>()).computeIfAbsent(t.getStringByField("c"), c -> new Sums(ids))
                    .add(t.getStringByField("id"), t.getLongByField("m1"), t.getDoubleByField("m2"));
            }
            long end = window.getEndTimestamp();
            cells.forEach((device, byCategory) -> byCategory.forEach((c, sums) -> {
                // Unanchored: anchoring each of a window's thousands of rows to every tuple of the window
                // grew the acker's tuple trees until the JVM did nothing but collect garbage (seen on `disorder`).
                out.emit(List.of(), new Values(device, Results.row(engine, mode, end, device, c, sums)));
            }));
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(new Fields("key", "value"));
        }
    }

    /** The tuples that came after their window fired: counted, as Storm users count what they drop. */
    static final class CountLate extends BaseBasicBolt {
        @Override
        public void execute(Tuple t, BasicOutputCollector out) {
            Counters.LATE.incrementAndGet();
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {}
    }
}
