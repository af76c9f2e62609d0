package boontadata;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.io.Serializable;
import java.util.ArrayList;

/**
 * The aggregate of one window, device and category (docs/SPEC.md §4): what each engine keeps in
 * its window state, with the ids of the events it counted when the job names them
 * ({@code --ids true}). Public fields and a bare constructor, so that an engine's JSON serde can
 * store it as it is.
 */
public final class Sums implements Serializable {
    public long count;
    public long m1Sum;
    public double m2Sum;
    /** The id of each event counted, in the order counted (a duplicate counted twice, twice); null when not kept, and then not stored. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public ArrayList<String> ids;

    public Sums() {}

    /** Empty sums that also keep the id of each event they count when {@code keepIds}. */
    public Sums(boolean keepIds) {
        ids = keepIds ? new ArrayList<>() : null;
    }

    public Sums add(String id, long m1, double m2) {
        count += 1;
        m1Sum += m1;
        m2Sum += m2;
        if (ids != null) {
            ids.add(id);
        }
        return this;
    }
}
