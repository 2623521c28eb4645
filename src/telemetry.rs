//! Logging: `tracing` to stderr, as text or JSON, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are not written one `write(2)` per event: the server logs one line per decision, and a
//! system call per line costs about as much as validating a policy. Events are appended to a
//! buffer that a background thread writes out every 50 ms, or as soon as it holds 64 KiB; the
//! [`LogGuard`] returned by [`init`] flushes what is left when it is dropped (at exit).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log pipelines).
    Json,
}

/// Flush when this much is buffered.
const FLUSH_BYTES: usize = 64 * 1024;
/// Room for a full batch and the lines that arrive while it is being handed over.
const BUFFER_CAPACITY: usize = 2 * FLUSH_BYTES;
/// Flush at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Installs the global subscriber. Request bodies are logged only at `debug`; rustls only at
/// `error` (a client sending an IP address as SNI would otherwise log a warning per handshake).
/// Keep the guard alive for as long as the program logs.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,rustls=error"));
    let buffer = BatchedStderr::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(buffer.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.event_format(PlainText).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    LogGuard(buffer)
}

/// The text line format: `<RFC 3339 time> <LEVEL> <target>: <message> key=value ...`.
///
/// Written by hand because the stock formatter styles every field name (ANSI styling objects are
/// built even when colours are off), which made the decision line cost more than a review.
/// Values print as they are when they are plain words, quoted (Rust `Debug`) otherwise, so a
/// line always splits unambiguously on spaces.
struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        // Hand-rolled rather than `write!`: this line is written once per admission decision,
        // and `core::fmt` padding dominated its cost.
        let now = time::OffsetDateTime::now_utc();
        let mut stamp = [0u8; 27];
        let year = u32::try_from(now.year()).unwrap_or(0) % 10_000;
        put_digits(&mut stamp[0..4], year);
        stamp[4] = b'-';
        put_digits(&mut stamp[5..7], u32::from(u8::from(now.month())));
        stamp[7] = b'-';
        put_digits(&mut stamp[8..10], u32::from(now.day()));
        stamp[10] = b'T';
        put_digits(&mut stamp[11..13], u32::from(now.hour()));
        stamp[13] = b':';
        put_digits(&mut stamp[14..16], u32::from(now.minute()));
        stamp[16] = b':';
        put_digits(&mut stamp[17..19], u32::from(now.second()));
        stamp[19] = b'.';
        put_digits(&mut stamp[20..26], now.microsecond());
        stamp[26] = b'Z';
        // The stamp is ASCII digits and separators.
        writer.write_str(std::str::from_utf8(&stamp).unwrap_or(""))?;
        let metadata = event.metadata();
        writer.write_str(match *metadata.level() {
            tracing::Level::ERROR => " ERROR ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::TRACE => " TRACE ",
        })?;
        writer.write_str(metadata.target())?;
        writer.write_char(':')?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes `value` as zero-padded decimal digits filling `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        // `value % 10` is a single digit.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Writes ` message` then ` key=value` for every other field.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    result: std::fmt::Result,
}

impl Fields<'_, '_> {
    fn text(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.writer.write_char(' ')?;
            if field.name() != "message" {
                self.writer.write_str(field.name())?;
                self.writer.write_char('=')?;
                if !is_plain(value) {
                    return write!(self.writer, "{value:?}");
                }
            }
            self.writer.write_str(value)
        })();
    }

    fn number(&mut self, field: &Field, value: u64, negative: bool) {
        let mut digits = [0u8; 21];
        let mut at = digits.len();
        let mut rest = value;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            digits[at] = b'-';
        }
        self.text(field, std::str::from_utf8(&digits[at..]).unwrap_or("?"));
    }
}

/// Whether a value can be printed without quotes.
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=')
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value.unsigned_abs(), value < 0);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value, false);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.text(field, if value { "true" } else { "false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // The message (every event has one) is written as it is: no copy to a String first.
        if field.name() == "message" {
            if self.result.is_ok() {
                self.result = write!(self.writer, " {value:?}");
            }
            return;
        }
        self.text(field, &format!("{value:?}"));
    }
}

/// Flushes buffered log lines when dropped.
pub struct LogGuard(BatchedStderr);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush_now();
    }
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    wake: Condvar,
}

/// A `MakeWriter` that appends to a shared buffer written to stderr in batches (or straight
/// to stderr when the flushing thread could not be started).
#[derive(Clone)]
struct BatchedStderr(Arc<Shared>, bool);

impl BatchedStderr {
    fn start() -> Self {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(BUFFER_CAPACITY)),
            wake: Condvar::new(),
        });
        let flusher = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name("log-flush".to_owned())
            .spawn(move || {
                // Two buffers swapped in turn, so that logging allocates nothing once they have
                // grown: a buffer taken and freed here, on another thread than the one that
                // grew it, would be reallocated and copied as it grew again, and its memory
                // handed back to the OS and faulted in again.
                let mut pending = Vec::with_capacity(BUFFER_CAPACITY);
                loop {
                    {
                        let guard = flusher
                            .buffer
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        let (mut guard, _) = flusher
                            .wake
                            .wait_timeout_while(guard, FLUSH_EVERY, |b| b.len() < FLUSH_BYTES)
                            .unwrap_or_else(PoisonError::into_inner);
                        std::mem::swap(&mut *guard, &mut pending);
                    }
                    write_out(&pending);
                    pending.clear();
                    if pending.capacity() > 4 * BUFFER_CAPACITY {
                        // After a burst of huge lines (debug bodies): do not keep it all.
                        pending.shrink_to(BUFFER_CAPACITY);
                    }
                }
            })
            .is_ok();
        Self(shared, !started)
    }

    fn flush_now(&self) {
        let pending = std::mem::take(&mut *self.lock());
        write_out(&pending);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write_out(bytes: &[u8]) {
    if !bytes.is_empty() {
        let _ = std::io::stderr().lock().write_all(bytes);
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.1 {
            write_out(buf);
            return Ok(buf.len());
        }
        let mut buffer = self.lock();
        buffer.extend_from_slice(buf);
        if buffer.len() >= FLUSH_BYTES {
            self.0.wake.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_plain_values() {
        let mut out = [0u8; 6];
        put_digits(&mut out, 4_207);
        assert_eq!(&out, b"004207");
        assert!(is_plain("payments-backend-tls"));
        assert!(
            !is_plain("two words") && !is_plain("") && !is_plain("a=b") && !is_plain("q\"uote")
        );
    }

    #[test]
    fn lines_are_buffered_until_flushed() {
        let mut writer = BatchedStderr(Arc::new(Shared::default()), false);
        writer.write_all(b"one\n").expect("buffered");
        writer.write_all(b"two\n").expect("buffered");
        assert_eq!(&*writer.lock(), b"one\ntwo\n");
        writer.flush_now();
        assert!(writer.lock().is_empty());
    }
}
