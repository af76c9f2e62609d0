package boontadata;

import com.fasterxml.jackson.databind.ObjectMapper;

/** The results an engine writes (docs/SPEC.md §5). */
public final class Results {
    private Results() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The result row of one window, device and category, stamped now; counted as emitted. */
    public static String row(String engine, String mode, long windowEnd, String device, String category, Sums sums) {
        var row = JSON.createObjectNode().put("engine", engine).put("mode", mode).put("window_end", windowEnd).put("di", device).put("c", category)
            .put("count", sums.count).put("m1_sum", sums.m1Sum).put("m2_sum", sums.m2Sum).put("emitted_at", System.currentTimeMillis());
        Counters.EMITTED.incrementAndGet();
        return row.toString();
    }
}
