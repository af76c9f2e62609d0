package boontadata.storm;

import boontadata.Counters;
import boontadata.Event;
import boontadata.Protocol;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.storm.Config;
import org.apache.storm.LocalCluster;
import org.apache.storm.StormSubmitter;
import org.apache.storm.generated.KillOptions;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.generated.TopologySummary;
import org.apache.storm.kafka.bolt.KafkaBolt;
import org.apache.storm.kafka.bolt.mapper.FieldNameBasedTupleToKafkaMapper;
import org.apache.storm.kafka.bolt.selector.DefaultTopicSelector;
import org.apache.storm.kafka.spout.FirstPollOffsetStrategy;
import org.apache.storm.kafka.spout.KafkaSpout;
import org.apache.storm.kafka.spout.KafkaSpoutConfig;
import org.apache.storm.kafka.spout.KafkaSpoutMessageId;
import org.apache.storm.kafka.spout.KafkaTupleListener;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.Values;
import org.apache.storm.utils.NimbusClient;
import org.apache.storm.utils.VersionInfo;

/**
 * boontadata's Storm engine: the topology of Windows.java, between the spout that reads the
 * events topic and the bolt that writes the results topic (both here), in a LocalCluster of this
 * JVM (a nimbus, a supervisor and an in-process ZooKeeper), or submitted to an existing cluster with
 * {@code --nimbus HOST:PORT}. Each job the harness sends (engines/jvm/boontadata/Protocol.java) is
 * a new topology in the same LocalCluster, so a matrix starts the cluster once.
 */
public final class Job {
    private Job() {}

    private static LocalCluster local;

    public static void main(String[] args) throws Exception {
        try {
            Protocol.serve("storm", args, Map.of("nimbus", ""), Job::run);
        } finally {
            if (local != null) {
                local.close();
            }
        }
        System.exit(0);
    }

    static void run(Protocol.Job job, BooleanSupplier running) throws Exception {
        Counters.reset();
        ASSIGNED.set(false);
        // Topology names take no dots.
        String name = job.group.replaceAll("[^A-Za-z0-9_-]", "-");
        var topology = Windows.topology(spout(job), resultsBolt(job), job.engine, job.mode, job.windowMs, job.outOfOrdernessMs, job.dedupHorizonMs, job.ids);
        Config conf = new Config();
        conf.setNumWorkers(1);
        // A windowed bolt acks a tuple once its window has passed: the spout must wait longer than that.
        conf.setMessageTimeoutSecs((int) Math.max(30, 3 * (job.windowMs + job.outOfOrdernessMs) / 1000));
        Protocol.version("storm " + VersionInfo.getVersion());
        String nimbus = job.own.get("nimbus");
        if (!nimbus.isEmpty()) {
            submitToCluster(nimbus, name, conf, topology, running);
            return;
        }
        if (local == null) {
            local = new LocalCluster();
        }
        local.submitTopology(name, conf, topology);
        boolean ready = false;
        while (running.getAsBoolean()) {
            if (!ready && ASSIGNED.get() && running(local, name)) {
                ready = true;
                Protocol.ready();
            }
            Counters.report();
            Thread.sleep(ready ? 1000 : 200);
        }
        KillOptions now = new KillOptions();
        now.set_wait_secs(0);
        local.killTopologyWithOpts(name, now);
        while (local.getClusterInfo().get_topologies().stream().anyMatch(t -> t.get_name().equals(name))) {
            Thread.sleep(100);
        }
        Counters.report();
    }

    /** Whether every executor of the topology has started. */
    private static boolean running(LocalCluster cluster, String name) throws Exception {
        for (TopologySummary t : cluster.getClusterInfo().get_topologies()) {
            if (t.get_name().equals(name)) {
                var info = cluster.getTopologyInfo(t.get_id());
                return info.get_executors_size() > 0 && info.get_executors().stream().allMatch(e -> e.get_uptime_secs() >= 0) && t.get_status().equals("ACTIVE");
            }
        }
        return false;
    }

    /** Submits the topology to the cluster whose nimbus is at {@code nimbus}: the jar `setup` built carries it. */
    private static void submitToCluster(String nimbus, String name, Config conf, StormTopology topology, BooleanSupplier running)
        throws Exception {
        String host = nimbus.substring(0, nimbus.lastIndexOf(':'));
        int port = Integer.parseInt(nimbus.substring(nimbus.lastIndexOf(':') + 1));
        try (Socket probe = new Socket()) {
            probe.connect(new InetSocketAddress(host, port), 3000);
        } catch (Exception e) {
            throw new IllegalStateException("storm: no nimbus answers at " + nimbus + " (" + e.getMessage() + "); check --storm-nimbus");
        }
        conf.put(Config.NIMBUS_SEEDS, List.of(host));
        conf.put(Config.NIMBUS_THRIFT_PORT, port);
        System.setProperty("storm.jar", System.getenv("BOONTADATA_STORM_JAR"));
        StormSubmitter.submitTopology(name, conf, topology);
        // The workers are the cluster's: their counters are not this process's to report.
        Protocol.ready();
        while (running.getAsBoolean()) {
            Thread.sleep(500);
        }
        KillOptions now = new KillOptions();
        now.set_wait_secs(0);
        try (NimbusClient client = NimbusClient.Builder.withConf(conf).buildWithNimbusHostPort(host, port)) {
            client.getClient().killTopologyWithOpts(name, now);
        }
    }

    /** The events topic as event tuples ({@link Windows#EVENT}), from the earliest offsets for a new group, where it committed for a known one. */
    static KafkaSpout<String, String> spout(Protocol.Job job) {
        return new KafkaSpout<>(KafkaSpoutConfig.builder(job.brokers, job.events)
            .setProp(ConsumerConfig.GROUP_ID_CONFIG, job.group)
            .setFirstPollOffsetStrategy(FirstPollOffsetStrategy.UNCOMMITTED_EARLIEST)
            .setRecordTranslator(Job::tuple, Windows.EVENT)
            .setTupleListener(new Assigned())
            .build());
    }

    /** A record as an event tuple; null, which the spout skips, when it is not an event (Event.read counts it). */
    static List<Object> tuple(ConsumerRecord<String, String> r) {
        Event e = Event.read(r.value());
        return e == null ? null : new Values(e.id(), e.di(), e.dt(), e.c(), e.m1(), e.m2());
    }

    /** Writes the windows' (key, value) tuples to the results topic. */
    static KafkaBolt<String, String> resultsBolt(Protocol.Job job) {
        Properties producer = new Properties();
        producer.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, job.brokers);
        producer.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producer.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaBolt<String, String>().withProducerProperties(producer).withTopicSelector(new DefaultTopicSelector(job.results))
            .withTupleToKafkaMapper(new FieldNameBasedTupleToKafkaMapper<>("key", "value"));
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
}
