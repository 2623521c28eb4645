//! A timeout that costs nothing when the future is already done.
//!
//! `tokio::time::timeout` registers a timer on every call. Most futures on the request path
//! (an in-memory lookup, a body that arrived with its headers) complete on their first poll,
//! so [`within`] polls once and arms the timer only when the future is still pending.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::FutureExt;

/// Runs `future` for at most `limit`; `None` when the limit elapsed first.
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    if let Some(output) = future.as_mut().now_or_never() {
        return Some(output);
    }
    tokio::time::timeout(limit, future).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_futures_need_no_timer_and_slow_ones_time_out() {
        assert_eq!(within(Duration::ZERO, async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(within(Duration::from_secs(1), slow).await, None);
        let soon = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            3
        };
        assert_eq!(within(Duration::from_secs(1), soon).await, Some(3));
    }
}
