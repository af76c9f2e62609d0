package boontadata.samza;

import static org.apache.samza.operators.windows.Windows.keyedTumblingWindow;

import boontadata.Event;
import boontadata.FirstOfEachId;
import boontadata.Results;
import boontadata.Sums;
import java.time.Duration;
import org.apache.samza.operators.KV;
import org.apache.samza.operators.MessageStream;
import org.apache.samza.operators.windows.WindowPane;
import org.apache.samza.serializers.JsonSerdeV2;
import org.apache.samza.serializers.StringSerde;

/**
 * boontadata's windows in Apache Samza: the application's stream, in Samza's high-level API, as Samza users write it.
 *
 * <pre>
 * events ─▶ parse ─▶ first of each id ─▶ keyedTumblingWindow (device, category) ─▶ results
 * </pre>
 *
 * <ul>
 *   <li><b>Processing time only.</b> Samza's windows are on the wall clock: a message joins the pane of the
 *   window its arrival falls in ({@code now - now % length}), panes end on the clock's multiples of the length, and
 *   a pane fires at the first timer tick after its end. The timer ticks every {@code task.window.ms}, which Samza
 *   sets to the window length for an application with windows: a pane leaves up to one window after its end. Samza
 *   1.8's high-level API has no event time, no watermark and no lateness, so this engine declares processing time
 *   alone.
 *   <li><b>Deduplication</b> by {@code id} in a filter before the windows (Samza has no operator for it), ids
 *   remembered for the dedup horizon of the wall clock.
 *   <li>A pane's state is in a RocksDB store, as Samza keeps every window operator's: its {@code Sums}, which the fold
 *   gives the id of each message it counts, kept beside the sums when the job names them ({@code --ids true}).
 * </ul>
 *
 * (The application around it, its Kafka system and streams, is Job.java's.)
 */
public final class Windows {
    private Windows() {}

    static MessageStream<KV<String, String>> windows(MessageStream<String> records, String engine, long windowMs, long dedupHorizonMs, boolean ids) {
        FirstOfEachId seen = new FirstOfEachId(dedupHorizonMs);
        return records
            // Samza's map forwards no null: a record that is not an event (Event.read counts it) stops here.
            .map(Event::read)
            .filter(e -> seen.first(e.id(), System.currentTimeMillis()))
            .window(keyedTumblingWindow((Event e) -> e.di() + "\t" + e.c(), Duration.ofMillis(windowMs), () -> new Sums(ids),
                (e, sums) -> sums.add(e.id(), e.m1(), e.m2()),
                new StringSerde(), new JsonSerdeV2<>(Sums.class)), "windows")
            .map(pane -> row(pane, engine, windowMs));
    }

    /** A fired pane as a result row, keyed by device; the pane id is the window's start. */
    static KV<String, String> row(WindowPane<String, Sums> pane, String engine, long windowMs) {
        String[] key = pane.getKey().getKey().split("\t", 2);
        long end = Long.parseLong(pane.getKey().getPaneId()) + windowMs;
        return KV.of(key[0], Results.row(engine, "processing-time", end, key[0], key[1], pane.getMessage()));
    }
}
