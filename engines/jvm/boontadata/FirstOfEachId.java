package boontadata;

import java.io.Serializable;
import java.util.Iterator;
import java.util.LinkedHashMap;

/**
 * Deduplication by id for an engine that has no operator for it: the first event of each id
 * passes, a resend within {@code rememberMs} of it does not. Ids are forgotten after that, which
 * bounds the state; the horizon is as long as a resend can still reach an open window. Held in
 * memory: an engine that must keep it across a restart keeps it in its own state store instead.
 */
public final class FirstOfEachId implements Serializable {
    private final long rememberMs;
    /** Each id until when it is remembered, in arrival order. */
    private final LinkedHashMap<String, Long> seen = new LinkedHashMap<>();

    public FirstOfEachId(long rememberMs) {
        this.rememberMs = rememberMs;
    }

    /** Whether {@code id}, seen at {@code now} (device time or wall clock, in ms), is new; a resend is counted. */
    public boolean first(String id, long now) {
        // In arrival order, so forgetting stops at the first id still within its time.
        for (Iterator<Long> until = seen.values().iterator(); until.hasNext() && until.next() < now; ) {
            until.remove();
        }
        if (seen.putIfAbsent(id, now + rememberMs) != null) {
            Counters.DUPLICATES.incrementAndGet();
            return false;
        }
        return true;
    }
}
