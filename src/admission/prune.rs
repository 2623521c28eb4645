//! Decoding `request.object` and `request.oldObject` into JSON values without the parts no
//! rule reads. An object as the apiserver sends it carries `metadata.managedFields`, labels,
//! annotations (often the whole object again, as `kubectl.kubernetes.io/last-applied-
//! configuration`) and, for ConfigMaps, every data key. Building JSON trees for them costs
//! more than validating the spec, so the decoder skips them while parsing:
//!
//! - `metadata` keeps only `name`, `generateName`, `namespace`, `uid` and
//!   `creationTimestamp`;
//! - `data`, `binaryData` and (in files) `stringData` keep only the keys a CA bundle may be
//!   read from ([`KNOWN_CA_KEYS`]); a dropped value that holds a PEM private key (or a
//!   dropped `tls.key`) leaves its key with the value `true`, so that a Secret's review can
//!   say it holds a private key without keeping it;
//! - everything else (`apiVersion`, `kind`, `spec`, `status`, unknown fields) is kept whole.
//!
//! A `metadata`, `data` or `binaryData` that is not an object is kept as it is, so that the
//! schema walk reports its type.
//!
//! The tree built is bounded by the body it comes from. A JSON value takes 32 bytes in memory
//! whatever its text (`0` is one byte), and an object's first member allocates a map node of
//! about 640 bytes, so a body of a few MiB of `[{"a":0},...]` would otherwise decode into
//! hundreds of MiB. Each decoding has a [`DecodingBudget`] in units of one value's size: a value
//! costs one unit, an object's first member 20 more, each further member 2. [`budget_for`] gives a
//! body of `n` bytes `(n + 256 KiB) / 32` units: its decoded structure takes at most about its
//! own size plus 256 KiB (its strings, bounded by the body limit, at most their own size).
//! Past the budget, decoding stops with an error. No object a rule could judge comes close: a
//! BackendTLSPolicy with every list at its maximum (16 targets, 8 CA references, 5 SANs, 16
//! options) and a full status take under 3,000 units; what the budget refuses are lists of
//! thousands of items, far past any `maxItems`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::validate::profile::KNOWN_CA_KEYS;
use crate::validate::snapshot::holds_private_key_encoded;

/// The metadata fields the validators read.
const METADATA_KEPT: [&str; 5] = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "creationTimestamp",
];

/// Units of decoding budget per byte of body are 1/32: see the module documentation.
const BYTES_PER_UNIT: usize = 32;
/// Units every body gets besides its share.
const BASE_UNITS: usize = 256 * 1024 / BYTES_PER_UNIT;
/// Cost of an object's first member (a map node), in units.
const MAP_NODE_UNITS: usize = 20;
/// Cost of each further member, in units.
const MEMBER_UNITS: usize = 2;

/// The decoding budget of a body of `bytes` bytes, in units.
pub(crate) fn budget_for(bytes: usize) -> usize {
    BASE_UNITS + bytes / BYTES_PER_UNIT
}

thread_local! {
    /// Units left to the decoding in progress on this thread ([`DecodingBudget::run`]);
    /// `usize::MAX` outside one.
    static UNITS_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The decoding budget of one body, shared by its objects: set for the duration of a
/// (synchronous) decoding on this thread, read by the pruning visitor.
pub(crate) struct DecodingBudget;

impl DecodingBudget {
    /// Runs `decode` with `units` of budget for the objects it decodes.
    pub(crate) fn run<T>(units: usize, decode: impl FnOnce() -> T) -> T {
        let outer = UNITS_LEFT.replace(units);
        let result = decode();
        UNITS_LEFT.set(outer);
        result
    }

    /// Spends `units`, or fails when the budget is exhausted.
    fn spend<E: de::Error>(units: usize) -> Result<(), E> {
        UNITS_LEFT.with(|left| match left.get().checked_sub(units) {
            Some(rest) => {
                left.set(rest);
                Ok(())
            }
            None => Err(E::custom(format_args!(
                "too many JSON values: its decoded form would take more memory than its body                  allows ({} bytes per value; no BackendTLSPolicy or ConfigMap comes near this)",
                BYTES_PER_UNIT
            ))),
        })
    }
}

/// Decodes an optional object (`null` gives `None`), pruned as described above, within the
/// [`DecodingBudget`] in force.
pub(crate) fn object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    let value = deserializer.deserialize_any(Pruning(Level::Object))?;
    Ok((!value.is_null()).then_some(value))
}

/// Which part of the object is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The object itself.
    Object,
    /// Its `metadata`.
    Metadata,
    /// Its `data` or `binaryData`.
    Data,
    /// Anything else: kept whole.
    Whole,
}

impl Level {
    fn keeps(self, key: &str) -> bool {
        match self {
            Self::Object | Self::Whole => true,
            Self::Metadata => METADATA_KEPT.contains(&key),
            Self::Data => KNOWN_CA_KEYS.contains(&key),
        }
    }

    fn child(self, key: &str) -> Level {
        match (self, key) {
            (Self::Object, "metadata") => Self::Metadata,
            (Self::Object, "data" | "binaryData" | "stringData") => Self::Data,
            _ => Self::Whole,
        }
    }
}

/// A map key, borrowed from the input when it has no escapes (skipped keys then cost no
/// allocation).
struct MapKey<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for MapKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapKeyVisitor;
        impl<'de> Visitor<'de> for MapKeyVisitor {
            type Value = MapKey<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MapKey<'de>, E> {
                Ok(MapKey(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapKey<'de>, E> {
                Ok(MapKey(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<MapKey<'de>, E> {
                Ok(MapKey(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(MapKeyVisitor)
    }
}

/// Whether a dropped `data` value holds a private key; the value itself is not kept.
struct PrivateKey(bool);

impl<'de> serde::Deserialize<'de> for PrivateKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scan;
        impl<'de> Visitor<'de> for Scan {
            type Value = PrivateKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a data value")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PrivateKey, E> {
                Ok(PrivateKey(holds_private_key_encoded(v)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PrivateKey, A::Error> {
                IgnoredAny.visit_map(map).map(|_| PrivateKey(false))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PrivateKey, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| PrivateKey(false))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<PrivateKey, E> {
                Ok(PrivateKey(false))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<PrivateKey, E> {
                Ok(PrivateKey(false))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<PrivateKey, E> {
                Ok(PrivateKey(false))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<PrivateKey, E> {
                Ok(PrivateKey(false))
            }

            fn visit_unit<E: de::Error>(self) -> Result<PrivateKey, E> {
                Ok(PrivateKey(false))
            }
        }
        deserializer.deserialize_any(Scan)
    }
}

/// Reads a value, pruning maps at the given level (non-map values are read whole), spending the
/// [`DecodingBudget`] on what it keeps.
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
        DecodingBudget::spend(1)?;
        let mut out = Map::new();
        while let Some(MapKey(key)) = map.next_key::<MapKey<'de>>()? {
            if !self.0.keeps(&key) {
                if self.0 == Level::Data {
                    let PrivateKey(found) = map.next_value::<PrivateKey>()?;
                    if found || key == "tls.key" {
                        DecodingBudget::spend(MEMBER_UNITS)?;
                        out.insert(key.into_owned(), Value::Bool(true));
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                continue;
            }
            DecodingBudget::spend(if out.is_empty() {
                MAP_NODE_UNITS
            } else {
                MEMBER_UNITS
            })?;
            let value = map.next_value_seed(Pruning(self.0.child(&key)))?;
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        DecodingBudget::spend(1)?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(Pruning(Level::Whole))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        DecodingBudget::spend(1)?;
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
    fn secret_data_keeps_ca_keys_and_marks_private_keys_without_their_values() {
        // base64 of "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n".
        let key =
            "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCngKLS0tLS1FTkQgRUMgUFJJVkFURSBLRVktLS0tLQo=";
        let object = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "data": {"ca.crt": "Q0E=", "tls.crt": "TEVBRg==", "tls.key": "eA==", "password": "aHVudGVyMg==",
                     "bundle.pem": key},
            "stringData": {"cacert": "PEM", "notes": "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----", "other": "x"}
        });
        assert_eq!(
            prune(object),
            Some(json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "data": {"ca.crt": "Q0E=", "tls.crt": "TEVBRg==", "tls.key": true, "bundle.pem": true},
                "stringData": {"cacert": "PEM", "notes": true}
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
