package boontadata.samza;

import boontadata.Counters;
import boontadata.Protocol;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.samza.application.StreamApplication;
import org.apache.samza.application.descriptors.StreamApplicationDescriptor;
import org.apache.samza.config.MapConfig;
import org.apache.samza.container.grouper.task.SingleContainerGrouperFactory;
import org.apache.samza.job.ApplicationStatus;
import org.apache.samza.runtime.LocalApplicationRunner;
import org.apache.samza.runtime.ProcessorLifecycleListener;
import org.apache.samza.serializers.KVSerde;
import org.apache.samza.serializers.StringSerde;
import org.apache.samza.standalone.PassthroughJobCoordinatorFactory;
import org.apache.samza.system.SystemStreamMetadata.OffsetType;
import org.apache.samza.system.kafka.descriptors.KafkaSystemDescriptor;

/**
 * boontadata's Samza engine: the stream of Windows.java, between the job's topics in an
 * application of its own, run embedded in this JVM by a
 * {@code LocalApplicationRunner} in standalone mode: one stream processor, the passthrough job
 * coordinator (no ZooKeeper), every partition in one task. Each job the harness sends
 * (engines/jvm/boontadata/Protocol.java) is a new application in the same JVM.
 */
public final class Job {
    private Job() {}

    public static void main(String[] args) throws Exception {
        Protocol.serve("samza", args, Map.of(), Job::run);
        System.exit(0);
    }

    static void run(Protocol.Job job, BooleanSupplier running) throws Exception {
        if (!job.mode.equals("processing-time")) {
            throw new IllegalArgumentException("samza: no " + job.mode + " (Samza's windows are on the wall clock): run it in processing-time");
        }
        Counters.reset();
        Path state = job.stateDir != null ? Path.of(job.stateDir) : Files.createTempDirectory("boontadata-samza");
        String replicas = Integer.toString(Math.min(3, brokerCount(job.brokers)));
        // Job names take no dots.
        String name = job.group.replaceAll("[^A-Za-z0-9_-]", "-");
        var config = new MapConfig(Map.ofEntries(
            Map.entry("job.name", name),
            Map.entry("job.id", "1"),
            Map.entry("processor.id", "0"),
            Map.entry("job.coordinator.factory", PassthroughJobCoordinatorFactory.class.getName()),
            Map.entry("task.name.grouper.factory", SingleContainerGrouperFactory.class.getName()),
            // Input offsets checkpointed to Kafka, and the window store's changelog flushed, every second
            // (Samza's default is a minute): a restarted job restores both and reads on from there.
            Map.entry("task.checkpoint.factory", "org.apache.samza.checkpoint.kafka.KafkaCheckpointManagerFactory"),
            Map.entry("task.checkpoint.system", "kafka"),
            Map.entry("task.commit.ms", "1000"),
            // Samza's own topics on three brokers, or on as many as the cluster has.
            Map.entry("task.checkpoint.replication.factor", replicas),
            Map.entry("stores.default.changelog.replication.factor", replicas),
            Map.entry("job.non-logged.store.base.dir", state.resolve("stores").toString()),
            Map.entry("job.logged.store.base.dir", state.resolve("logged-stores").toString())));
        AtomicBoolean started = new AtomicBoolean();
        var runner = new LocalApplicationRunner((StreamApplication) app -> describe(app, job, () -> started.set(true)), config);
        Protocol.version("samza " + version());
        runner.run(null);
        boolean ready = false;
        while (running.getAsBoolean()) {
            ApplicationStatus status = runner.status();
            if (status.getStatusCode() == ApplicationStatus.StatusCode.UnsuccessfulFinish) {
                throw new IllegalStateException("samza: the application failed: " + status.getThrowable(), status.getThrowable());
            }
            if (!ready && started.get()) {
                ready = true;
                Protocol.ready();
            }
            Counters.report();
            Thread.sleep(ready ? 1000 : 200);
        }
        runner.kill();
        runner.waitForFinish(Duration.ofSeconds(20));
        Counters.report();
    }

    /** The application: the events topic, through Windows.java, into the results topic. */
    static void describe(StreamApplicationDescriptor app, Protocol.Job job, Runnable started) {
        var kafka = new KafkaSystemDescriptor("kafka")
            .withConsumerConfigs(Map.of("bootstrap.servers", job.brokers))
            .withProducerBootstrapServers(List.of(job.brokers.split(",")));
        // A job reads its stream from the start: Samza's default is the newest offset.
        // (A stream's id takes no dots; the topics are named after the run.)
        var input = kafka.getInputDescriptor("events", new StringSerde()).withPhysicalName(job.events).withOffsetDefault(OffsetType.OLDEST);
        var output = kafka.getOutputDescriptor("results", KVSerde.of(new StringSerde(), new StringSerde())).withPhysicalName(job.results);
        app.withDefaultSystem(kafka);
        app.withProcessorLifecycleListenerFactory((processor, config) -> new ProcessorLifecycleListener() {
            @Override
            public void afterStart() {
                started.run();
            }
        });
        Windows.windows(app.getInputStream(input), job.engine, job.windowMs, job.dedupHorizonMs, job.ids).sendTo(app.getOutputStream(output));
    }

    static int brokerCount(String brokers) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers))) {
            return admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size();
        }
    }

    /** Samza's version, as its API jar is named (its manifest carries none). */
    static String version() {
        String jar = Path.of(StreamApplication.class.getProtectionDomain().getCodeSource().getLocation().getPath()).getFileName().toString();
        return jar.replaceFirst("^samza-api-", "").replaceFirst("\\.jar$", "");
    }
}
