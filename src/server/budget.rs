//! The global budget for request bodies in flight.
//!
//! Every `/validate` request reserves its body's size (its `Content-Length`, or the body limit
//! when it has none) before a byte of it is read, and gives it back when its answer is built.
//! A request that finds no room waits, without reading (TCP flow control then holds the client
//! back), and is answered 503 with `Retry-After` when no room is made in time. Small bodies
//! (the apiserver's are a few KiB) may use the whole budget; big ones only what leaves
//! [`Budget::reserve`] free, so that small requests are still served while big ones wait.
//! Waiters are woken whenever room is freed and each takes what it can: a big body does not
//! hold up the small ones behind it.
//!
//! Decoded objects take at most about twice their body ([`crate::admission`] bounds the
//! decoding), so the budget also bounds the memory reviews use.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// Bodies up to this size are small.
pub const SMALL_BODY: usize = 64 * 1024;

/// Bytes of request bodies in flight, shared by every connection.
#[derive(Debug)]
pub struct Budget {
    total: usize,
    reserve: usize,
    used: Mutex<usize>,
    freed: Notify,
}

impl Budget {
    /// A budget of `total` bytes; big bodies may use all but `total / 8` (at least
    /// [`SMALL_BODY`] times 4) of it.
    pub fn new(total: usize) -> Arc<Self> {
        let reserve = (total / 8).max(SMALL_BODY * 4).min(total);
        Arc::new(Self {
            total,
            reserve,
            used: Mutex::new(0),
            freed: Notify::new(),
        })
    }

    /// What only small bodies may use.
    pub fn reserve(&self) -> usize {
        self.reserve
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        *self.lock()
    }

    /// Reserves `bytes`, waiting at most `wait` for room; `None` when there was none in time
    /// (or `bytes` can never fit).
    pub async fn acquire(self: &Arc<Self>, bytes: usize, wait: Duration) -> Option<Reservation> {
        // Most bodies find room at once: no wake-up to register for.
        if let Some(reservation) = self.try_acquire(bytes) {
            return Some(reservation);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for the wake-up before looking, so that a release in between is seen.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(reservation) = self.try_acquire(bytes) {
                return Some(reservation);
            }
            if bytes > self.limit_for(bytes) {
                return None;
            }
            tokio::time::timeout_at(deadline, freed).await.ok()?;
        }
    }

    /// Reserves `bytes` if there is room now.
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let limit = self.limit_for(bytes);
        let mut used = self.lock();
        if *used + bytes > limit {
            return None;
        }
        *used += bytes;
        Some(Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }

    /// The most a body of `bytes` may take the budget to.
    fn limit_for(&self, bytes: usize) -> usize {
        if bytes <= SMALL_BODY {
            self.total
        } else {
            self.total - self.reserve
        }
    }

    fn release(&self, bytes: usize) {
        *self.lock() -= bytes;
        self.freed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Bytes reserved from a [`Budget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[tokio::test]
    async fn small_bodies_pass_while_big_ones_wait() {
        let budget = Budget::new(16 * MIB);
        let reserve = budget.reserve();
        assert_eq!(reserve, 2 * MIB);
        // Big bodies take everything but the reserve.
        let big = budget.try_acquire(14 * MIB).expect("room for a big body");
        assert!(budget.try_acquire(SMALL_BODY + 1).is_none());
        // A small body still fits, in the reserve.
        let small = budget
            .try_acquire(SMALL_BODY)
            .expect("room for a small body");
        assert_eq!(budget.used(), 14 * MIB + SMALL_BODY);
        drop((big, small));
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_room_when_it_is_freed_or_gives_up() {
        let budget = Budget::new(16 * MIB);
        let held = budget.try_acquire(14 * MIB).expect("room");
        // Nothing is freed: the waiter gives up after its wait.
        assert!(budget.acquire(MIB, Duration::from_secs(1)).await.is_none());
        // Freed while waiting: the waiter gets it.
        let waiter = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move { budget.acquire(MIB, Duration::from_secs(10)).await.is_some() }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.expect("joins"));
        assert_eq!(budget.used(), 0);
        // More than big bodies may ever take: refused at once (the paused clock never moved).
        let before = tokio::time::Instant::now();
        assert!(
            budget
                .acquire(15 * MIB, Duration::from_secs(10))
                .await
                .is_none()
        );
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
