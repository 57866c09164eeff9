//! Ids and the clock.

use chrono::{DateTime, Utc};

/// A new unique id: a UUID v7, so ids sort by creation time (friendly to B-tree indexes and to
/// "newest first" pagination).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Checks that `value` is an id Tend could have made; `field` names the request field in the
/// error so the caller knows what to fix.
pub fn parse_id(field: &str, value: &str) -> Result<String, crate::ApiError> {
    match uuid::Uuid::parse_str(value) {
        Ok(id) => Ok(id.to_string()),
        Err(_) if value.is_empty() => Err(crate::ApiError::invalid(field, "is required")),
        Err(_) => Err(crate::ApiError::invalid(
            field,
            format!(
                "{} is not a Tend id (a UUID such as 0192f0c1-7c1e-7cc0-8a9e-3c3e1d1b2a10)",
                crate::validate::quote(value)
            ),
        )),
    }
}

/// The current time. Domain code takes a [`Clock`] so that tests control time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, at storage precision (see [`now`]).
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        now()
    }
}

/// The wall clock moved ahead by an offset that only grows: a test jumps over an hour or a
/// weekend ([`ShiftedClock::advance`]) while time still runs, so everything that compares
/// stamps keeps seeing them in order.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_micros: std::sync::atomic::AtomicI64,
}

impl ShiftedClock {
    /// Moves the clock `by` ahead.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::microseconds(self.offset_micros.load(std::sync::atomic::Ordering::SeqCst));
        now() + offset
    }
}

/// A time as a `google.protobuf.Timestamp`.
pub fn to_timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        // Below 10^9 by definition, so it fits.
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A `google.protobuf.Timestamp` as a UTC time at storage precision (microseconds), checked;
/// `field` names it in the error. The same function as [`crate::validate::timestamp`], kept
/// under this name for its callers.
pub use crate::validate::timestamp as from_timestamp;

/// Now, at storage precision: PostgreSQL keeps microseconds, so a time answered before it is
/// stored must already be cut to them, or a later read would differ from the first answer.
pub fn now() -> DateTime<Utc> {
    to_storage_precision(Utc::now())
}

pub(crate) fn to_storage_precision(time: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    time.trunc_subsecs(6)
}
