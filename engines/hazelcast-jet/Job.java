package boontadata.hazelcastjet;

import boontadata.Counters;
import boontadata.Protocol;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.instance.BuildInfoProvider;
import com.hazelcast.jet.config.JobConfig;
import com.hazelcast.jet.config.ProcessingGuarantee;
import com.hazelcast.jet.core.JobStatus;
import com.hazelcast.jet.core.metrics.Measurement;
import java.net.InetAddress;
import java.time.Duration;
import java.net.ServerSocket;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * boontadata's Hazelcast Jet engine: one embedded Hazelcast member (127.0.0.1, a free port, no
 * discovery, no phone-home) with Jet on, to which each job the harness sends
 * (engines/jvm/boontadata/Protocol.java) is submitted as a Jet job running the pipeline of
 * Windows.java, with the processing guarantee of {@code --guarantee} ({@code exactly-once} by
 * default) and a snapshot every {@code --snapshot-ms}. A matrix starts the member once.
 */
public final class Job {
    private Job() {}

    public static void main(String[] args) throws Exception {
        // Before Hazelcast's first logger: its lines go through log4j 2 to the engine's log, warnings only.
        System.setProperty("hazelcast.logging.type", "log4j2");
        HazelcastInstance member = Hazelcast.newHazelcastInstance(memberConfig());
        try {
            Protocol.serve("hazelcast-jet", args, Map.of("guarantee", "exactly-once", "snapshot-ms", "1000"), (job, running) -> run(member, job, running));
        } finally {
            member.shutdown();
        }
    }

    /** A cluster of this member alone, on loopback: no multicast, no TCP/IP members, no cloud discovery, no phone-home. */
    static Config memberConfig() throws Exception {
        Config config = new Config();
        config.setClusterName("boontadata-" + ProcessHandle.current().pid());
        config.setProperty("hazelcast.phone.home.enabled", "false");
        // Bound to the interface below only, not to every address of the machine.
        config.setProperty("hazelcast.socket.bind.any", "false");
        NetworkConfig network = config.getNetworkConfig();
        network.setPort(freePort()).setPortAutoIncrement(false);
        network.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        JoinConfig join = network.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        // One cooperative thread, so that every stage runs one processor (a stage's default parallelism) and watermarks
        // take a single path. With two, a stage whose inputs had all gone idle (the source's partitions silent for the
        // idle timeout) rejoins each input only when that input brings something: the first to bring a watermark
        // carries it past events still on the other path, which are then dropped as late (seen on `seed`: the
        // end-of-stream window lost in one run of five).
        config.getJetConfig().setEnabled(true).setCooperativeThreadCount(1);
        return config;
    }

    static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    static void run(HazelcastInstance member, Protocol.Job job, BooleanSupplier running) throws Exception {
        ProcessingGuarantee guarantee = ProcessingGuarantee.valueOf(job.own.get("guarantee").toUpperCase(Locale.ROOT).replace('-', '_'));
        long snapshotMs = Long.parseLong(job.own.get("snapshot-ms"));
        Counters.reset();

        Properties consumer = new Properties();
        consumer.setProperty("bootstrap.servers", job.brokers);
        consumer.setProperty("key.deserializer", StringDeserializer.class.getName());
        consumer.setProperty("value.deserializer", ByteArrayDeserializer.class.getName());
        // Jet assigns the partitions itself and keeps its offsets in its snapshots; the group's offsets, which the Kafka
        // consumer commits as it polls (its default with a group), are where a new job starts: the job started again
        // after a crash, whose snapshots were in the lost member's memory.
        consumer.setProperty("group.id", job.group);
        consumer.setProperty("auto.offset.reset", "earliest");
        Properties producer = new Properties();
        producer.setProperty("bootstrap.servers", job.brokers);
        producer.setProperty("key.serializer", StringSerializer.class.getName());
        producer.setProperty("value.serializer", StringSerializer.class.getName());
        // An open transaction holds back every read_committed reader of the topic until it ends. A member killed with
        // it open never commits it (nothing is left to), so the broker aborts it after this timeout, which must outlast
        // a snapshot interval (Jet's advice): ten of them, at least 10 s.
        producer.setProperty("transaction.timeout.ms", Long.toString(Math.max(10_000, 10 * snapshotMs)));

        // Jet's Kafka source asks for the topic's partitions with a timeout of 1 s and, when that fails, asks again 5 s
        // later, its watermark going on without them meanwhile: the first job of a cold JVM on a loaded machine missed it
        // (seen on `duplicates`: 266 on-time events dropped as late). A consumer asked first, with time to answer, loads
        // the Kafka client and finds the topic, so that the source's own request is answered in time.
        try (KafkaConsumer<String, byte[]> probe = new KafkaConsumer<>(consumer)) {
            probe.partitionsFor(job.events, Duration.ofSeconds(60));
        }
        var pipeline = Windows.pipeline(job.engine, job.mode, consumer, job.events, producer, job.results, job.windowMs, job.outOfOrdernessMs,
            job.idleTimeoutMs, job.dedupHorizonMs, job.ids);
        JobConfig config = new JobConfig().setName(job.group).setProcessingGuarantee(guarantee).setSnapshotIntervalMillis(snapshotMs);
        Protocol.version("Hazelcast " + BuildInfoProvider.getBuildInfo().getVersion() + " Jet (" + guarantee.name().toLowerCase(Locale.ROOT).replace('_', '-')
            + ", a snapshot every " + snapshotMs + " ms)");

        com.hazelcast.jet.Job jet = member.getJet().newJob(pipeline, config);
        while (jet.getStatus() != JobStatus.RUNNING && !jet.getStatus().isTerminal() && running.getAsBoolean()) {
            Thread.sleep(50);
        }
        if (jet.getStatus() == JobStatus.RUNNING) {
            Protocol.ready();
        }
        while (running.getAsBoolean() && !jet.getStatus().isTerminal()) {
            Thread.sleep(1000);
            Counters.LATE.set(lateDropped(jet));
            Counters.report();
        }
        if (jet.getStatus().isTerminal()) {
            // A job that ended by itself failed: join says why.
            jet.join();
            throw new IllegalStateException(job.engine + ": the Jet job ended by itself: " + jet.getStatus());
        }
        Counters.LATE.set(lateDropped(jet));
        jet.cancel();
        try {
            jet.join();
        } catch (CancellationException cancelled) {
            // What cancel() does.
        }
        Counters.report();
    }

    /** Events dropped behind the watermark: the window operator's and the dedup's (a stateful stage with a TTL drops them too). */
    static long lateDropped(com.hazelcast.jet.Job jet) {
        return jet.getMetrics().get("lateEventsDropped").stream().mapToLong(Measurement::value).sum();
    }
}
