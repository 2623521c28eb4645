//! Connection slots, and what each connection may hold and for how long.
//!
//! At most `max_connections` connections are served at once. When every slot is taken, room is
//! made for the newcomer by closing the connection that has been idle (no request in a
//! handler: keep-alive, a client sending headers slowly, a client not reading its answer) or
//! handshaking the longest; only when every connection has a request in a handler does the
//! newcomer wait, in the kernel's accept backlog, for one to end. A connect flood or a crowd of
//! slow readers therefore cannot lock a good client out.
//!
//! Each connection also gets:
//! - a write timeout ([`TimedIo`]): a client that does not read its answer for that long is
//!   dropped, so an unread answer holds memory and a slot only that long;
//! - an idle timeout: a connection without a request for that long is closed gracefully
//!   (HTTP/1.1 also has hyper's header-read timeout; for HTTP/2, whose PINGs keep a connection
//!   alive, this is the only one).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// At most `capacity` connections at once; when all are taken, a newcomer evicts the connection
/// idle or handshaking the longest, and waits only when every one has a request in a handler.
#[derive(Debug)]
pub struct Slots {
    capacity: usize,
    epoch: Instant,
    table: Mutex<Table>,
    /// Notified when a connection ends or becomes idle.
    freed: Arc<Notify>,
    /// Connections closed to make room, for metrics.
    evicted: AtomicU64,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    live: HashMap<u64, Arc<Activity>>,
}

/// What one connection is doing, as the slots see it.
#[derive(Debug)]
pub struct Activity {
    /// Requests in a handler now.
    in_flight: AtomicUsize,
    /// When it last became idle (or started), in ms since the slots' epoch.
    idle_since_ms: AtomicU64,
    /// Set once the connection is chosen to make room (it is not chosen twice).
    evicting: AtomicBool,
    /// Notified to close the connection.
    close: Notify,
    /// The slots' notification that a connection ended or became idle (a newcomer waiting
    /// for room may then find some).
    room: Arc<Notify>,
    epoch: Instant,
}

impl Activity {
    fn new(epoch: Instant, room: Arc<Notify>) -> Self {
        let activity = Self {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
            close: Notify::new(),
            room,
            epoch,
        };
        activity.touch();
        activity
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.idle_since_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request enters a handler; it leaves when the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> RequestInProgress {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        RequestInProgress(Arc::clone(self))
    }

    /// How long the connection has been without a request in a handler (zero while it has one).
    pub fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let since = self.idle_since_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }

    /// Completes when the connection is chosen to make room for another.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }
}

/// A request in a handler (see [`Activity::begin`]).
pub struct RequestInProgress(Arc<Activity>);

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        // The last one out marks the start of an idle spell: the connection may now make room.
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.touch();
            self.0.room.notify_waiters();
        }
    }
}

impl Slots {
    /// `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
            freed: Arc::new(Notify::new()),
            evicted: AtomicU64::new(0),
        })
    }

    /// Takes a slot for a new connection: at once when one is free, else after closing the
    /// longest-idle connection, else as soon as a connection ends or becomes idle.
    pub async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut table = self.lock();
                if table.live.len() < self.capacity {
                    let id = table.next_id;
                    table.next_id += 1;
                    let activity = Arc::new(Activity::new(self.epoch, Arc::clone(&self.freed)));
                    table.live.insert(id, Arc::clone(&activity));
                    return Slot {
                        slots: Arc::clone(self),
                        id,
                        activity,
                    };
                }
                // One eviction at a time: woken again (a request ended elsewhere) before the
                // connection chosen has closed, the newcomer waits for it rather than choosing
                // another.
                let pending = table
                    .live
                    .values()
                    .any(|a| a.evicting.load(Ordering::Relaxed));
                if !pending && let Some(victim) = longest_idle(&table) {
                    victim.evicting.store(true, Ordering::Relaxed);
                    victim.close.notify_one();
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                }
            }
            freed.await;
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().live.len()
    }

    /// Connections closed so far to make room for others.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Completes when no connection is open.
    pub async fn all_closed(&self) {
        // (Woken by every end and every idle spell; it checks the count each time.)
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            freed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The idle (or handshaking) connection idle the longest, not already being closed.
fn longest_idle(table: &Table) -> Option<&Arc<Activity>> {
    table
        .live
        .values()
        .filter(|a| !a.evicting.load(Ordering::Relaxed) && a.in_flight.load(Ordering::Relaxed) == 0)
        .max_by_key(|a| a.idle_for())
}

/// One connection's slot, freed when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    /// What the connection is doing.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().live.remove(&self.id);
        self.slots.freed.notify_waiters();
    }
}

/// A stream whose writes fail with `TimedOut` when they make no progress for `timeout`: a
/// client that stops reading cannot hold an answer, and its connection, for longer.
pub struct TimedIo<T> {
    inner: T,
    timeout: Duration,
    /// Armed while a write is pending; reset when one makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// A write's outcome: ready ends the stall; pending starts (or continues) it.
    fn guard<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        if poll.is_pending() {
            return self.pending(cx);
        }
        self.stalled = None;
        poll
    }

    /// Turns a pending write into a timeout error once it has been pending for too long.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the client read nothing for {timeout:?}"),
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.pending(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_house_makes_room_by_closing_the_longest_idle() {
        let slots = Slots::new(2);
        let first = slots.admit().await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let second = slots.admit().await;
        // The second has a request in a handler: only the first (idle 5 s) can make room.
        let busy = second.activity().begin();
        let newcomer = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.admit().await }
        });
        first.activity().evicted().await;
        assert_eq!(slots.evicted(), 1);
        drop(first);
        let third = newcomer.await.expect("admitted once the first closed");
        assert_eq!(slots.open(), 2);
        drop((busy, second, third));
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_closes_one_connection_however_often_it_is_woken() {
        let slots = Slots::new(3);
        let first = slots.admit().await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let (second, third) = (slots.admit().await, slots.admit().await);
        let newcomer = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.admit().await }
        });
        first.activity().evicted().await;
        // Before the first has closed, requests end on the others: each wakes the newcomer,
        // which must wait for the connection it chose rather than choose another.
        for _ in 0..3 {
            drop(second.activity().begin());
            drop(third.activity().begin());
            tokio::task::yield_now().await;
        }
        assert_eq!(slots.evicted(), 1);
        drop(first);
        let fourth = newcomer.await.expect("admitted once the first closed");
        assert_eq!((slots.open(), slots.evicted()), (3, 1));
        drop((second, third, fourth));
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_connection_is_busy_the_newcomer_waits() {
        let slots = Slots::new(1);
        let only = slots.admit().await;
        let busy = only.activity().begin();
        let newcomer = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.admit().await }
        });
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!newcomer.is_finished());
        assert_eq!(slots.evicted(), 0);
        drop((busy, only));
        newcomer.await.expect("admitted when the busy one ended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_that_becomes_idle_makes_room() {
        let slots = Slots::new(1);
        let only = slots.admit().await;
        let busy = only.activity().begin();
        let newcomer = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.admit().await }
        });
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!newcomer.is_finished());
        // Its request ends: the waiting newcomer closes it at once.
        drop(busy);
        only.activity().evicted().await;
        drop(only);
        newcomer.await.expect("admitted");
        assert_eq!(slots.evicted(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_counts_from_the_last_request() {
        let slots = Slots::new(1);
        let slot = slots.admit().await;
        let activity = slot.activity();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(activity.idle_for(), Duration::from_secs(3));
        let request = activity.begin();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(activity.idle_for(), Duration::ZERO);
        drop(request);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(activity.idle_for(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_times_out() {
        use tokio::io::AsyncWriteExt;
        // A pipe whose reader never reads: writes stop once its buffer is full.
        let (writer, _reader) = tokio::io::duplex(64);
        let mut io = TimedIo::new(writer, Duration::from_secs(10));
        let error = io.write_all(&[0; 1024]).await.expect_err("times out");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    }
}
