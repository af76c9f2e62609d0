package boontadata.beam;

import boontadata.Counters;
import boontadata.Event;
import boontadata.Protocol;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.runners.direct.DirectRunner;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.runners.flink.FlinkRunner;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.util.ReleaseInfo;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * boontadata's Apache Beam engine: the pipeline of Windows.java between KafkaIO's read and write,
 * on the runner of {@code --runner}:
 *
 * <ul>
 *   <li>{@code flink} (the default): the FlinkRunner on an embedded Flink mini-cluster, checkpointing
 *   every {@code --checkpoint-ms} into the job's state folder (the reader's offsets, the ids seen and
 *   the windows in one checkpoint). A job started again on a state folder a killed one left restores
 *   its latest checkpoint, and emits again, with the same values, what it had emitted since.
 *   <li>{@code direct}: the DirectRunner, Beam's runner for tests, in this JVM, its state in memory.
 *   It reads a few hundred events a second here (bundles of 10 records, and a new Kafka reader every
 *   20 bundles or so, by design), so it is for trying the pipeline by hand, not a live stream.
 * </ul>
 *
 * Either way the reader reads committed records only and commits its offsets to the job's group
 * as its checkpoints are finalized. Each job the harness sends is a new pipeline in the same JVM.
 */
public final class Job {
    private Job() {}

    /** Events the deduplication let through (Windows.CountFirsts): the resends dropped are what else was read. */
    static final AtomicLong FIRSTS = new AtomicLong();

    public static void main(String[] args) throws Exception {
        Protocol.serve("beam", args, Map.of("runner", "flink", "checkpoint-ms", "5000"), Job::run);
    }

    static void run(Protocol.Job job, BooleanSupplier running) throws Exception {
        String runner = job.own.get("runner");
        Windows.Settings settings = new Windows.Settings(job.engine, job.mode, job.windowMs, job.outOfOrdernessMs, job.allowedLatenessMs, job.dedupHorizonMs, job.ids);
        boolean flink = switch (runner) {
            case "direct" -> false;
            case "flink" -> true;
            default -> throw new IllegalArgumentException(job.engine + ": --runner is direct or flink, not " + runner);
        };
        PipelineOptions options = flink ? flinkOptions(job) : directOptions();
        Pipeline pipeline = Pipeline.create(options);

        KafkaIO.Read<String, Event> read = KafkaIO.<String, Event>read()
            .withBootstrapServers(job.brokers)
            .withTopic(job.events)
            .withKeyDeserializer(StringDeserializer.class)
            .withValueDeserializerAndCoder(Windows.EventDeserializer.class, Windows.eventCoder())
            // A new group starts at the earliest offsets, a known one where it committed.
            .withConsumerConfigUpdates(Map.of("group.id", job.group, "auto.offset.reset", "earliest"))
            .withReadCommitted()
            .commitOffsetsInFinalize();
        KafkaIO.Write<String, String> write = KafkaIO.<String, String>write()
            .withBootstrapServers(job.brokers)
            .withTopic(job.results)
            .withKeySerializer(StringSerializer.class)
            .withValueSerializer(StringSerializer.class);
        Windows.results(pipeline.apply("ReadEvents", Windows.stamped(read, settings).withoutMetadata()), settings)
            .apply("WriteResults", write);

        Counters.reset();
        FIRSTS.set(0);
        Protocol.version("beam " + ReleaseInfo.getReleaseInfo().getVersion() + (flink
            ? " (FlinkRunner, embedded Flink " + EnvironmentInformation.getVersion() + ", checkpoints every " + job.own.get("checkpoint-ms") + " ms)"
            : " (DirectRunner)"));
        PipelineResult result = pipeline.run();
        while (result.getState() != PipelineResult.State.RUNNING && !result.getState().isTerminal()) {
            Thread.sleep(100);
        }
        Protocol.ready();
        while (running.getAsBoolean() && !result.getState().isTerminal()) {
            Thread.sleep(1000);
            report(result);
        }
        if (result.getState().isTerminal()) {
            // Waiting is where a failed pipeline says why.
            result.waitUntilFinish();
            throw new IllegalStateException(job.engine + ": the pipeline ended by itself (" + result.getState() + ")");
        }
        // A row leaves with its bundle (a second at most on Flink): what the job has computed is written before it stops.
        for (long written = -1; written != Counters.EMITTED.get(); Thread.sleep(2000)) {
            written = Counters.EMITTED.get();
        }
        result.cancel();
        report(result);
    }

    static DirectOptions directOptions() {
        DirectOptions options = PipelineOptionsFactory.as(DirectOptions.class);
        options.setRunner(DirectRunner.class);
        options.setBlockOnRun(false);
        return options;
    }

    static FlinkPipelineOptions flinkOptions(Protocol.Job job) throws Exception {
        FlinkPipelineOptions options = PipelineOptionsFactory.as(FlinkPipelineOptions.class);
        options.setRunner(FlinkRunner.class);
        options.setFlinkMaster("[local]");
        options.setStreaming(true);
        options.setAttachedMode(false);
        options.setParallelism(1);
        options.setJobName(job.group);
        options.setCheckpointingInterval(Long.parseLong(job.own.get("checkpoint-ms")));
        options.setCheckpointingMode("EXACTLY_ONCE");
        Path state = job.stateDir != null ? Path.of(job.stateDir) : Files.createTempDirectory("boontadata-beam-");
        Path checkpoints = state.toAbsolutePath().resolve("checkpoints");
        Files.createDirectories(checkpoints);
        options.setStateBackend("filesystem");
        options.setStateBackendStoragePath(checkpoints.toUri().toString());
        // Kept when the process dies, so that the job started again restores the latest one; dropped when a job ends.
        options.setExternalizedCheckpointsEnabled(true);
        options.setRetainExternalizedCheckpointsOnCancellation(false);
        Optional<Path> latest = latestCheckpoint(checkpoints);
        if (latest.isPresent()) {
            System.err.println(job.engine + ": restoring the pipeline from its checkpoint " + latest.get());
            options.setSavepointPath(latest.get().toUri().toString());
        }
        return options;
    }

    /** The latest completed checkpoint (one with its _metadata) a killed job left in {@code checkpoints}, if any. */
    static Optional<Path> latestCheckpoint(Path checkpoints) throws Exception {
        try (Stream<Path> jobs = Files.list(checkpoints)) {
            return jobs.flatMap(jobFolder -> {
                try {
                    return Files.list(jobFolder).filter(c -> c.getFileName().toString().startsWith("chk-") && Files.exists(c.resolve("_metadata"))).toList().stream();
                } catch (Exception e) {
                    return Stream.empty();
                }
            }).max(Comparator.comparingLong(c -> c.resolve("_metadata").toFile().lastModified()));
        }
    }

    /** The protocol's metrics: the late ones as the runner counts them where it says (droppedDueToLateness). */
    static void report(PipelineResult result) {
        Counters.DUPLICATES.set(Counters.CONSUMED.get() - Counters.MALFORMED.get() - FIRSTS.get());
        long late = 0;
        for (MetricResult<Long> counter : result.metrics().queryMetrics(MetricsFilter.builder().build()).getCounters()) {
            if (counter.getName().getName().equals("droppedDueToLateness")) {
                late += counter.getAttempted();
            }
        }
        Counters.LATE.set(late);
        Counters.report();
    }
}
