//! Hostile request bodies, shared by `tests/hostile.rs` and `make bench-hostile`
//! (`examples/hostile.rs`, which includes this file by path).
//!
//! Each body is the sample AdmissionReview the apiserver sends for a BackendTLSPolicy
//! (`tests/fixtures/samples/admission-backendtlspolicy.json`), with one part blown up. Sizes are
//! parameters, so that the tests send small versions of the shapes the benchmark sends at full
//! size (up to the 7 MiB body limit).

#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// The sample review, as the apiserver sends it.
pub const SAMPLE_POLICY_REVIEW: &str =
    include_str!("../fixtures/samples/admission-backendtlspolicy.json");
/// The sample ConfigMap review (a bundle of three CA certificates, referenced by the sample
/// policy in `tests/fixtures/samples/objects.yaml`).
pub const SAMPLE_CONFIG_MAP_REVIEW: &str =
    include_str!("../fixtures/samples/admission-configmap-3certs.json");

/// The sample policy review, parsed.
pub fn sample() -> Value {
    serde_json::from_str(SAMPLE_POLICY_REVIEW).expect("the sample review is JSON")
}

/// The sample review with `edit` applied to its `request.object.spec`.
pub fn with_spec(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let mut review = sample();
    let spec = review["request"]["object"]["spec"]
        .as_object_mut()
        .expect("the sample has a spec");
    edit(spec);
    serde_json::to_vec(&review).expect("encodes")
}

/// The sample review with `edit` applied to its `request`.
pub fn with_request(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let mut review = sample();
    edit(review["request"].as_object_mut().expect("request"));
    serde_json::to_vec(&review).expect("encodes")
}

fn validation(spec: &mut Map<String, Value>) -> &mut Map<String, Value> {
    spec["validation"].as_object_mut().expect("validation")
}

/// `n` CA references, all to the sample's ConfigMap (`distinct`: each to its own, missing one).
pub fn ca_refs(n: usize, distinct: bool) -> Vec<u8> {
    with_spec(|spec| {
        let refs = (0..n)
            .map(|i| {
                let name = if distinct {
                    format!("ca-{i}")
                } else {
                    "payments-backend-ca".to_owned()
                };
                json!({"group": "", "kind": "ConfigMap", "name": name})
            })
            .collect();
        validation(spec).insert("caCertificateRefs".into(), Value::Array(refs));
    })
}

/// `n` distinct SAN hostnames.
pub fn san_hostnames(n: usize) -> Vec<u8> {
    sans((0..n).map(|i| json!({"type": "Hostname", "hostname": format!("h{i}.example.com")})))
}

/// `n` distinct SAN URIs.
pub fn san_uris(n: usize) -> Vec<u8> {
    sans(
        (0..n).map(
            |i| json!({"type": "URI", "uri": format!("spiffe://cluster.local/ns/shop/sa/x{i}")}),
        ),
    )
}

/// `n` empty SAN objects (each one a Required error, and all equal: duplicates).
pub fn san_empty(n: usize) -> Vec<u8> {
    sans((0..n).map(|_| json!({})))
}

/// `n` identical SAN hostnames (duplicates).
pub fn san_same(n: usize) -> Vec<u8> {
    sans((0..n).map(|_| json!({"type": "Hostname", "hostname": "same.example.com"})))
}

fn sans(items: impl Iterator<Item = Value>) -> Vec<u8> {
    let items: Vec<Value> = items.collect();
    with_spec(|spec| {
        validation(spec).insert("subjectAltNames".into(), Value::Array(items));
    })
}

/// `n` distinct Service targets.
pub fn targets(n: usize) -> Vec<u8> {
    with_spec(|spec| {
        let refs = (0..n)
            .map(|i| json!({"group": "", "kind": "Service", "name": format!("svc-{i}")}))
            .collect();
        spec.insert("targetRefs".into(), Value::Array(refs));
    })
}

/// `n` option keys, each un-prefixed (a warning each) and of `key_bytes` bytes at least.
pub fn options(n: usize, key_bytes: usize) -> Vec<u8> {
    with_spec(|spec| {
        let padding = "k".repeat(key_bytes);
        let map = (0..n)
            .map(|i| (format!("{padding}{i}"), json!("v")))
            .collect();
        spec.insert("options".into(), Value::Object(map));
    })
}

/// `n` unknown fields in `spec`.
pub fn unknown_fields(n: usize) -> Vec<u8> {
    with_spec(|spec| {
        for i in 0..n {
            spec.insert(format!("u{i}"), json!(1));
        }
    })
}

/// An unknown field holding lists nested `depth` deep, `width` wide at the bottom.
pub fn deep_unknown(depth: usize, width: usize) -> Vec<u8> {
    with_spec(|spec| {
        let mut value = Value::Array(vec![json!(0); width]);
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        spec.insert("deep".into(), value);
    })
}

/// A list of `n` zeros where a list of objects belongs (a type error per item).
pub fn wrong_type_items(n: usize) -> Vec<u8> {
    sans(std::iter::repeat_n(json!(0), n))
}

/// `spec.validation.hostname` set to `text`.
pub fn hostname(text: String) -> Vec<u8> {
    with_spec(|spec| {
        validation(spec).insert("hostname".into(), Value::String(text));
    })
}

/// An allowed policy carrying an unknown field with a string of `bytes` bytes (a warning only),
/// made distinct by `tag`.
pub fn allowed_with_padding(bytes: usize, tag: usize) -> Vec<u8> {
    with_spec(|spec| {
        spec.insert(format!("padding{tag}"), Value::String("p".repeat(bytes)));
    })
}

/// A field whose name holds terminal escapes and a newline.
pub fn control_characters() -> Vec<u8> {
    with_spec(|spec| {
        spec.insert("\u{1b}[31m\nred".into(), json!(1));
    })
}

/// `request.uid` of `bytes` bytes.
pub fn long_uid(bytes: usize) -> Vec<u8> {
    with_request(|request| {
        request.insert("uid".into(), Value::String("u".repeat(bytes)));
    })
}

/// `request.name` (and the object's name) of `bytes` bytes.
pub fn long_name(bytes: usize) -> Vec<u8> {
    with_request(|request| {
        let name = Value::String("n".repeat(bytes));
        request.insert("name".into(), name.clone());
        request["object"]["metadata"]["name"] = name;
    })
}

/// An UPDATE whose old and new objects each carry `n` invalid SANs (the lists differ, so
/// nothing ratchets).
pub fn update_with_lists(n: usize) -> Vec<u8> {
    let mut review = sample();
    let request = review["request"].as_object_mut().expect("request");
    request.insert("operation".into(), json!("UPDATE"));
    let object = request["object"].clone();
    let mut old = object.clone();
    let san =
        |i: usize, tag: &str| json!({"type": "Hostname", "hostname": format!("{tag}{i}.-bad")});
    request["object"]["spec"]["validation"]["subjectAltNames"] =
        Value::Array((0..n).map(|i| san(i, "n")).collect());
    old["spec"]["validation"]["subjectAltNames"] =
        Value::Array((0..n).map(|i| san(i, "o")).collect());
    request.insert("oldObject".into(), old);
    serde_json::to_vec(&review).expect("encodes")
}

/// The sample ConfigMap review with `ca.crt` replaced by `text`.
pub fn config_map_with_ca(text: String) -> Vec<u8> {
    let mut review: Value =
        serde_json::from_str(SAMPLE_CONFIG_MAP_REVIEW).expect("the sample review is JSON");
    review["request"]["object"]["data"]["ca.crt"] = Value::String(text);
    serde_json::to_vec(&review).expect("encodes")
}

/// `n` PEM blocks of garbage base64 (each a finding), about 100 bytes each.
pub fn garbage_pem(n: usize) -> String {
    let block = "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGUsIGp1c3QgYnl0ZXM=\n-----END CERTIFICATE-----\n";
    block.repeat(n)
}
