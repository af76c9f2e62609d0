package boontadata.storm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.kafka.bolt.KafkaBolt;
import org.apache.storm.kafka.bolt.mapper.FieldNameBasedTupleToKafkaMapper;
import org.apache.storm.kafka.bolt.selector.DefaultTopicSelector;
import org.apache.storm.kafka.spout.FirstPollOffsetStrategy;
import org.apache.storm.kafka.spout.KafkaSpout;
import org.apache.storm.kafka.spout.KafkaSpoutConfig;
import org.apache.storm.kafka.spout.KafkaSpoutMessageId;
import org.apache.storm.kafka.spout.KafkaTupleListener;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicOutputCollector;
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
 * KafkaSpout ─▶ first-of-each-id (by device) ─▶ windows (by device) ─▶ KafkaBolt
 *                                                 └─ late tuples ─▶ late
 * </pre>
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
 * </ul>
 */
public final class Windows {
    private Windows() {}

    static final ObjectMapper JSON = new ObjectMapper();

    /** What the topology counts: the bolts run in this JVM under a LocalCluster. */
    static final AtomicLong CONSUMED = new AtomicLong();
    static final AtomicLong MALFORMED = new AtomicLong();
    static final AtomicLong DUPLICATES = new AtomicLong();
    static final AtomicLong LATE = new AtomicLong();
    static final AtomicLong EMITTED = new AtomicLong();

    static StormTopology topology(String mode, String brokers, String events, String results, String group, long windowMs, long outOfOrdernessMs,
                                  long dedupHorizonMs) {
        boolean eventTime = mode.equals("event-time");
        TopologyBuilder b = new TopologyBuilder();
        KafkaSpoutConfig<String, String> spout = KafkaSpoutConfig.builder(brokers, events)
            .setProp(ConsumerConfig.GROUP_ID_CONFIG, group)
            // A new group from the earliest offsets, a known one where it committed.
            .setFirstPollOffsetStrategy(FirstPollOffsetStrategy.UNCOMMITTED_EARLIEST)
            .setRecordTranslator(Windows::tuple, new Fields("id", "di", "dt", "c", "m1", "m2"))
            .setTupleListener(new Assigned())
            .build();
        b.setSpout("events", new KafkaSpout<>(spout), 1);
        long remember = eventTime ? windowMs + outOfOrdernessMs : dedupHorizonMs;
        b.setBolt("first-of-each-id", new FirstOfEachId(remember, eventTime), 1).fieldsGrouping("events", new Fields("di"));

        BaseWindowedBolt windows = new TumblingWindows(mode).withTumblingWindow(Duration.of((int) windowMs));
        if (eventTime) {
            windows = windows.withTimestampField("dt").withLag(Duration.of((int) outOfOrdernessMs)).withWatermarkInterval(Duration.of(100))
                .withLateTupleStream("late");
            b.setBolt("late", new CountLate(), 1).shuffleGrouping("windows", "late");
        }
        b.setBolt("windows", windows, 1).fieldsGrouping("first-of-each-id", new Fields("di"));

        var producer = new java.util.Properties();
        producer.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        producer.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, "org.apache.kafka.common.serialization.StringSerializer");
        producer.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, "org.apache.kafka.common.serialization.StringSerializer");
        b.setBolt("results", new KafkaBolt<String, String>().withProducerProperties(producer).withTopicSelector(new DefaultTopicSelector(results))
            .withTupleToKafkaMapper(new FieldNameBasedTupleToKafkaMapper<>("key", "value")), 1).shuffleGrouping("windows");
        return b.createTopology();
    }

    /** Set once the spout has its partitions: the job can read. */
    static final AtomicBoolean ASSIGNED = new AtomicBoolean();

    /** Tells the job when the spout has its partitions. */
    static final class Assigned implements KafkaTupleListener {
        @Override
        public void onPartitionsReassigned(Collection<TopicPartition> partitions) {
            ASSIGNED.set(!partitions.isEmpty());
        }

        @Override
        public void open(Map<String, Object> conf, TopologyContext context) {}

        @Override
        public void onEmit(List<Object> tuple, KafkaSpoutMessageId id) {}

        @Override
        public void onAck(KafkaSpoutMessageId id) {}

        @Override
        public void onRetry(KafkaSpoutMessageId id) {}

        @Override
        public void onMaxRetryReached(KafkaSpoutMessageId id) {}
    }

    /** A Kafka record as a tuple; null (skipped, and counted) when it is not a whole, well-typed event. */
    static List<Object> tuple(ConsumerRecord<String, String> r) {
        CONSUMED.incrementAndGet();
        try {
            JsonNode n = JSON.readTree(r.value());
            if (n != null && n.path("dt").isIntegralNumber() && n.path("m1").isIntegralNumber() && n.path("m2").isNumber() && n.path("id").isTextual()
                && n.path("di").isTextual() && n.path("c").isTextual()) {
                return new Values(n.get("id").asText(), n.get("di").asText(), n.get("dt").asLong(), n.get("c").asText(), n.get("m1").asLong(), n.get("m2").asDouble());
            }
        } catch (Exception e) {
            // not JSON: malformed, as below
        }
        MALFORMED.incrementAndGet();
        return null;
    }

    /** Forwards the first tuple of each id; an id is remembered for {@code rememberMs} of its time. */
    static final class FirstOfEachId extends BaseBasicBolt {
        private final long rememberMs;
        private final boolean eventTime;
        private final LinkedHashMap<String, Long> seen = new LinkedHashMap<>();

        FirstOfEachId(long rememberMs, boolean eventTime) {
            this.rememberMs = rememberMs;
            this.eventTime = eventTime;
        }

        @Override
        public void execute(Tuple t, BasicOutputCollector out) {
            long now = eventTime ? t.getLongByField("dt") : System.currentTimeMillis();
            // Ids are kept in arrival order: forget from the oldest while they are past their time.
            for (Iterator<Long> until = seen.values().iterator(); until.hasNext() && until.next() < now; ) {
                until.remove();
            }
            if (seen.putIfAbsent(t.getStringByField("id"), now + rememberMs) != null) {
                DUPLICATES.incrementAndGet();
                return;
            }
            out.emit(t.getValues());
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(new Fields("id", "di", "dt", "c", "m1", "m2"));
        }
    }

    /**
     * One window's tuples, aggregated per device and category, as results (docs/SPEC.md §5).
     *
     * <p>Storm's watermark thread fires the windows a new watermark passes before it starts sending
     * tuples behind that watermark to the late stream: a tuple taken in just then lands in a window
     * that has fired, is never in any window, and expires unseen. Such a tuple is dropped as late
     * too, and counted so: it comes back among a window's expired tuples without having been in a
     * window before (a tuple that was may expire several windows later: the window manager's scan
     * stops at a tuple far ahead of the window, as one of a partition read ahead of the others is).
     */
    static final class TumblingWindows extends BaseWindowedBolt {
        private final String mode;
        private OutputCollector out;
        /** The tuples that have been in a window and have not expired yet. */
        private final Set<Tuple> windowed = Collections.newSetFromMap(new IdentityHashMap<>());

        TumblingWindows(String mode) {
            this.mode = mode;
        }

        @Override
        public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector collector) {
            this.out = collector;
        }

        @Override
        public void execute(TupleWindow window) {
            LATE.addAndGet(window.getExpired().stream().filter(t -> !windowed.remove(t)).count());
            windowed.addAll(window.get());
            Map<String, TreeMap<String, double[]>> cells = new HashMap<>();
            for (Tuple t : window.get()) {
                double[] cell = cells.computeIfAbsent(t.getStringByField("di"), d -> new TreeMap<>()).computeIfAbsent(t.getStringByField("c"), c -> new double[3]);
                cell[0] += 1;
                cell[1] += t.getLongByField("m1");
                cell[2] += t.getDoubleByField("m2");
            }
            long end = window.getEndTimestamp();
            cells.forEach((device, byCategory) -> byCategory.forEach((c, cell) -> {
                var row = JSON.createObjectNode().put("engine", "storm").put("mode", mode).put("window_end", end).put("di", device).put("c", c)
                    .put("count", (long) cell[0]).put("m1_sum", (long) cell[1]).put("m2_sum", cell[2]).put("emitted_at", System.currentTimeMillis());
                // Unanchored: anchoring each of a window's thousands of rows to every tuple of the window
                // grew the acker's tuple trees until the JVM did nothing but collect garbage (seen on `disorder`).
                out.emit(List.of(), new Values(device, row.toString()));
                EMITTED.incrementAndGet();
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
            LATE.incrementAndGet();
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {}
    }
}
