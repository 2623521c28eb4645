//! Loading Kubernetes objects from YAML and JSON files, directories and standard input.
//!
//! Every object comes back as a [`Document`]: its `serde_json::Value`, where it came from, and
//! the [`Positions`] of each of its fields in the source text, looked up by [`FieldPath`], so
//! that validation errors can point at `file:line:column`.
//!
//! # Conversion
//!
//! Text is read with [serde-saphyr](serde_saphyr) as a multi-document YAML stream (JSON is YAML
//! 1.2; several JSON values one after the other are read one by one) and converted to JSON
//! values following what Kubernetes does when it turns YAML into JSON:
//!
//! * empty documents (and documents that are just `null`) are skipped; any other document must be
//!   a mapping;
//! * `kind: List` / `apiVersion: v1` documents are replaced by their `items`;
//! * scalars resolve as serde-saphyr resolves them, with YAML 1.2's booleans: quoted scalars are
//!   strings, `~`/`null`/empty are null, only `true`/`false` (any case) are booleans (`yes` is a
//!   string), integers (decimal, `0x`, `0o`, `0b`) and floats are numbers, numbers written with
//!   `_` are strings; `.inf` and `.nan` are errors since JSON cannot hold them;
//! * mapping keys become strings (`1:` is the key `"1"`); two keys that are equal after that are
//!   an error, as in Kubernetes' strict decoding;
//! * aliases are expanded; `<<` merge keys are ordinary keys; unknown tags are ignored; the core
//!   tags are honoured (`!!binary` is kept as its text), and one that does not fit its node
//!   (`!!int abc`, `!!str [a]`) is an error.
//!
//! # Sources
//!
//! [`parse_str`] reads text; [`load_path`] reads a file, or walks a directory for `.yaml`, `.yml`
//! and `.json` files (in path order, skipping hidden entries); [`load_paths`] reads several paths,
//! `-` meaning standard input. Text must be UTF-8 (a byte order mark is ignored). Files are read
//! and parsed on up to four threads; documents and errors come in input order all the same.
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
//! refused with an error, as is alias expansion far beyond the size of the input: serde-saphyr's
//! budget is sized to each input. Hostile input never overflows the stack or panics.

mod load;
mod positions;
mod yaml;

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use self::load::{Inputs, load_inputs, load_path, load_paths, read_source};
pub use self::positions::{PathPosition, Positions};
use self::positions::{PathStep, Pos};
#[cfg(doc)]
use crate::validate::FieldPath;

/// The largest input (one file, or standard input) that is loaded: 64 MiB.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The deepest nesting of mappings and sequences accepted in a document (the object itself is
/// level 1).
pub const MAX_DEPTH: usize = 256;

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
        column: (pos.column as usize).max(1),
        message: message.into(),
    }
}

/// Parses a multi-document YAML stream, or a stream of JSON values, into objects.
///
/// `source` names the text in errors and in [`Document::source`].
pub fn parse_str(source: &str, text: &str) -> Result<Vec<Document>, LoadError> {
    let parse = |text: &&str| parse_text(source, text).and_then(|p| finish(source, p, None));
    let results = load::on_parser_threads(&[text], 1, parse)
        .map_err(|error| parse_error(source, Pos::START, load::thread_failed(&error)))?;
    let documents: Vec<Vec<Document>> = results.into_iter().collect::<Result<_, _>>()?;
    Ok(documents.into_iter().flatten().collect())
}

/// The documents of a text, converted but not yet checked.
fn parse_text(source: &str, text: &str) -> Result<Vec<yaml::Parsed>, LoadError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(LoadError::TooLarge {
            source_name: source.to_owned(),
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    yaml::parse(text).map_err(|problem| parse_error(source, problem.pos, problem.message))
}

/// Turns converted documents into [`Document`]s, expanding `List`s. With `skipped`, documents
/// (and list items) that are not Kubernetes objects are counted there and left out; without
/// it, one that is not a mapping is an error.
fn finish(
    source: &str,
    parsed: Vec<yaml::Parsed>,
    mut skipped: Option<&mut usize>,
) -> Result<Vec<Document>, LoadError> {
    let mut docs = Vec::with_capacity(parsed.len());
    for yaml::Parsed {
        index,
        value,
        positions,
        ..
    } in parsed
    {
        if let Some(skipped) = skipped.as_deref_mut()
            && !value.is_null()
            && !is_kubernetes_object(&value)
        {
            *skipped += 1;
            continue;
        }
        let map = match value {
            Value::Null => continue,
            Value::Object(map) => map,
            other => {
                let message = format!(
                    "document {}: expected a Kubernetes object (a mapping), got {}",
                    index + 1,
                    describe(&other)
                );
                return Err(parse_error(source, positions.value_or_root(&[]), message));
            }
        };
        let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
            && map.get("apiVersion").and_then(Value::as_str) == Some("v1");
        let document = Document {
            source: source.to_owned(),
            index,
            value: Value::Object(map),
            positions,
        };
        if is_list {
            expand_list(document, skipped.as_deref_mut(), &mut docs)?;
        } else {
            docs.push(document);
        }
    }
    Ok(docs)
}

/// Adds the items of a `List` to `docs`, each with its positions, counting those that are not
/// Kubernetes objects in `skipped` when given.
fn expand_list(
    list: Document,
    mut skipped: Option<&mut usize>,
    docs: &mut Vec<Document>,
) -> Result<(), LoadError> {
    let Document {
        source,
        index,
        mut value,
        positions,
    } = list;
    let number = index + 1;
    let items = match value.as_object_mut().and_then(|map| map.remove("items")) {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            let pos = positions.value_or_root(&[PathStep::Key("items")]);
            let message = format!(
                "document {number}: items: expected a sequence of objects, got {}",
                describe(&other)
            );
            return Err(parse_error(&source, pos, message));
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let steps = [PathStep::Key("items"), PathStep::Index(i)];
        if let Some(skipped) = skipped.as_deref_mut()
            && !is_kubernetes_object(&item)
        {
            *skipped += 1;
            continue;
        }
        if !item.is_object() {
            let message = format!(
                "document {number}: items[{i}]: expected a Kubernetes object (a mapping), got {}",
                describe(&item)
            );
            return Err(parse_error(
                &source,
                positions.value_or_root(&steps),
                message,
            ));
        }
        docs.push(Document {
            source: source.clone(),
            index,
            value: item,
            positions: positions.subtree(&steps).unwrap_or_default(),
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests;
