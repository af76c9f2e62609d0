package boontadata.beam;

import boontadata.Event;
import boontadata.Results;
import boontadata.Sums;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.CoderRegistry;
import org.apache.beam.sdk.coders.CustomCoder;
import org.apache.beam.sdk.coders.DoubleCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.ListCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.TimestampPolicy;
import org.apache.beam.sdk.io.kafka.TimestampPolicyFactory;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Deduplicate;
import org.apache.beam.sdk.transforms.Filter;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.transforms.windowing.AfterPane;
import org.apache.beam.sdk.transforms.windowing.AfterWatermark;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.FixedWindows;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.apache.kafka.common.serialization.Deserializer;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * boontadata's windows in Apache Beam: the pipeline's transforms from the events read off Kafka to
 * the result rows, as Beam users write them. The same pipeline runs on either runner (Job.java).
 *
 * <ul>
 *   <li><b>Event time</b>: KafkaIO stamps each record with its {@code dt} and keeps a watermark per
 *   partition (a {@link DeviceTime} timestamp policy: the latest {@code dt} the partition brought,
 *   less the out-of-orderness bound); the source's watermark is the least of its partitions'.
 *   {@code FixedWindows} with the allowed lateness; each window fires once when the watermark passes
 *   its end, and again for each late event within the allowed lateness, its panes accumulating, so
 *   that the last row of a window holds all it counted. An event whose window has passed its end +
 *   allowed lateness when it reaches the GroupByKey is dropped there (Beam's droppedDueToLateness).
 *   <li><b>Processing time</b>: KafkaIO's own processing-time policy, each record stamped with the
 *   wall clock when it is read and the watermark the wall clock once the reader has caught up;
 *   the same windows and trigger.
 *   <li><b>Deduplication</b> by {@code id}: {@code Deduplicate.withRepresentativeValueFn}, which
 *   keeps each id in the runner's keyed state until a processing-time timer forgets it, the dedup
 *   horizon after it came (Beam's default clock for it, in either mode: in event time its timer is
 *   set from the watermark, which has not come yet when the first ids are read, so those would be
 *   forgotten, and their resends counted, as soon as it comes: measured on both runners).
 *   <li><b>The events counted</b> ({@code --ids true}): each cell's {@code Sums} keeps their ids beside
 *   its sums, in the Combine's accumulator.
 * </ul>
 */
public final class Windows {
    private Windows() {}

    /** The job's settings the pipeline depends on. */
    record Settings(String engine, String mode, long windowMs, long outOfOrdernessMs, long allowedLatenessMs, long dedupHorizonMs, boolean ids) {
        boolean eventTime() {
            return mode.equals("event-time");
        }
    }

    /** The read's timestamps and watermark: the device time in event time, the wall clock in processing time. */
    static KafkaIO.Read<String, Event> stamped(KafkaIO.Read<String, Event> read, Settings s) {
        if (!s.eventTime()) {
            return read.withProcessingTime();
        }
        Duration bound = Duration.millis(s.outOfOrdernessMs());
        return read.withTimestampPolicyFactory((TimestampPolicyFactory<String, Event>) (partition, previous) -> new DeviceTime(bound, previous));
    }

    /** The result rows, keyed by device, of the events read (null: a record that was not an event, already counted). */
    static PCollection<KV<String, String>> results(PCollection<KV<String, Event>> read, Settings s) {
        CoderRegistry coders = read.getPipeline().getCoderRegistry();
        coders.registerCoderForClass(Event.class, SerializableCoder.of(Event.class));
        coders.registerCoderForClass(Sums.class, new SumsCoder());

        PCollection<Event> events = read.apply("Events", Values.create())
            .apply("DropMalformed", Filter.by(e -> e != null))
            .setCoder(SerializableCoder.of(Event.class));

        // Beam's default clock for it, the wall clock: an event-time expiry is set from the watermark, which before the
        // first one is the beginning of time, so the ids read before it would be forgotten as soon as it comes.
        Deduplicate.WithRepresentativeValues<Event, String> firstOfEachId = Deduplicate.withRepresentativeValueFn((Event e) -> e.id())
            .withRepresentativeType(TypeDescriptors.strings())
            .withDuration(Duration.millis(s.dedupHorizonMs()));
        PCollection<Event> firsts = events.apply("FirstOfEachId", firstOfEachId).apply("CountFirsts", ParDo.of(new CountFirsts()));

        return firsts
            .apply("FixedWindows", Window.<Event>into(FixedWindows.of(Duration.millis(s.windowMs())))
                .triggering(AfterWatermark.pastEndOfWindow().withLateFirings(AfterPane.elementCountAtLeast(1)))
                .withAllowedLateness(Duration.millis(s.allowedLatenessMs()), Window.ClosingBehavior.FIRE_IF_NON_EMPTY)
                // No pane with nothing new: the FlinkRunner fires the on-time pane again after the final one, its state
                // gone, when one watermark step passes both a window's end and its lateness (the end of the stream).
                .withOnTimeBehavior(Window.OnTimeBehavior.FIRE_IF_NON_EMPTY)
                .accumulatingFiredPanes())
            .apply("ByDeviceAndCategory", MapElements.into(TypeDescriptors.kvs(TypeDescriptors.kvs(TypeDescriptors.strings(), TypeDescriptors.strings()), TypeDescriptor.of(Event.class)))
                .via((Event e) -> KV.of(KV.of(e.di(), e.c()), e)))
            .setCoder(KvCoder.of(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of()), SerializableCoder.of(Event.class)))
            .apply("Sums", Combine.perKey(new SumOf(s.ids())))
            .apply("Rows", ParDo.of(new Rows(s.engine(), s.mode())))
            .setCoder(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of()));
    }

    /**
     * The device time of a partition's records, and its watermark: the latest device time it brought, less the
     * out-of-orderness bound. A restored reader starts from the watermark it had.
     */
    static final class DeviceTime extends TimestampPolicy<String, Event> {
        private final Duration outOfOrderness;
        private Instant latest;

        DeviceTime(Duration outOfOrderness, Optional<Instant> previousWatermark) {
            this.outOfOrderness = outOfOrderness;
            this.latest = previousWatermark.map(w -> w.plus(outOfOrderness)).orElse(BoundedWindow.TIMESTAMP_MIN_VALUE);
        }

        @Override
        public Instant getTimestampForRecord(PartitionContext context, KafkaRecord<String, Event> record) {
            Event e = record.getKV().getValue();
            if (e == null) {
                return latest;
            }
            Instant t = new Instant(e.dt());
            if (t.isAfter(latest)) {
                latest = t;
            }
            return t;
        }

        @Override
        public Instant getWatermark(PartitionContext context) {
            return latest.equals(BoundedWindow.TIMESTAMP_MIN_VALUE) ? latest : latest.minus(outOfOrderness);
        }
    }

    /** Reads a record's value as an event, or null when it is not one ({@link Event#read} counts both). */
    public static final class EventDeserializer implements Deserializer<Event> {
        @Override
        public void configure(Map<String, ?> configs, boolean isKey) {}

        @Override
        public Event deserialize(String topic, byte[] value) {
            return Event.read(value);
        }
    }

    static Coder<Event> eventCoder() {
        return NullableCoder.of(SerializableCoder.of(Event.class));
    }

    /** Counts the events the deduplication let through: what was read, less the malformed and these, was a resend. */
    static final class CountFirsts extends DoFn<Event, Event> {
        @ProcessElement
        public void process(@Element Event e, OutputReceiver<Event> out) {
            Job.FIRSTS.incrementAndGet();
            out.output(e);
        }
    }

    /** A cell's count and sums, with the ids it counted when the job names them. */
    static final class SumOf extends Combine.CombineFn<Event, Sums, Sums> {
        private final boolean ids;

        SumOf(boolean ids) {
            this.ids = ids;
        }

        @Override
        public Sums createAccumulator() {
            return new Sums(ids);
        }

        @Override
        public Sums addInput(Sums sums, Event e) {
            return sums.add(e.id(), e.m1(), e.m2());
        }

        @Override
        public Sums mergeAccumulators(Iterable<Sums> all) {
            Sums merged = new Sums(ids);
            for (Sums part : all) {
                merged.count += part.count;
                merged.m1Sum += part.m1Sum;
                merged.m2Sum += part.m2Sum;
                if (ids) {
                    merged.ids.addAll(part.ids);
                }
            }
            return merged;
        }

        @Override
        public Sums extractOutput(Sums sums) {
            return sums;
        }

        @Override
        public Coder<Sums> getAccumulatorCoder(CoderRegistry registry, Coder<Event> input) {
            return new SumsCoder();
        }

        @Override
        public Coder<Sums> getDefaultOutputCoder(CoderRegistry registry, Coder<Event> input) {
            return new SumsCoder();
        }
    }

    /**
     * A cell's sums as the runner stores and ships them: its fields, then its ids when kept. Compared by their encoding
     * (Sums has no equals), as the DirectRunner checks that a DoFn did not change what it was given.
     */
    static final class SumsCoder extends CustomCoder<Sums> {
        private static final Coder<List<String>> IDS = NullableCoder.of(ListCoder.of(StringUtf8Coder.of()));

        @Override
        public void encode(Sums sums, OutputStream out) throws IOException {
            VarLongCoder.of().encode(sums.count, out);
            VarLongCoder.of().encode(sums.m1Sum, out);
            DoubleCoder.of().encode(sums.m2Sum, out);
            IDS.encode(sums.ids, out);
        }

        @Override
        public Sums decode(InputStream in) throws IOException {
            Sums sums = new Sums();
            sums.count = VarLongCoder.of().decode(in);
            sums.m1Sum = VarLongCoder.of().decode(in);
            sums.m2Sum = DoubleCoder.of().decode(in);
            List<String> ids = IDS.decode(in);
            sums.ids = ids == null ? null : new ArrayList<>(ids);
            return sums;
        }

        @Override
        public void verifyDeterministic() {}
    }

    /** A pane of a cell as its result row, keyed by device, its window named by its end. */
    static final class Rows extends DoFn<KV<KV<String, String>, Sums>, KV<String, String>> {
        private final String engine;
        private final String mode;

        Rows(String engine, String mode) {
            this.engine = engine;
            this.mode = mode;
        }

        @ProcessElement
        public void process(@Element KV<KV<String, String>, Sums> cell, BoundedWindow window, OutputReceiver<KV<String, String>> out) {
            String device = cell.getKey().getKey();
            out.output(KV.of(device, Results.row(engine, mode, window.maxTimestamp().getMillis() + 1, device, cell.getKey().getValue(), cell.getValue())));
        }
    }
}
