//! Loading Kubernetes objects from YAML and JSON files, directories and standard input.
//!
//! Every object comes back as a [`Document`]: its `serde_json::Value`, where it came from, and
//! the [`Positions`] of each of its fields in the source text, so that validation errors can point
//! at `file:line:column`.
//!
//! # Field paths
//!
//! Positions are looked up by field path, rendered the way Kubernetes renders field errors:
//! object fields are joined with `.` (`spec.validation.hostname`), list items are `[i]`
//! (`spec.targetRefs[1].sectionName`), and the keys of the map-typed fields `metadata.labels`,
//! `metadata.annotations`, `spec.options`, `data` and `binaryData` are `[key]`
//! (`spec.options[example.com/foo]`, `data[ca.crt]`). The object itself is the empty path.
//!
//! # Conversion
//!
//! Text whose first non-blank character is `{` or `[` is read as a stream of JSON values
//! (falling back to YAML if it is not valid JSON but is valid YAML). Anything else is read as a
//! multi-document YAML stream with [`saphyr`] (YAML 1.2 core schema) and converted to JSON values
//! following what Kubernetes does when it turns YAML into JSON:
//!
//! * empty documents (and documents that are just `null`) are skipped; any other document must be
//!   a mapping;
//! * `kind: List` / `apiVersion: v1` documents are replaced by their `items`;
//! * quoted scalars are strings, `~`/`null`/empty are null, integers and finite floats are
//!   numbers; `.inf` and `.nan` are errors since JSON cannot hold them;
//! * mapping keys become strings (`1:` is the key `"1"`); two keys that are equal after that are
//!   an error, as in Kubernetes' strict decoding;
//! * aliases are expanded; `<<` merge keys are ordinary keys; unknown tags are ignored, while
//!   `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` are honoured.
//!
//! # Sources
//!
//! [`parse_str`] reads text; [`load_path`] reads a file, or walks a directory for `.yaml`, `.yml`
//! and `.json` files (in path order, skipping hidden entries); [`load_paths`] reads several paths,
//! `-` meaning standard input. Text must be UTF-8 (a byte order mark is ignored).
//!
//! [`load_inputs`] is the lenient reading `validate` uses on a repository: documents that are
//! not Kubernetes objects (a top-level list, a CI file: no string `apiVersion` and `kind`) are
//! skipped and counted, and a file found by walking a directory that does not parse (a Helm
//! template) is skipped and reported, unless asked to be strict; a file named explicitly must
//! parse.
//!
//! Positions are 1-based lines and columns, columns counted in characters. Errors print as
//! `source:line:column: message`; "document N" in messages counts documents from 1, while
//! [`Document::index`] counts from 0.
//!
//! # Limits
//!
//! Inputs over [`MAX_INPUT_BYTES`] and documents nested deeper than [`MAX_DEPTH`] collections are
//! refused with an error, as is alias expansion far beyond the size of the input. saphyr parses
//! recursively, so before parsing the text is checked for how deeply it could possibly nest:
//! lines indented 1000 columns or more are refused, and text that could nest deeper than a few
//! hundred levels is parsed on a thread with a stack sized for it. Hostile input never overflows
//! the stack or panics. Large YAML streams are parsed on up to four threads.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Marker, Scalar, YamlData};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// The largest input (one file, or standard input) that is loaded: 64 MiB.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The deepest nesting of mappings and sequences accepted in a document (the object itself is
/// level 1).
pub const MAX_DEPTH: usize = 256;

/// Cap on the text (keys and strings) produced from an input, per input byte plus an allowance;
/// only alias expansion can get anywhere near it.
const OUTPUT_BYTES_PER_INPUT_BYTE: usize = 4;
const ALIAS_BYTE_ALLOWANCE: usize = 16 * 1024 * 1024;

/// YAML streams at least this large are parsed on several threads.
const PARALLEL_MIN_BYTES: usize = 1024 * 1024;

/// The most threads a YAML stream is parsed on.
const MAX_WORKERS: usize = 4;

/// Lines whose block indentation (spaces and `- `/`? `/`: ` indicators) reaches this column are
/// refused before parsing: saphyr parses recursively, so the nesting it sees must be bounded.
const MAX_BLOCK_INDENT: usize = 1000;

/// Inputs whose nesting bound is at most this are parsed on the caller's thread; deeper ones on
/// a thread with a stack sized for the bound.
const INLINE_NESTING_BOUND: usize = 400;

/// Nodes that alias expansion may add beyond one per input byte.
const ALIAS_NODE_ALLOWANCE: usize = 200_000;

/// Stack reserved per possible nesting level on the parser thread (saphyr uses ~2.5 KiB per level
/// in debug builds).
const STACK_BYTES_PER_LEVEL: usize = 16 * 1024;

/// Base stack size of the parser thread.
const STACK_BASE_BYTES: usize = 4 * 1024 * 1024;

/// Bound on the steps [`Positions`] lookups spend on ambiguous paths (keys containing `.`, `[`
/// or `]`).
const LOOKUP_BUDGET: u32 = 10_000;

/// Source name used for standard input.
const STDIN_NAME: &str = "-";

/// One object read from a source.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file path as given or found while walking a directory, or `-` for standard input.
    pub source: String,
    /// The 0-based index of the document within the source, counting every document of the
    /// stream (empty ones too). The items of a `List` share the index of the list.
    pub index: usize,
    /// The object, as JSON.
    pub value: serde_json::Value,
    /// Where each field of `value` sits in the source.
    pub positions: Positions,
}

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file, directory or standard input could not be read.
    /// The cause is part of the message and not also a `source()`, so that a chain printed
    /// with `{:#}` names it once.
    #[error("cannot read {}: {error}", display_path(path))]
    Io {
        /// The path that could not be read (`-` for standard input).
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The text is not valid YAML or JSON, or does not hold Kubernetes objects.
    #[error("{source_name}:{line}:{column}: {message}")]
    Parse {
        /// The source (path, or `-` for standard input).
        source_name: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in characters) of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("{source_name}: input is larger than the {} MiB limit", MAX_INPUT_BYTES / (1024 * 1024))]
    TooLarge {
        /// The source (path, or `-` for standard input).
        source_name: String,
    },
}

impl LoadError {
    /// The source, line and column the error points at, for errors that have one.
    pub fn location(&self) -> Option<(&str, usize, usize)> {
        match self {
            Self::Parse {
                source_name,
                line,
                column,
                ..
            } => Some((source_name, *line, *column)),
            _ => None,
        }
    }
}

fn display_path(path: &Path) -> String {
    if path.as_os_str() == STDIN_NAME {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

fn parse_error(source: &str, pos: Pos, message: impl Into<String>) -> LoadError {
    LoadError::Parse {
        source_name: source.to_owned(),
        line: (pos.line as usize).max(1),
        column: (pos.col as usize).max(1),
        message: message.into(),
    }
}

fn too_deep_message() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels")
}

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

/// A 1-based line and column; line 0 means "no position".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pos {
    line: u32,
    col: u32,
}

impl Pos {
    const NONE: Pos = Pos { line: 0, col: 0 };

    fn new(line: usize, col: usize) -> Pos {
        Pos {
            line: to_u32(line),
            col: to_u32(col),
        }
    }

    fn get(self) -> Option<(usize, usize)> {
        (self.line != 0).then_some((self.line as usize, self.col as usize))
    }
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scalar,
    Sequence,
    Mapping,
}

/// One node of a [`Positions`] tree.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PNode {
    /// Parent node (`u32::MAX` for the root).
    parent: u32,
    /// The node's key in its parent mapping, as a range of `Positions::keys`.
    key_start: u32,
    key_len: u32,
    value: Pos,
    key: Pos,
    kind: Kind,
    /// A map-typed field (labels, `data`, `spec.options`, ...): its keys render as `[key]`.
    map_typed: bool,
}

/// Field path → 1-based (line, column) of the node, plus positions of map keys.
///
/// Stored as a tree (one small record per node, children sorted for binary search), so its size
/// is linear in the document and lookups cost a few binary searches per path segment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Positions {
    /// Nodes in document order (pre-order); node 0 is the root.
    nodes: Vec<PNode>,
    /// The keys of all mapping entries, concatenated.
    keys: String,
    /// `children[child_start[i]..child_start[i + 1]]` are the children of node `i`: sequence
    /// items in order, mapping entries sorted by key.
    child_start: Vec<u32>,
    children: Vec<u32>,
}

/// One entry of [`Positions::iter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPosition {
    /// The rendered field path (`""` for the object itself).
    pub path: String,
    /// 1-based (line, column) of the value.
    pub value: Option<(usize, usize)>,
    /// 1-based (line, column) of the key, for mapping entries.
    pub key: Option<(usize, usize)>,
}

impl Positions {
    /// Position of the node at `path` (the value), e.g. `"spec.targetRefs[0].name"`.
    pub fn value(&self, path: &str) -> Option<(usize, usize)> {
        let id = self.resolve(path).0?;
        self.nodes[id].value.get()
    }

    /// Position of the key of the entry at `path` (for errors about a key, e.g.
    /// `"spec.options[foo]"` or an unknown field `"spec.targetRefs[0].port"`).
    pub fn key(&self, path: &str) -> Option<(usize, usize)> {
        let id = self.resolve(path).0?;
        self.nodes[id].key.get()
    }

    /// Best position for `path`: the value, else the key, else the nearest ancestor that has
    /// one; `(1, 1)` when nothing matches at all.
    pub fn nearest(&self, path: &str) -> (usize, usize) {
        let (found, deepest) = self.resolve(path);
        if let Some(id) = found
            && let Some(p) = self.nodes[id].value.get().or(self.nodes[id].key.get())
        {
            return p;
        }
        let mut id = deepest;
        while let Some(node) = self.nodes.get(id) {
            if let Some(p) = node.value.get().or(node.key.get()) {
                return p;
            }
            id = node.parent as usize;
        }
        (1, 1)
    }

    /// Number of nodes (fields, items and the object itself).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no positions at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node with its rendered path, in document order.
    pub fn iter(&self) -> impl Iterator<Item = PathPosition> + '_ {
        (0..self.nodes.len()).map(|id| PathPosition {
            path: self.render(id),
            value: self.nodes[id].value.get(),
            key: self.nodes[id].key.get(),
        })
    }

    fn key_of(&self, id: usize) -> &str {
        let node = &self.nodes[id];
        let start = node.key_start as usize;
        &self.keys[start..start + node.key_len as usize]
    }

    fn child_ids(&self, id: usize) -> &[u32] {
        &self.children[self.child_start[id] as usize..self.child_start[id + 1] as usize]
    }

    fn child_by_key(&self, id: usize, key: &str) -> Option<usize> {
        let kids = self.child_ids(id);
        kids.binary_search_by(|&c| self.key_of(c as usize).cmp(key))
            .ok()
            .map(|i| kids[i] as usize)
    }

    /// Renders the path of node `id`.
    fn render(&self, id: usize) -> String {
        let mut chain = Vec::new();
        let mut cur = id;
        while cur != 0 && cur < self.nodes.len() {
            chain.push(cur);
            cur = self.nodes[cur].parent as usize;
        }
        let mut out = String::new();
        for &node in chain.iter().rev() {
            let parent = self.nodes[node].parent as usize;
            match self.nodes[parent].kind {
                Kind::Sequence => {
                    let index = self
                        .child_ids(parent)
                        .binary_search(&to_u32(node))
                        .unwrap_or_default();
                    let _ = write!(out, "[{index}]");
                }
                _ if self.nodes[parent].map_typed => {
                    out.push('[');
                    out.push_str(self.key_of(node));
                    out.push(']');
                }
                _ => {
                    if parent != 0 {
                        out.push('.');
                    }
                    out.push_str(self.key_of(node));
                }
            }
        }
        out
    }

    /// Finds the node at `path`; also returns the deepest node matched on the way.
    fn resolve(&self, path: &str) -> (Option<usize>, usize) {
        if self.nodes.is_empty() {
            return (None, usize::MAX);
        }
        let mut deepest = (0, 0);
        let mut budget = LOOKUP_BUDGET;
        let found = self.walk(0, path, 0, &mut deepest, &mut budget);
        (found, deepest.1)
    }

    fn walk(
        &self,
        id: usize,
        rest: &str,
        depth: usize,
        deepest: &mut (usize, usize),
        budget: &mut u32,
    ) -> Option<usize> {
        if depth > deepest.0 {
            *deepest = (depth, id);
        }
        if rest.is_empty() {
            return Some(id);
        }
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        let node = &self.nodes[id];
        match node.kind {
            Kind::Scalar => None,
            Kind::Sequence => {
                let inner = rest.strip_prefix('[')?;
                let close = inner.find(']')?;
                let digits = &inner[..close];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let index: usize = digits.parse().ok()?;
                let child = *self.child_ids(id).get(index)?;
                self.walk(
                    child as usize,
                    &inner[close + 1..],
                    depth + 1,
                    deepest,
                    budget,
                )
            }
            Kind::Mapping if node.map_typed => {
                let inner = rest.strip_prefix('[')?;
                for (j, _) in inner.match_indices(']') {
                    let after = &inner[j + 1..];
                    if (after.is_empty() || after.starts_with(['.', '[']))
                        && let Some(child) = self.child_by_key(id, &inner[..j])
                        && let Some(found) = self.walk(child, after, depth + 1, deepest, budget)
                    {
                        return Some(found);
                    }
                }
                None
            }
            Kind::Mapping => {
                let inner = if id == 0 {
                    rest
                } else {
                    rest.strip_prefix('.')?
                };
                let ends = inner
                    .match_indices(['.', '['])
                    .map(|(j, _)| j)
                    .chain(std::iter::once(inner.len()));
                for j in ends {
                    if let Some(child) = self.child_by_key(id, &inner[..j])
                        && let Some(found) =
                            self.walk(child, &inner[j..], depth + 1, deepest, budget)
                    {
                        return Some(found);
                    }
                }
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building positions
// ---------------------------------------------------------------------------------------------

const NO_PARENT: u32 = u32::MAX;

/// A node as recorded while converting, in pre-order.
#[derive(Clone, Copy, Debug)]
struct RawNode {
    parent: u32,
    /// One past the last node of this node's subtree.
    end: u32,
    key_start: u32,
    key_len: u32,
    value: Pos,
    key: Pos,
    kind: Kind,
}

/// Where a node sits in its parent.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Index,
    Key(&'a str),
}

/// Records the nodes of one document (in pre-order) while it is converted.
#[derive(Debug, Default)]
struct Builder {
    nodes: Vec<RawNode>,
    keys: String,
}

impl Builder {
    fn push(&mut self, parent: u32, seg: Seg<'_>, value: Pos, key: Pos, kind: Kind) -> u32 {
        let id = to_u32(self.nodes.len());
        let (key_start, key_len) = match seg {
            Seg::Root | Seg::Index => (0, 0),
            Seg::Key(k) => {
                let start = to_u32(self.keys.len());
                self.keys.push_str(k);
                (start, to_u32(k.len()))
            }
        };
        self.nodes.push(RawNode {
            parent,
            end: id + 1,
            key_start,
            key_len,
            value,
            key,
            kind,
        });
        id
    }

    /// Marks the end of the subtree of `id` (call after its children were pushed).
    fn close(&mut self, id: u32) {
        let end = to_u32(self.nodes.len());
        self.nodes[id as usize].end = end;
    }

    fn raw_key(&self, id: usize) -> &str {
        let n = &self.nodes[id];
        let start = n.key_start as usize;
        &self.keys[start..start + n.key_len as usize]
    }

    /// The children of `id`, in document order.
    fn children(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.nodes.get(id).map_or(0, |n| n.end as usize);
        let mut next = id + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let child = next;
            next = (self.nodes[child].end as usize).max(child + 1);
            Some(child)
        })
    }

    fn root_pos(&self) -> Pos {
        self.nodes.first().map_or(Pos::NONE, |n| n.value)
    }

    /// The positions of the subtree rooted at `root`, re-rooted there.
    fn positions(&self, root: usize) -> Positions {
        let Some(root_node) = self.nodes.get(root) else {
            return Positions::default();
        };
        let end = (root_node.end as usize).min(self.nodes.len()).max(root + 1);
        let n = end - root;
        let mut nodes: Vec<PNode> = Vec::with_capacity(n);
        let mut keys = String::new();
        let mut depth: Vec<u16> = Vec::with_capacity(n);
        let mut child_start = vec![0u32; n + 1];
        for (i, raw) in self.nodes[root..end].iter().enumerate() {
            let key_text = self.raw_key(root + i);
            let parent = if i == 0 {
                None
            } else {
                Some((raw.parent as usize).saturating_sub(root).min(i - 1))
            };
            let d = parent.map_or(0, |p| depth[p].saturating_add(1));
            depth.push(d);
            let map_typed = raw.kind == Kind::Mapping
                && match (d, parent) {
                    (1, _) => key_text == "data" || key_text == "binaryData",
                    (2, Some(p)) => {
                        let pn = &nodes[p];
                        let start = pn.key_start as usize;
                        let parent_key = &keys[start..start + pn.key_len as usize];
                        (parent_key == "metadata"
                            && (key_text == "labels" || key_text == "annotations"))
                            || (parent_key == "spec" && key_text == "options")
                    }
                    _ => false,
                };
            if let Some(p) = parent {
                child_start[p + 1] += 1;
            }
            let key_start = to_u32(keys.len());
            keys.push_str(key_text);
            nodes.push(PNode {
                parent: parent.map_or(NO_PARENT, to_u32),
                key_start,
                key_len: raw.key_len,
                value: raw.value,
                key: raw.key,
                kind: raw.kind,
                map_typed,
            });
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut cursor: Vec<u32> = child_start[..n].to_vec();
        let mut children = vec![0u32; n.saturating_sub(1)];
        for (i, node) in nodes.iter().enumerate().skip(1) {
            let p = node.parent as usize;
            children[cursor[p] as usize] = to_u32(i);
            cursor[p] += 1;
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.kind == Kind::Mapping {
                let slice = &mut children[child_start[i] as usize..child_start[i + 1] as usize];
                slice.sort_unstable_by(|&a, &b| {
                    let key = |id: u32| {
                        let n = &nodes[id as usize];
                        &keys[n.key_start as usize..(n.key_start + n.key_len) as usize]
                    };
                    key(a).cmp(key(b))
                });
            }
        }
        Positions {
            nodes,
            keys,
            child_start,
            children,
        }
    }
}

/// A document as converted, before the checks that make it a [`Document`].
struct RawDoc {
    index: usize,
    value: Value,
    builder: Builder,
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Parses a multi-document YAML stream, or a stream of JSON values, into objects.
///
/// `source` names the text in errors and in [`Document::source`].
pub fn parse_str(source: &str, text: &str) -> Result<Vec<Document>, LoadError> {
    let raws = parse_raw(source, text)?;
    finish(source, raws, None)
}

/// The documents of a YAML stream or a stream of JSON values, converted but not yet checked.
fn parse_raw(source: &str, text: &str) -> Result<Vec<RawDoc>, LoadError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(LoadError::TooLarge {
            source_name: source.to_owned(),
        });
    }
    let raws = if looks_like_json(text) {
        match JsonParser::new(text).documents() {
            Ok(docs) => docs,
            Err(json_err) if json_err.syntax => match parse_yaml(source, text) {
                // JSON is YAML: text that is not JSON but valid YAML (say `{a: 1}`) is accepted.
                Ok(docs) => docs,
                Err(_) => return Err(parse_error(source, json_err.pos, json_err.message)),
            },
            Err(json_err) => return Err(parse_error(source, json_err.pos, json_err.message)),
        }
    } else {
        parse_yaml(source, text)?
    };
    Ok(raws)
}

/// Loads a file, or every `.yaml`, `.yml` and `.json` file under a directory.
///
/// Directories are walked recursively in path order; hidden entries (names starting with `.`)
/// are skipped, symbolic links are followed (each directory is visited once). A file named
/// explicitly is loaded whatever its extension.
pub fn load_path(path: &Path) -> Result<Vec<Document>, LoadError> {
    let meta = fs::metadata(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    if !meta.is_dir() {
        return load_file(path);
    }
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    walk_dir(path, &mut files, &mut visited)?;
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        docs.extend(load_file(&file)?);
    }
    Ok(docs)
}

/// What [`load_inputs`] read.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The Kubernetes objects, in input order.
    pub documents: Vec<Document>,
    /// Files read, standard input included, whether or not they hold objects.
    pub files: usize,
    /// Documents skipped because they are not Kubernetes objects: not a mapping, or a mapping
    /// without a string `apiVersion` and `kind`.
    pub not_objects: usize,
    /// Files found by walking a directory that were skipped because they do not parse as YAML
    /// or JSON (or are not UTF-8): the parse error of each.
    pub unparsable: Vec<LoadError>,
}

/// Reads several paths in order, `-` meaning standard input, leniently (see the module docs):
/// documents that are not Kubernetes objects are skipped and counted; a file found by walking
/// a directory that does not parse is skipped and listed in [`Inputs::unparsable`], unless
/// `strict_files` makes it an error, as it always is for a file named explicitly. Unreadable
/// paths and inputs over the size limit are errors.
pub fn load_inputs(paths: &[PathBuf], strict_files: bool) -> Result<Inputs, LoadError> {
    let mut inputs = Inputs::default();
    for path in paths {
        if path.as_os_str() == STDIN_NAME {
            let text = read_limited(io::stdin().lock(), STDIN_NAME, Path::new(STDIN_NAME))?;
            inputs.add(parse_lenient(STDIN_NAME, &text)?);
            continue;
        }
        let meta = fs::metadata(path).map_err(|error| LoadError::Io {
            path: path.to_owned(),
            error,
        })?;
        if !meta.is_dir() {
            let (source, text) = read_file(path)?;
            inputs.add(parse_lenient(&source, &text)?);
            continue;
        }
        let mut files = Vec::new();
        walk_dir(path, &mut files, &mut HashSet::new())?;
        files.sort();
        for file in files {
            match read_file(&file).and_then(|(source, text)| parse_lenient(&source, &text)) {
                Ok(parsed) => inputs.add(parsed),
                Err(error @ LoadError::Parse { .. }) if !strict_files => {
                    inputs.files += 1;
                    inputs.unparsable.push(error);
                }
                Err(error) => return Err(error),
            }
        }
    }
    Ok(inputs)
}

impl Inputs {
    fn add(&mut self, (documents, not_objects): (Vec<Document>, usize)) {
        self.files += 1;
        self.documents.extend(documents);
        self.not_objects += not_objects;
    }
}

/// [`parse_str`], skipping (and counting) the documents that are not Kubernetes objects.
fn parse_lenient(source: &str, text: &str) -> Result<(Vec<Document>, usize), LoadError> {
    let raws = parse_raw(source, text)?;
    let mut skipped = 0;
    let documents = finish(source, raws, Some(&mut skipped))?;
    Ok((documents, skipped))
}

/// Loads several paths in order (see [`load_path`]); `-` reads standard input.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    let mut docs = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN_NAME {
            let text = read_limited(io::stdin().lock(), STDIN_NAME, Path::new(STDIN_NAME))?;
            docs.extend(parse_str(STDIN_NAME, &text)?);
        } else {
            docs.extend(load_path(path)?);
        }
    }
    Ok(docs)
}

fn walk_dir(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), LoadError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |error| LoadError::Io { path, error }
    };
    if let Ok(canonical) = fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let wanted = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml" || ext == "json");
        let mut file_type = entry.file_type().map_err(io_err(&path))?;
        if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(meta) => file_type = meta.file_type(),
                // A broken link only matters if it names a manifest.
                Err(e) if wanted => return Err(io_err(&path)(e)),
                Err(_) => continue,
            }
        }
        if file_type.is_dir() {
            walk_dir(&path, files, visited)?;
        } else if file_type.is_file() && wanted {
            files.push(path);
        }
    }
    Ok(())
}

fn load_file(path: &Path) -> Result<Vec<Document>, LoadError> {
    let (source, text) = read_file(path)?;
    parse_str(&source, &text)
}

/// A file's name for messages and its text (UTF-8, at most [`MAX_INPUT_BYTES`]).
fn read_file(path: &Path) -> Result<(String, String), LoadError> {
    let source = path.display().to_string();
    let io_err = |error| LoadError::Io {
        path: path.to_owned(),
        error,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    if file.metadata().map_err(io_err)?.len() > MAX_INPUT_BYTES as u64 {
        return Err(LoadError::TooLarge {
            source_name: source,
        });
    }
    let text = read_limited(file, &source, path)?;
    Ok((source, text))
}

/// The bytes of a file, or of standard input for `-`: at most [`MAX_INPUT_BYTES`], else
/// [`LoadError::TooLarge`] (for `review`, whose input is JSON checked by its own decoder).
pub fn read_source(path: &Path) -> Result<Vec<u8>, LoadError> {
    if path.as_os_str() == STDIN_NAME {
        return read_bytes(io::stdin().lock(), STDIN_NAME, path);
    }
    let file = fs::File::open(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    read_bytes(file, &path.display().to_string(), path)
}

/// Reads at most [`MAX_INPUT_BYTES`].
fn read_bytes(reader: impl Read, source: &str, path: &Path) -> Result<Vec<u8>, LoadError> {
    let mut buf = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| LoadError::Io {
            path: path.to_owned(),
            error: e,
        })?;
    if buf.len() > MAX_INPUT_BYTES {
        return Err(LoadError::TooLarge {
            source_name: source.to_owned(),
        });
    }
    Ok(buf)
}

/// Reads at most [`MAX_INPUT_BYTES`] of UTF-8 text.
fn read_limited(reader: impl Read, source: &str, path: &Path) -> Result<String, LoadError> {
    let buf = read_bytes(reader, source, path)?;
    String::from_utf8(buf).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The prefix is valid UTF-8 by definition.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        parse_error(
            source,
            Pos::new(line, col),
            "invalid UTF-8 (only UTF-8 input is supported)",
        )
    })
}

/// Turns converted documents into [`Document`]s: skips empty ones, checks that each is a
/// mapping and expands `List`s.
/// Turns converted documents into [`Document`]s, expanding `List`s. With `skipped`, documents
/// (and list items) that are not Kubernetes objects are counted there and left out; without
/// it, one that is not a mapping is an error.
fn finish(
    source: &str,
    raws: Vec<RawDoc>,
    mut skipped: Option<&mut usize>,
) -> Result<Vec<Document>, LoadError> {
    let mut docs = Vec::with_capacity(raws.len());
    for raw in raws {
        let RawDoc {
            index,
            value,
            builder,
        } = raw;
        let number = index + 1;
        if let Some(skipped) = skipped.as_deref_mut()
            && !value.is_null()
            && !is_kubernetes_object(&value)
        {
            *skipped += 1;
            continue;
        }
        let mut map = match value {
            Value::Null => continue,
            Value::Object(map) => map,
            other => {
                return Err(parse_error(
                    source,
                    builder.root_pos(),
                    format!(
                        "document {number}: expected a Kubernetes object (a mapping), got {}",
                        describe(&other)
                    ),
                ));
            }
        };
        let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
            && map.get("apiVersion").and_then(Value::as_str) == Some("v1");
        if !is_list {
            let positions = builder.positions(0);
            docs.push(Document {
                source: source.to_owned(),
                index,
                value: Value::Object(map),
                positions,
            });
            continue;
        }
        let items_id = builder.children(0).find(|&c| builder.raw_key(c) == "items");
        let items = match map.remove("items") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(other) => {
                let pos = items_id.map_or(builder.root_pos(), |id| builder.nodes[id].value);
                return Err(parse_error(
                    source,
                    pos,
                    format!(
                        "document {number}: items: expected a sequence of objects, got {}",
                        describe(&other)
                    ),
                ));
            }
        };
        let item_ids: Vec<usize> = items_id
            .map(|id| builder.children(id).collect())
            .unwrap_or_default();
        for (i, item) in items.into_iter().enumerate() {
            let id = item_ids.get(i).copied();
            if let Some(skipped) = skipped.as_deref_mut()
                && !is_kubernetes_object(&item)
            {
                *skipped += 1;
                continue;
            }
            match item {
                Value::Object(_) => docs.push(Document {
                    source: source.to_owned(),
                    index,
                    value: item,
                    positions: id.map(|id| builder.positions(id)).unwrap_or_default(),
                }),
                other => {
                    let pos = id.map_or(builder.root_pos(), |id| builder.nodes[id].value);
                    return Err(parse_error(
                        source,
                        pos,
                        format!(
                            "document {number}: items[{i}]: expected a Kubernetes object (a mapping), got {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }
    Ok(docs)
}

/// A mapping with a string `apiVersion` and `kind`, as every Kubernetes object has.
fn is_kubernetes_object(value: &Value) -> bool {
    value.get("apiVersion").is_some_and(Value::is_string)
        && value.get("kind").is_some_and(Value::is_string)
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
        .starts_with(['{', '['])
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

struct JsonError {
    pos: Pos,
    message: String,
    /// A syntax error (the text may still be valid YAML), as opposed to a semantic one.
    syntax: bool,
}

/// An open container while parsing JSON.
enum Frame {
    Object {
        id: u32,
        map: Map<String, Value>,
        /// The key whose value is being parsed.
        key: String,
    },
    Array {
        id: u32,
        items: Vec<Value>,
    },
}

/// A JSON stream parser that records positions; iterative, so deep input cannot overflow the
/// stack. Numbers and escaped strings are decoded by `serde_json` for exactness.
struct JsonParser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    /// Column cache: the column of byte `col_byte` (on the current line) is `col`.
    col_byte: usize,
    col: usize,
}

impl<'t> JsonParser<'t> {
    fn new(text: &'t str) -> Self {
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        JsonParser {
            text,
            bytes: text.as_bytes(),
            pos: start,
            line: 1,
            line_start: start,
            col_byte: start,
            col: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                _ => break,
            }
        }
    }

    /// The position of `self.pos` (amortised O(1): positions only move forward).
    fn here(&mut self) -> Pos {
        if self.col_byte < self.line_start || self.col_byte > self.pos {
            self.col_byte = self.line_start;
            self.col = 1;
        }
        let end = self.pos.min(self.bytes.len());
        self.col += self.bytes[self.col_byte.min(end)..end]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        self.col_byte = end;
        Pos::new(self.line, self.col)
    }

    fn syntax(&mut self, message: impl Into<String>) -> JsonError {
        JsonError {
            pos: self.here(),
            message: message.into(),
            syntax: true,
        }
    }

    fn documents(mut self) -> Result<Vec<RawDoc>, JsonError> {
        let mut docs = Vec::new();
        loop {
            self.skip_ws();
            if self.pos >= self.bytes.len() {
                return Ok(docs);
            }
            let (value, builder) = self.document()?;
            docs.push(RawDoc {
                index: docs.len(),
                value,
                builder,
            });
        }
    }

    fn document(&mut self) -> Result<(Value, Builder), JsonError> {
        let mut b = Builder::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut key_pos = Pos::NONE;
        loop {
            // Parse one value (or open a container and go on with its first element).
            self.skip_ws();
            let value_pos = self.here();
            let (parent, seg) = match stack.last() {
                None => (NO_PARENT, Seg::Root),
                Some(Frame::Object { id, key, .. }) => (*id, Seg::Key(key.as_str())),
                Some(Frame::Array { id, .. }) => (*id, Seg::Index),
            };
            let mut id;
            let mut value = match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(JsonError {
                            pos: value_pos,
                            message: too_deep_message(),
                            syntax: false,
                        });
                    }
                    let object = c == b'{';
                    let kind = if object {
                        Kind::Mapping
                    } else {
                        Kind::Sequence
                    };
                    id = b.push(parent, seg, value_pos, key_pos, kind);
                    self.pos += 1;
                    self.skip_ws();
                    match (object, self.peek()) {
                        (true, Some(b'}')) => {
                            self.pos += 1;
                            Value::Object(Map::new())
                        }
                        (false, Some(b']')) => {
                            self.pos += 1;
                            Value::Array(Vec::new())
                        }
                        (true, _) => {
                            let map = Map::new();
                            let (key, kp) = self.object_key(&map)?;
                            key_pos = kp;
                            stack.push(Frame::Object { id, map, key });
                            continue;
                        }
                        (false, _) => {
                            key_pos = Pos::NONE;
                            stack.push(Frame::Array {
                                id,
                                items: Vec::new(),
                            });
                            continue;
                        }
                    }
                }
                Some(b'"') => {
                    id = b.push(parent, seg, value_pos, key_pos, Kind::Scalar);
                    Value::String(self.string()?)
                }
                Some(b'-' | b'0'..=b'9') => {
                    id = b.push(parent, seg, value_pos, key_pos, Kind::Scalar);
                    Value::Number(self.number()?)
                }
                Some(b't' | b'f' | b'n') => {
                    id = b.push(parent, seg, value_pos, key_pos, Kind::Scalar);
                    self.literal()?
                }
                Some(_) => return Err(self.syntax("expected a JSON value")),
                None => return Err(self.syntax("unexpected end of input, expected a JSON value")),
            };
            // Store the finished value in its container; close containers that end here.
            loop {
                b.close(id);
                match stack.last_mut() {
                    None => return Ok((value, b)),
                    Some(Frame::Object { map, key, .. }) => {
                        map.insert(std::mem::take(key), value);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                let (k, kp) = self.object_key(map)?;
                                *key = k;
                                key_pos = kp;
                                break;
                            }
                            Some(b'}') => self.pos += 1,
                            _ => return Err(self.syntax("expected ',' or '}'")),
                        }
                    }
                    Some(Frame::Array { items, .. }) => {
                        items.push(value);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                key_pos = Pos::NONE;
                                break;
                            }
                            Some(b']') => self.pos += 1,
                            _ => return Err(self.syntax("expected ',' or ']'")),
                        }
                    }
                }
                // The container on top of the stack is complete.
                (value, id) = match stack.pop() {
                    Some(Frame::Object { id, map, .. }) => (Value::Object(map), id),
                    Some(Frame::Array { id, items }) => (Value::Array(items), id),
                    None => return Err(self.syntax("unbalanced JSON")),
                };
            }
        }
    }

    /// Reads `"key"` and the `:` after it.
    fn object_key(&mut self, map: &Map<String, Value>) -> Result<(String, Pos), JsonError> {
        let pos = self.here();
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        let key = self.string()?;
        if map.contains_key(&key) {
            return Err(JsonError {
                pos,
                message: format!("duplicate key {key:?} in mapping"),
                syntax: false,
            });
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.syntax("expected ':' after the key"));
        }
        self.pos += 1;
        Ok((key, pos))
    }

    /// Reads a string starting at the opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        let start_pos = self.here();
        self.pos += 1;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => {
                    return Err(JsonError {
                        pos: start_pos,
                        message: "unterminated string".to_owned(),
                        syntax: true,
                    });
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 2;
                }
                Some(b) if b < 0x20 => return Err(self.syntax("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        let end = self.pos;
        self.pos += 1;
        if !escaped {
            return Ok(self.text[start + 1..end].to_owned());
        }
        serde_json::from_str::<String>(&self.text[start..=end]).map_err(|e| JsonError {
            pos: start_pos,
            message: serde_message(&e),
            syntax: true,
        })
    }

    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        let start_pos = self.here();
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.syntax("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.syntax("invalid number: expected digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.syntax("invalid number: expected digits in the exponent"));
            }
        }
        self.text[start..self.pos]
            .parse::<Number>()
            .map_err(|e| JsonError {
                pos: start_pos,
                message: serde_message(&e),
                syntax: false,
            })
    }

    fn literal(&mut self) -> Result<Value, JsonError> {
        let rest = &self.bytes[self.pos..];
        let (len, value) = if rest.starts_with(b"true") {
            (4, Value::Bool(true))
        } else if rest.starts_with(b"false") {
            (5, Value::Bool(false))
        } else if rest.starts_with(b"null") {
            (4, Value::Null)
        } else {
            return Err(self.syntax("expected a JSON value"));
        };
        self.pos += len;
        Ok(value)
    }
}

/// A `serde_json` error message without its " at line L column C" suffix.
fn serde_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

/// A part of a YAML stream that starts at the beginning of a line.
struct Chunk<'t> {
    text: &'t str,
    /// Lines before the chunk in the whole text.
    line_offset: usize,
}

/// Splits a YAML stream before every `---` line. Document markers cannot occur inside any node
/// (YAML forbids them at the start of a line in content), so the documents parse the same, while
/// saphyr's trees only ever hold one document, which keeps memory and cache use low. Streams
/// with directives (`%YAML`, `%TAG`) are left whole.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let (mut start, mut start_line) = (0, 0);
    let (mut pos, mut line) = (0, 0);
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let content = &bytes[pos..end];
        if content.first() == Some(&b'%') {
            return vec![Chunk {
                text,
                line_offset: 0,
            }];
        }
        if pos > start
            && content.starts_with(b"---")
            && matches!(content.get(3), None | Some(b' ' | b'\t' | b'\r'))
        {
            chunks.push(Chunk {
                text: &text[start..pos],
                line_offset: start_line,
            });
            (start, start_line) = (pos, line);
        }
        pos = end + 1;
        line += 1;
    }
    chunks.push(Chunk {
        text: &text[start..],
        line_offset: start_line,
    });
    chunks
}

/// Limits on what an input may expand to through aliases (what is left of them).
struct Budget {
    bytes: usize,
    nodes: usize,
}

/// Parses a YAML stream, document by document. Large streams are shared out to a few threads
/// (contiguous runs of documents, results kept in order); input that may nest deeply is parsed on
/// threads with a large enough stack, since saphyr parses recursively.
fn parse_yaml(source: &str, text: &str) -> Result<Vec<RawDoc>, LoadError> {
    let bound = yaml_nesting_bound(text).map_err(|(line, col)| {
        parse_error(
            source,
            Pos::new(line, col),
            format!(
                "indentation deeper than {MAX_BLOCK_INDENT} columns; nesting deeper than {MAX_DEPTH} levels is not supported"
            ),
        )
    })?;
    let chunks = split_documents(text);
    let workers = if text.len() >= PARALLEL_MIN_BYTES {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, MAX_WORKERS)
            .min(chunks.len())
    } else {
        1
    };
    let failed = || {
        parse_error(
            source,
            Pos::new(1, 1),
            "internal error: the YAML parser failed",
        )
    };
    if workers <= 1 && bound <= INLINE_NESTING_BOUND {
        return catch_unwind(AssertUnwindSafe(|| parse_group(source, &chunks)))
            .unwrap_or_else(|_| Err(failed()));
    }
    let stack = STACK_BASE_BYTES.saturating_add(bound.saturating_mul(STACK_BYTES_PER_LEVEL));
    std::thread::scope(|scope| {
        let handles: Vec<_> = group_chunks(&chunks, workers)
            .into_iter()
            .map(|group| {
                std::thread::Builder::new()
                    .name("yaml-loader".to_owned())
                    .stack_size(stack)
                    .spawn_scoped(scope, move || parse_group(source, group))
            })
            .collect();
        // Join every thread before looking at the results, so none is left running.
        let results: Vec<Result<Vec<RawDoc>, LoadError>> = handles
            .into_iter()
            .map(|handle| match handle {
                Ok(handle) => handle.join().unwrap_or_else(|_| Err(failed())),
                Err(e) => Err(parse_error(
                    source,
                    Pos::new(1, 1),
                    format!("cannot start a YAML parser thread: {e}"),
                )),
            })
            .collect();
        let mut out = Vec::new();
        for docs in results {
            let offset = out.len();
            out.extend(docs?.into_iter().map(|mut doc| {
                doc.index += offset;
                doc
            }));
        }
        Ok(out)
    })
}

/// Cuts `chunks` into at most `groups` contiguous runs of about the same size.
fn group_chunks<'c, 't>(chunks: &'c [Chunk<'t>], groups: usize) -> Vec<&'c [Chunk<'t>]> {
    let total: usize = chunks.iter().map(|c| c.text.len()).sum();
    let mut out = Vec::with_capacity(groups);
    let (mut start, mut size) = (0, 0);
    for (i, chunk) in chunks.iter().enumerate() {
        size += chunk.text.len();
        if out.len() + 1 < groups && size.saturating_mul(groups) >= total * (out.len() + 1) {
            out.push(&chunks[start..=i]);
            start = i + 1;
        }
    }
    if start < chunks.len() {
        out.push(&chunks[start..]);
    }
    out
}

/// Parses consecutive chunks; document indexes count from the first chunk.
fn parse_group(source: &str, chunks: &[Chunk<'_>]) -> Result<Vec<RawDoc>, LoadError> {
    let len: usize = chunks.iter().map(|c| c.text.len()).sum();
    let mut budget = Budget {
        bytes: len
            .saturating_mul(OUTPUT_BYTES_PER_INPUT_BYTE)
            .saturating_add(ALIAS_BYTE_ALLOWANCE),
        nodes: len.saturating_add(ALIAS_NODE_ALLOWANCE),
    };
    let mut out = Vec::new();
    for chunk in chunks {
        let docs = parse_chunk(source, chunk, out.len(), &mut budget)?;
        out.extend(docs);
    }
    Ok(out)
}

/// An upper bound on the nesting depth saphyr can meet in `text` (it parses recursively), or
/// the position of a line indented too deeply to bound it reasonably.
///
/// Block collections nest at non-decreasing columns, with at most two (a mapping and a sequence
/// that is one of its values) starting at the same column, so their nesting is at most twice
/// the largest column where a collection can start (after indentation, `- `, `? ` and `: `
/// indicators, anchors and tags). Flow collections inside them add at most 255 levels (saphyr's
/// own limit), counted here by a naive bracket count.
fn yaml_nesting_bound(text: &str) -> Result<usize, (usize, usize)> {
    let mut max_start = 0;
    let mut flow = 0usize;
    let mut max_flow = 0usize;
    for (n, line) in text.as_bytes().split(|&b| b == b'\n').enumerate() {
        let start = block_start_column(line);
        if start >= MAX_BLOCK_INDENT {
            return Err((n + 1, start + 1));
        }
        max_start = max_start.max(start);
        for &b in line {
            match b {
                b'[' | b'{' => {
                    flow += 1;
                    max_flow = max_flow.max(flow);
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(2 * (max_start + 1) + max_flow.min(256) + 1)
}

/// The last byte column of `line` where a block collection could start.
fn block_start_column(line: &[u8]) -> usize {
    let blank_at = |j: usize| j >= line.len() || matches!(line[j], b' ' | b'\t' | b'\r');
    let mut i = 0;
    let mut last = 0;
    loop {
        while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        if i >= line.len() || line[i] == b'#' {
            return last;
        }
        last = i;
        let rest = &line[i..];
        if matches!(line[i], b'-' | b'?' | b':') && blank_at(i + 1) {
            i += 1;
        } else if (rest.starts_with(b"---") || rest.starts_with(b"...")) && blank_at(i + 3) {
            i += 3;
        } else if matches!(line[i], b'&' | b'!') {
            while !blank_at(i) {
                i += 1;
            }
        } else {
            return last;
        }
    }
}

/// Parses and converts the documents of one chunk.
fn parse_chunk(
    source: &str,
    chunk: &Chunk<'_>,
    first_index: usize,
    budget: &mut Budget,
) -> Result<Vec<RawDoc>, LoadError> {
    let docs = MarkedYaml::load_from_str(chunk.text).map_err(|e| {
        let m = e.marker();
        let message = if e.info() == "recursion limit exceeded" {
            too_deep_message()
        } else {
            e.info().to_owned()
        };
        parse_error(
            source,
            Pos::new(chunk.line_offset + m.line(), m.col() + 1),
            message,
        )
    })?;
    let mut conv = YamlConverter {
        source,
        text: chunk.text,
        line_offset: chunk.line_offset,
        builder: Builder::default(),
        budget,
        char_index: None,
    };
    let mut out = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        let value = conv.convert(doc, NO_PARENT, Seg::Root, Pos::NONE, 0)?;
        out.push(RawDoc {
            index: first_index + i,
            value,
            builder: std::mem::take(&mut conv.builder),
        });
    }
    Ok(out)
}

/// Maps saphyr's character indexes to byte offsets (only needed for rare error recovery).
struct CharIndex {
    ascii: bool,
    /// Byte offset of every `CHAR_STEP`-th character.
    checkpoints: Vec<usize>,
}

const CHAR_STEP: usize = 4096;

impl CharIndex {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return CharIndex {
                ascii: true,
                checkpoints: Vec::new(),
            };
        }
        let checkpoints = text
            .char_indices()
            .step_by(CHAR_STEP)
            .map(|(b, _)| b)
            .collect();
        CharIndex {
            ascii: false,
            checkpoints,
        }
    }

    fn byte_of(&self, text: &str, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(text.len());
        }
        let slot = (char_index / CHAR_STEP).min(self.checkpoints.len().saturating_sub(1));
        let Some(&base) = self.checkpoints.get(slot) else {
            return 0;
        };
        text[base..]
            .char_indices()
            .nth(char_index - slot * CHAR_STEP)
            .map_or(text.len(), |(b, _)| base + b)
    }
}

type YamlNodeData<'t> = YamlData<'t, MarkedYaml<'t>>;

/// Converts saphyr's trees to JSON values, recording positions.
struct YamlConverter<'t, 'b> {
    source: &'t str,
    /// The chunk being converted (saphyr's markers are relative to it).
    text: &'t str,
    line_offset: usize,
    builder: Builder,
    budget: &'b mut Budget,
    char_index: Option<CharIndex>,
}

impl<'t> YamlConverter<'t, '_> {
    fn error(&self, pos: Pos, message: impl Into<String>) -> LoadError {
        parse_error(self.source, pos, message)
    }

    /// saphyr markers have 1-based lines and 0-based columns.
    fn pos(&self, m: &Marker) -> Pos {
        if m.line() == 0 {
            Pos::NONE
        } else {
            Pos::new(self.line_offset + m.line(), m.col() + 1)
        }
    }

    fn account(&mut self, bytes: usize, pos: Pos) -> Result<(), LoadError> {
        match self.budget.bytes.checked_sub(bytes) {
            Some(left) => {
                self.budget.bytes = left;
                Ok(())
            }
            None => Err(self.error(
                pos,
                "the input expands to too much text (too many aliases?)",
            )),
        }
    }

    fn push(
        &mut self,
        parent: u32,
        seg: Seg<'_>,
        pos: Pos,
        key: Pos,
        kind: Kind,
    ) -> Result<u32, LoadError> {
        match self.budget.nodes.checked_sub(1) {
            Some(left) => self.budget.nodes = left,
            None => {
                return Err(self.error(
                    pos,
                    "the input expands to too many nodes (too many aliases?)",
                ));
            }
        }
        Ok(self.builder.push(parent, seg, pos, key, kind))
    }

    /// Converts `node` (consuming it) and records its position and its subtree's.
    fn convert(
        &mut self,
        node: MarkedYaml<'t>,
        parent: u32,
        seg: Seg<'_>,
        key_pos: Pos,
        depth: usize,
    ) -> Result<Value, LoadError> {
        let MarkedYaml { span, data } = node;
        let pos = self.pos(&span.start);
        match data {
            YamlData::Sequence(items) => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(pos, too_deep_message()));
                }
                let id = self.push(parent, seg, pos, key_pos, Kind::Sequence)?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.convert(item, id, Seg::Index, Pos::NONE, depth + 1)?);
                }
                self.builder.close(id);
                Ok(Value::Array(out))
            }
            YamlData::Mapping(entries) => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(pos, too_deep_message()));
                }
                let id = self.push(parent, seg, pos, key_pos, Kind::Mapping)?;
                let mut out = Map::new();
                for (key, value) in entries {
                    let kpos = self.pos(&key.span.start);
                    let key = self.key_string(key)?;
                    match out.entry(key) {
                        Entry::Occupied(e) => {
                            let message = format!("duplicate key {:?} in mapping", e.key());
                            return Err(self.error(kpos, message));
                        }
                        Entry::Vacant(e) => {
                            self.account(e.key().len(), kpos)?;
                            let value =
                                self.convert(value, id, Seg::Key(e.key()), kpos, depth + 1)?;
                            e.insert(value);
                        }
                    }
                }
                self.builder.close(id);
                Ok(Value::Object(out))
            }
            YamlData::Tagged(_, inner) => {
                // The tag was not one saphyr resolves: use the untagged node, at the tag's place.
                let mut inner = *inner;
                inner.span = span;
                self.convert(inner, parent, seg, key_pos, depth)
            }
            other => {
                self.push(parent, seg, pos, key_pos, Kind::Scalar)?;
                self.scalar_data(other, span.start, span.end, pos)
            }
        }
    }

    /// The string form of a mapping key, as Kubernetes' YAML-to-JSON conversion makes it.
    fn key_string(&mut self, key: MarkedYaml<'t>) -> Result<String, LoadError> {
        let MarkedYaml { span, data } = key;
        let pos = self.pos(&span.start);
        let value = match data {
            YamlData::Sequence(_) => {
                return Err(self.error(pos, "mapping keys must be scalars, found a sequence"));
            }
            YamlData::Mapping(_) => {
                return Err(self.error(pos, "mapping keys must be scalars, found a mapping"));
            }
            YamlData::Tagged(_, inner) => {
                let mut inner = *inner;
                inner.span = span;
                return self.key_string(inner);
            }
            other => self.scalar_data(other, span.start, span.end, pos)?,
        };
        Ok(match value {
            Value::String(s) => s,
            Value::Null => "null".to_owned(),
            other => other.to_string(),
        })
    }

    fn scalar_data(
        &mut self,
        data: YamlNodeData<'t>,
        start: Marker,
        end: Marker,
        pos: Pos,
    ) -> Result<Value, LoadError> {
        match data {
            YamlData::Value(s) => self.scalar(s, pos),
            YamlData::Representation(text, style, tag) => {
                match Scalar::parse_from_cow_and_metadata(text, style, tag.as_ref()) {
                    Some(s) => self.scalar(s, pos),
                    None => self.recover(start, end, pos),
                }
            }
            YamlData::BadValue => self.recover(start, end, pos),
            YamlData::Alias(_) => Err(self.error(pos, "unresolved alias")),
            YamlData::Tagged(_, inner) => {
                let inner = *inner;
                match inner.data {
                    YamlData::Sequence(_) | YamlData::Mapping(_) | YamlData::Tagged(..) => {
                        Err(self.error(pos, "unexpected tagged collection"))
                    }
                    other => self.scalar_data(other, start, end, pos),
                }
            }
            YamlData::Sequence(_) | YamlData::Mapping(_) => {
                Err(self.error(pos, "expected a scalar"))
            }
        }
    }

    fn scalar(&mut self, s: Scalar<'t>, pos: Pos) -> Result<Value, LoadError> {
        Ok(match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(b),
            Scalar::Integer(i) => Value::Number(i.into()),
            Scalar::FloatingPoint(f) => {
                let f = f.0;
                match Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None => {
                        let shown = if f.is_nan() {
                            ".nan"
                        } else if f > 0.0 {
                            ".inf"
                        } else {
                            "-.inf"
                        };
                        return Err(self.error(
                            pos,
                            format!(
                                "{shown} is not a finite number and cannot be represented in JSON"
                            ),
                        ));
                    }
                }
            }
            Scalar::String(s) => {
                self.account(s.len(), pos)?;
                Value::String(s.into_owned())
            }
        })
    }

    /// A plain scalar saphyr could not resolve with its tag: an error for the core scalar tags
    /// (`!!int abc`), the untagged value for other tags (`!!binary`, `!!timestamp`).
    fn recover(&mut self, start: Marker, end: Marker, pos: Pos) -> Result<Value, LoadError> {
        let index = self
            .char_index
            .get_or_insert_with(|| CharIndex::new(self.text));
        let from = index.byte_of(self.text, start.index());
        let to = index.byte_of(self.text, end.index()).max(from);
        let raw = self.text.get(from..to).unwrap_or_default().trim();
        if raw.is_empty() {
            return Ok(Value::Null);
        }
        if !raw.starts_with('!') {
            // Only an empty document has no value and no tag.
            return Ok(Value::Null);
        }
        let (tag, value) = match raw.find(char::is_whitespace) {
            Some(i) => (&raw[..i], raw[i..].trim()),
            None => (raw, ""),
        };
        let core = tag.strip_prefix("!!").or_else(|| {
            tag.strip_prefix("!<tag:yaml.org,2002:")
                .and_then(|t| t.strip_suffix('>'))
        });
        if let Some(name) = core
            && matches!(name, "int" | "float" | "bool" | "null")
        {
            return Err(self.error(pos, format!("{value:?} is not a valid {tag} value")));
        }
        let folded = if value.contains('\n') {
            value
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            value.to_owned()
        };
        if folded.is_empty() {
            return Ok(Value::Null);
        }
        let scalar: Scalar<'t> = Scalar::parse_from_cow(Cow::Owned(folded));
        self.scalar(scalar, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Vec<Document> {
        match parse_str("t.yaml", text) {
            Ok(docs) => docs,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn error(text: &str) -> String {
        match parse_str("t.yaml", text) {
            Ok(docs) => panic!("expected an error, got {docs:?}"),
            Err(e) => e.to_string(),
        }
    }

    const POLICY: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: p
  labels:
    app: web
spec:
  targetRefs:
  - group: \"\"
    kind: Service
    name: a
  - group: \"\"
    kind: Service
    name: b
    sectionName: https
  validation:
    hostname: example.com
  options:
    example.com/foo: bar
";

    #[test]
    fn multi_document_stream_with_comments_and_empty_documents() {
        let docs = parse(
            "# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n\
             ---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n...\n",
        );
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["metadata"]["name"], "a");
        assert_eq!(docs[0].index, 0);
        assert_eq!(docs[1].value["metadata"]["name"], "b");
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[1].source, "t.yaml");
        assert_eq!(docs[1].positions.value("metadata.name"), Some((13, 9)));
        assert!(parse("").is_empty());
        assert!(parse("# nothing\n---\n---\n").is_empty());
        assert!(parse("--- null\n").is_empty());
        // A broken document anywhere fails the whole stream.
        assert_eq!(
            error("a: 1\n---\nb: [\n"),
            "t.yaml:4:1: while parsing a node, did not find expected node content"
        );
    }

    #[test]
    fn field_positions_in_yaml() {
        let docs = parse(POLICY);
        let p = &docs[0].positions;
        assert_eq!(p.value(""), Some((1, 1)));
        assert_eq!(p.key(""), None);
        assert_eq!(p.value("metadata.name"), Some((4, 9)));
        assert_eq!(p.key("metadata.name"), Some((4, 3)));
        assert_eq!(p.value("spec.targetRefs[1].sectionName"), Some((15, 18)));
        assert_eq!(p.key("spec.targetRefs[1].sectionName"), Some((15, 5)));
        assert_eq!(p.value("spec.targetRefs[1]"), Some((12, 5)));
        assert_eq!(p.key("spec.targetRefs[1]"), None);
        assert_eq!(p.value("spec.targetRefs"), Some((9, 5)));
        assert_eq!(p.key("spec.targetRefs"), Some((8, 3)));
        assert_eq!(p.key("spec.options[example.com/foo]"), Some((19, 5)));
        assert_eq!(p.value("spec.options[example.com/foo]"), Some((19, 22)));
        assert_eq!(p.key("metadata.labels[app]"), Some((6, 5)));
        // Map-typed fields use [key], other fields .key; no other spelling matches.
        assert_eq!(p.value("metadata.labels.app"), None);
        assert_eq!(p.value("spec.options.example.com/foo"), None);
        assert_eq!(p.value("spec[validation].hostname"), None);
        assert_eq!(p.value(".spec"), None);
        assert_eq!(p.value("spec.targetRefs[2]"), None);
        assert_eq!(p.value("spec.targetRefs[+1]"), None);
        assert_eq!(p.value("spec.validation.hostname"), Some((17, 15)));
        // nearest: the value, else the nearest ancestor.
        assert_eq!(p.nearest("spec.targetRefs[1].sectionName"), (15, 18));
        assert_eq!(p.nearest("spec.targetRefs[1].port"), (12, 5));
        assert_eq!(p.nearest("spec.targetRefs[7].name"), (9, 5));
        assert_eq!(p.nearest("spec.options[missing]"), (19, 5));
        assert_eq!(p.nearest("nothing.at.all"), (1, 1));
        assert_eq!(p.nearest(""), (1, 1));
    }

    #[test]
    fn rendered_paths_follow_the_kubernetes_convention() {
        let docs = parse(POLICY);
        let paths: Vec<String> = docs[0].positions.iter().map(|e| e.path).collect();
        for expected in [
            "",
            "apiVersion",
            "metadata.name",
            "metadata.labels",
            "metadata.labels[app]",
            "spec.targetRefs[0].group",
            "spec.targetRefs[1].sectionName",
            "spec.validation.hostname",
            "spec.options[example.com/foo]",
        ] {
            assert!(
                paths.contains(&expected.to_owned()),
                "{expected} in {paths:?}"
            );
        }
        assert_eq!(paths.len(), docs[0].positions.len());
        for entry in docs[0].positions.iter() {
            assert_eq!(
                docs[0].positions.value(&entry.path),
                entry.value,
                "{}",
                entry.path
            );
            assert_eq!(
                docs[0].positions.key(&entry.path),
                entry.key,
                "{}",
                entry.path
            );
        }
        // `data` and `binaryData` are map-typed at the top level only.
        let docs = parse("data:\n  a.b: x\nspec:\n  data:\n    c: y\n");
        assert_eq!(docs[0].positions.value("data[a.b]"), Some((2, 8)));
        assert_eq!(docs[0].positions.value("spec.data.c"), Some((5, 8)));
        assert_eq!(docs[0].positions.value("spec.data[c]"), None);
    }

    #[test]
    fn keys_containing_dots_and_brackets_are_found() {
        let docs = parse(
            "spec:\n  a.b: 1\n  a:\n    c: 2\n  x[0]: 3\nmetadata:\n  annotations:\n    \"q]. [\": 4\n",
        );
        let p = &docs[0].positions;
        assert_eq!(p.value("spec.a.b"), Some((2, 8)));
        assert_eq!(p.value("spec.a.c"), Some((4, 8)));
        assert_eq!(p.value("spec.x[0]"), Some((5, 9)));
        assert_eq!(p.value("metadata.annotations[q]. []"), Some((8, 14)));
    }

    #[test]
    fn block_scalars_keep_their_content() {
        let docs = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ca\ndata:\n  ca.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n  stripped: |-\n    x\n  folded: >\n    a\n    b\n",
        );
        let data = &docs[0].value["data"];
        assert_eq!(
            data["ca.crt"],
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(data["stripped"], "x");
        assert_eq!(data["folded"], "a b\n");
        let p = &docs[0].positions;
        assert_eq!(p.key("data[ca.crt]"), Some((6, 3)));
        assert_eq!(p.value("data[ca.crt]"), Some((7, 5)));
        assert_eq!(p.value("data.ca.crt"), None);
    }

    #[test]
    fn json_object_with_positions() {
        let docs = parse(
            "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n \"metadata\": {\"name\": \"ü\", \"labels\": {\"a\": \"b\"}},\n \"data\": {\"x\": \"1\\n\"}}\n",
        );
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0].value,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "ü", "labels": {"a": "b"}}, "data": {"x": "1\n"}})
        );
        let p = &docs[0].positions;
        assert_eq!(p.value(""), Some((1, 1)));
        assert_eq!(p.key("kind"), Some((1, 22)));
        assert_eq!(p.value("kind"), Some((1, 30)));
        assert_eq!(p.value("metadata.name"), Some((2, 23)));
        // Columns count characters: "ü" is one.
        assert_eq!(p.key("metadata.labels[a]"), Some((2, 39)));
        assert_eq!(p.value("data[x]"), Some((3, 16)));
        // A stream of JSON values is several documents.
        let docs = parse("{\"a\": 1}\n{\"b\": [1, 2.5, true, null]}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].index, 1);
        assert_eq!(docs[1].value, json!({"b": [1, 2.5, true, null]}));
        assert_eq!(docs[1].positions.value("b[3]"), Some((2, 22)));
    }

    #[test]
    fn json_errors() {
        assert_eq!(error("{\"a\" 1}"), "t.yaml:1:6: expected ':' after the key");
        assert_eq!(
            error("{\"a\": 1,\n \"a\": 2}"),
            "t.yaml:2:2: duplicate key \"a\" in mapping"
        );
        assert_eq!(error("{\"a\": 1e400}"), "t.yaml:1:7: number out of range");
        assert_eq!(
            error("[1, 2]"),
            "t.yaml:1:1: document 1: expected a Kubernetes object (a mapping), got a sequence"
        );
        assert_eq!(error("{\"a\": \"\\q\"}"), "t.yaml:1:7: invalid escape");
        // Not JSON but valid YAML: accepted as YAML.
        assert_eq!(
            parse("{a: 1, b: [x]}")[0].value,
            json!({"a": 1, "b": ["x"]})
        );
    }

    #[test]
    fn json_list_is_expanded() {
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n  {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}},\n  {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n   \"metadata\": {\"name\": \"b\", \"labels\": {\"x\": \"y\"}}}\n]}\n";
        let docs = parse(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["metadata"]["name"], "a");
        assert_eq!(docs[1].value["metadata"]["name"], "b");
        assert_eq!(docs[1].index, 0);
        let p = &docs[1].positions;
        assert_eq!(p.value(""), Some((3, 3)));
        assert_eq!(p.value("metadata.name"), Some((4, 25)));
        assert_eq!(p.key("metadata.labels[x]"), Some((4, 41)));
        assert_eq!(p.value("metadata.labels[x]"), Some((4, 46)));
        assert_eq!(p.value("items[1].metadata.name"), None);
    }

    #[test]
    fn yaml_list_is_expanded() {
        let docs = parse(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n    labels:\n      k: v\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n---\nkind: Other\n",
        );
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].value["metadata"]["name"], "a");
        assert_eq!((docs[0].index, docs[1].index, docs[2].index), (0, 0, 1));
        assert_eq!(docs[0].positions.value("metadata.name"), Some((7, 11)));
        assert_eq!(docs[0].positions.key("metadata.labels[k]"), Some((9, 7)));
        assert_eq!(docs[1].positions.value("kind"), Some((11, 9)));
        assert_eq!(docs[1].positions.nearest("spec.x"), (10, 3));
        // Empty lists expand to nothing; a List of another apiVersion is an ordinary object.
        assert!(parse("apiVersion: v1\nkind: List\nitems: []\n").is_empty());
        assert!(parse("apiVersion: v1\nkind: List\n").is_empty());
        assert_eq!(parse("apiVersion: x/v1\nkind: List\nitems: [a]\n").len(), 1);
        assert_eq!(
            error("apiVersion: v1\nkind: List\nitems:\n- a: 1\n- text\n"),
            "t.yaml:5:3: document 1: items[1]: expected a Kubernetes object (a mapping), got a string"
        );
        assert_eq!(
            error("apiVersion: v1\nkind: List\nitems: 3\n"),
            "t.yaml:3:8: document 1: items: expected a sequence of objects, got a number"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert_eq!(
            error("a: 1\nb:\n  c: 1\n  c: 2\n"),
            "t.yaml:4:3: duplicated key in mapping"
        );
        // Keys equal once turned into strings collide too.
        assert_eq!(
            error("1: a\n\"1\": b\n"),
            "t.yaml:2:1: duplicate key \"1\" in mapping"
        );
        assert_eq!(
            parse("a: 1\nb:\n  a: 2\n")[0].value,
            json!({"a": 1, "b": {"a": 2}})
        );
    }

    #[test]
    fn parse_errors_have_positions() {
        let e = parse_str("objects.yaml", "a:\n  b: c: d\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "objects.yaml:2:7: mapping values are not allowed in this context"
        );
        assert_eq!(e.location(), Some(("objects.yaml", 2, 7)));
        assert_eq!(
            error("a: \"unterminated\n"),
            "t.yaml:1:4: while scanning a quoted scalar, found unexpected end of stream"
        );
        assert_eq!(
            error("a: *nope\n"),
            "t.yaml:1:4: while parsing node, found unknown anchor"
        );
    }

    #[test]
    fn document_root_must_be_a_mapping() {
        assert_eq!(
            error("a: 1\n---\n- x\n- y\n"),
            "t.yaml:3:1: document 2: expected a Kubernetes object (a mapping), got a sequence"
        );
        assert_eq!(
            error("just text\n"),
            "t.yaml:1:1: document 1: expected a Kubernetes object (a mapping), got a string"
        );
        assert_eq!(parse("a: 1\n").len(), 1);
    }

    #[test]
    fn scalars_resolve_like_the_core_schema() {
        let docs = parse(
            "a: \"123\"\nb: 123\nc: '123'\nd: !!str 123\ne: 0x1F\nf: 1.5\ng: true\nh: yes\ni: -7\nj: 1e3\n",
        );
        assert_eq!(
            docs[0].value,
            json!({"a": "123", "b": 123, "c": "123", "d": "123", "e": 31, "f": 1.5,
                   "g": true, "h": "yes", "i": -7, "j": 1000.0})
        );
        let docs = parse("a: ~\nb:\nc: null\nd: ''\ne: Null\nf: \"~\"\n");
        assert_eq!(
            docs[0].value,
            json!({"a": null, "b": null, "c": null, "d": "", "e": null, "f": "~"})
        );
        assert_eq!(docs[0].positions.value("b"), Some((2, 2)));
    }

    #[test]
    fn non_finite_floats_are_errors() {
        assert_eq!(
            error("a: 1\nb: .inf\n"),
            "t.yaml:2:4: .inf is not a finite number and cannot be represented in JSON"
        );
        assert_eq!(
            error("a: [-.inf]\n"),
            "t.yaml:1:5: -.inf is not a finite number and cannot be represented in JSON"
        );
        assert!(error("a: .nan\n").contains(".nan is not a finite number"));
        assert!(error("a: 1e400\n").contains(".inf is not a finite number"));
        assert_eq!(
            parse("a: 0.5\nb: \".inf\"\n")[0].value,
            json!({"a": 0.5, "b": ".inf"})
        );
    }

    #[test]
    fn keys_become_strings() {
        let docs = parse("1: a\ntrue: b\n~: c\n1.5: d\n0x10: e\n<<: {m: 1}\n");
        assert_eq!(
            docs[0].value,
            json!({"1": "a", "true": "b", "null": "c", "1.5": "d", "16": "e", "<<": {"m": 1}})
        );
        assert_eq!(docs[0].positions.key("true"), Some((2, 1)));
        assert_eq!(
            error("? [a]\n: 1\n"),
            "t.yaml:1:3: mapping keys must be scalars, found a sequence"
        );
    }

    #[test]
    fn aliases_and_tags() {
        let docs = parse("a: &x {p: 1}\nb: *x\nc: &s str\nd: *s\n");
        assert_eq!(
            docs[0].value,
            json!({"a": {"p": 1}, "b": {"p": 1}, "c": "str", "d": "str"})
        );
        assert_eq!(docs[0].positions.value("b"), Some((2, 4)));
        assert_eq!(docs[0].positions.value("b.p"), Some((1, 11)));
        assert_eq!(docs[0].positions.key("b.p"), Some((1, 8)));
        let docs = parse(
            "a: !custom 5\nb: !!binary aGk=\nc: !!str true\nd: !mytag {x: 1}\ne: !!float 2\nf: !t [1]\n",
        );
        assert_eq!(
            docs[0].value,
            json!({"a": 5, "b": "aGk=", "c": "true", "d": {"x": 1}, "e": 2.0, "f": [1]})
        );
        assert_eq!(docs[0].positions.value("a"), Some((1, 4)));
        assert_eq!(docs[0].positions.value("d.x"), Some((4, 15)));
        assert_eq!(
            error("a: !!int abc\n"),
            "t.yaml:1:4: \"abc\" is not a valid !!int value"
        );
        assert_eq!(
            error("a: !!bool maybe\n"),
            "t.yaml:1:4: \"maybe\" is not a valid !!bool value"
        );
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // Nine levels of tenfold fan-out: a billion nodes if expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(error(&text).contains("alias"));
    }

    #[test]
    fn alias_expansion_is_bounded_across_documents() {
        // Each document stays within saphyr's own alias budget; together they exceed ours.
        let doc = "---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n\
                   a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n\
                   a2: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n";
        assert_eq!(parse(doc)[0].value["a2"][9][9][9], "x");
        assert!(
            error(&doc.repeat(250)).contains("too many nodes"),
            "{}",
            error(&doc.repeat(250))
        );
    }

    #[test]
    fn documents_are_independent() {
        // Anchors do not cross documents; errors carry absolute line numbers.
        assert_eq!(
            error("a: &x 1\n---\nb: *x\n"),
            "t.yaml:3:4: while parsing node, found unknown anchor"
        );
        assert_eq!(
            error("a: 1\n---\nb: 1\n---\nc: [\n"),
            "t.yaml:6:1: while parsing a node, did not find expected node content"
        );
        // `---` inside an indented block scalar is content.
        let docs = parse("data:\n  x: |\n    ---\n    y\n---\nz: 1\n");
        assert_eq!(docs[0].value["data"]["x"], "---\ny\n");
        assert_eq!(docs[1].positions.value("z"), Some((6, 4)));
        // Directives keep the stream whole.
        let docs = parse("%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].positions.value("b"), Some((7, 4)));
        // A byte order mark is ignored.
        assert_eq!(parse("\u{feff}a: 1\n")[0].value, json!({"a": 1}));
        let docs = parse("\u{feff}{\"a\": 1}");
        assert_eq!(docs[0].positions.value("a"), Some((1, 7)));
    }

    #[test]
    fn large_streams_keep_document_order() {
        let doc = |i: usize| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  pad: \"{}\"\n",
                "x".repeat(200)
            )
        };
        let text: String = (0..5000).map(doc).collect();
        assert!(text.len() > PARALLEL_MIN_BYTES);
        let docs = parse(&text);
        assert_eq!(docs.len(), 5000);
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(d.index, i);
            assert_eq!(d.value["metadata"]["name"], format!("cm-{i}"));
            assert_eq!(d.positions.value("metadata.name"), Some((7 * i + 5, 9)));
        }
        // The first error in document order is the one reported.
        let bad = text.replacen(
            "kind: ConfigMap\nmetadata:\n  name: cm-10\n",
            "kind: [\n",
            1,
        ) + "---\nlast: [\n";
        let e = parse_str("t.yaml", &bad).unwrap_err();
        let line = e.location().map(|l| l.1);
        assert!(line.is_some_and(|l| (70..80).contains(&l)), "{e}");
    }

    #[test]
    fn nesting_depth_is_limited() {
        // `levels` nested block mappings (the object itself is the first).
        let nested = |levels: usize| {
            let mut text = String::new();
            for i in 0..levels {
                text.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
            }
            text.push_str(&format!("{}v\n", " ".repeat(levels)));
            text
        };
        let ok = parse(&nested(MAX_DEPTH));
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].positions.value("k0.k1.k2"), Some((4, 4)));
        assert_eq!(
            error(&nested(MAX_DEPTH + 1)),
            "t.yaml:257:257: nesting deeper than 256 levels"
        );
        assert_eq!(
            error(&nested(900)),
            "t.yaml:257:257: nesting deeper than 256 levels"
        );
        // The same for JSON.
        let json = |levels: usize| {
            format!(
                "{{\"a\": {}{}}}",
                "[".repeat(levels - 1),
                "]".repeat(levels - 1)
            )
        };
        assert_eq!(parse(&json(MAX_DEPTH)).len(), 1);
        assert_eq!(
            error(&json(MAX_DEPTH + 1)),
            "t.yaml:1:262: nesting deeper than 256 levels"
        );
        // Hostile input fails cleanly instead of overflowing the stack.
        assert_eq!(
            error(&format!("{}x\n", "- ".repeat(450))),
            "t.yaml:1:513: nesting deeper than 256 levels"
        );
        assert_eq!(
            error(&format!("{}x\n", "- ".repeat(100_000))),
            "t.yaml:1:200001: indentation deeper than 1000 columns; nesting deeper than 256 levels is not supported"
        );
        assert_eq!(
            error(&format!("a: {}\n", "[".repeat(300))),
            "t.yaml:1:259: nesting deeper than 256 levels"
        );
        assert_eq!(
            error(&"{\"a\": ".repeat(100_000)),
            "t.yaml:1:1537: nesting deeper than 256 levels"
        );
        assert!(error(&format!("a: {}\n", "{".repeat(100_000))).contains("nesting deeper"));
        assert!(error(&"[".repeat(100_000)).contains("nesting deeper"));
    }

    #[test]
    fn oversized_input_is_refused() {
        let text = " ".repeat(MAX_INPUT_BYTES + 1);
        assert_eq!(
            parse_str("big.yaml", &text).unwrap_err().to_string(),
            "big.yaml: input is larger than the 64 MiB limit"
        );
    }

    fn temp_tree(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("objects-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn directory_walk_order_and_filter() {
        let dir = temp_tree("walk");
        let write = |rel: &str, name: &str| {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("kind: K\nmetadata:\n  name: {name}\n")).unwrap();
        };
        write("b.yaml", "b");
        write("a.json", "a");
        write("a-c.yml", "ac");
        write("sub/c.yml", "c");
        write("sub/deeper/d.yaml", "d");
        write("sub/notes.txt", "txt");
        write("sub/e.YAML", "upper");
        write(".hidden/h.yaml", "hidden");
        write("sub/.h.yaml", "hidden");
        fs::write(
            dir.join("a.json"),
            "{\"kind\": \"K\", \"metadata\": {\"name\": \"a\"}}",
        )
        .unwrap();
        let names = |docs: &[Document]| -> Vec<String> {
            docs.iter()
                .map(|d| {
                    d.value["metadata"]["name"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect()
        };
        let docs = load_path(&dir).unwrap();
        assert_eq!(names(&docs), ["ac", "a", "b", "c", "d"]);
        assert_eq!(docs[1].source, dir.join("a.json").display().to_string());
        assert_eq!(
            docs[4].source,
            dir.join("sub/deeper/d.yaml").display().to_string()
        );
        // A file named explicitly is loaded whatever its extension; paths load in order.
        let docs = load_paths(&[dir.join("sub/notes.txt"), dir.join("b.yaml")]).unwrap();
        assert_eq!(names(&docs), ["txt", "b"]);
        // Symbolic links are followed, loops are not, broken links matter only for manifests.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&dir, dir.join("sub/loop")).unwrap();
            std::os::unix::fs::symlink(dir.join("b.yaml"), dir.join("sub/link.yaml")).unwrap();
            std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("broken.txt")).unwrap();
            assert_eq!(
                names(&load_path(&dir).unwrap()),
                ["ac", "a", "b", "c", "d", "b"]
            );
            std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("broken.yaml")).unwrap();
            let e = load_path(&dir).unwrap_err();
            assert!(matches!(e, LoadError::Io { .. }), "{e}");
            fs::remove_file(dir.join("broken.yaml")).unwrap();
        }
        // Errors name the file.
        fs::write(dir.join("sub/bad.yaml"), "a: [\n").unwrap();
        let e = load_path(&dir).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2:1: ", dir.join("sub/bad.yaml").display())),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_and_encoding_errors() {
        let e = load_path(Path::new("/nonexistent/foo.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /nonexistent/foo.yaml: No such file or directory (os error 2)"
        );
        assert!(matches!(e, LoadError::Io { .. }));
        // Printed as a chain (how `main` prints errors), the cause appears once.
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "cannot read /nonexistent/foo.yaml: No such file or directory (os error 2)"
        );
        let dir = temp_tree("utf8");
        let file = dir.join("latin1.yaml");
        fs::write(&file, b"a: b\nc: caf\xe9\n").unwrap();
        let e = load_path(&file).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2:7: invalid UTF-8 (only UTF-8 input is supported)",
                file.display()
            )
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Run with `cargo test --release -- --ignored --nocapture` to see the timing.
    #[test]
    #[ignore = "timing; run in release mode"]
    fn ten_thousand_policies_load_quickly() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!(
                "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata:\n  name: policy-{i}\n  namespace: default\n  labels:\n    app: web\n    team: core\n  annotations:\n    example.com/note: \"generated\"\nspec:\n  targetRefs:\n  - group: \"\"\n    kind: Service\n    name: svc-{i}\n    sectionName: https\n  - group: \"\"\n    kind: Service\n    name: other-{i}\n  validation:\n    caCertificateRefs:\n    - group: \"\"\n      kind: ConfigMap\n      name: ca-{i}\n    hostname: svc-{i}.example.com\n    subjectAltNames:\n    - type: Hostname\n      hostname: svc-{i}.example.com\n    - type: URI\n      uri: spiffe://cluster.local/ns/default/sa/svc-{i}\n  options:\n    example.com/min-tls: \"1.3\"\n    example.com/ciphers: default\n"
            ));
        }
        let start = std::time::Instant::now();
        let docs = parse_str("big.yaml", &text).unwrap();
        let yaml = start.elapsed();
        assert_eq!(docs.len(), 10_000);
        assert_eq!(
            docs[9_999]
                .positions
                .value("spec.targetRefs[1].name")
                .map(|p| p.1),
            Some(11)
        );
        let json: String = docs.iter().map(|d| d.value.to_string() + "\n").collect();
        let start = std::time::Instant::now();
        let json_docs = parse_str("big.json", &json).unwrap();
        let json_time = start.elapsed();
        assert_eq!(json_docs.len(), 10_000);
        println!(
            "{} bytes of YAML: {yaml:?}; {} bytes of JSON: {json_time:?}",
            text.len(),
            json.len()
        );
    }
}
