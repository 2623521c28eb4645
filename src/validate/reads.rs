//! What the rules read of an object, and a reading of an object that keeps only that.
//!
//! An object as the apiserver sends it carries `metadata.managedFields`, labels, annotations
//! (often the whole object again, as `kubectl.kubernetes.io/last-applied-configuration`) and,
//! for ConfigMaps and Secrets, every data key. Building JSON trees for them costs more than
//! validating the spec, so admission's decoder reads request objects through [`read_object`],
//! which skips them while parsing:
//!
//! - `metadata` keeps only the fields a rule reads ([`METADATA_FIELDS`]);
//! - `data` and `binaryData` keep the values a CA bundle may be read from
//!   ([`reads_data_key`]), and of the other values only what a rule reads of them: that one
//!   holds a private key ([`holds_private_key`]: the value `true`, so that a Secret's review
//!   can name the key without keeping it), whether the map has more than one value (at most
//!   two others are kept, as `""`), and the value itself when it is the map's only string
//!   (some implementations read an object's only key);
//! - everything else (`apiVersion`, `kind`, `spec`, `status`, `stringData`, which the apiserver
//!   merges into `data` before any webhook sees a Secret, unknown fields) is kept whole, and so
//!   is a `metadata` or data map that is not an object, for the schema walk to report.
//!
//! A rule that reads something else must be listed here, or it would see it offline (`validate`
//! does not prune) and never in the webhook. [`view`] is the same reading of a value in memory:
//! validation ratcheting compares the views of the new and the old object, so that what no
//! rule reads never decides it. The property tests `pruned_policies_get_the_same_report` and
//! `pruned_ca_objects_get_the_same_report` (tests/properties.rs) check that validating what
//! the reading keeps gives the same report as validating the whole object.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::profile::KNOWN_CA_KEYS;
use super::snapshot::holds_private_key_encoded;

/// The `metadata` fields the rules read: names and namespaces (and `generateName`, for the
/// apiserver's own name check), `uid`, and `creationTimestamp` (the older of two conflicting
/// policies wins).
pub const METADATA_FIELDS: [&str; 5] = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "creationTimestamp",
];

/// The maps of a ConfigMap or a Secret whose values the reading reduces to what the rules read.
pub const DATA_MAPS: [&str; 2] = ["data", "binaryData"];

/// How many values of a data map that no rule reads are kept (as `""`): the rules only ask
/// whether a map has exactly one.
const PLACEHOLDERS: usize = 2;

/// Whether a rule reads the `metadata` field `field`.
pub fn reads_metadata(field: &str) -> bool {
    METADATA_FIELDS.contains(&field)
}

/// Whether a rule reads the value under `key` in a data map: the keys any implementation
/// profile may read a CA bundle from ([`KNOWN_CA_KEYS`]; a profile file may name no other).
pub fn reads_data_key(key: &str) -> bool {
    KNOWN_CA_KEYS.contains(&key)
}

/// Whether the string `text` under `key` in a data map holds a private key, as the rules on
/// Secrets judge it (`tls.key`, or a PEM private key as text or base64).
pub fn holds_private_key(key: &str, text: &str) -> bool {
    key == "tls.key" || holds_private_key_encoded(text)
}

/// What a reading may keep in memory, charged as it goes: admission's decoding budget, or
/// [`Unlimited`] for a value already in memory.
pub trait Allowance {
    /// One value kept: a scalar, or an object or list (whose members are charged apart).
    fn value<E: de::Error>() -> Result<(), E>;
    /// One member an object keeps; `first` is its first, which allocates the map.
    fn member<E: de::Error>(first: bool) -> Result<(), E>;
}

/// No limit: for values already in memory.
#[derive(Debug)]
pub struct Unlimited;

impl Allowance for Unlimited {
    fn value<E: de::Error>() -> Result<(), E> {
        Ok(())
    }

    fn member<E: de::Error>(_: bool) -> Result<(), E> {
        Ok(())
    }
}

/// Reads an object as described in the module documentation (`null` gives `None`), charging
/// what it keeps to `A`.
pub fn read_object<'de, A: Allowance, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    let value = deserializer.deserialize_any(Reading::<A>::new(Level::Object))?;
    Ok((!value.is_null()).then_some(value))
}

/// What the rules read of `value`: what [`read_object`] keeps of it.
pub fn view(value: &Value) -> Value {
    // Reading a value in memory cannot fail: no allowance runs out, every key is a string.
    read_object::<Unlimited, _>(value)
        .ok()
        .flatten()
        .unwrap_or(Value::Null)
}

/// Which part of the object is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Object,
    /// Its `metadata`.
    Metadata,
    /// Its `data` or `binaryData`.
    Data,
    /// Anything else: kept whole.
    Whole,
}

impl Level {
    fn child(self, key: &str) -> Level {
        match (self, key) {
            (Self::Object, "metadata") => Self::Metadata,
            (Self::Object, map) if DATA_MAPS.contains(&map) => Self::Data,
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

/// Inserts a member, charging it to `A`.
fn keep<A: Allowance, E: de::Error>(
    out: &mut Map<String, Value>,
    key: String,
    value: Value,
) -> Result<(), E> {
    A::member(out.is_empty())?;
    out.insert(key, value);
    Ok(())
}

/// Reads a value, keeping of its maps what the rules read at `Level` (other values are read
/// whole), charging what it keeps to `A`.
struct Reading<A> {
    level: Level,
    allowance: PhantomData<A>,
}

impl<A> Reading<A> {
    fn new(level: Level) -> Self {
        Self {
            level,
            allowance: PhantomData,
        }
    }
}

impl<'de, A: Allowance> DeserializeSeed<'de> for Reading<A> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, A: Allowance> Visitor<'de> for Reading<A> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Value, M::Error> {
        A::value()?;
        if self.level == Level::Data {
            return data_map::<A, M>(map);
        }
        let mut out = Map::new();
        while let Some(MapKey(key)) = map.next_key::<MapKey<'de>>()? {
            if self.level == Level::Metadata && !reads_metadata(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            A::member(out.is_empty())?;
            let value = map.next_value_seed(Reading::<A>::new(self.level.child(&key)))?;
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Value, S::Error> {
        A::value()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(Reading::<A>::new(Level::Whole))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        A::value()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        A::value()?;
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        A::value()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        A::value()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        A::value()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        A::value()?;
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        A::value()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        A::value()?;
        Ok(Value::String(v))
    }
}

/// Reads a `data` or `binaryData` map as the module documentation describes.
fn data_map<'de, A: Allowance, M: MapAccess<'de>>(mut map: M) -> Result<Value, M::Error> {
    let mut out = Map::new();
    // String values seen, placeholders kept, and the first string no rule reads by its key,
    // held whole while it is the only string.
    let (mut strings, mut placeholders) = (0, 0);
    let mut held: Option<(String, String, bool)> = None;
    while let Some(MapKey(key)) = map.next_key::<MapKey<'de>>()? {
        if reads_data_key(&key) {
            let value = map.next_value_seed(Reading::<A>::new(Level::Whole))?;
            strings += usize::from(value.is_string());
            keep::<A, _>(&mut out, key.into_owned(), value)?;
        } else {
            let seed = UnreadSeed::<A>::new(&key, strings == 0);
            match map.next_value_seed(seed)? {
                Unread::Other(value) => keep::<A, _>(&mut out, key.into_owned(), value)?,
                Unread::Text(Some(text), private) => {
                    strings += 1;
                    held = Some((key.into_owned(), text, private));
                }
                Unread::Text(None, private) => {
                    strings += 1;
                    mark::<A, _>(&mut out, key.into_owned(), private, &mut placeholders)?;
                }
            }
        }
        if strings > 1
            && let Some((key, _, private)) = held.take()
        {
            mark::<A, _>(&mut out, key, private, &mut placeholders)?;
        }
    }
    if let Some((key, text, _)) = held {
        A::value()?;
        keep::<A, _>(&mut out, key, Value::String(text))?;
    }
    Ok(Value::Object(out))
}

/// Keeps what the rules read of a string no rule reads as a bundle: `true` when it holds a
/// private key, else `""` while fewer than [`PLACEHOLDERS`] are kept.
fn mark<A: Allowance, E: de::Error>(
    out: &mut Map<String, Value>,
    key: String,
    private: bool,
    placeholders: &mut usize,
) -> Result<(), E> {
    if private {
        keep::<A, E>(out, key, Value::Bool(true))
    } else if *placeholders < PLACEHOLDERS {
        *placeholders += 1;
        keep::<A, E>(out, key, Value::String(String::new()))
    } else {
        Ok(())
    }
}

/// A data value no rule reads as a bundle, as far as the rules read it: a string (its text,
/// when asked to hold it, and whether it holds a private key) or another value (kept whole:
/// no ConfigMap or Secret has one, but the rules count it).
enum Unread {
    Text(Option<String>, bool),
    Other(Value),
}

/// Reads an [`Unread`] value under `key`; `hold`: keep a string's text.
struct UnreadSeed<'k, A> {
    key: &'k str,
    hold: bool,
    allowance: PhantomData<A>,
}

impl<'k, A> UnreadSeed<'k, A> {
    fn new(key: &'k str, hold: bool) -> Self {
        Self {
            key,
            hold,
            allowance: PhantomData,
        }
    }
}

impl<'de, A: Allowance> DeserializeSeed<'de> for UnreadSeed<'_, A> {
    type Value = Unread;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Unread, D::Error> {
        // A string is told apart from the rest before anything is kept of it.
        deserializer.deserialize_any(self)
    }
}

impl<'de, A: Allowance> Visitor<'de> for UnreadSeed<'_, A> {
    type Value = Unread;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a data value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Unread, E> {
        let text = self.hold.then(|| v.to_owned());
        Ok(Unread::Text(text, holds_private_key(self.key, v)))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Unread, M::Error> {
        Reading::<A>::new(Level::Whole)
            .visit_map(map)
            .map(Unread::Other)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Unread, S::Error> {
        Reading::<A>::new(Level::Whole)
            .visit_seq(seq)
            .map(Unread::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Unread, E> {
        Reading::<A>::new(Level::Whole)
            .visit_unit()
            .map(Unread::Other)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Unread, E> {
        Reading::<A>::new(Level::Whole)
            .visit_bool(v)
            .map(Unread::Other)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Unread, E> {
        Reading::<A>::new(Level::Whole)
            .visit_i64(v)
            .map(Unread::Other)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Unread, E> {
        Reading::<A>::new(Level::Whole)
            .visit_u64(v)
            .map(Unread::Other)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Unread, E> {
        Reading::<A>::new(Level::Whole)
            .visit_f64(v)
            .map(Unread::Other)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_and_data_keep_only_what_rules_read() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": "shop", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"a": "b"}, "annotations": {"x": "y"}, "managedFields": [{"manager": "m"}]},
            "data": {"ca.crt": "PEM", "other": "big", "more": "big", "most": "big"},
            "binaryData": {"ca.crt": "UEVN", "blob": "AAAA"},
            "spec": {"deep": {"kept": [1, 2, {"x": null}]}},
            "extra": true
        });
        assert_eq!(
            view(&object),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "ca", "namespace": "shop", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "data": {"ca.crt": "PEM", "more": "", "most": ""},
                "binaryData": {"ca.crt": "UEVN", "blob": ""},
                "spec": {"deep": {"kept": [1, 2, {"x": null}]}},
                "extra": true
            })
        );
    }

    #[test]
    fn private_keys_are_marked_without_their_values() {
        // base64 of "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n".
        let key =
            "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCngKLS0tLS1FTkQgRUMgUFJJVkFURSBLRVktLS0tLQo=";
        let object = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "data": {"ca.crt": "Q0E=", "tls.crt": "TEVBRg==", "tls.key": "eA==", "password": "aHVudGVyMg==",
                     "bundle.pem": key},
            "stringData": {"notes": "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----"}
        });
        assert_eq!(
            view(&object),
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "data": {"ca.crt": "Q0E=", "tls.crt": "TEVBRg==", "tls.key": true, "password": "", "bundle.pem": true},
                "stringData": {"notes": "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----"}
            })
        );
    }

    #[test]
    fn a_data_map_with_one_string_keeps_it_whole() {
        // Some implementations read an object's only key, whatever it is called.
        let pem = "-----BEGIN CERTIFICATE-----\n...";
        for data in [
            json!({"my-ca.pem": pem}),
            json!({"tls.key": pem}),
            json!({"my-ca.pem": pem, "count": 5}),
        ] {
            let object = json!({"data": data});
            assert_eq!(view(&object), object);
        }
        assert_eq!(
            view(&json!({"data": {"my-ca.pem": pem, "ca.crt": "x"}})),
            json!({"data": {"my-ca.pem": "", "ca.crt": "x"}})
        );
        assert_eq!(
            view(&json!({"data": {"a": pem, "b": pem, "c": pem}})),
            json!({"data": {"a": "", "b": ""}})
        );
    }

    #[test]
    fn wrong_types_are_kept_for_the_schema_walk() {
        assert_eq!(
            view(&json!({"metadata": "x", "data": [1]})),
            json!({"metadata": "x", "data": [1]})
        );
        assert_eq!(view(&json!([1, "a"])), json!([1, "a"]));
        assert_eq!(view(&json!(null)), json!(null));
        assert_eq!(view(&json!(-3.5)), json!(-3.5));
    }

    #[test]
    fn the_view_of_a_view_is_itself() {
        let object = json!({
            "metadata": {"name": "n", "labels": {"a": "b"}},
            "data": {"a": "x", "b": "y", "c": "z", "tls.key": "k", "ca.crt": "c", "n": 1},
        });
        let once = view(&object);
        assert_eq!(view(&once), once);
    }
}
