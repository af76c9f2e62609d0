package boontadata;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a JVM job counts, reported as the protocol's metrics. Static: the engines run the job's
 * operators in this JVM, but build them from serialized copies (Storm's bolts, Samza's
 * functions), which an instance passed to them would not survive. One job runs at a time.
 */
public final class Counters {
    private Counters() {}

    /** Records read, and those that were not an event ({@link Event#read}). */
    public static final AtomicLong CONSUMED = new AtomicLong();
    public static final AtomicLong MALFORMED = new AtomicLong();
    /** Resends dropped by id ({@link FirstOfEachId}, or the engine's own). */
    public static final AtomicLong DUPLICATES = new AtomicLong();
    /** Events dropped behind their window, as the engine counts them; set by the engine. */
    public static final AtomicLong LATE = new AtomicLong();
    /** Result rows written ({@link Results#row}). */
    public static final AtomicLong EMITTED = new AtomicLong();

    /** Zero, for a new job. */
    public static void reset() {
        for (AtomicLong counter : List.of(CONSUMED, MALFORMED, DUPLICATES, LATE, EMITTED)) {
            counter.set(0);
        }
    }

    /** Prints the counts as the metric lines of docs/SPEC.md §5. */
    public static void report() {
        Protocol.metric("consumed", CONSUMED.get());
        Protocol.metric("malformed", MALFORMED.get());
        Protocol.metric("duplicates_dropped", DUPLICATES.get());
        Protocol.metric("late_dropped", LATE.get());
        Protocol.metric("results_emitted", EMITTED.get());
    }
}
