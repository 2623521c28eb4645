//! Reading text as YAML with serde-saphyr: YAML streams, and JSON, which is YAML 1.2.
//!
//! serde-saphyr hands over each document as a tree of [`YamlNode`]s, each with its [`Spanned`]
//! location, within a [`Budget`] sized to the input; the tree is then turned into the
//! document's JSON value and its [`Positions`], one document at a time.

use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use serde_saphyr::{
    Budget, DefaultMessageFormatter, DuplicateKeyPolicy, Error, Location, MergeKeyPolicy,
    MessageFormatter, NonFiniteFloatPolicy, Options, Spanned, budget::BudgetBreach,
};

use super::MAX_DEPTH;
use super::positions::{Pos, Positions, Shape, TreeBuilder, to_u32};

/// Nodes an input may produce (alias expansion included) beyond one per byte of input.
const NODE_ALLOWANCE: usize = 200_000;

/// Text (keys and strings) an input may produce per byte of input, plus an allowance: only
/// alias expansion can get anywhere near it.
const TEXT_PER_INPUT_BYTE: usize = 4;
const TEXT_ALLOWANCE: usize = 16 * 1024 * 1024;

/// One document of a source, converted.
pub(super) struct Parsed {
    /// The 0-based index of the document in its source, counting empty documents too.
    pub(super) index: usize,
    pub(super) value: Value,
    pub(super) positions: Positions,
    /// Where the document's root starts, in bytes.
    offset: usize,
}

/// Why a text could not be read, and where.
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) pos: Pos,
    pub(super) message: String,
    /// Refused by serde-saphyr (rather than by the conversion to JSON).
    syntax: bool,
}

impl Problem {
    fn new(pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            pos,
            message: message.into(),
            syntax: false,
        }
    }
}

/// The documents of `text` (without a byte order mark): a YAML stream, or a stream of JSON
/// values (several JSON values one after the other, as `jq -c` writes them, are not a YAML
/// stream, so each is read on its own).
///
/// serde-saphyr, through serde, recurses once per level of nesting: call this on a thread with
/// a stack sized for [`MAX_DEPTH`] levels.
pub(super) fn parse(text: &str) -> Result<Vec<Parsed>, Problem> {
    let json = json_values(text);
    let parsed = match &json {
        Some(values) if values.len() > 1 => values
            .iter()
            .enumerate()
            .map(|(index, range)| parse_json_value(text, range.clone(), index))
            .collect(),
        _ => parse_stream(text),
    };
    match (parsed, json) {
        (Err(problem), Some(values)) if problem.syntax => {
            json_without_positions(text, &values).ok_or(problem)
        }
        (parsed, _) => parsed,
    }
}

fn parse_stream(text: &str) -> Result<Vec<Parsed>, Problem> {
    let mut documents =
        serde_saphyr::from_str_multiple_with_options::<Spanned<YamlNode>, Documents>(
            text,
            options(text.len()),
        )
        .map_err(|error| problem(&error, Origin::default()))?;
    if let Some(problem) = documents.problem {
        return Err(problem);
    }
    number_documents(text, &mut documents.parsed);
    Ok(documents.parsed)
}

/// Valid JSON that YAML refuses, read with `serde_json`, without positions (findings point at
/// the start of the file). YAML allows fewer characters than JSON strings may hold (no DEL, no
/// C1 control characters, no U+FFFE), and no key longer than 1,024 characters.
fn json_without_positions(text: &str, values: &[Range<usize>]) -> Option<Vec<Parsed>> {
    let read = |(index, range): (usize, &Range<usize>)| {
        let value = serde_json::from_str(&text[range.clone()]).ok()?;
        Some(Parsed {
            index,
            value,
            positions: Positions::default(),
            offset: range.start,
        })
    };
    values.iter().enumerate().map(read).collect()
}

/// The byte ranges of the values of a stream of JSON values, if `text` is one.
fn json_values(text: &str) -> Option<Vec<Range<usize>>> {
    let first = text.trim_start_matches([' ', '\t', '\r', '\n']);
    if !first.starts_with(['{', '[']) {
        return None;
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    let mut values = Vec::new();
    loop {
        let rest = &text[stream.byte_offset()..];
        let start = text.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
        match stream.next() {
            None => return Some(values),
            Some(Ok(_)) => values.push(start..stream.byte_offset()),
            Some(Err(_)) => return None,
        }
    }
}

fn parse_json_value(text: &str, range: Range<usize>, index: usize) -> Result<Parsed, Problem> {
    let origin = Origin::of(text, range.start);
    let value = &text[range.clone()];
    let node =
        serde_saphyr::from_str_with_options::<Spanned<YamlNode>>(value, options(value.len()))
            .map_err(|error| problem(&error, origin))?;
    let (value, positions) = convert(node, origin)?;
    Ok(Parsed {
        index,
        value,
        positions,
        offset: range.start,
    })
}

/// How serde-saphyr reads: YAML 1.2 scalars (`yes` is a string; numbers with `_` are strings),
/// `<<` an ordinary key, duplicate keys left to [`convert`], non-finite numbers passed on to be
/// refused there; and the budget.
fn options(len: usize) -> Options {
    let nodes = len.saturating_add(NODE_ALLOWANCE);
    let text = len
        .saturating_mul(TEXT_PER_INPUT_BYTE)
        .saturating_add(TEXT_ALLOWANCE);
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    // The scanner reads ahead of the parser (by at most the simple-key lookahead), so its own
    // limit on flow nesting is set past that: the depth limit is the one met, at the node that
    // is too deep.
    budget.flow_nesting_limit = MAX_DEPTH + budget.simple_key_max_lookahead + 1;
    budget.max_nodes = nodes;
    budget.max_events = nodes.saturating_mul(3);
    budget.max_total_scalar_bytes = text;
    // Bounded by the node budget (and the input size) instead.
    budget.max_documents = usize::MAX;
    budget.max_aliases = nodes;
    budget.max_anchors = nodes;
    budget.max_recorded_anchor_events = nodes;
    budget.max_recorded_anchor_bytes = text;
    budget.enforce_alias_anchor_ratio = false;
    serde_saphyr::options! {
        budget: Some(budget),
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: nodes },
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        merge_keys: MergeKeyPolicy::AsOrdinary,
        strict_booleans: true,
        underscored_numbers_as_strings: true,
        ignore_binary_tag_for_string: true,
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// A node as serde-saphyr reads it, each child with its location.
enum YamlNode {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Sequence(Vec<Spanned<YamlNode>>),
    Mapping(Vec<(Spanned<YamlNode>, Spanned<YamlNode>)>),
}

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = YamlNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_unit<E>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Null)
    }

    fn visit_none<E>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<YamlNode, E> {
        Ok(YamlNode::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<YamlNode, E> {
        Ok(YamlNode::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<YamlNode, E> {
        Ok(YamlNode::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<YamlNode, E> {
        Ok(YamlNode::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<YamlNode, E> {
        Ok(YamlNode::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<YamlNode, E> {
        Ok(YamlNode::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlNode, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(YamlNode::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlNode, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(YamlNode::Mapping(entries))
    }
}

/// The documents of a YAML stream, each converted as soon as serde-saphyr has read it, so that
/// only one document's tree is held at a time. Empty documents never get here.
#[derive(Default)]
struct Documents {
    parsed: Vec<Parsed>,
    /// The first document that could not be converted (the others are then skipped).
    problem: Option<Problem>,
}

impl Extend<Spanned<YamlNode>> for Documents {
    fn extend<I: IntoIterator<Item = Spanned<YamlNode>>>(&mut self, nodes: I) {
        for node in nodes {
            if self.problem.is_some() {
                continue;
            }
            let offset = node.referenced.span().byte_offset().unwrap_or_default();
            match convert(node, Origin::default()) {
                Ok((value, positions)) => self.parsed.push(Parsed {
                    index: 0,
                    value,
                    positions,
                    offset: usize::try_from(offset).unwrap_or(usize::MAX),
                }),
                Err(problem) => self.problem = Some(problem),
            }
        }
    }
}

/// Sets each document's index, counting the empty documents serde-saphyr skips: a document
/// starts at each `---` line, and where content follows the start of the text or a `...` line
/// without one. (YAML forbids both markers at the start of a line inside content.)
fn number_documents(text: &str, documents: &mut [Parsed]) {
    let bytes = text.as_bytes();
    let mut markers = (0..bytes.len())
        .filter(|&i| i == 0 || matches!(bytes[i - 1], b'\n' | b'\r'))
        .filter_map(|i| {
            let rest = &bytes[i..];
            let marker = rest.starts_with(b"---") || rest.starts_with(b"...");
            let ends = matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
            (marker && ends).then_some((i, rest[0] == b'-'))
        })
        .peekable();
    let (mut count, mut open) = (0, false);
    for document in documents {
        while let Some((_, start)) = markers.next_if(|&(at, _)| at <= document.offset) {
            count += usize::from(start);
            open = start;
        }
        if !open {
            count += 1;
            open = true;
        }
        document.index = count - 1;
    }
}

/// Where a text sits in its source: lines before it, and characters before it on its first line.
#[derive(Clone, Copy, Debug, Default)]
struct Origin {
    lines: u32,
    columns: u32,
}

impl Origin {
    /// The origin of the text starting at byte `at` of `source`.
    fn of(source: &str, at: usize) -> Origin {
        let before = &source[..at];
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        Origin {
            lines: to_u32(count_line_breaks(before)),
            columns: to_u32(before[line_start..].chars().count()),
        }
    }

    fn pos(self, location: &Location) -> Pos {
        let (line, column) = (to_u32(location.line() as usize), location.column());
        if line == 0 {
            return Pos::NONE;
        }
        let column = to_u32(column as usize);
        Pos {
            line: line.saturating_add(self.lines),
            column: if line == 1 {
                column.saturating_add(self.columns)
            } else {
                column
            },
        }
    }
}

/// Line breaks as YAML counts them: `\n`, `\r\n` and a lone `\r`.
fn count_line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// A serde-saphyr error as a [`Problem`]; the budget's limits get this module's wording.
fn problem(error: &Error, origin: Origin) -> Problem {
    let mut inner = error;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = inner {
        inner = error;
    }
    let pos = error
        .location()
        .or_else(|| inner.location())
        .map_or(Pos::NONE, |location| origin.pos(&location));
    let message = match inner {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => too_deep(),
            BudgetBreach::ScalarBytes { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
                "the input expands to too much text (too many aliases?)".to_owned()
            }
            _ => too_many_nodes(),
        },
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => too_many_nodes(),
        other => printable(&DefaultMessageFormatter.format_message(other)),
    };
    Problem {
        pos,
        message,
        syntax: true,
    }
}

/// `text` with control characters escaped, so that a message cannot move a terminal's cursor.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn too_deep() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels")
}

fn too_many_nodes() -> String {
    "the input expands to too many nodes (too many aliases?)".to_owned()
}

/// A document's JSON value and positions, following what Kubernetes does when it turns YAML
/// into JSON: keys become strings, and two keys equal as strings are an error.
fn convert(root: Spanned<YamlNode>, origin: Origin) -> Result<(Value, Positions), Problem> {
    let mut converter = Converter {
        origin,
        tree: TreeBuilder::default(),
        children: Vec::new(),
    };
    let (value, _) = converter.node(root, None, false)?;
    Ok((value, converter.tree.finish()))
}

struct Converter {
    origin: Origin,
    tree: TreeBuilder,
    /// The children of the collections being converted (a stack shared by all levels).
    children: Vec<u32>,
}

impl Converter {
    fn pos(&self, node: &Spanned<YamlNode>, replayed: bool) -> Pos {
        let location = if replayed {
            &node.defined
        } else {
            &node.referenced
        };
        self.origin.pos(location)
    }

    /// Converts `node` (its depth is bounded by the budget), recording its positions: an alias
    /// is where it is used, what it expands to where that was defined (`replayed`).
    fn node(
        &mut self,
        node: Spanned<YamlNode>,
        key: Option<(&str, Pos)>,
        replayed: bool,
    ) -> Result<(Value, u32), Problem> {
        let pos = self.pos(&node, replayed);
        let replayed = replayed || node.referenced != node.defined;
        match node.value {
            YamlNode::Sequence(items) => {
                let id = self.tree.add(pos, key, Shape::Sequence);
                let mark = self.children.len();
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    let (value, child) = self.node(item, None, replayed)?;
                    values.push(value);
                    self.children.push(child);
                }
                self.tree.attach(id, &self.children[mark..]);
                self.children.truncate(mark);
                Ok((Value::Array(values), id))
            }
            YamlNode::Mapping(entries) => {
                let id = self.tree.add(pos, key, Shape::Mapping);
                let mark = self.children.len();
                let mut map = Map::new();
                for (key, value) in entries {
                    let key_pos = self.pos(&key, replayed);
                    match map.entry(key_text(key.value, key_pos)?) {
                        Entry::Occupied(entry) => {
                            let message = format!("duplicate key {:?} in mapping", entry.key());
                            return Err(Problem::new(key_pos, message));
                        }
                        Entry::Vacant(entry) => {
                            let (value, child) =
                                self.node(value, Some((entry.key(), key_pos)), replayed)?;
                            entry.insert(value);
                            self.children.push(child);
                        }
                    }
                }
                self.tree.attach(id, &self.children[mark..]);
                self.children.truncate(mark);
                Ok((Value::Object(map), id))
            }
            scalar => {
                let id = self.tree.add(pos, key, Shape::Scalar);
                Ok((scalar_value(scalar, pos)?, id))
            }
        }
    }
}

/// A mapping key as a string: `1:` is the key `"1"`, `~:` the key `"null"`.
fn key_text(key: YamlNode, pos: Pos) -> Result<String, Problem> {
    match key {
        YamlNode::String(text) => Ok(text),
        YamlNode::Null => Ok("null".to_owned()),
        YamlNode::Sequence(_) => Err(Problem::new(
            pos,
            "mapping keys must be scalars, found a sequence",
        )),
        YamlNode::Mapping(_) => Err(Problem::new(
            pos,
            "mapping keys must be scalars, found a mapping",
        )),
        scalar => Ok(scalar_value(scalar, pos)?.to_string()),
    }
}

fn scalar_value(scalar: YamlNode, pos: Pos) -> Result<Value, Problem> {
    Ok(match scalar {
        YamlNode::Bool(b) => Value::Bool(b),
        YamlNode::Int(i) => Value::Number(i.into()),
        YamlNode::UInt(u) => Value::Number(u.into()),
        YamlNode::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                let shown = if f.is_nan() {
                    ".nan"
                } else if f > 0.0 {
                    ".inf"
                } else {
                    "-.inf"
                };
                let message =
                    format!("{shown} is not a finite number and cannot be represented in JSON");
                return Err(Problem::new(pos, message));
            }
        },
        YamlNode::String(s) => Value::String(s),
        YamlNode::Null | YamlNode::Sequence(_) | YamlNode::Mapping(_) => Value::Null,
    })
}
