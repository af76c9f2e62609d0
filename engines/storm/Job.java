package boontadata.storm;

import boontadata.Protocol;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.storm.Config;
import org.apache.storm.LocalCluster;
import org.apache.storm.StormSubmitter;
import org.apache.storm.generated.KillOptions;
import org.apache.storm.generated.TopologySummary;
import org.apache.storm.utils.NimbusClient;
import org.apache.storm.utils.VersionInfo;

/**
 * boontadata's Storm engine: the topology of Windows.java, in a LocalCluster of this JVM (a
 * nimbus, a supervisor and an in-process ZooKeeper), or submitted to an existing cluster with
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
        for (var counter : List.of(Windows.CONSUMED, Windows.MALFORMED, Windows.DUPLICATES, Windows.LATE, Windows.EMITTED)) {
            counter.set(0);
        }
        Windows.ASSIGNED.set(false);
        // Topology names take no dots.
        String name = job.group.replaceAll("[^A-Za-z0-9_-]", "-");
        var topology = Windows.topology(job.mode, job.brokers, job.events, job.results, job.group, job.windowMs, job.outOfOrdernessMs, job.dedupHorizonMs);
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
            if (!ready && Windows.ASSIGNED.get() && running(local, name)) {
                ready = true;
                Protocol.ready();
            }
            report();
            Thread.sleep(ready ? 1000 : 200);
        }
        KillOptions now = new KillOptions();
        now.set_wait_secs(0);
        local.killTopologyWithOpts(name, now);
        while (local.getClusterInfo().get_topologies().stream().anyMatch(t -> t.get_name().equals(name))) {
            Thread.sleep(100);
        }
        report();
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
    private static void submitToCluster(String nimbus, String name, Config conf, org.apache.storm.generated.StormTopology topology, BooleanSupplier running)
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

    static void report() {
        Protocol.metric("consumed", Windows.CONSUMED.get());
        Protocol.metric("malformed", Windows.MALFORMED.get());
        Protocol.metric("duplicates_dropped", Windows.DUPLICATES.get());
        Protocol.metric("late_dropped", Windows.LATE.get());
        Protocol.metric("results_emitted", Windows.EMITTED.get());
    }
}
