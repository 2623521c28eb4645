//! Logging: `tracing` to stderr, as text or JSON, filtered by `RUST_LOG` (default `info`).
//!
//! Lines are formatted by hand ([`LogLine`]; `tracing-subscriber`'s own formatters cost three to
//! four times as much per line, see there) and handed to `tracing-appender`'s lossy
//! non-blocking writer: the thread that logs only queues the line, and a worker thread writes
//! the lines to stderr through a buffer, at most every [`FLUSH_EVERY`] while lines keep coming
//! (a `write(2)` per line would cost about as much as validating a policy). The [`LogGuard`]
//! returned by [`init`] writes what is left when it is dropped (at exit).
//!
//! Bounded: a field value longer than [`VALUE_BYTES`] is cut (and marked), so that no line
//! reaches [`LINE_BYTES`] (a longer one is dropped); at most [`MAX_BUFFERED`] bytes wait for
//! stderr (queued lines, counted in bytes, plus the worker's buffer), and when stderr does not
//! keep up, new lines are dropped and counted ([`dropped_lines`], exported as a metric) rather
//! than queued without limit. Request bodies are never logged.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log pipelines).
    Json,
}

/// Bytes waiting for stderr at most; lines beyond are dropped.
pub const MAX_BUFFERED: usize = 1 << 20;
/// The longest line written; a longer one is dropped (values are cut well before).
pub const LINE_BYTES: usize = 16 * 1024;
/// The longest field value written; longer values are cut and marked.
pub const VALUE_BYTES: usize = 1024;

/// The worker's write buffer: one `write(2)` carries up to this much.
const BATCH_BYTES: usize = 64 * 1024;
/// Queued lines at most, in bytes (the worker's buffer takes the rest of [`MAX_BUFFERED`]).
const QUEUE_BYTES: usize = MAX_BUFFERED - BATCH_BYTES;
/// What a line is charged at least against [`QUEUE_BYTES`]: the queue then never holds more
/// than [`QUEUE_LINES`] lines, so `tracing-appender`'s own bound (in lines) is never what
/// drops one.
const MIN_CHARGE: usize = 128;
/// `tracing-appender`'s queue, in lines: every line [`QUEUE_BYTES`] admits, and its shutdown
/// message.
const QUEUE_LINES: usize = QUEUE_BYTES / MIN_CHARGE + 1;
/// While lines keep coming, the worker writes at most this often.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// The installed writer's counters, for [`dropped_lines`].
static INSTALLED: OnceLock<(Arc<Queue>, ErrorCounter)> = OnceLock::new();

/// Log lines dropped so far because stderr did not keep up (or a line was too long).
pub fn dropped_lines() -> u64 {
    INSTALLED.get().map_or(0, |(queue, errors)| {
        queue.dropped.load(Ordering::Relaxed) + errors.dropped_lines() as u64
    })
}

/// Installs the global subscriber. rustls logs only at `error` (a client sending an IP address
/// as SNI would otherwise log a warning per handshake).
/// Keep the guard alive for as long as the program logs.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,rustls=error"));
    let (writer, worker) = BoundedWriter::start(io::stderr());
    let counters = (Arc::clone(&writer.queue), writer.sink.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests) keeps the first subscriber.
    if builder.event_format(LogLine(format)).try_init().is_ok() {
        let _ = INSTALLED.set(counters);
    }
    LogGuard { _worker: worker }
}

/// The line formats, written by hand: this line is written once per admission decision, and
/// the stock formatters cost more than a review. Measured with callgrind on the whole server
/// (`make bench-instructions`' method, the sample policy answered from the decision cache):
/// `tracing-subscriber`'s text format costs about 15,300 instructions per decision line and its
/// JSON format about 21,300, where these cost about 4,000; with the text one, a request cost
/// 1.39 times the null webhook's instead of 1.19 (its fields go through `core::fmt` with ANSI
/// styling objects around every name even when colours are off, its clock through padded
/// `write!`; the JSON one serialises every field through `serde_json`).
///
/// - [`LogFormat::Text`]: `<RFC 3339 time> <LEVEL> <target>: <message> key=value ...`. Values
///   print as they are when they are plain words, quoted (Rust `Debug`) otherwise, so a line
///   always splits unambiguously on spaces.
/// - [`LogFormat::Json`]: one object per line,
///   `{"timestamp":"<RFC 3339>","level":"INFO","target":"...","message":"...","key":value,...}`
///   (the field names of `tracing-subscriber`'s flattened JSON); numbers and booleans are JSON
///   numbers and booleans, everything else a string.
struct LogLine(LogFormat);

impl<S, N> FormatEvent<S, N> for LogLine
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
        let value = clipped(value, self.json);
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

/// `value`, or as much of it as takes at most [`VALUE_BYTES`] once escaped (for JSON, or as
/// Rust's `Debug` quotes it in the text format) and how long it was: a value of control
/// characters, six bytes each escaped, is cut as soon as one of plain text.
fn clipped(value: &str, json: bool) -> std::borrow::Cow<'_, str> {
    /// No character takes more than this many bytes per byte of UTF-8 once escaped (`\u001b`).
    const MOST_PER_BYTE: usize = 6;
    if value.len() * MOST_PER_BYTE <= VALUE_BYTES {
        return std::borrow::Cow::Borrowed(value);
    }
    let width = |c: char| match c {
        _ if !json => c.escape_debug().count(),
        '"' | '\\' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1f}' => 6,
        _ => c.len_utf8(),
    };
    let mut used = 0;
    for (at, c) in value.char_indices() {
        used += width(c);
        if used > VALUE_BYTES {
            let head = &value[..at];
            return std::borrow::Cow::Owned(format!("{head}...({} bytes, truncated)", value.len()));
        }
    }
    std::borrow::Cow::Borrowed(value)
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

/// Writes what is still queued when dropped (waiting at most about a second for stderr).
pub struct LogGuard {
    _worker: WorkerGuard,
}

/// Bytes queued for the worker, and lines dropped, shared by a [`BoundedWriter`] and its
/// [`Drain`].
#[derive(Debug, Default)]
struct Queue {
    /// Bytes charged for the lines queued and not yet handed to the worker's buffer.
    bytes: AtomicUsize,
    /// Lines dropped here: too long, or no room.
    dropped: AtomicU64,
}

impl Queue {
    /// Charges a line of `len` bytes, if it fits.
    fn admit(&self, len: usize) -> bool {
        let charge = charge(len);
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                (queued + charge <= QUEUE_BYTES).then_some(queued + charge)
            })
            .is_ok()
    }

    /// Gives back the charge of a line of `len` bytes.
    fn release(&self, len: usize) {
        self.bytes.fetch_sub(charge(len), Ordering::Relaxed);
    }
}

/// What a line of `len` bytes takes from [`QUEUE_BYTES`].
fn charge(len: usize) -> usize {
    len.max(MIN_CHARGE)
}

/// The `MakeWriter`: `tracing-appender`'s lossy `NonBlocking`, in front of which lines are
/// bounded in bytes (`NonBlocking` bounds them in number only) and in length.
#[derive(Clone)]
struct BoundedWriter {
    sink: NonBlocking,
    queue: Arc<Queue>,
}

impl BoundedWriter {
    /// The writer, and the guard of the worker thread that writes to `out`.
    fn start<W: Write + Send + 'static>(out: W) -> (Self, WorkerGuard) {
        let queue = Arc::new(Queue::default());
        let drain = Drain {
            out: BufWriter::with_capacity(BATCH_BYTES, out),
            queue: Arc::clone(&queue),
            written: Instant::now(),
        };
        let (sink, worker) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUE_LINES)
            .thread_name("log-writer")
            .finish(drain);
        (Self { sink, queue }, worker)
    }
}

impl Write for BoundedWriter {
    /// Takes one line (the formatters write each event in one call); drops it, and counts it,
    /// when it is too long or there is no room.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if line.len() > LINE_BYTES || !self.queue.admit(line.len()) {
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        // Lossy: never blocks. A line it drops all the same is counted by its ErrorCounter.
        self.sink.write_all(line)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BoundedWriter {
    type Writer = BoundedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What the worker thread writes to: `out`, buffered. It gives each line's charge back once the
/// line is in the buffer, and while lines keep coming writes the buffer out at most every
/// [`FLUSH_EVERY`] (the worker flushes whenever its queue is empty).
struct Drain<W: Write> {
    out: BufWriter<W>,
    queue: Arc<Queue>,
    /// When the buffer was last written out.
    written: Instant,
}

impl<W: Write> Write for Drain<W> {
    /// One line (the worker hands over each line in one call).
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.write_all(line).map(|()| line.len())
    }

    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        let written = self.out.write_all(line);
        self.queue.release(line.len());
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.out.buffer().is_empty() {
            return Ok(());
        }
        // Lines arriving meanwhile wait in the queue, and go out with the next batch.
        if let Some(wait) = FLUSH_EVERY.checked_sub(self.written.elapsed()) {
            std::thread::sleep(wait);
        }
        let flushed = self.out.flush();
        self.written = Instant::now();
        flushed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;

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

    /// The lines `format` writes for the events `log` emits (straight to memory).
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
            .event_format(LogLine(format))
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
    fn values_are_cut_by_their_escaped_length() {
        // Eight values of control characters: 1 KiB each would be 6 KiB each escaped, 48 KiB
        // in all, and the line would be dropped; cut by their escaped length, it is written.
        let escapes = "\u{1b}".repeat(1024);
        let e = escapes.as_str();
        for format in [LogFormat::Json, LogFormat::Text] {
            let out = lines(format, || {
                tracing::info!(
                    a = e,
                    b = e,
                    c = e,
                    d = e,
                    f = e,
                    g = e,
                    h = e,
                    i = e,
                    "decision"
                );
            });
            assert_eq!(out.lines().count(), 1, "{format:?}: the line was dropped");
            assert!(out.len() < 9 * (VALUE_BYTES + 64), "{} bytes", out.len());
            assert_eq!(
                out.matches("...(1024 bytes, truncated)").count(),
                8,
                "{out}"
            );
        }
        // Plain text up to VALUE_BYTES is kept whole.
        let plain = "u".repeat(VALUE_BYTES);
        assert_eq!(clipped(&plain, true), plain.as_str());
        assert!(clipped(&format!("{plain}u"), true).ends_with("...(1025 bytes, truncated)"));
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

    /// A writer that takes nothing until `gate` is dropped (stderr not read), then signals
    /// `done` once it holds `expected` lines.
    struct StalledStderr {
        gate: mpsc::Receiver<()>,
        out: Vec<u8>,
        expected: Arc<AtomicUsize>,
        done: mpsc::Sender<()>,
    }

    impl Write for StalledStderr {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // Blocks until the test drops the sender.
            let _ = self.gate.recv();
            self.out.extend_from_slice(buf);
            let lines = self.out.iter().filter(|&&b| b == b'\n').count();
            if lines == self.expected.load(Ordering::Relaxed) {
                let _ = self.done.send(());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_dropped_and_counted_when_stderr_stalls() {
        let (open, gate) = mpsc::channel();
        let (done, finished) = mpsc::channel();
        let expected = Arc::new(AtomicUsize::new(usize::MAX));
        let stalled = StalledStderr {
            gate,
            out: Vec::new(),
            expected: Arc::clone(&expected),
            done,
        };
        let (writer, worker) = BoundedWriter::start(stalled);
        let errors = writer.sink.error_counter();
        let line = [b"x".repeat(999), b"\n".to_vec()].concat();
        let sent = 2 * MAX_BUFFERED / line.len();
        for _ in 0..sent {
            writer
                .make_writer()
                .write_all(&line)
                .expect("never an error");
            // What waits (queued, plus the worker's buffer) stays within the bound.
            assert!(writer.queue.bytes.load(Ordering::Relaxed) <= QUEUE_BYTES);
        }
        let dropped = writer.queue.dropped.load(Ordering::Relaxed);
        assert_eq!(errors.dropped_lines(), 0, "dropped by bytes, not by count");
        let accepted = sent - dropped as usize;
        assert!(accepted * line.len() <= MAX_BUFFERED, "{accepted} lines");
        assert!(
            accepted * line.len() >= QUEUE_BYTES - line.len(),
            "{accepted} lines"
        );
        // stderr is read again: every accepted line is written, whole.
        expected.store(accepted, Ordering::Relaxed);
        drop(open);
        assert!(dropped > 0);
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("every accepted line written");
        drop(worker);
    }

    #[test]
    fn a_line_that_is_too_long_is_counted() {
        let (writer, worker) = BoundedWriter::start(io::sink());
        writer
            .make_writer()
            .write_all(&vec![b'y'; LINE_BYTES + 1])
            .expect("dropped, not an error");
        assert_eq!(writer.queue.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(writer.queue.bytes.load(Ordering::Relaxed), 0);
        drop(worker);
    }
}
