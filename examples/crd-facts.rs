//! Extracts the validation facts of BackendTLSPolicy CRDs into one JSON document.
//!
//! ```text
//! cargo run --example crd-facts -- <crd.yaml>... > tests/fixtures/crd-facts.json
//! ```
//!
//! `make crds` runs it on the upstream CRDs in `../shared/gateway-api`. For every served or
//! listed version it prints each schema node (path, type, whether its parent requires it, and
//! the constraint keywords) and each `x-kubernetes-validations` rule, with all `description`
//! prose left out. `tests/crd_facts.rs` checks the webhook's schema and behaviour against the
//! result, so a CRD update shows up as failing tests.
//!
//! Paths join properties with `.` and write `items` and `additionalProperties` as `[*]`; the
//! root is `""`. Schema keywords the extractor does not know are listed in `otherKeywords`
//! rather than dropped. Output goes to stdout; errors go to stderr with exit status 2.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use saphyr::{LoadableYamlNode as _, Scalar, Yaml};
use serde::ser::{Serialize, SerializeMap as _, Serializer};
use serde_json::Value;

/// CRD annotation naming the Gateway API release.
const BUNDLE_VERSION: &str = "gateway.networking.k8s.io/bundle-version";
/// CRD annotation naming the release channel.
const CHANNEL: &str = "gateway.networking.k8s.io/channel";

/// The keywords copied from each schema node, in output order. `required` is the exception:
/// the output says whether the parent lists the node, computed from the parent's `required`.
const NODE_FACTS: [&str; 15] = [
    "type",
    "format",
    "required",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "minItems",
    "maxItems",
    "maxProperties",
    "minimum",
    "maximum",
    "default",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
];

/// Keywords that shape the tree (walked, not copied) or are prose (dropped).
const STRUCTURE: [&str; 6] = [
    "description",
    "properties",
    "items",
    "additionalProperties",
    "required",
    "x-kubernetes-validations",
];

/// The keys copied from each `x-kubernetes-validations` entry, in output order.
const RULE_FACTS: [&str; 6] = [
    "rule",
    "message",
    "messageExpression",
    "reason",
    "fieldPath",
    "optionalOldSelf",
];

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: crd-facts <crd.yaml>...");
        return ExitCode::from(2);
    }
    match render(&files) {
        Ok(json) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(json.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("crd-facts: writing stdout: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Err(error) => {
            eprintln!("crd-facts: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The whole output: pretty JSON with a trailing newline.
fn render(files: &[String]) -> Result<String> {
    let crds = files
        .iter()
        .map(|file| read_crd(file))
        .collect::<Result<Vec<_>>>()?;
    let facts = Facts {
        generated_from: crds.iter().map(|crd| crd.source.clone()).collect(),
        crds,
    };
    let mut json = serde_json::to_string_pretty(&facts)?;
    json.push('\n');
    Ok(json)
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Facts {
    generated_from: Vec<Source>,
    crds: Vec<Crd>,
}

/// Which file, release and channel a CRD came from.
#[derive(Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    file: String,
    bundle_version: String,
    channel: String,
}

#[derive(serde::Serialize)]
struct Crd {
    #[serde(flatten)]
    source: Source,
    versions: Vec<Version>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    name: String,
    served: bool,
    storage: bool,
    deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecation_warning: Option<String>,
    nodes: Vec<Fields>,
    rules: Vec<Fields>,
}

/// A JSON object whose keys keep the order they were added in.
struct Fields(Vec<(&'static str, Value)>);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn read_crd(file: &str) -> Result<Crd> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let documents = Yaml::load_from_str(&text).map_err(|e| anyhow!("{file}: {e}"))?;
    let mut crds = documents
        .iter()
        .filter(|doc| get(doc, "kind").and_then(Yaml::as_str) == Some("CustomResourceDefinition"));
    let (Some(crd), None) = (crds.next(), crds.next()) else {
        bail!("{file}: expected exactly one CustomResourceDefinition document");
    };
    let name = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{file}: no file name"))?;
    let annotation = |key: &str| {
        get_path(crd, &["metadata", "annotations", key])
            .and_then(Yaml::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{file}: no metadata.annotations[{key}]"))
    };
    let source = Source {
        file: name.to_owned(),
        bundle_version: annotation(BUNDLE_VERSION)?,
        channel: annotation(CHANNEL)?,
    };
    let versions = get_path(crd, &["spec", "versions"])
        .and_then(Yaml::as_sequence)
        .ok_or_else(|| anyhow!("{file}: no spec.versions list"))?;
    let versions = versions
        .iter()
        .enumerate()
        .map(|(i, version)| {
            read_version(version).with_context(|| format!("{file}: spec.versions[{i}]"))
        })
        .collect::<Result<_>>()?;
    Ok(Crd { source, versions })
}

fn read_version(version: &Yaml) -> Result<Version> {
    let text = |key: &str| get(version, key).and_then(Yaml::as_str).map(str::to_owned);
    let flag = |key: &str| {
        get(version, key).map(|v| v.as_bool().ok_or_else(|| anyhow!("{key} is not a boolean")))
    };
    let name = text("name").ok_or_else(|| anyhow!("no name"))?;
    let schema = get_path(version, &["schema", "openAPIV3Schema"])
        .ok_or_else(|| anyhow!("{name}: no schema.openAPIV3Schema"))?;
    let mut tree = Tree::default();
    tree.walk(schema, "", false)
        .with_context(|| format!("version {name}"))?;
    Ok(Version {
        served: flag("served").ok_or_else(|| anyhow!("{name}: no served"))??,
        storage: flag("storage").ok_or_else(|| anyhow!("{name}: no storage"))??,
        deprecated: flag("deprecated").transpose()?.unwrap_or(false),
        deprecation_warning: text("deprecationWarning"),
        name,
        nodes: tree.nodes,
        rules: tree.rules,
    })
}

/// The facts of one schema, collected in document order.
#[derive(Default)]
struct Tree {
    nodes: Vec<Fields>,
    rules: Vec<Fields>,
}

impl Tree {
    fn walk(&mut self, schema: &Yaml, path: &str, required: bool) -> Result<()> {
        let at = if path.is_empty() { "<root>" } else { path };
        let map = schema
            .as_mapping()
            .ok_or_else(|| anyhow!("{at}: schema is not a mapping"))?;

        let mut fields = vec![("path", Value::from(path))];
        for keyword in NODE_FACTS {
            if keyword == "required" {
                fields.push(("required", Value::Bool(required)));
            } else if let Some(value) = get(schema, keyword) {
                fields.push((
                    keyword,
                    to_json(value).with_context(|| format!("{at}: {keyword}"))?,
                ));
            }
        }
        let mut other: Vec<String> = map
            .keys()
            .map(|key| {
                key.as_str()
                    .ok_or_else(|| anyhow!("{at}: a schema keyword is not a string"))
            })
            .filter(|key| !matches!(key, Ok(k) if NODE_FACTS.contains(k) || STRUCTURE.contains(k)))
            .map(|key| key.map(str::to_owned))
            .collect::<Result<_>>()?;
        if !other.is_empty() {
            other.sort();
            fields.push(("otherKeywords", other.into()));
        }
        self.nodes.push(Fields(fields));

        if let Some(rules) = get(schema, "x-kubernetes-validations") {
            let rules = rules
                .as_sequence()
                .ok_or_else(|| anyhow!("{at}: x-kubernetes-validations is not a list"))?;
            for rule in rules {
                self.rules.push(
                    read_rule(rule, path)
                        .with_context(|| format!("{at}: x-kubernetes-validations"))?,
                );
            }
        }

        let required_names = match get(schema, "required") {
            None => Vec::new(),
            Some(list) => list
                .as_sequence()
                .and_then(|items| items.iter().map(Yaml::as_str).collect::<Option<Vec<_>>>())
                .ok_or_else(|| anyhow!("{at}: required is not a list of names"))?,
        };
        let properties = match get(schema, "properties") {
            None => None,
            Some(p) => Some(
                p.as_mapping()
                    .ok_or_else(|| anyhow!("{at}: properties is not a mapping"))?,
            ),
        };
        for name in &required_names {
            let declared = properties.is_some_and(|p| p.keys().any(|k| k.as_str() == Some(name)));
            ensure!(declared, "{at}: required property {name:?} is not declared");
        }
        for (name, child) in properties.into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| anyhow!("{at}: a property name is not a string"))?;
            let child_path = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            self.walk(child, &child_path, required_names.contains(&name))?;
        }
        for keyword in ["items", "additionalProperties"] {
            if let Some(child) = get(schema, keyword) {
                ensure!(child.is_mapping(), "{at}: {keyword} is not a schema");
                self.walk(child, &format!("{path}[*]"), false)?;
            }
        }
        Ok(())
    }
}

fn read_rule(rule: &Yaml, path: &str) -> Result<Fields> {
    let map = rule
        .as_mapping()
        .ok_or_else(|| anyhow!("a rule is not a mapping"))?;
    let mut fields = vec![("path", Value::from(path))];
    for key in RULE_FACTS {
        if let Some(value) = get(rule, key) {
            fields.push((key, to_json(value).with_context(|| key.to_owned())?));
        }
    }
    ensure!(get(rule, "rule").is_some(), "a rule has no rule expression");
    let mut other: Vec<String> = map
        .keys()
        .filter_map(|key| {
            key.as_str()
                .filter(|k| !RULE_FACTS.contains(k))
                .map(str::to_owned)
        })
        .collect();
    if !other.is_empty() {
        other.sort();
        fields.push(("otherKeywords", other.into()));
    }
    Ok(Fields(fields))
}

/// A mapping's value by string key.
fn get<'a>(node: &'a Yaml<'a>, key: &str) -> Option<&'a Yaml<'a>> {
    node.as_mapping_get(key)
}

fn get_path<'a>(node: &'a Yaml<'a>, keys: &[&str]) -> Option<&'a Yaml<'a>> {
    keys.iter().try_fold(node, |node, key| get(node, key))
}

/// A YAML value as JSON (mapping keys must be strings).
fn to_json(node: &Yaml) -> Result<Value> {
    Ok(match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => Value::from(*i),
        Yaml::Value(Scalar::FloatingPoint(f)) => serde_json::Number::from_f64(f.0)
            .map(Value::Number)
            .ok_or_else(|| anyhow!("{} has no JSON form", f.0))?,
        Yaml::Value(Scalar::String(s)) => Value::from(s.as_ref()),
        Yaml::Sequence(items) => items.iter().map(to_json).collect::<Result<_>>()?,
        Yaml::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let key = k
                    .as_str()
                    .ok_or_else(|| anyhow!("a mapping key is not a string"))?;
                Ok((key.to_owned(), to_json(v)?))
            })
            .collect::<Result<serde_json::Map<_, _>>>()?
            .into(),
        other => bail!("unsupported YAML node {other:?}"),
    })
}
