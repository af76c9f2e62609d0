package boontadata.spark;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.streaming.MicroBatchStream;
import org.apache.spark.sql.connector.read.streaming.Offset;
import org.apache.spark.sql.connector.read.streaming.ReadLimit;
import org.apache.spark.sql.connector.read.streaming.SupportsAdmissionControl;

/**
 * The source: a micro-batch is, per partition, the offsets [start, end). The
 * driver decides the ends; executors read exactly those ranges, so a batch
 * replayed from the checkpoint reads the same records.
 */
final class KafkaMicroBatchStream implements MicroBatchStream, SupportsAdmissionControl {
    /**
     * How long the driver waits for records past the broker's reported end before planning a batch;
     * also how long the broker may hold a fetch (as the harness's consumers do: shorter polls load the broker).
     */
    static final Duration PROBE = Duration.ofMillis(200);
    /** A range the driver has seen must be readable; past this, the batch fails instead of hanging. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

    private final String brokers, topic, group;
    private KafkaConsumer<byte[], byte[]> probe;
    private List<TopicPartition> partitions;

    KafkaMicroBatchStream(String brokers, String topic, String group) {
        this.brokers = brokers;
        this.topic = topic;
        this.group = group;
    }

    static Properties consumerConfig(String brokers, String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", brokers);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        // Every read starts at an offset we chose: an offset the broker no longer has is an error, not a silent skip.
        p.put("auto.offset.reset", "none");
        p.put("fetch.max.wait.ms", String.valueOf(PROBE.toMillis()));
        if (!group.isEmpty()) {
            p.put("group.id", group);
        }
        return p;
    }

    /** The driver's consumer, created on first use and assigned every partition of the topic. */
    private KafkaConsumer<byte[], byte[]> probeConsumer() {
        if (probe == null) {
            Properties config = consumerConfig(brokers, group);
            // It only learns offsets: one poll may as well cover a whole producer batch.
            config.put("max.poll.records", "10000");
            probe = new KafkaConsumer<>(config);
            partitions = probe.partitionsFor(topic, READ_TIMEOUT).stream()
                .map(info -> new TopicPartition(topic, info.partition()))
                .sorted((a, b) -> Integer.compare(a.partition(), b.partition()))
                .collect(Collectors.toList());
            probe.assign(partitions);
        }
        return probe;
    }

    @Override
    public synchronized Offset initialOffset() {
        return PartitionOffsets.of(probeConsumer().beginningOffsets(partitions));
    }

    /**
     * The end of the next batch. A broker's reported end offset can lag what it
     * already serves (tansu's leaves out the last record batch of a partition
     * but its first record): planning from it alone would
     * leave the last records of a stream, its end-of-stream events, waiting for
     * data that never comes. So the driver also reads past the reported end,
     * briefly, and ends the batch after the last record it got.
     */
    @Override
    public synchronized Offset latestOffset(Offset start, ReadLimit limit) {
        try {
            return readableEnd((PartitionOffsets) start);
        } catch (InterruptException stopping) {
            // query.stop() interrupts this thread: Spark takes an interrupted I/O for a stop, not a failure.
            throw new UncheckedIOException(new InterruptedIOException("stopped while reading " + topic));
        }
    }

    private Offset readableEnd(PartitionOffsets start) {
        KafkaConsumer<byte[], byte[]> c = probeConsumer();
        Map<Integer, Long> from = start.next;
        Map<TopicPartition, Long> reported = c.endOffsets(partitions);
        for (TopicPartition tp : partitions) {
            long target = Math.max(from.getOrDefault(tp.partition(), 0L), reported.get(tp));
            if (positionOrMinus1(c, tp) < target) {
                c.seek(tp, target);
            }
        }
        c.poll(PROBE);
        Map<TopicPartition, Long> end = new TreeMap<>((a, b) -> Integer.compare(a.partition(), b.partition()));
        for (TopicPartition tp : partitions) {
            end.put(tp, c.position(tp));
        }
        return PartitionOffsets.of(end);
    }

    private static long positionOrMinus1(KafkaConsumer<byte[], byte[]> c, TopicPartition tp) {
        try {
            return c.position(tp, Duration.ZERO);
        } catch (RuntimeException notPositionedYet) {
            return -1;
        }
    }

    @Override
    public Offset latestOffset() {
        throw new UnsupportedOperationException("boontadata-kafka plans batches with latestOffset(start, limit)");
    }

    @Override
    public InputPartition[] planInputPartitions(Offset start, Offset end) {
        Map<Integer, Long> from = ((PartitionOffsets) start).next, until = ((PartitionOffsets) end).next;
        List<InputPartition> ranges = new ArrayList<>();
        until.forEach((p, u) -> {
            long f = from.getOrDefault(p, 0L);
            if (u > f) {
                ranges.add(new Range(brokers, topic, p, f, u));
            }
        });
        return ranges.toArray(new InputPartition[0]);
    }

    @Override
    public PartitionReaderFactory createReaderFactory() {
        return partition -> new RangeReader((Range) partition);
    }

    @Override
    public Offset deserializeOffset(String json) {
        return PartitionOffsets.parse(json);
    }

    /** Processed offsets go to the consumer group too, for tools that watch its lag; restarts use Spark's checkpoint. */
    @Override
    public synchronized void commit(Offset end) {
        if (group.isEmpty() || probe == null) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new TreeMap<>((a, b) -> Integer.compare(a.partition(), b.partition()));
        ((PartitionOffsets) end).next.forEach((p, o) -> offsets.put(new TopicPartition(topic, p), new OffsetAndMetadata(o)));
        probe.commitAsync(offsets, (done, error) -> {
            if (error != null) {
                System.err.println("boontadata-kafka: committing offsets to group " + group + " failed: " + error);
            }
        });
    }

    @Override
    public synchronized void stop() {
        if (probe != null) {
            probe.close(Duration.ofSeconds(2));
            probe = null;
        }
    }

    @Override
    public String toString() {
        return "boontadata-kafka[" + topic + "]";
    }

    /** Per partition, the next offset to read: {"0":120,"1":98}. */
    static final class PartitionOffsets extends Offset {
        final TreeMap<Integer, Long> next = new TreeMap<>();

        static PartitionOffsets of(Map<TopicPartition, Long> offsets) {
            PartitionOffsets o = new PartitionOffsets();
            offsets.forEach((tp, offset) -> o.next.put(tp.partition(), offset));
            return o;
        }

        static PartitionOffsets parse(String json) {
            PartitionOffsets o = new PartitionOffsets();
            String body = json.trim().replaceAll("^\\{|\\}$", "").trim();
            for (String entry : body.isEmpty() ? new String[0] : body.split(",")) {
                String[] kv = entry.split(":");
                o.next.put(Integer.parseInt(kv[0].trim().replace("\"", "")), Long.parseLong(kv[1].trim()));
            }
            return o;
        }

        @Override
        public String json() {
            return next.entrySet().stream().map(e -> "\"" + e.getKey() + "\":" + e.getValue()).collect(Collectors.joining(",", "{", "}"));
        }
    }

    /** One partition's share of a batch. */
    static final class Range implements InputPartition {
        final String brokers, topic;
        final int partition;
        final long from, until;

        Range(String brokers, String topic, int partition, long from, long until) {
            this.brokers = brokers;
            this.topic = topic;
            this.partition = partition;
            this.from = from;
            this.until = until;
        }
    }

    /**
     * Reads one range. Consumers outlive the batch, one per partition in an
     * executor: a new one costs a connection and metadata round trips on every batch.
     */
    static final class RangeReader implements PartitionReader<InternalRow> {
        private static final ConcurrentHashMap<String, ConcurrentLinkedQueue<KafkaConsumer<byte[], byte[]>>> IDLE = new ConcurrentHashMap<>();

        private final Range range;
        private final TopicPartition tp;
        private final ConcurrentLinkedQueue<KafkaConsumer<byte[], byte[]>> pool;
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        private Iterator<ConsumerRecord<byte[], byte[]>> fetched = Collections.emptyIterator();
        private ConsumerRecord<byte[], byte[]> current;
        private boolean done;

        RangeReader(Range range) {
            this.range = range;
            this.tp = new TopicPartition(range.topic, range.partition);
            this.pool = IDLE.computeIfAbsent(range.brokers + "/" + tp, k -> new ConcurrentLinkedQueue<>());
            KafkaConsumer<byte[], byte[]> c = pool.poll();
            if (c == null) {
                c = new KafkaConsumer<>(consumerConfig(range.brokers, ""));
                c.assign(List.of(tp));
            }
            // Seeking drops what the consumer has prefetched: only when it is not already there.
            if (positionOrMinus1(c, tp) != range.from) {
                c.seek(tp, range.from);
            }
            this.consumer = c;
        }

        @Override
        public boolean next() throws IOException {
            while (!done) {
                if (fetched.hasNext()) {
                    current = fetched.next();
                    if (current.offset() < range.until) {
                        return true;
                    }
                    done = true;
                } else if (consumer.position(tp) >= range.until) {
                    done = true;
                } else if (System.nanoTime() > deadline) {
                    throw new IOException("boontadata-kafka: offsets " + consumer.position(tp) + " to " + range.until + " of " + tp
                        + " were not readable within " + READ_TIMEOUT.toSeconds() + " s");
                } else {
                    fetched = consumer.poll(Duration.ofMillis(200)).records(tp).iterator();
                }
            }
            return false;
        }

        @Override
        public InternalRow get() {
            return new GenericInternalRow(new Object[] {
                current.key(), current.value(), current.partition(), current.offset(), current.timestamp() * 1000L,
            });
        }

        @Override
        public void close() {
            pool.add(consumer);
        }
    }
}
