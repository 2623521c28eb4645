//! Logging: `tracing` to stderr, as text or JSON, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are not written one `write(2)` per event: the server logs one line per decision, and a
//! system call per line costs about as much as validating a policy. Events are appended to a
//! buffer that a background thread writes out every 50 ms, or as soon as it holds 64 KiB; the
//! [`LogGuard`] returned by [`init`] flushes what is left when it is dropped (at exit).
//!
//! Bounded: a field value longer than [`VALUE_BYTES`] is cut (and marked), so that no line
//! reaches [`LINE_BYTES`] (a longer one is dropped); the buffer holds at most
//! [`MAX_BUFFERED`] bytes, and when stderr does not keep up, new lines are dropped and counted
//! ([`dropped_lines`], exported as a metric) rather than buffered without limit. Request bodies
//! are never logged.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// Bytes waiting for stderr at most; lines beyond are dropped.
pub const MAX_BUFFERED: usize = 1 << 20;
/// The longest line written; a longer one is dropped (values are cut well before).
pub const LINE_BYTES: usize = 16 * 1024;
/// The longest field value written; longer values are cut and marked.
pub const VALUE_BYTES: usize = 1024;

/// Lines dropped so far (stderr too slow, or a line too long).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped so far because stderr did not keep up (or a line was too long).
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Installs the global subscriber. rustls logs only at `error` (a client sending an IP address
/// as SNI would otherwise log a warning per handshake).
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
    let _ = builder.event_format(Line(format)).try_init();
    LogGuard(buffer)
}

/// The line formats, written by hand: this line is written once per admission decision, and
/// the stock formatters cost more than a review (the text one builds ANSI styling objects for
/// every field name even when colours are off; the JSON one serialises through a map of
/// fields).
///
/// - [`LogFormat::Text`]: `<RFC 3339 time> <LEVEL> <target>: <message> key=value ...`. Values
///   print as they are when they are plain words, quoted (Rust `Debug`) otherwise, so a line
///   always splits unambiguously on spaces.
/// - [`LogFormat::Json`]: one object per line,
///   `{"timestamp":"<RFC 3339>","level":"INFO","target":"...","message":"...","key":value,...}`
///   (the field names of `tracing-subscriber`'s flattened JSON); numbers and booleans are JSON
///   numbers and booleans, everything else a string.
struct Line(LogFormat);

impl<S, N> FormatEvent<S, N> for Line
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
        let stamp = timestamp(time::OffsetDateTime::now_utc());
        // The stamp is ASCII digits and separators.
        let stamp = std::str::from_utf8(&stamp).unwrap_or("");
        let metadata = event.metadata();
        let json = self.0 == LogFormat::Json;
        if json {
            writer.write_str("{\"timestamp\":\"")?;
            writer.write_str(stamp)?;
            writer.write_str("\",\"level\":\"")?;
            writer.write_str(metadata.level().as_str())?;
            writer.write_str("\",\"target\":")?;
            json_string(&mut writer, metadata.target())?;
        } else {
            writer.write_str(stamp)?;
            writer.write_str(match *metadata.level() {
                tracing::Level::ERROR => " ERROR ",
                tracing::Level::WARN => "  WARN ",
                tracing::Level::INFO => "  INFO ",
                tracing::Level::DEBUG => " DEBUG ",
                tracing::Level::TRACE => " TRACE ",
            })?;
            writer.write_str(metadata.target())?;
            writer.write_char(':')?;
        }
        let mut fields = Fields {
            writer: &mut writer,
            json,
            seen_message: false,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(if json { "}\n" } else { "\n" })
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, hand-rolled rather than `write!` (`core::fmt` padding
/// dominated the line's cost).
fn timestamp(now: time::OffsetDateTime) -> [u8; 27] {
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
    stamp
}

/// Writes `value` as zero-padded decimal digits filling `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        // `value % 10` is a single digit.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Writes `text` as a JSON string, quotes included.
fn json_string(writer: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    writer.write_char('"')?;
    JsonEscaped(writer).write_str(text)?;
    writer.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string.
struct JsonEscaped<'w, W: std::fmt::Write>(&'w mut W);

impl<W: std::fmt::Write> std::fmt::Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let mut start = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&text[start..])
    }
}

/// Writes the event's fields: ` message` then ` key=value` (text), or `,"message":"..."` then
/// `,"key":value` (JSON).
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    json: bool,
    /// Whether a `message` was written: a second field of that name (`warn!(message = ..,
    /// "text")`) is written as `field.message`, so that a JSON line has one `message` key.
    seen_message: bool,
    result: std::fmt::Result,
}

impl Fields<'_, '_> {
    /// The key a field is written under.
    fn name(&mut self, field: &Field) -> &'static str {
        match field.name() {
            "message" if self.seen_message => "field.message",
            "message" => {
                self.seen_message = true;
                "message"
            }
            other => other,
        }
    }

    /// Writes the separator and the key (none for the text format's message).
    fn key(&mut self, field: &Field) -> std::fmt::Result {
        let name = self.name(field);
        if self.json {
            self.writer.write_char(',')?;
            json_string(self.writer, name)?;
            return self.writer.write_char(':');
        }
        self.writer.write_char(' ')?;
        if name != "message" {
            self.writer.write_str(name)?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }

    /// A string value, cut to [`VALUE_BYTES`].
    fn text(&mut self, field: &Field, value: &str) {
        // The event's own message is written as it is in the text format; other values are
        // quoted unless they are plain words.
        let raw = field.name() == "message" && !self.seen_message;
        let value = clipped(value);
        self.write(|this| {
            this.key(field)?;
            if this.json {
                json_string(this.writer, &value)
            } else if !raw && !is_plain(&value) {
                write!(this.writer, "{value:?}")
            } else {
                this.writer.write_str(&value)
            }
        });
    }

    /// A value written as it is in both formats (a number or a boolean).
    fn bare(&mut self, field: &Field, value: &str) {
        self.write(|this| {
            this.key(field)?;
            this.writer.write_str(value)
        });
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
        self.bare(field, std::str::from_utf8(&digits[at..]).unwrap_or("0"));
    }

    fn write(&mut self, f: impl FnOnce(&mut Self) -> std::fmt::Result) {
        if self.result.is_ok() {
            self.result = f(self);
        }
    }
}

/// `value`, or its first [`VALUE_BYTES`] and how long it was.
fn clipped(value: &str) -> std::borrow::Cow<'_, str> {
    let (head, cut) = crate::validate::field::clip(value, VALUE_BYTES);
    if cut {
        std::borrow::Cow::Owned(format!("{head}...({} bytes, truncated)", value.len()))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Writes at most [`VALUE_BYTES`] of what is written through it, then a mark.
struct Limited<W: std::fmt::Write> {
    inner: W,
    left: usize,
    cut: bool,
}

impl<W: std::fmt::Write> Limited<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            left: VALUE_BYTES,
            cut: false,
        }
    }

    /// Writes `value`'s `Debug` form, cut and marked when too long.
    fn debug(mut self, value: &dyn std::fmt::Debug) -> std::fmt::Result {
        // The writer below stops at the limit; its error only ends the formatting.
        let _ = write!(self, "{value:?}");
        if self.cut {
            self.inner.write_str("...(truncated)")?;
        }
        Ok(())
    }
}

impl<W: std::fmt::Write> std::fmt::Write for Limited<W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let (head, cut) = crate::validate::field::clip(text, self.left);
        self.inner.write_str(head)?;
        self.left -= head.len();
        if cut {
            self.cut = true;
            // Stop the formatting: nothing more is wanted.
            return Err(std::fmt::Error);
        }
        Ok(())
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
        self.bare(field, if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.bare(field, &value.to_string());
        } else {
            self.text(field, &value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // The message (every event has one) is written as it is, escaped on the way for JSON:
        // no copy to a String first; cut at VALUE_BYTES like any value.
        if field.name() == "message" && !self.seen_message {
            self.write(|this| {
                this.key(field)?;
                if this.json {
                    this.writer.write_char('"')?;
                    Limited::new(JsonEscaped(this.writer)).debug(value)?;
                    this.writer.write_char('"')
                } else {
                    Limited::new(&mut *this.writer).debug(value)
                }
            });
            return;
        }
        let mut text = String::new();
        let _ = Limited::new(&mut text).debug(value);
        self.text(field, &text);
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
    /// Takes one line (the formatter writes each event in one call); drops it, and counts it,
    /// when it is too long or the buffer is full.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > LINE_BYTES {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Ok(buf.len());
        }
        if self.1 {
            write_out(buf);
            return Ok(buf.len());
        }
        let mut buffer = self.lock();
        if buffer.len() + buf.len() > MAX_BUFFERED {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Ok(buf.len());
        }
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

    /// The lines `format` writes for the events `log` emits.
    fn lines(format: LogFormat, log: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let sink = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .event_format(Line(format))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = capture.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    fn decision() {
        tracing::info!(
            uid = "7f1c",
            name = "tab\tand \"quote\"",
            warnings = 2u64,
            offset = -3i64,
            cached = false,
            ratio = 0.5f64,
            error = ?std::io::ErrorKind::NotFound,
            "decision {}",
            "line\nbreak\u{1}"
        );
    }

    #[test]
    fn json_lines_are_json_with_typed_fields() {
        let out = lines(LogFormat::Json, decision);
        assert!(out.ends_with("}\n") && out.lines().count() == 1, "{out}");
        let line: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(
            crate::validate::schema::is_date_time(timestamp),
            "{timestamp}"
        );
        assert_eq!(
            line,
            serde_json::json!({
                "timestamp": timestamp,
                "level": "INFO",
                "target": module_path!(),
                "message": "decision line\nbreak\u{1}",
                "uid": "7f1c",
                "name": "tab\tand \"quote\"",
                "warnings": 2,
                "offset": -3,
                "cached": false,
                "ratio": 0.5,
                "error": "NotFound"
            })
        );
    }

    #[test]
    fn text_lines_quote_only_what_is_not_a_plain_word() {
        let out = lines(LogFormat::Text, decision);
        let (stamp, rest) = out.split_once(' ').expect("a time first");
        assert!(crate::validate::schema::is_date_time(stamp), "{stamp}");
        assert_eq!(
            rest,
            format!(
                " INFO {}: decision line\nbreak\u{1} uid=7f1c name=\"tab\\tand \\\"quote\\\"\" warnings=2 offset=-3 cached=false ratio=0.5 error=NotFound\n",
                module_path!()
            )
        );
    }

    #[test]
    fn a_message_field_does_not_make_a_second_message_key() {
        let out = lines(LogFormat::Json, || {
            let message = "from a field";
            tracing::warn!(uid = 5, %message, "the event's message");
        });
        let line: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(out.matches("\"message\":").count(), 1, "{out}");
        assert_eq!(line["message"], "the event's message");
        assert_eq!(line["field.message"], "from a field");
        let text = lines(LogFormat::Text, || {
            let message = "from a field";
            tracing::warn!(%message, "the event's message");
        });
        assert!(
            text.ends_with(" the event's message field.message=\"from a field\"\n"),
            "{text}"
        );
    }

    #[test]
    fn long_values_are_cut_and_lines_stay_short() {
        let huge = "u".repeat(1 << 20);
        for format in [LogFormat::Json, LogFormat::Text] {
            let out = lines(format, || {
                tracing::info!(uid = huge.as_str(), name = ?huge, "decision {}", huge);
            });
            assert!(out.len() < LINE_BYTES, "{} bytes", out.len());
            assert_eq!(out.lines().count(), 1);
            assert!(out.contains("...(1048576 bytes, truncated)"), "{out}");
            assert!(out.contains("...(truncated)"), "{out}");
        }
    }

    #[test]
    fn lines_are_dropped_and_counted_when_the_buffer_is_full_or_a_line_too_long() {
        let mut writer = BatchedStderr(Arc::new(Shared::default()), false);
        let before = dropped_lines();
        let line = vec![b'x'; 1000];
        for _ in 0..(MAX_BUFFERED / line.len()) {
            writer.write_all(&line).expect("buffered");
        }
        // Nobody flushes (stderr stalled): the buffer is full and stays at its bound.
        writer.write_all(&line).expect("dropped, not an error");
        assert!(writer.lock().len() <= MAX_BUFFERED);
        writer
            .write_all(&vec![b'y'; LINE_BYTES + 1])
            .expect("dropped");
        assert!(dropped_lines() >= before + 2);
        assert!(!writer.lock().contains(&b'y'));
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
