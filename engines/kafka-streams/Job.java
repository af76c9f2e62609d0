package boontadata.kafkastreams;

import boontadata.Counters;
import boontadata.Protocol;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * boontadata's Kafka Streams engine: the topology of Windows.java, run as a Kafka Streams
 * application whose application id is the job's consumer group, with the processing guarantee
 * of {@code --guarantee} ({@code exactly_once_v2} by default, or {@code at_least_once}). Each
 * job the harness sends (engines/jvm/boontadata/Protocol.java) is a new application in the same
 * JVM, so a matrix starts the JVM once.
 */
public final class Job {
    private Job() {}

    public static void main(String[] args) throws Exception {
        Protocol.serve("kafka-streams", args, Map.of("guarantee", StreamsConfig.EXACTLY_ONCE_V2), Job::run);
    }

    static void run(Protocol.Job job, BooleanSupplier running) throws Exception {
        String guarantee = job.own.get("guarantee");
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, job.group);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, job.brokers);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        // Internal topics (changelogs) replicated as the broker's default says: three on a cluster of three.
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // No record cache in front of the stores: a window's updates reach the suppression buffer at once, not at the
        // next commit (30 s with at_least_once), so a closed window leaves when it closes.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        if (job.stateDir != null) {
            p.put(StreamsConfig.STATE_DIR_CONFIG, job.stateDir);
        }
        // A new application starts at the earliest offsets (Kafka Streams' default too), a known one where it committed.
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        Counters.reset();
        var topology = Windows.topology(job.engine, job.mode, job.events, job.results, job.windowMs, job.outOfOrdernessMs, job.allowedLatenessMs, job.dedupHorizonMs, job.ids);
        Protocol.version("kafka-streams " + AppInfoParser.getVersion() + " (" + guarantee + ")");

        AtomicReference<Throwable> failure = new AtomicReference<>();
        KafkaStreams streams = new KafkaStreams(topology, p);
        streams.setUncaughtExceptionHandler(e -> {
            failure.set(e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && before == KafkaStreams.State.REBALANCING) {
                Protocol.ready();
            }
        });
        try {
            streams.start();
            while (running.getAsBoolean() && failure.get() == null) {
                Thread.sleep(1000);
                Counters.LATE.set(lateDropped(streams));
                Counters.report();
            }
        } finally {
            // Closed once, with a timeout (a second close, as try-with-resources makes, waits for ever for
            // one that timed out): a thread fenced as a zombie may still be rejoining its group.
            if (!streams.close(Duration.ofSeconds(20))) {
                System.err.println(job.engine + ": the application did not close within 20 s; its job ends without it");
            }
        }
        // A closed application has no metrics left: its last late count stands.
        Counters.report();
        if (failure.get() != null) {
            throw new IllegalStateException(job.engine + ": the application failed: " + failure.get(), failure.get());
        }
    }

    /** Records a window no longer took (behind its end + grace): the tasks' dropped-records. */
    static long lateDropped(KafkaStreams streams) {
        long late = 0;
        for (var m : streams.metrics().entrySet()) {
            MetricName name = m.getKey();
            if (name.name().equals("dropped-records-total") && name.group().equals("stream-task-metrics")) {
                late += ((Number) m.getValue().metricValue()).longValue();
            }
        }
        return late;
    }
}
