//! The wall clock, in the units the contract uses.

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Now (UTC) as `YYYYMMDDHHMMSS`, for naming runs and their folders.
pub fn stamp_now() -> String {
    crate::format::utc(now_ms()).replace([' ', ':', '-'], "")
}
