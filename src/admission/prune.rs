//! Decoding `request.object` and `request.oldObject` into JSON values without the parts no
//! rule reads ([`reads::read_object`] says which), within a decoding budget.
//!
//! The tree built is bounded by the body it comes from. A JSON value takes 32 bytes in memory
//! whatever its text (`0` is one byte), and an object's first member allocates a map node of
//! about 640 bytes, so a body of a few MiB of `[{"a":0},...]` would otherwise decode into
//! hundreds of MiB. Each decoding has a [`DecodingBudget`] in units of one value's size: a value
//! costs one unit, an object's first member 20 more, each further member 2. [`budget_for`] gives
//! a body of `n` bytes `(n + 256 KiB) / 32` units: its decoded structure takes at most about its
//! own size plus 256 KiB (its strings, bounded by the body limit, at most their own size).
//! Past the budget, decoding stops with an error. No object a rule could judge comes close: a
//! BackendTLSPolicy with every list at its maximum (16 targets, 8 CA references, 5 SANs, 16
//! options) and a full status take under 3,000 units; what the budget refuses are lists of
//! thousands of items, far past any `maxItems`.

use std::cell::Cell;

use serde::Deserializer;
use serde::de;
use serde_json::Value;

use crate::validate::reads;

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
                "too many JSON values: its decoded form would take more memory than its body allows ({} bytes per value; no BackendTLSPolicy or ConfigMap comes near this)",
                BYTES_PER_UNIT
            ))),
        })
    }
}

/// Decodes an optional object (`null` gives `None`), keeping what the rules read of it, within
/// the [`DecodingBudget`] in force.
pub(crate) fn object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    reads::read_object::<DecodingBudget, D>(deserializer)
}

impl reads::Allowance for DecodingBudget {
    fn value<E: de::Error>() -> Result<(), E> {
        Self::spend(1)
    }

    fn member<E: de::Error>(first: bool) -> Result<(), E> {
        Self::spend(if first { MAP_NODE_UNITS } else { MEMBER_UNITS })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "super::object")]
        object: Option<Value>,
    }

    /// `object` decoded from its JSON text, as a request body carries it.
    fn decoded(object: &Value, units: usize) -> Result<Option<Value>, serde_json::Error> {
        let body = serde_json::to_vec(&json!({ "object": object })).expect("json");
        DecodingBudget::run(units, || serde_json::from_slice::<Holder>(&body)).map(|h| h.object)
    }

    #[test]
    fn decoded_objects_are_what_the_rules_read() {
        for object in [
            json!({
                "metadata": {"name": "ca", "labels": {"a": "b"}, "managedFields": [{"manager": "m"}]},
                "data": {"ca.crt": "PEM", "other": "big", "tls.key": "k", "a": "1", "b": "2"},
                "binaryData": {"blob": "AAAA"},
                "spec": {"deep": [1, {"x": null}]}
            }),
            json!({"metadata": "x", "data": [1]}),
            json!([1, "a"]),
            json!(-3.5),
        ] {
            assert_eq!(
                decoded(&object, usize::MAX).expect("decodes"),
                Some(reads::view(&object))
            );
        }
        assert_eq!(decoded(&Value::Null, usize::MAX).expect("decodes"), None);
    }

    #[test]
    fn what_is_kept_is_charged_to_the_budget() {
        // 4 values (the object, its two maps, the string) and 3 members: the first of the
        // object and of `spec` (a map node each), the object's second; the labels are dropped.
        let object = json!({"spec": {"x": "y"}, "metadata": {"labels": {"a": "b"}}});
        let needed = 4 + 2 * MAP_NODE_UNITS + MEMBER_UNITS;
        assert!(decoded(&object, needed).is_ok());
        let error = decoded(&object, needed - 1).expect_err("over budget");
        assert!(
            error
                .to_string()
                .starts_with("too many JSON values: its decoded form would take more memory than its body allows (32 bytes per value;"),
            "{error}"
        );
    }
}
