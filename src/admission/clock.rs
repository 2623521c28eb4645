//! The clock reviews are judged by.

/// Where the clock comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    System,
    /// A fixed instant (Unix seconds), for tests and `--now`.
    Fixed(i64),
}

impl Clock {
    /// Now, in Unix seconds.
    pub fn now(self) -> i64 {
        match self {
            Self::System => time::OffsetDateTime::now_utc().unix_timestamp(),
            Self::Fixed(t) => t,
        }
    }
}
