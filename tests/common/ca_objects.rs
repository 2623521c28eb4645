//! Objects the CA-source tests (in memory and against the fake apiserver) share, in `shop`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// The Service `payments-backend` with its `https` port.
pub fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments-backend", "namespace": "shop"},
           "spec": {"ports": [{"name": "https", "port": 443}]}})
}

/// An Opaque Secret with `data` (values base64-encoded, as the apiserver sends them).
pub fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(BASE64.encode(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": name, "namespace": "shop"}, "data": data})
}
