//! Tumbling windows named by their END (SPEC §4): an event at 10:00:04 is in
//! window 10:00:05. Shared by the truth, the engines and the comparison.

/// End of the tumbling window of length `w_ms` holding time `t_ms`.
pub fn window_end(t_ms: i64, w_ms: i64) -> i64 {
    t_ms.div_euclid(w_ms) * w_ms + w_ms
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for epoch milliseconds, as the original printed window_time.
pub fn utc(t_ms: i64) -> String {
    let secs = t_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The current UTC time as `YYYYMMDDHHMMSS`, for naming runs and their folders.
pub fn stamp_now() -> String {
    utc(now_ms()).replace([' ', ':', '-'], "")
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: i64 = 36_000_000; // 10:00:00 on 1970-01-01, in ms

    #[test]
    fn windows_are_named_by_their_end() {
        assert_eq!(window_end(TEN, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 4000, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 4999, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 5000, 5000), TEN + 10_000);
        assert_eq!(window_end(-1, 5000), 0);
    }

    #[test]
    fn utc_formats_like_the_original() {
        assert_eq!(utc(1_483_465_935_000), "2017-01-03 17:52:15");
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
