//! The watermark of a Kafka consumer reading several partitions, shared by
//! the Rust engines' sources. Pure logic: the consumer loop feeds it times.

use std::collections::BTreeMap;

/// The event-time (or ingestion-time) watermark of a consumer reading several
/// partitions: the slowest active partition's latest time minus the bound, as
/// in Flink. A partition silent for `idle_ms` stops holding it back.
pub struct PartitionClocks {
    bound_ms: i64,
    idle_ms: i64,
    partitions: BTreeMap<i32, (Option<i64>, i64)>,
}

impl PartitionClocks {
    pub fn new(bound_ms: i64, idle_ms: i64) -> Self {
        PartitionClocks { bound_ms, idle_ms, partitions: BTreeMap::new() }
    }

    /// The partitions this consumer reads; a new one holds the watermark until it speaks or idles.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = i32>, now: i64) {
        let assigned: Vec<i32> = partitions.into_iter().collect();
        self.partitions.retain(|p, _| assigned.contains(p));
        for p in assigned {
            self.partitions.entry(p).or_insert((None, now));
        }
    }

    pub fn observe(&mut self, partition: i32, t: i64, now: i64) {
        let entry = self.partitions.entry(partition).or_insert((None, now));
        entry.0 = Some(entry.0.map_or(t, |m| m.max(t)));
        entry.1 = now;
    }

    /// `None` while some active partition has not delivered anything yet.
    pub fn watermark(&self, now: i64) -> Option<i64> {
        let mut active = self.partitions.values().filter(|(_, seen)| now - seen < self.idle_ms).peekable();
        active.peek()?;
        active.map(|(max, _)| *max).collect::<Option<Vec<i64>>>()?.into_iter().min().map(|m| m - self.bound_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_active_partition_holds_the_watermark() {
        let mut clocks = PartitionClocks::new(1000, 5000);
        clocks.assign([0, 1], 0);
        clocks.observe(0, 10_000, 0);
        assert_eq!(clocks.watermark(0), None, "partition 1 has not spoken");
        clocks.observe(1, 4000, 10);
        assert_eq!(clocks.watermark(10), Some(3000));
        clocks.observe(0, 12_000, 5000);
        assert_eq!(clocks.watermark(5020), Some(11_000), "partition 1 idle for 5 s no longer holds it back");
    }
}
