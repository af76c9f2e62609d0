package boontadata;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Serializable;
import java.util.concurrent.Callable;

/** One event (docs/SPEC.md §2), as every JVM engine reads it off the events topic. */
public record Event(String id, String di, long dt, String c, long m1, double m2) implements Serializable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The record as an event, or null when it is not a whole, well-typed one (not JSON, a field
     * missing or of the wrong type): the one place that decides a record is malformed, so that the
     * engines' {@code malformed} metrics agree. Counts the record, and whether it is malformed.
     */
    public static Event read(byte[] record) {
        return read(() -> JSON.readTree(record));
    }

    /** {@link #read(byte[])}, for a record already read as text. */
    public static Event read(String record) {
        return read(() -> JSON.readTree(record));
    }

    private static Event read(Callable<JsonNode> tree) {
        Counters.CONSUMED.incrementAndGet();
        Event e;
        try {
            e = of(tree.call());
        } catch (Exception notJson) {
            e = null;
        }
        if (e == null) {
            Counters.MALFORMED.incrementAndGet();
        }
        return e;
    }

    private static Event of(JsonNode n) {
        if (n == null || !n.path("dt").isIntegralNumber() || !n.path("m1").isIntegralNumber() || !n.path("m2").isNumber()
            || !n.path("id").isTextual() || !n.path("di").isTextual() || !n.path("c").isTextual()) {
            return null;
        }
        return new Event(n.get("id").asText(), n.get("di").asText(), n.get("dt").asLong(), n.get("c").asText(), n.get("m1").asLong(), n.get("m2").asDouble());
    }
}
