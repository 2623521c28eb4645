//! Field paths, field errors and warnings, rendered the way the Kubernetes apiserver renders
//! `field.ErrorList` (`k8s.io/apimachinery/pkg/util/validation/field`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use serde_json::Value;

/// At most this many bytes of a value read from the input are echoed (in causes, messages,
/// warnings and logs): longer values are cut at a character boundary and marked as truncated,
/// with their full length, so that no answer grows with the input.
pub const ECHO_BYTES: usize = 256;

/// At most this many errors, and as many warnings, are kept in a [`Report`]; more are counted,
/// not built.
pub const REPORT_ITEMS: usize = 256;

/// `text` cut to at most `max` bytes at a character boundary, and whether it was cut.
pub fn clip(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object field: `.name` (borrowed when the name is the schema's, so that extending a
    /// path copies no text).
    Field(Cow<'static, str>),
    /// A list index: `[3]`.
    Index(usize),
    /// A key of a map-typed field (labels, `data`, `spec.options`): `[key]`.
    Key(String),
}

/// A path to a field, rendered as Kubernetes does: `spec.targetRefs[1].sectionName`,
/// `spec.options[example.com/foo]`, `data[ca.crt]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root of the object (renders as the empty string).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a rendered path such as `spec.targetRefs[0].name` (the inverse of `Display`;
    /// a bracketed part that is all digits is an index, anything else a key). For tests, which
    /// write paths as text; the code builds paths from segments.
    #[cfg(test)]
    pub(crate) fn parse(rendered: &str) -> Self {
        let mut segments = Vec::new();
        let mut rest = rendered;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                let inner = &after[..end];
                segments.push(match inner.parse::<usize>() {
                    Ok(i) if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) => {
                        Segment::Index(i)
                    }
                    _ => Segment::Key(inner.to_owned()),
                });
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                let trimmed = rest.strip_prefix('.').unwrap_or(rest);
                let end = trimmed.find(['.', '[']).unwrap_or(trimmed.len());
                segments.push(Segment::Field(Cow::Owned(trimmed[..end].to_owned())));
                rest = &trimmed[end..];
            }
        }
        Self(segments)
    }

    /// This path extended by an object field named in the code or the schema.
    pub fn field(&self, name: &'static str) -> Self {
        self.with(Segment::Field(Cow::Borrowed(name)))
    }

    /// This path extended by an object field named in the input (an unknown field).
    pub fn field_owned(&self, name: &str) -> Self {
        self.with(Segment::Field(Cow::Owned(name.to_owned())))
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    /// This path extended by a map key.
    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_owned()))
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(segment);
        Self(segments)
    }

    /// The path's steps.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path without its last step (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut segments = self.0.clone();
        segments.pop();
        Self(segments)
    }

    /// The first `len` steps of this path.
    pub fn prefix(&self, len: usize) -> Self {
        Self(self.0[..len.min(self.0.len())].to_vec())
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The value this path designates inside `root`, if any.
    pub fn resolve<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut node = root;
        for segment in &self.0 {
            node = match segment {
                Segment::Field(name) => node.as_object()?.get(name.as_ref())?,
                Segment::Key(name) => node.as_object()?.get(name)?,
                Segment::Index(i) => node.as_array()?.get(*i)?,
            };
        }
        Some(node)
    }
}

impl fmt::Display for FieldPath {
    /// Names from the input are written as [`Echo`] writes them: unprintable characters
    /// escaped as Go's `%q` escapes them (a field named `"\x1b[31m"` cannot colour a terminal),
    /// clipped to [`ECHO_BYTES`] and marked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(Cow::Borrowed(name)) if i == 0 => f.write_str(name)?,
                Segment::Field(Cow::Borrowed(name)) => write!(f, ".{name}")?,
                Segment::Field(Cow::Owned(name)) if i == 0 => write!(f, "{}", Echo(name))?,
                Segment::Field(Cow::Owned(name)) => write!(f, ".{}", Echo(name))?,
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => write!(f, "[{}]", Echo(key))?,
            }
        }
        Ok(())
    }
}

impl PartialOrd for FieldPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldPath {
    /// Document order: fields and keys by name, indexes numerically, parents before children.
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(segment: &Segment) -> (u8, usize, &str) {
            match segment {
                Segment::Field(name) => (0, 0, name),
                Segment::Index(index) => (1, *index, ""),
                Segment::Key(key) => (2, 0, key),
            }
        }
        let pairs = self.0.iter().zip(&other.0);
        for (a, b) in pairs {
            match rank(a).cmp(&rank(b)) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

/// The kind of a field error; the names and cause reasons are those of `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `Duplicate value` (`FieldValueDuplicate`).
    Duplicate,
    /// `Forbidden` (`FieldValueForbidden`).
    Forbidden,
    /// `Invalid value` (`FieldValueInvalid`).
    Invalid,
    /// `Not found` (`FieldValueNotFound`).
    NotFound,
    /// `Unsupported value` (`FieldValueNotSupported`).
    NotSupported,
    /// `Required value` (`FieldValueRequired`).
    Required,
    /// `Too long` (`FieldValueTooLong`).
    TooLong,
    /// `Too many` (`FieldValueTooMany`).
    TooMany,
    /// A JSON value of the wrong type, rendered as `Invalid value` (`FieldValueTypeInvalid`).
    TypeInvalid,
}

impl ErrorKind {
    /// The `details.causes[].reason` of this kind.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
            Self::Invalid => "FieldValueInvalid",
            Self::NotFound => "FieldValueNotFound",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Required => "FieldValueRequired",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotFound => "Not found",
            Self::NotSupported => "Unsupported value",
            Self::Required => "Required value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
        }
    }
}

/// The offending value an error shows, if any.
#[derive(Clone, Debug, PartialEq)]
pub enum BadValue {
    /// Nothing is shown (Required, Forbidden, and errors about whole objects or lists).
    None,
    /// A string of at most [`ECHO_BYTES`] bytes, shown quoted.
    Str(String),
    /// A longer string: its first [`ECHO_BYTES`] bytes (at most) and its length, shown quoted
    /// and marked as truncated.
    Clipped {
        /// The first bytes.
        head: String,
        /// The length of the whole value, in bytes.
        bytes: usize,
    },
    /// A number or other literal, shown as is.
    Raw(String),
}

impl BadValue {
    /// A string value: kept whole when short, else clipped to [`ECHO_BYTES`].
    pub fn str(value: &str) -> Self {
        match clip(value, ECHO_BYTES) {
            (whole, false) => Self::Str(whole.to_owned()),
            (head, true) => Self::Clipped {
                head: head.to_owned(),
                bytes: value.len(),
            },
        }
    }

    /// The value to show for a JSON node: strings quoted, scalars as is, compound values omitted
    /// (as the current apiserver does for object and list nodes).
    pub fn of(value: &Value) -> Self {
        match value {
            Value::String(s) => Self::str(s),
            Value::Array(_) | Value::Object(_) => Self::None,
            other => Self::Raw(other.to_string()),
        }
    }
}

/// Severity policy for a class of findings that operators may choose to enforce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Enforcement {
    /// Report as a warning and allow.
    #[default]
    Warn,
    /// Report as a field error and deny.
    Deny,
}

/// A problem at one field, worded as the apiserver words it: `{path}: {kind}: {value}: {detail}`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// Where, e.g. `spec.targetRefs[1].sectionName`.
    pub path: FieldPath,
    /// What kind of problem.
    pub kind: ErrorKind,
    /// The offending value, shown after the kind.
    pub value: BadValue,
    /// Explanation, shown last.
    pub detail: String,
}

impl FieldError {
    pub fn new(
        path: FieldPath,
        kind: ErrorKind,
        value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            path,
            kind,
            value,
            detail: detail.into(),
        }
    }

    /// `Required value`.
    pub fn required(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Required, BadValue::None, detail)
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(path: FieldPath, value: &Value, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Invalid, BadValue::of(value), detail)
    }

    /// `Invalid value: "<value>": <detail>` for a string value.
    pub fn invalid_str(path: FieldPath, value: &str, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Invalid, BadValue::str(value), detail)
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Forbidden, BadValue::None, detail)
    }

    /// `Unsupported value: "<value>": supported values: "a", "b"`.
    pub fn not_supported(path: FieldPath, value: &str, supported: &[&str]) -> Self {
        let mut detail = String::from("supported values: ");
        for (i, s) in supported.iter().enumerate() {
            if i > 0 {
                detail.push_str(", ");
            }
            let _ = write!(detail, "{}", Quoted(s));
        }
        Self::new(path, ErrorKind::NotSupported, BadValue::str(value), detail)
    }

    /// The error text without its field path (what `details.causes[].message` carries).
    pub fn body(&self) -> String {
        let mut out = String::from(self.kind.label());
        match &self.value {
            BadValue::None => {}
            BadValue::Str(s) => {
                let _ = write!(out, ": {}", Quoted(s));
            }
            BadValue::Clipped { head, bytes } => {
                out.push_str(": ");
                let _ = quote(&mut out, head, *bytes);
            }
            BadValue::Raw(s) => {
                let _ = write!(out, ": {s}");
            }
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.body())
    }
}

/// What a warning is about: what a tool that places findings in a file points at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// A field's value (or, at the root, the whole object).
    #[default]
    Value,
    /// A field the schema does not declare, which the apiserver drops: its name.
    UnknownField,
}

/// A warning: legal but risky, shown to the user without blocking.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// The field concerned (the root when the warning is about the whole object).
    pub path: FieldPath,
    /// What it is about.
    pub kind: WarningKind,
    /// The text after the path.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.segments().is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A string shown in Go's `%q` style (`strconv.Quote`), as the apiserver shows string values:
/// double quotes; `\"` and `\\`; `\a \b \f \n \r \t \v`; other ASCII control characters
/// as `\xNN`; characters Go does not count as printable as `\uNNNN` or `\UNNNNNNNN`. A string
/// longer than [`ECHO_BYTES`] shows its first bytes, then `...(N bytes, truncated)`.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, _) = clip(self.0, ECHO_BYTES);
        quote(f, head, self.0.len())
    }
}

/// A name or value from the input shown without quotes: unprintable characters escaped as
/// [`Quoted`] escapes them, clipped to [`ECHO_BYTES`] and then marked `...(N bytes, truncated)`.
pub struct Echo<'a>(pub &'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, cut) = clip(self.0, ECHO_BYTES);
        escape(f, head, false)?;
        if cut {
            write!(f, "...({} bytes, truncated)", self.0.len())?;
        }
        Ok(())
    }
}

/// Writes `head` quoted, marked as truncated when the whole value had more than its bytes.
fn quote(f: &mut impl fmt::Write, head: &str, bytes: usize) -> fmt::Result {
    f.write_char('"')?;
    escape(f, head, true)?;
    f.write_char('"')?;
    if bytes > head.len() {
        write!(f, "...({bytes} bytes, truncated)")?;
    }
    Ok(())
}

/// Writes `text` with Go's `%q` escapes; quotes and backslashes escaped only `in_quotes`.
fn escape(f: &mut impl fmt::Write, text: &str, in_quotes: bool) -> fmt::Result {
    // Most names and values need no escape: write them in one piece.
    if text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && (!in_quotes || (b != b'"' && b != b'\\')))
    {
        return f.write_str(text);
    }
    for c in text.chars() {
        match c {
            '"' if in_quotes => f.write_str("\\\"")?,
            '\\' if in_quotes => f.write_str("\\\\")?,
            '\u{7}' => f.write_str("\\a")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{b}' => f.write_str("\\v")?,
            c if c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
            c if is_printable(c) => f.write_char(c)?,
            c if (c as u32) < 0x1_0000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    Ok(())
}

/// Go's `unicode.IsPrint` for the characters that matter in a value: not a control character
/// (Cc), format character (Cf: soft hyphen, zero-width and bidirectional marks, byte order
/// mark), private-use character (Co), or separator other than the ASCII space (Zs, Zl, Zp).
/// Unassigned code points (Cn), which Go also escapes, are shown as they are.
fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_control();
    }
    !matches!(c as u32,
        // Cc
        0x80..=0x9F
        // Zs, Zl, Zp
        | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
        // Cf
        | 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890 | 0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        // Co
        | 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD)
}

/// What validation found: errors deny, warnings only inform.
///
/// Bounded: at most [`REPORT_ITEMS`] errors and as many warnings are kept; the rest are
/// counted in `omitted_errors` and `omitted_warnings`. Rules that can find something for every
/// item of a long list report through [`error_with`](Self::error_with),
/// [`warn_with`](Self::warn_with) and friends, which build nothing once the report is full.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Field errors, in document order.
    pub errors: Vec<FieldError>,
    /// Warnings, in document order.
    pub warnings: Vec<Warning>,
    /// Errors found once `errors` was full: counted, not kept.
    pub omitted_errors: usize,
    /// Warnings found once `warnings` was full: counted, not kept.
    pub omitted_warnings: usize,
}

impl Report {
    /// Whether the object is admitted (an omitted error denies as much as a kept one).
    pub fn is_allowed(&self) -> bool {
        self.errors.is_empty() && self.omitted_errors == 0
    }

    /// Every error found, kept or omitted.
    pub fn error_count(&self) -> usize {
        self.errors.len() + self.omitted_errors
    }

    /// Every warning found, kept or omitted.
    pub fn warning_count(&self) -> usize {
        self.warnings.len() + self.omitted_warnings
    }

    pub fn error(&mut self, error: FieldError) {
        self.error_with(|| error);
    }

    /// Adds the error `make` builds, or only counts it when the report is full.
    pub fn error_with(&mut self, make: impl FnOnce() -> FieldError) {
        if self.errors.len() < REPORT_ITEMS {
            self.errors.push(make());
        } else {
            self.omitted_errors += 1;
        }
    }

    /// Adds a warning at `path`.
    pub fn warn(&mut self, path: FieldPath, message: impl Into<String>) {
        self.warn_with(|| (path, message.into()));
    }

    /// Adds the warning `make` builds (a path and a message), or only counts it when the report
    /// is full.
    pub fn warn_with(&mut self, make: impl FnOnce() -> (FieldPath, String)) {
        self.warn_kind_with(WarningKind::Value, make);
    }

    /// Adds the warning of `kind` that `make` builds, or only counts it when the report is
    /// full.
    pub fn warn_kind_with(
        &mut self,
        kind: WarningKind,
        make: impl FnOnce() -> (FieldPath, String),
    ) {
        if self.warnings.len() < REPORT_ITEMS {
            let (path, message) = make();
            self.warnings.push(Warning {
                path,
                kind,
                message,
            });
        } else {
            self.omitted_warnings += 1;
        }
    }

    /// What the spec discourages but allows: `error` under `--strict`, else `warning` at the
    /// error's path.
    pub fn discouraged(&mut self, strict: bool, error: FieldError, warning: impl Into<String>) {
        self.discouraged_with(strict, || (error, warning.into()));
    }

    /// [`discouraged`](Self::discouraged), building the error and the warning text only when
    /// the report has room.
    pub fn discouraged_with(&mut self, strict: bool, make: impl FnOnce() -> (FieldError, String)) {
        if strict {
            self.error_with(|| make().0);
        } else {
            self.warn_with(|| {
                let (error, warning) = make();
                (error.path, warning)
            });
        }
    }

    /// Adds `error` as an error under [`Enforcement::Deny`], or its text as a warning under
    /// [`Enforcement::Warn`].
    pub fn enforce(&mut self, enforcement: Enforcement, error: FieldError) {
        self.enforce_with(enforcement, || error);
    }

    /// [`enforce`](Self::enforce), building the error only when the report has room.
    pub fn enforce_with(&mut self, enforcement: Enforcement, make: impl FnOnce() -> FieldError) {
        match enforcement {
            Enforcement::Deny => self.error_with(make),
            Enforcement::Warn => self.warn_with(|| {
                let error = make();
                let message = warning_text(&error);
                (error.path, message)
            }),
        }
    }

    /// Counts `n` findings that were not built: errors under [`Enforcement::Deny`], warnings
    /// under [`Enforcement::Warn`].
    pub fn omit(&mut self, enforcement: Enforcement, n: usize) {
        match enforcement {
            Enforcement::Deny => self.omitted_errors += n,
            Enforcement::Warn => self.omitted_warnings += n,
        }
    }

    /// Sorts errors and warnings into document order, keeping the order of findings on the same
    /// field, and drops exact repeats.
    pub fn finish(&mut self) {
        self.errors.sort_by(|a, b| a.path.cmp(&b.path));
        self.errors.dedup();
        self.warnings.sort_by(|a, b| a.path.cmp(&b.path));
        self.warnings.dedup();
    }
}

/// The text of an error demoted to a warning: its detail when it has one, else its body.
pub(crate) fn warning_text(error: &FieldError) -> String {
    match (&error.value, error.kind) {
        (_, ErrorKind::Invalid | ErrorKind::Forbidden | ErrorKind::NotFound)
            if !error.detail.is_empty() =>
        {
            error.detail.clone()
        }
        _ => error.body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s)
    }

    #[test]
    fn paths_render_like_kubernetes() {
        let path = FieldPath::root()
            .field("spec")
            .field("targetRefs")
            .index(1)
            .field("sectionName");
        assert_eq!(path.to_string(), "spec.targetRefs[1].sectionName");
        let key = FieldPath::root()
            .field("spec")
            .field("options")
            .key("example.com/x");
        assert_eq!(key.to_string(), "spec.options[example.com/x]");
        assert_eq!(
            FieldPath::root().field("data").key("ca.crt").to_string(),
            "data[ca.crt]"
        );
        assert_eq!(FieldPath::root().to_string(), "");
    }

    #[test]
    fn parse_is_the_inverse_of_display() {
        for s in [
            "spec",
            "spec.targetRefs[12].name",
            "spec.options[example.com/x.y]",
            "data[ca.crt]",
            "status.ancestors[0].conditions[3].type",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(p("a[1]").segments()[1], Segment::Index(1));
        assert_eq!(p("a[x1]").segments()[1], Segment::Key("x1".into()));
    }

    #[test]
    fn paths_order_indexes_numerically() {
        let mut paths = [
            p("spec.targetRefs[10]"),
            p("spec.targetRefs[2]"),
            p("spec"),
            p("metadata.name"),
        ];
        paths.sort();
        let rendered: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                "metadata.name",
                "spec",
                "spec.targetRefs[2]",
                "spec.targetRefs[10]"
            ]
        );
    }

    #[test]
    fn resolve_follows_fields_indexes_and_keys() {
        let doc = json!({"spec": {"targetRefs": [{"name": "a"}, {"name": "b"}], "options": {"x/y": "z"}}});
        assert_eq!(
            p("spec.targetRefs[1].name").resolve(&doc),
            Some(&json!("b"))
        );
        assert_eq!(p("spec.options[x/y]").resolve(&doc), Some(&json!("z")));
        assert_eq!(p("spec.targetRefs[2]").resolve(&doc), None);
    }

    #[test]
    fn errors_render_like_the_apiserver() {
        let e = FieldError::invalid_str(
            p("spec.validation.hostname"),
            "10.0.0.7",
            "must be a DNS name, not an IP address",
        );
        assert_eq!(
            e.to_string(),
            r#"spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address"#
        );
        assert_eq!(
            FieldError::required(p("spec.validation.hostname"), "").to_string(),
            "spec.validation.hostname: Required value"
        );
        let ns = FieldError::not_supported(
            p("spec.validation.subjectAltNames[0].type"),
            "DNS",
            &["Hostname", "URI"],
        );
        assert_eq!(
            ns.to_string(),
            r#"spec.validation.subjectAltNames[0].type: Unsupported value: "DNS": supported values: "Hostname", "URI""#
        );
        assert_eq!(ns.kind.reason(), "FieldValueNotSupported");
        let many = FieldError::new(
            p("spec.targetRefs"),
            ErrorKind::TooMany,
            BadValue::Raw("17".into()),
            "must have at most 16 items",
        );
        assert_eq!(
            many.to_string(),
            "spec.targetRefs: Too many: 17: must have at most 16 items"
        );
        let cel = FieldError::invalid(
            p("spec.validation"),
            &json!({}),
            "must specify either CACertificateRefs or WellKnownCACertificates",
        );
        assert_eq!(
            cel.to_string(),
            "spec.validation: Invalid value: must specify either CACertificateRefs or WellKnownCACertificates"
        );
    }

    #[test]
    fn quoted_escapes_like_go() {
        // Each expected string is what Go's strconv.Quote (fmt's %q) prints for the input.
        for (input, go) in [
            ("a\"b\\c\nd", r#""a\"b\\c\nd""#),
            ("\u{7}\u{8}\u{c}\r\t\u{b}", r#""\a\b\f\r\t\v""#),
            ("a\u{1}b\u{7f}\u{0}", r#""a\x01b\x7f\x00""#),
            ("\u{85}\u{a0}\u{ad}", r#""\u0085\u00a0\u00ad""#),
            (
                "zero\u{200b}width\u{202e}bidi\u{feff}",
                r#""zero\u200bwidth\u202ebidi\ufeff""#,
            ),
            (
                "\u{e000}\u{e0001}\u{10fffd}",
                r#""\ue000\U000e0001\U0010fffd""#,
            ),
            ("bücher.example 例え 🙂", r#""bücher.example 例え 🙂""#),
        ] {
            assert_eq!(Quoted(input).to_string(), go, "{input:?}");
        }
    }

    #[test]
    fn enforcement_chooses_error_or_warning() {
        let err = FieldError::new(
            p("spec.x"),
            ErrorKind::NotFound,
            BadValue::Str("cm".into()),
            "no ConfigMap \"cm\"",
        );
        let mut deny = Report::default();
        deny.enforce(Enforcement::Deny, err.clone());
        assert!(!deny.is_allowed());
        let mut warn = Report::default();
        warn.enforce(Enforcement::Warn, err);
        assert!(warn.is_allowed());
        assert_eq!(warn.warnings[0].to_string(), "spec.x: no ConfigMap \"cm\"");
    }

    #[test]
    fn finish_sorts_stably_and_dedups() {
        let mut report = Report::default();
        report.error(FieldError::forbidden(p("spec.b"), "second"));
        report.error(FieldError::forbidden(p("spec.a"), "first"));
        report.error(FieldError::forbidden(p("spec.b"), "third"));
        report.error(FieldError::forbidden(p("spec.a"), "first"));
        report.finish();
        let details: Vec<&str> = report.errors.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["first", "second", "third"]);
    }
}
