package boontadata.hazelcastjet;

import static com.hazelcast.jet.Util.entry;
import static com.hazelcast.jet.datamodel.Tuple2.tuple2;

import boontadata.Counters;
import boontadata.Event;
import boontadata.Results;
import boontadata.Sums;
import com.hazelcast.jet.aggregate.AggregateOperation;
import com.hazelcast.jet.aggregate.AggregateOperation1;
import com.hazelcast.jet.kafka.KafkaSinks;
import com.hazelcast.jet.kafka.KafkaSources;
import com.hazelcast.jet.pipeline.Pipeline;
import com.hazelcast.jet.pipeline.StreamSource;
import com.hazelcast.jet.pipeline.StreamSourceStage;
import com.hazelcast.jet.pipeline.StreamStage;
import com.hazelcast.jet.pipeline.WindowDefinition;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * boontadata's windows in Hazelcast Jet: the pipeline, as Jet users write it.
 *
 * <ul>
 *   <li><b>Event time</b>: the Kafka source stamps each event with its {@code dt}
 *   ({@code withTimestamps(dt, lag)}, the lag being the out-of-orderness bound). The source keeps a
 *   watermark per Kafka partition (top {@code dt} − lag) and emits their minimum, leaving out a
 *   partition silent for the partition idle timeout. Jet throttles watermarks to a stride that divides
 *   every stateful stage's (the window, a tenth of the dedup's TTL; at most 1 s): 200 ms here.
 *   A window [start, end) is emitted once, when the watermark reaches its end; Jet has no allowed
 *   lateness: an event of a window already emitted is dropped ({@code lateEventsDropped}).
 *   <li><b>Processing time</b>: Jet's ingestion timestamps, the wall clock when the source reads the
 *   event ({@code withIngestionTimestamps()}), and a watermark that is the wall clock.
 *   <li><b>Deduplication</b> by {@code id}: a stateful filter keyed by id whose state lives as long as
 *   a resend can still reach an open window (its TTL, in the stream's time). With a TTL, Jet's stateful
 *   stages drop any event behind the watermark, its window still open or not.
 *   <li><b>The events counted</b> ({@code --ids true}): the aggregate is a {@code Sums}, which keeps
 *   their ids beside its sums.
 * </ul>
 */
public final class Windows {
    private Windows() {}

    static Pipeline pipeline(String engine, String mode, Properties consumer, String eventsTopic, Properties producer, String resultsTopic, long windowMs,
                             long outOfOrdernessMs, long idleTimeoutMs, long dedupHorizonMs, boolean ids) {
        boolean eventTime = mode.equals("event-time");
        // A record that is not an event is null (Event.read has counted it), which the source leaves out.
        StreamSource<Event> events = KafkaSources.kafka(consumer, (ConsumerRecord<String, byte[]> r) -> Event.read(r.value()), eventsTopic);
        events.setPartitionIdleTimeout(idleTimeoutMs);

        Pipeline p = Pipeline.create();
        StreamSourceStage<Event> read = p.readFrom(events);
        StreamStage<Event> timed = (eventTime ? read.withTimestamps(Event::dt, outOfOrdernessMs) : read.withIngestionTimestamps())
            // One processor reads every partition, so that its watermark covers them all from its first poll. With
            // several, each finds its partitions on its own (a metadata fetch that times out is tried again 5 s later):
            // one that finds them late reads its backlog behind the others' watermark, and drops it as late.
            .setLocalParallelism(1);
        long remember = eventTime ? windowMs + outOfOrdernessMs : dedupHorizonMs;
        timed.groupingKey(Event::id)
            // Per id, whether it was seen: a one-element array, the state Jet keeps (and snapshots) per key.
            .filterStateful(remember, () -> new boolean[1], (seen, e) -> {
                if (seen[0]) {
                    Counters.DUPLICATES.incrementAndGet();
                    return false;
                }
                seen[0] = true;
                return true;
            })
            .window(WindowDefinition.tumbling(windowMs))
            .groupingKey(e -> tuple2(e.di(), e.c()))
            .aggregate(sums(ids))
            .map(w -> entry(w.key().f0(), Results.row(engine, mode, w.end(), w.key().f0(), w.key().f1(), w.result())))
            .writeTo(KafkaSinks.<String, String>kafka(producer, resultsTopic));
        return p;
    }

    /** Count, m1 and m2 sums of a window's cell, and its ids when {@code ids}; combined across Jet's two aggregation stages. */
    static AggregateOperation1<Event, Sums, Sums> sums(boolean ids) {
        return AggregateOperation.withCreate(() -> new Sums(ids))
            .<Event>andAccumulate((sums, e) -> sums.add(e.id(), e.m1(), e.m2()))
            .andCombine((left, right) -> {
                left.count += right.count;
                left.m1Sum += right.m1Sum;
                left.m2Sum += right.m2Sum;
                if (left.ids != null) {
                    left.ids.addAll(right.ids);
                }
            })
            .andExportFinish(sums -> sums);
    }
}
