//! Decoding `request.object` and `request.oldObject` into JSON values without the parts no
//! rule reads. An object as the apiserver sends it carries `metadata.managedFields`, labels,
//! annotations (often the whole object again, as `kubectl.kubernetes.io/last-applied-
//! configuration`) and, for ConfigMaps, every data key. Building JSON trees for them costs
//! more than validating the spec, so the decoder skips them while parsing:
//!
//! - `metadata` keeps only `name`, `generateName`, `namespace`, `uid` and
//!   `creationTimestamp`;
//! - `data` and `binaryData` keep only `ca.crt`;
//! - everything else (`apiVersion`, `kind`, `spec`, `status`, unknown fields) is kept whole.
//!
//! A `metadata`, `data` or `binaryData` that is not an object is kept as it is, so that the
//! schema walk reports its type.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::validate::CA_KEY;

/// The metadata fields the validators read.
const METADATA_KEPT: [&str; 5] = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "creationTimestamp",
];

/// Decodes an optional object (`null` gives `None`), pruned as described above.
pub(crate) fn object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    let value = deserializer.deserialize_any(Pruning(Level::Object))?;
    Ok((!value.is_null()).then_some(value))
}

/// Which part of the object is being read.
#[derive(Clone, Copy)]
enum Level {
    /// The object itself.
    Object,
    /// Its `metadata`.
    Metadata,
    /// Its `data` or `binaryData`.
    Data,
}

impl Level {
    fn keeps(self, key: &str) -> bool {
        match self {
            Self::Object => true,
            Self::Metadata => METADATA_KEPT.contains(&key),
            Self::Data => key == CA_KEY,
        }
    }

    fn child(self, key: &str) -> Option<Level> {
        match (self, key) {
            (Self::Object, "metadata") => Some(Self::Metadata),
            (Self::Object, "data" | "binaryData") => Some(Self::Data),
            _ => None,
        }
    }
}

/// A map key, borrowed from the input when it has no escapes (skipped keys then cost no
/// allocation).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads a value, pruning maps at the given level; non-map values are read whole.
struct Pruning(Level);

impl<'de> DeserializeSeed<'de> for Pruning {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruning {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !self.0.keeps(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = match self.0.child(&key) {
                Some(level) => map.next_value_seed(Pruning(level))?,
                None => map.next_value::<Value>()?,
            };
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "super::object")]
        object: Option<serde_json::Value>,
    }

    fn prune(object: serde_json::Value) -> Option<serde_json::Value> {
        serde_json::from_value::<Holder>(json!({ "object": object }))
            .expect("decodes")
            .object
    }

    #[test]
    fn metadata_and_data_keep_only_what_rules_read() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": "shop", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"a": "b"}, "annotations": {"x": "y"}, "managedFields": [{"manager": "m"}]},
            "data": {"ca.crt": "PEM", "other": "big"},
            "binaryData": {"ca.crt": "UEVN", "blob": "AAAA"},
            "spec": {"deep": {"kept": [1, 2, {"x": null}]}},
            "extra": true
        });
        assert_eq!(
            prune(object),
            Some(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "ca", "namespace": "shop", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "data": {"ca.crt": "PEM"},
                "binaryData": {"ca.crt": "UEVN"},
                "spec": {"deep": {"kept": [1, 2, {"x": null}]}},
                "extra": true
            }))
        );
    }

    #[test]
    fn wrong_types_are_kept_for_the_schema_walk() {
        assert_eq!(
            prune(json!({"metadata": "x", "data": [1]})),
            Some(json!({"metadata": "x", "data": [1]}))
        );
        assert_eq!(prune(json!([1, "a"])), Some(json!([1, "a"])));
        assert_eq!(prune(json!(null)), None);
        assert_eq!(prune(json!(-3.5)), Some(json!(-3.5)));
    }
}
