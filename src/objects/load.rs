//! Reading sources: files, the files under directories, and standard input. Files are read and
//! parsed on up to [`LOAD_THREADS`] threads, each result kept in input order, so that errors
//! come in input order too.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::panic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::positions::{Pos, to_u32};
use super::{Document, LoadError, MAX_INPUT_BYTES, STDIN_NAME, finish, parse_error, parse_text};

/// The most threads that read and parse files at once. Parsing dominates `validate` (see
/// `make bench-validate` in docs/performance.md), and files are independent.
const LOAD_THREADS: usize = 4;

/// The stack of a parsing thread: serde-saphyr, through serde, recurses once per level of
/// nesting, up to [`MAX_DEPTH`](super::MAX_DEPTH) levels, at about 50 KiB per level in a debug
/// build and 8 KiB in a release build. It is address space: only what a text needs is touched.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// One input: a file, or standard input (`-`).
struct Source {
    path: PathBuf,
    /// Found by walking a directory: if it does not parse, it may be skipped.
    found: bool,
}

/// A source's objects, and how many of its documents were not objects (when lenient).
type Loaded = Result<(Vec<Document>, usize), LoadError>;

/// Loads a file, or every `.yaml`, `.yml` and `.json` file under a directory.
///
/// Directories are walked recursively in path order; hidden entries (names starting with `.`)
/// are skipped, symbolic links are followed (each directory is visited once). A file named
/// explicitly is loaded whatever its extension.
pub fn load_path(path: &Path) -> Result<Vec<Document>, LoadError> {
    let mut sources = Vec::new();
    let listed = list_path(path, &mut sources);
    load_strictly(&sources, listed)
}

/// Loads several paths in order (see [`load_path`]); `-` reads standard input.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    let (sources, listed) = list_paths(paths);
    load_strictly(&sources, listed)
}

fn load_strictly(
    sources: &[Source],
    listed: Result<(), LoadError>,
) -> Result<Vec<Document>, LoadError> {
    let mut documents = Vec::new();
    for loaded in load_all(sources, false) {
        documents.extend(loaded?.0);
    }
    listed.map(|()| documents)
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
    let (sources, listed) = list_paths(paths);
    let mut inputs = Inputs::default();
    for (source, loaded) in sources.iter().zip(load_all(&sources, true)) {
        inputs.files += 1;
        match loaded {
            Ok((documents, not_objects)) => {
                inputs.documents.extend(documents);
                inputs.not_objects += not_objects;
            }
            Err(error @ LoadError::Parse { .. }) if source.found && !strict_files => {
                inputs.unparsable.push(error);
            }
            Err(error) => return Err(error),
        }
    }
    listed.map(|()| inputs)
}

/// The sources `paths` name, in order, and the error that ended the listing, if one did (the
/// sources before it are loaded first: their errors come first).
fn list_paths(paths: &[PathBuf]) -> (Vec<Source>, Result<(), LoadError>) {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN_NAME {
            sources.push(Source {
                path: path.clone(),
                found: false,
            });
        } else if let Err(error) = list_path(path, &mut sources) {
            return (sources, Err(error));
        }
    }
    (sources, Ok(()))
}

/// Adds a file named explicitly, or the files found under a directory, to `sources`.
fn list_path(path: &Path, sources: &mut Vec<Source>) -> Result<(), LoadError> {
    let meta = fs::metadata(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    if !meta.is_dir() {
        sources.push(Source {
            path: path.to_owned(),
            found: false,
        });
        return Ok(());
    }
    let mut files = Vec::new();
    walk_dir(path, &mut files, &mut HashSet::new())?;
    files.sort();
    sources.extend(files.into_iter().map(|path| Source { path, found: true }));
    Ok(())
}

/// Every source loaded, in order: leniently (documents that are not objects skipped and
/// counted) or not (they are errors).
fn load_all(sources: &[Source], lenient: bool) -> Vec<Loaded> {
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let loaded = on_parser_threads(sources, threads.min(LOAD_THREADS), |source| {
        load(source, lenient)
    });
    loaded.unwrap_or_else(|error| {
        let name = |source: &Source| source.path.display().to_string();
        let failed = |source| parse_error(&name(source), Pos::START, thread_failed(&error));
        sources.iter().map(|source| Err(failed(source))).collect()
    })
}

fn load(source: &Source, lenient: bool) -> Loaded {
    let (name, text) = if source.path.as_os_str() == STDIN_NAME {
        let text = read_limited(io::stdin().lock(), STDIN_NAME, &source.path)?;
        (STDIN_NAME.to_owned(), text)
    } else {
        read_file(&source.path)?
    };
    let parsed = parse_text(&name, &text)?;
    let mut skipped = 0;
    let documents = finish(&name, parsed, lenient.then_some(&mut skipped))?;
    Ok((documents, skipped))
}

/// `load` of every item, in item order, on up to `threads` threads with a stack sized for the
/// parser. An error only when no thread could be started.
pub(super) fn on_parser_threads<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    load: impl Fn(&I) -> T + Sync,
) -> io::Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, load(item)));
        }
    };
    let mut done: Vec<(usize, T)> = Vec::with_capacity(items.len());
    thread::scope(|scope| {
        let mut workers = Vec::new();
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            let worker = thread::Builder::new()
                .name("objects-parser".to_owned())
                .stack_size(PARSER_STACK_BYTES)
                .spawn_scoped(scope, work);
            match worker {
                Ok(worker) => workers.push(worker),
                Err(error) if workers.is_empty() => return Err(error),
                Err(_) => break,
            }
        }
        for worker in workers {
            let results = worker.join().unwrap_or_else(|p| panic::resume_unwind(p));
            done.extend(results);
        }
        Ok(())
    })?;
    done.sort_unstable_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, result)| result).collect())
}

pub(super) fn thread_failed(error: &io::Error) -> String {
    format!("cannot start a thread to parse on: {error}")
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
        let pos = Pos {
            line: to_u32(line),
            column: to_u32(col),
        };
        parse_error(source, pos, "invalid UTF-8 (only UTF-8 input is supported)")
    })
}
