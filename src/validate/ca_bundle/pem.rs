//! PEM framing: the `-----BEGIN` / `-----END` blocks of a bundle's text, the text outside them,
//! and the base64 decoding of `CERTIFICATE` blocks (by `rustls-pki-types`). See the parent
//! module's "Framing" section for the rules.

use rustls_pki_types::pem::{PemObject, SectionKind};

use super::names::{MAX_LABEL_CHARS, is_unsafe_char, sanitize};

/// One line of the input, without its terminator.
struct PemLine<'a> {
    /// 1-based line number.
    number: usize,
    /// Byte offset of the line's first byte.
    start: usize,
    /// Byte offset just after the line's terminator.
    next: usize,
    text: &'a str,
}

/// Lines ending in `\n`, `\r\n` or a lone `\r`.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str, first_number: usize) -> Self {
        Self {
            text,
            pos: 0,
            number: first_number,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = PemLine<'a>;

    fn next(&mut self) -> Option<PemLine<'a>> {
        let rest = self.text.get(self.pos..).filter(|r| !r.is_empty())?;
        let bytes = rest.as_bytes();
        let (len, terminator) = match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                let crlf = bytes.get(i) == Some(&b'\r') && bytes.get(i + 1) == Some(&b'\n');
                (i, if crlf { 2 } else { 1 })
            }
            None => (rest.len(), 0),
        };
        let line = PemLine {
            number: self.number,
            start: self.pos,
            next: self.pos + len + terminator,
            text: rest.get(..len).unwrap_or(""),
        };
        self.pos = line.next;
        self.number += 1;
        Some(line)
    }
}

/// Why a block's framing is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameProblem<'a> {
    /// The block has no `END` line (end of text or another `BEGIN` came first).
    MissingEnd,
    /// The `END` line names another label.
    MismatchedEnd(&'a str),
    /// Text follows the `END` marker on its line.
    EndTrailingText,
    /// The `BEGIN` line lacks its closing dashes or has text after them.
    BadBeginLine,
    /// `BEGIN`, body and `END` are all on one line.
    OneLine,
    /// A marker does not start its line (indentation or a byte-order mark).
    IndentedMarker,
}

impl FrameProblem<'_> {
    fn describe(self, label: &str) -> String {
        match self {
            Self::MissingEnd => format!("has no -----END {label}----- line"),
            Self::MismatchedEnd(end) => format!(
                "ends with a mismatched -----END {}----- line",
                sanitize(end, MAX_LABEL_CHARS)
            ),
            Self::EndTrailingText => "has text after its -----END marker".to_owned(),
            Self::BadBeginLine => "has a malformed -----BEGIN line".to_owned(),
            Self::OneLine => "is all on one line: the PEM lost its line breaks".to_owned(),
            Self::IndentedMarker => "has a BEGIN or END marker that does not start its line \
                                     (indentation or byte-order mark)"
                .to_owned(),
        }
    }
}

/// A framed PEM block.
pub(super) struct Block<'a> {
    pub(super) label: &'a str,
    /// 1-based line of the `BEGIN` marker.
    pub(super) line: usize,
    /// Everything between the `BEGIN` line and the `END` line (or where the block was cut).
    body: &'a str,
    /// 1-based line number of the body's first line.
    body_line: usize,
    problem: Option<FrameProblem<'a>>,
}

/// A block whose `END` has not been seen yet.
struct OpenBlock<'a> {
    label: &'a str,
    line: usize,
    body_start: usize,
    problem: Option<FrameProblem<'a>>,
}

impl<'a> OpenBlock<'a> {
    fn close(self, text: &'a str, body_end: usize, problem: Option<FrameProblem<'a>>) -> Block<'a> {
        Block {
            label: self.label,
            line: self.line,
            body: text.get(self.body_start..body_end).unwrap_or(""),
            body_line: self.line + 1,
            problem: self.problem.or(problem),
        }
    }
}

/// Non-blank lines outside every block.
pub(super) struct Stray<'a> {
    pub(super) lines: usize,
    pub(super) first_line: usize,
    /// The first stray line, trimmed.
    pub(super) first_text: &'a str,
    /// Every non-whitespace character of every stray line is in the base64 alphabet.
    pub(super) all_base64: bool,
    pub(super) base64_chars: usize,
}

impl<'a> Stray<'a> {
    fn add(&mut self, line: &PemLine<'a>) {
        if self.lines == 0 {
            self.first_line = line.number;
            self.first_text = line.text.trim();
        }
        self.lines += 1;
        if self.all_base64 {
            for byte in line.text.bytes() {
                if is_base64_byte(byte) {
                    self.base64_chars += 1;
                } else if !byte.is_ascii_whitespace() {
                    self.all_base64 = false;
                    break;
                }
            }
        }
    }
}

pub(super) struct Framing<'a> {
    pub(super) blocks: Vec<Block<'a>>,
    pub(super) stray: Stray<'a>,
}

enum Marker<'a> {
    Begin {
        label: &'a str,
        problem: Option<FrameProblem<'a>>,
    },
    End {
        rest: &'a str,
        indented: bool,
    },
    Other,
}

fn classify(line: &str) -> Marker<'_> {
    let unindented = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let indented = unindented.len() != line.len();
    let trimmed = unindented.trim_end();
    if let Some(rest) = trimmed.strip_prefix("-----BEGIN ") {
        let (label, problem) = match rest.find("-----") {
            Some(p) => {
                let label = rest.get(..p).unwrap_or(rest);
                let tail = rest.get(p + 5..).unwrap_or("");
                if tail.is_empty() {
                    (label, indented.then_some(FrameProblem::IndentedMarker))
                } else if tail.contains("-----END ") {
                    (label, Some(FrameProblem::OneLine))
                } else {
                    (label, Some(FrameProblem::BadBeginLine))
                }
            }
            None => (rest, Some(FrameProblem::BadBeginLine)),
        };
        return Marker::Begin { label, problem };
    }
    if let Some(rest) = trimmed.strip_prefix("-----END ") {
        return Marker::End { rest, indented };
    }
    Marker::Other
}

fn end_problem<'a>(label: &str, rest: &'a str, indented: bool) -> Option<FrameProblem<'a>> {
    match rest
        .strip_prefix(label)
        .and_then(|r| r.strip_prefix("-----"))
    {
        Some("") if indented => Some(FrameProblem::IndentedMarker),
        Some("") => None,
        Some(_) => Some(FrameProblem::EndTrailingText),
        None => {
            let end_label = rest
                .find("-----")
                .and_then(|p| rest.get(..p))
                .unwrap_or(rest);
            Some(FrameProblem::MismatchedEnd(end_label))
        }
    }
}

pub(super) fn frame(text: &str) -> Framing<'_> {
    let mut blocks = Vec::new();
    let mut stray = Stray {
        lines: 0,
        first_line: 0,
        first_text: "",
        all_base64: true,
        base64_chars: 0,
    };
    let mut open: Option<OpenBlock<'_>> = None;
    for line in Lines::new(text, 1) {
        match classify(line.text) {
            Marker::Begin { label, problem } => {
                if let Some(block) = open.take() {
                    blocks.push(block.close(text, line.start, Some(FrameProblem::MissingEnd)));
                }
                if problem == Some(FrameProblem::OneLine) {
                    blocks.push(Block {
                        label,
                        line: line.number,
                        body: "",
                        body_line: line.number,
                        problem,
                    });
                } else {
                    open = Some(OpenBlock {
                        label,
                        line: line.number,
                        body_start: line.next,
                        problem,
                    });
                }
            }
            Marker::End { rest, indented } => match open.take() {
                Some(block) => {
                    let problem = end_problem(block.label, rest, indented);
                    blocks.push(block.close(text, line.start, problem));
                }
                None => stray.add(&line),
            },
            Marker::Other => {
                if open.is_none() && !line.text.trim().is_empty() {
                    stray.add(&line);
                }
            }
        }
    }
    if let Some(block) = open.take() {
        blocks.push(block.close(text, text.len(), Some(FrameProblem::MissingEnd)));
    }
    Framing { blocks, stray }
}

fn is_base64_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

/// Base64-decodes a `CERTIFICATE` block; the error is the rest of a sentence about the block.
pub(super) fn decode_certificate(block: &Block<'_>) -> Result<Vec<u8>, String> {
    if let Some(problem) = block.problem {
        return Err(problem.describe(block.label));
    }
    // Re-frame the body canonically: the framing above is authoritative (it tolerates trailing
    // whitespace of any kind on marker lines); rustls-pki-types only decodes the base64.
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----\n";
    const END: &str = "\n-----END CERTIFICATE-----\n";
    let mut pem = String::with_capacity(BEGIN.len() + block.body.len() + END.len());
    pem.push_str(BEGIN);
    pem.push_str(block.body);
    pem.push_str(END);
    match <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem.as_bytes()).next() {
        Some(Ok((SectionKind::Certificate, der))) if der.is_empty() => Err("is empty".to_owned()),
        Some(Ok((SectionKind::Certificate, der))) => Ok(der),
        Some(Err(_)) => Err(base64_problem(block)),
        Some(Ok(_)) | None => Err("could not be decoded".to_owned()),
    }
}

/// Explains why a block body is not valid base64.
fn base64_problem(block: &Block<'_>) -> String {
    for line in Lines::new(block.body, block.body_line) {
        let bad = line
            .text
            .chars()
            .find(|&c| !(c.is_ascii() && (is_base64_byte(c as u8) || c.is_ascii_whitespace())));
        if let Some(c) = bad {
            return format!(
                "is not valid base64: unexpected character {} on line {}",
                c.escape_debug_quoted(),
                line.number
            );
        }
    }
    "is not valid base64 (bad padding or length)".to_owned()
}

/// Quoting that never lets control characters into a message.
trait EscapeQuoted {
    fn escape_debug_quoted(self) -> String;
}

impl EscapeQuoted for char {
    fn escape_debug_quoted(self) -> String {
        let mut out = String::from("'");
        if is_unsafe_char(self) || self == '\'' || self == '\\' {
            out.extend(self.escape_unicode());
        } else {
            out.push(self);
        }
        out.push('\'');
        out
    }
}
