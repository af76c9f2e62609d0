package boontadata;

import java.io.Serializable;

/**
 * The aggregate of one window, device and category (docs/SPEC.md §4): what each engine keeps in
 * its window state. Public fields and a bare constructor, so that an engine's JSON serde can
 * store it as it is.
 */
public final class Sums implements Serializable {
    public long count;
    public long m1Sum;
    public double m2Sum;

    public Sums add(long m1, double m2) {
        count += 1;
        m1Sum += m1;
        m2Sum += m2;
        return this;
    }
}
