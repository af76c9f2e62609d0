package boontadata;

import com.fasterxml.jackson.databind.ObjectMapper;

/** The results an engine writes (docs/SPEC.md §5). */
public final class Results {
    private Results() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The result row of one window, device and category, stamped now; counted as emitted. It names
     * the events counted ({@code ids}) when the sums kept them ({@link Sums#Sums(boolean)}).
     */
    public static String row(String engine, String mode, long windowEnd, String device, String category, Sums sums) {
        var row = JSON.createObjectNode().put("engine", engine).put("mode", mode).put("window_end", windowEnd).put("di", device).put("c", category)
            .put("count", sums.count).put("m1_sum", sums.m1Sum).put("m2_sum", sums.m2Sum).put("emitted_at", System.currentTimeMillis());
        if (sums.ids != null) {
            var ids = row.putArray("ids");
            sums.ids.forEach(ids::add);
        }
        Counters.EMITTED.incrementAndGet();
        return row.toString();
    }
}
