//! Tests of the loader: conversion, positions, limits and sources.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::*;

use crate::validate::FieldPath;

/// `spec.targetRefs[1].name` as a path: `.name` a field, `[1]` an index, `[key]` a key.
fn path(rendered: &str) -> FieldPath {
    let mut path = FieldPath::root();
    let mut rest = rendered;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').expect("closing bracket");
            let text = &inner[..close];
            path = match text.parse() {
                Ok(index) => path.index(index),
                Err(_) => path.key(text),
            };
            rest = &inner[close + 1..];
        } else {
            let name = rest.strip_prefix('.').unwrap_or(rest);
            let end = name.find(['.', '[']).unwrap_or(name.len());
            path = path.field_owned(&name[..end]);
            rest = &name[end..];
        }
    }
    path
}

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
    assert_eq!(
        docs[1].positions.value(&path("metadata.name")),
        Some((13, 9))
    );
    assert!(parse("").is_empty());
    assert!(parse("# nothing\n---\n---\n").is_empty());
    assert!(parse("--- null\n").is_empty());
    // A broken document anywhere fails the whole stream.
    assert_eq!(
        error("a: 1\n---\nb: [\n"),
        "t.yaml:3:4: unclosed bracket '['"
    );
}

#[test]
fn field_positions_in_yaml() {
    let docs = parse(POLICY);
    let p = &docs[0].positions;
    assert_eq!(p.value(&path("")), Some((1, 1)));
    assert_eq!(p.key(&path("")), None);
    assert_eq!(p.value(&path("metadata.name")), Some((4, 9)));
    assert_eq!(p.key(&path("metadata.name")), Some((4, 3)));
    assert_eq!(
        p.value(&path("spec.targetRefs[1].sectionName")),
        Some((15, 18))
    );
    assert_eq!(
        p.key(&path("spec.targetRefs[1].sectionName")),
        Some((15, 5))
    );
    assert_eq!(p.value(&path("spec.targetRefs[1]")), Some((12, 5)));
    assert_eq!(p.key(&path("spec.targetRefs[1]")), None);
    assert_eq!(p.value(&path("spec.targetRefs")), Some((9, 5)));
    assert_eq!(p.key(&path("spec.targetRefs")), Some((8, 3)));
    assert_eq!(p.key(&path("spec.options[example.com/foo]")), Some((19, 5)));
    assert_eq!(
        p.value(&path("spec.options[example.com/foo]")),
        Some((19, 22))
    );
    assert_eq!(p.key(&path("metadata.labels[app]")), Some((6, 5)));
    // A key is found as a field or as a map key alike; a step of the wrong kind, or past the
    // end of a list, finds nothing.
    assert_eq!(p.key(&path("metadata.labels.app")), Some((6, 5)));
    assert_eq!(p.value(&path("spec.options.example.com/foo")), None);
    assert_eq!(p.value(&path("spec[0]")), None);
    assert_eq!(p.value(&path("spec.targetRefs.name")), None);
    assert_eq!(p.value(&path("spec.targetRefs[2]")), None);
    assert_eq!(p.value(&path("apiVersion.x")), None);
    assert_eq!(p.value(&path("spec.validation.hostname")), Some((17, 15)));
    // nearest: the value, else the nearest ancestor.
    assert_eq!(p.nearest(&path("spec.targetRefs[1].sectionName")), (15, 18));
    assert_eq!(p.nearest(&path("spec.targetRefs[1].port")), (12, 5));
    assert_eq!(p.nearest(&path("spec.targetRefs[7].name")), (9, 5));
    assert_eq!(p.nearest(&path("spec.options[missing]")), (19, 5));
    assert_eq!(p.nearest(&path("nothing.at.all")), (1, 1));
    assert_eq!(p.nearest(&path("")), (1, 1));
    // locate: the key or the value when there is one, else the nearest.
    assert_eq!(
        p.locate(&path("spec.targetRefs[1].sectionName"), false),
        (15, 18)
    );
    assert_eq!(p.locate(&path("spec.targetRefs[7].name"), true), (9, 5));
    assert_eq!(p.locate(&path("metadata.labels[app]"), true), (6, 5));
    assert_ne!(p.locate(&path("metadata.labels[app]"), false), (6, 5));
}

#[test]
fn every_node_is_found_by_its_own_path() {
    let docs = parse(POLICY);
    let positions = &docs[0].positions;
    let paths: Vec<String> = positions.iter().map(|e| e.path.to_string()).collect();
    for expected in [
        "",
        "apiVersion",
        "metadata.name",
        "metadata.labels",
        "metadata.labels.app",
        "spec.targetRefs[0].group",
        "spec.targetRefs[1].sectionName",
        "spec.validation.hostname",
        "spec.options.example.com/foo",
    ] {
        assert!(
            paths.contains(&expected.to_owned()),
            "{expected} in {paths:?}"
        );
    }
    assert_eq!(paths.len(), positions.len());
    assert_eq!(paths[..3], ["", "apiVersion", "kind"], "document order");
    for entry in positions.iter() {
        assert_eq!(positions.value(&entry.path), entry.value, "{}", entry.path);
        assert_eq!(positions.key(&entry.path), entry.key, "{}", entry.path);
    }
}

#[test]
fn keys_are_looked_up_as_they_are_written() {
    let docs = parse(
        "spec:\n  a.b: 1\n  a:\n    c: 2\n  x[0]: 3\nmetadata:\n  annotations:\n    \"q]. [\": 4\n    \"\\e[31m\": 5\n",
    );
    let p = &docs[0].positions;
    let spec = FieldPath::root().field("spec");
    assert_eq!(p.value(&spec.field_owned("a.b")), Some((2, 8)));
    assert_eq!(p.value(&spec.field("a").field("c")), Some((4, 8)));
    assert_eq!(p.value(&spec.field_owned("x[0]")), Some((5, 9)));
    let annotations = FieldPath::root().field("metadata").field("annotations");
    assert_eq!(p.value(&annotations.key("q]. [")), Some((8, 14)));
    // A key that renders escaped (`[\x1b[31m]`) is found by its text.
    assert_eq!(p.value(&annotations.key("\u{1b}[31m")), Some((9, 15)));
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
    assert_eq!(p.key(&path("data[ca.crt]")), Some((6, 3)));
    assert_eq!(p.value(&path("data[ca.crt]")), Some((7, 5)));
    assert_eq!(p.value(&path("data.ca.crt")), None);
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
    assert_eq!(p.value(&path("")), Some((1, 1)));
    assert_eq!(p.key(&path("kind")), Some((1, 22)));
    assert_eq!(p.value(&path("kind")), Some((1, 30)));
    assert_eq!(p.value(&path("metadata.name")), Some((2, 23)));
    // Columns count characters: "ü" is one.
    assert_eq!(p.key(&path("metadata.labels[a]")), Some((2, 39)));
    assert_eq!(p.value(&path("data[x]")), Some((3, 16)));
    // A stream of JSON values is several documents.
    let docs = parse("{\"a\": 1}\n{\"b\": [1, 2.5, true, null]}");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].index, 1);
    assert_eq!(docs[1].value, json!({"b": [1, 2.5, true, null]}));
    assert_eq!(docs[1].positions.value(&path("b[3]")), Some((2, 22)));
    // Several on a line, a final line break; positions and errors are in the whole text.
    let docs = parse("{\"a\": 1} {\"b\": 2}\n  {\"c\": [3]}\n");
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[2].index, 2);
    assert_eq!(docs[1].positions.value(&path("b")), Some((1, 16)));
    assert_eq!(docs[2].positions.value(&path("c[0]")), Some((2, 10)));
    assert_eq!(
        error("{\"a\": 1}\n{\"a\": 1, \"a\": 2}\n"),
        "t.yaml:2:10: duplicate key \"a\" in mapping"
    );
}

#[test]
fn json_errors() {
    // JSON is read as YAML: its errors are the YAML parser's.
    assert_eq!(
        error("{\"a\" 1}"),
        "t.yaml:1:6: invalid trailing content after double-quoted scalar"
    );
    assert_eq!(
        error("{\"a\": 1,\n \"a\": 2}"),
        "t.yaml:2:2: duplicate key \"a\" in mapping"
    );
    assert_eq!(
        error("{\"a\": 1e400}"),
        "t.yaml:1:7: .inf is not a finite number and cannot be represented in JSON"
    );
    assert_eq!(
        error("[1, 2]"),
        "t.yaml:1:1: document 1: expected a Kubernetes object (a mapping), got a sequence"
    );
    assert_eq!(
        error("{\"a\": \"\\q\"}"),
        "t.yaml:1:7: while parsing a quoted scalar, found unknown escape character"
    );
    // Not JSON but valid YAML: accepted as YAML.
    assert_eq!(
        parse("{a: 1, b: [x]}")[0].value,
        json!({"a": 1, "b": ["x"]})
    );
}

/// JSON strings may hold characters YAML refuses (DEL, C1 controls, U+FFFE), and keys longer
/// than YAML's 1,024 characters: such JSON still loads, without positions.
#[test]
fn json_that_yaml_refuses_still_loads() {
    let long = "k".repeat(1100);
    for text in [
        "{\"a\": \"\u{7f}\u{9b}\u{fffe}\"}".to_owned(),
        format!("{{\"{long}\": 1}}"),
        "{\"a\": 1}\n{\"b\": \"\u{7f}\"}\n".to_owned(),
    ] {
        let docs = parse(&text);
        let again: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let values: Vec<Value> = docs.iter().map(|d| d.value.clone()).collect();
        assert_eq!(values, again);
        assert!(docs.iter().all(|d| d.positions.is_empty()));
        assert_eq!(docs[0].positions.nearest(&path("a")), (1, 1));
    }
    // YAML that holds them escaped loads, and so does its JSON form.
    let docs = parse("a: \"\\x7f\\x9b\\uFFFE\"\n");
    assert_eq!(docs[0].value, json!({"a": "\u{7f}\u{9b}\u{fffe}"}));
    let json = serde_json::to_string(&docs[0].value).unwrap();
    assert_eq!(parse(&json)[0].value, docs[0].value);
    // Only valid JSON: anything else keeps the parser's error.
    assert_eq!(
        error("{\"a\": \"\u{7f}\", }"),
        "t.yaml:1:8: unexpected character: `\\u{7f}'"
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
    assert_eq!(p.value(&path("")), Some((3, 3)));
    assert_eq!(p.value(&path("metadata.name")), Some((4, 25)));
    assert_eq!(p.key(&path("metadata.labels[x]")), Some((4, 41)));
    assert_eq!(p.value(&path("metadata.labels[x]")), Some((4, 46)));
    assert_eq!(p.value(&path("items[1].metadata.name")), None);
}

#[test]
fn yaml_list_is_expanded() {
    let docs = parse(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n    labels:\n      k: v\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n---\nkind: Other\n",
    );
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0].value["metadata"]["name"], "a");
    assert_eq!((docs[0].index, docs[1].index, docs[2].index), (0, 0, 1));
    assert_eq!(
        docs[0].positions.value(&path("metadata.name")),
        Some((7, 11))
    );
    assert_eq!(
        docs[0].positions.key(&path("metadata.labels[k]")),
        Some((9, 7))
    );
    assert_eq!(docs[1].positions.value(&path("kind")), Some((11, 9)));
    assert_eq!(docs[1].positions.nearest(&path("spec.x")), (10, 3));
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
        "t.yaml:4:3: duplicate key \"c\" in mapping"
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
    assert_eq!(error("a: \"unterminated\n"), "t.yaml:1:4: unclosed quote");
    assert_eq!(
        error("a: *nope\n"),
        "t.yaml:1:4: alias references unknown anchor"
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
    assert_eq!(docs[0].positions.value(&path("b")), Some((2, 2)));
}

/// How the less common spellings of numbers read, pinned so that a change in serde-saphyr
/// shows. The old loader (saphyr, YAML 1.2 core only) read `0755` as 755, `0b101`, `-0x1F` and
/// `+0x1F` as strings, and 9223372036854775808 as a float.
#[test]
fn number_spellings() {
    let docs = parse(
        "a: 0o17\nb: 0b101\nc: -0x1F\nd: 0755\ne: 1_000\nf: 9223372036854775808\n\
         g: 18446744073709551616\nh: .5\ni: 1.\nj: +12\nk: 0X1F\nl: TRUE\nm: 12e03\n",
    );
    assert_eq!(
        docs[0].value,
        json!({"a": 15, "b": 5, "c": -31, "d": 755.0, "e": "1_000",
               "f": 9_223_372_036_854_775_808_u64, "g": 18_446_744_073_709_551_616.0, "h": 0.5,
               "i": 1.0, "j": 12, "k": "0X1F", "l": true, "m": 12000.0})
    );
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
    assert_eq!(docs[0].positions.key(&path("true")), Some((2, 1)));
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
    assert_eq!(docs[0].positions.value(&path("b")), Some((2, 4)));
    assert_eq!(docs[0].positions.value(&path("b.p")), Some((1, 11)));
    assert_eq!(docs[0].positions.key(&path("b.p")), Some((1, 8)));
    let docs = parse(
        "a: !custom 5\nb: !!binary aGk=\nc: !!str true\nd: !mytag {x: 1}\ne: !!float 2\nf: !t [1]\n",
    );
    assert_eq!(
        docs[0].value,
        json!({"a": 5, "b": "aGk=", "c": "true", "d": {"x": 1}, "e": 2.0, "f": [1]})
    );
    // A tagged node is where its content is, after the tag.
    assert_eq!(docs[0].positions.value(&path("a")), Some((1, 12)));
    assert_eq!(docs[0].positions.value(&path("d.x")), Some((4, 15)));
    // A core tag on a scalar that is not of its type is an error, at the scalar.
    assert_eq!(error("a: !!int abc\n"), "t.yaml:1:10: invalid u64");
    assert_eq!(
        error("a: !!bool maybe\n"),
        "t.yaml:1:11: invalid boolean (strict mode expects true/false)"
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
    // Each document is small; together they expand to more than the stream's budget.
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
fn alias_expansion_is_bounded_in_text() {
    // A 64 KiB string used 1,000 times: 64 MiB of text from 70 KiB of input. The alias that
    // crosses the budget (about 16 MiB) is reported.
    let text = format!(
        "a: &s \"{}\"\nb: [{}]\n",
        "x".repeat(64 * 1024),
        vec!["*s"; 1000].join(", ")
    );
    assert_eq!(
        error(&text),
        "t.yaml:2:1041: the input expands to too much text (too many aliases?)"
    );
}

#[test]
fn documents_are_independent() {
    // Anchors do not cross documents; errors carry absolute line numbers.
    assert_eq!(
        error("a: &x 1\n---\nb: *x\n"),
        "t.yaml:3:4: alias references unknown anchor"
    );
    assert_eq!(
        error("a: 1\n---\nb: 1\n---\nc: [\n"),
        "t.yaml:5:4: unclosed bracket '['"
    );
    // `---` inside an indented block scalar is content.
    let docs = parse("data:\n  x: |\n    ---\n    y\n---\nz: 1\n");
    assert_eq!(docs[0].value["data"]["x"], "---\ny\n");
    assert_eq!(docs[1].positions.value(&path("z")), Some((6, 4)));
    // Directives keep the stream whole.
    let docs = parse("%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].positions.value(&path("b")), Some((7, 4)));
    // A byte order mark is ignored.
    assert_eq!(parse("\u{feff}a: 1\n")[0].value, json!({"a": 1}));
    let docs = parse("\u{feff}{\"a\": 1}");
    assert_eq!(docs[0].positions.value(&path("a")), Some((1, 7)));
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
    assert!(text.len() > 1024 * 1024);
    let docs = parse(&text);
    assert_eq!(docs.len(), 5000);
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(d.index, i);
        assert_eq!(d.value["metadata"]["name"], format!("cm-{i}"));
        assert_eq!(
            d.positions.value(&path("metadata.name")),
            Some((7 * i + 5, 9))
        );
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
    assert_eq!(ok[0].positions.value(&path("k0.k1.k2")), Some((4, 4)));
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
        "t.yaml:1:513: nesting deeper than 256 levels"
    );
    assert_eq!(
        error(&format!("a: {}{}\n", "[".repeat(300), "]".repeat(300))),
        "t.yaml:1:259: nesting deeper than 256 levels"
    );
    // Short enough for the scanner to reach its end first: the unclosed bracket is reported.
    assert_eq!(
        error(&format!("a: {}\n", "[".repeat(300))),
        "t.yaml:1:303: unclosed bracket '['"
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

/// Files are parsed on several threads; documents, skipped files and the error reported are in
/// input order all the same.
#[test]
fn files_load_in_input_order() {
    let dir = temp_tree("order");
    for i in 0..40 {
        let text = if i % 13 == 7 {
            "a: [\n".to_owned()
        } else {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n")
        };
        fs::write(dir.join(format!("f{i:02}.yaml")), text).unwrap();
    }
    let inputs = load_inputs(std::slice::from_ref(&dir), false).unwrap();
    let names: Vec<&str> = inputs
        .documents
        .iter()
        .map(|d| d.value["metadata"]["name"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..40)
        .filter(|i| i % 13 != 7)
        .map(|i| format!("cm-{i}"))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(inputs.files, 40);
    let skipped: Vec<&str> = inputs
        .unparsable
        .iter()
        .map(|e| e.location().unwrap().0)
        .collect();
    let broken = |i: usize| dir.join(format!("f{i:02}.yaml")).display().to_string();
    assert_eq!(skipped, [broken(7), broken(20), broken(33)]);
    let e = load_path(&dir).unwrap_err();
    assert_eq!(e.location().map(|l| l.0.to_owned()), Some(broken(7)));
    // A path that cannot be read comes after the files before it.
    let e = load_paths(&[dir.join("f07.yaml"), dir.join("missing.yaml")]).unwrap_err();
    assert_eq!(e.location().map(|l| l.0.to_owned()), Some(broken(7)));
    let e = load_paths(&[dir.join("f00.yaml"), dir.join("missing.yaml")]).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
    fs::remove_dir_all(&dir).unwrap();
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
        e.starts_with(&format!("{}:1:4: ", dir.join("sub/bad.yaml").display())),
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
            .value(&path("spec.targetRefs[1].name"))
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
