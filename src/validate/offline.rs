//! Rules only an offline check needs (`validate` on files): the apiserver applies them before
//! any webhook sees an object (a name, a version it serves, the deprecation warning), or they
//! are about a set of files rather than one object (an object defined twice).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use serde_json::Value;

use super::{
    BadValue, DEPRECATED_VERSION, DEPRECATION_WARNING, ErrorKind, FieldError, FieldPath, GROUP,
    Report, Subject, VERSIONS,
};

/// The Gateway API release whose served versions are checked.
pub const GATEWAY_API_RELEASE: &str = "v1.6";

/// The apiserver's own check, made before any webhook sees the object: a name is required
/// (`kubectl apply` does not use `generateName`, `kubectl create` does).
pub fn require_name(object: &Value, report: &mut Report) {
    let named = |field| {
        object
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    if !named("name") && !named("generateName") {
        report.error(FieldError::required(
            FieldPath::root().field("metadata").field("name"),
            "name or generateName is required",
        ));
        report.finish();
    }
}

/// The apiserver's warning for a deprecated version (the CRD's `deprecationWarning`, word for
/// word), which an offline check would otherwise never show.
pub fn warn_deprecated_version(object: &Value, report: &mut Report) {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if api_version.and_then(|v| v.split_once('/')) == Some((GROUP, DEPRECATED_VERSION)) {
        report.warn(FieldPath::root().field("apiVersion"), DEPRECATION_WARNING);
    }
}

/// A BackendTLSPolicy version that Gateway API does not serve: `kubectl apply` would fail with
/// "no matches for kind", so nothing else about the object matters.
pub fn unserved(object: &Value) -> Report {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let served: Vec<String> = VERSIONS.iter().map(|v| format!("{GROUP}/{v}")).collect();
    let served: Vec<&str> = served.iter().map(String::as_str).collect();
    let mut error =
        FieldError::not_supported(FieldPath::root().field("apiVersion"), api_version, &served);
    error.detail = format!(
        "not served by Gateway API {GATEWAY_API_RELEASE} (kubectl apply fails with \"no matches for kind\"); {}",
        error.detail
    );
    let mut report = Report::default();
    report.error(error);
    report
}

/// The objects of a set of files, by identity (kind, namespace and name: every version of a
/// kind is one resource), with where each was first defined (`L`, shown as `file:line:column`).
#[derive(Debug)]
pub struct Definitions<'a, L> {
    first: HashMap<(Subject, &'a str, &'a str), L>,
}

impl<L> Default for Definitions<'_, L> {
    fn default() -> Self {
        Self {
            first: HashMap::new(),
        }
    }
}

impl<'a, L: fmt::Display> Definitions<'a, L> {
    /// Records a definition of `subject` `namespace/name` found `at`: when the object was
    /// defined before, the error at `metadata.name` that says where. Objects without a name
    /// are not compared ([`require_name`] reports them).
    pub fn define(
        &mut self,
        subject: Subject,
        namespace: &'a str,
        name: &'a str,
        at: L,
    ) -> Option<FieldError> {
        if name.is_empty() {
            return None;
        }
        match self.first.entry((subject, namespace, name)) {
            Entry::Vacant(slot) => {
                slot.insert(at);
                None
            }
            Entry::Occupied(slot) => Some(FieldError::new(
                FieldPath::root().field("metadata").field("name"),
                ErrorKind::Duplicate,
                BadValue::str(name),
                format!(
                    "{} {namespace}/{name} is already defined at {}",
                    subject.kind(),
                    slot.get()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::validate::CaKind;

    #[test]
    fn a_name_or_generate_name_is_required() {
        for (object, errors) in [
            (json!({"metadata": {"name": "p"}}), 0),
            (json!({"metadata": {"generateName": "p-"}}), 0),
            (json!({"metadata": {"name": ""}}), 1),
            (json!({"metadata": {"name": 5}}), 1),
            (json!({}), 1),
        ] {
            let mut report = Report::default();
            require_name(&object, &mut report);
            assert_eq!(report.errors.len(), errors, "{object}");
        }
        let mut report = Report::default();
        require_name(&json!({}), &mut report);
        assert_eq!(
            report.errors[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn the_deprecated_version_is_warned_about_as_the_apiserver_does() {
        let mut report = Report::default();
        let v1alpha3 = json!({"apiVersion": "gateway.networking.k8s.io/v1alpha3"});
        warn_deprecated_version(&v1alpha3, &mut report);
        assert_eq!(
            report.warnings[0].to_string(),
            format!("apiVersion: {DEPRECATION_WARNING}")
        );
        let mut report = Report::default();
        let v1 = json!({"apiVersion": "gateway.networking.k8s.io/v1"});
        warn_deprecated_version(&v1, &mut report);
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn unserved_versions_name_the_served_ones() {
        let report = unserved(&json!({"apiVersion": "gateway.networking.k8s.io/v1alpha2"}));
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].path.to_string(), "apiVersion");
        assert_eq!(
            report.errors[0].body(),
            "Unsupported value: \"gateway.networking.k8s.io/v1alpha2\": not served by Gateway API v1.6 (kubectl apply fails with \"no matches for kind\"); supported values: \"gateway.networking.k8s.io/v1\", \"gateway.networking.k8s.io/v1alpha3\""
        );
    }

    #[test]
    fn second_definitions_of_an_object_say_where_the_first_is() {
        let mut definitions = Definitions::default();
        let config_map = Subject::Ca(CaKind::ConfigMap);
        assert_eq!(
            definitions.define(Subject::Policy, "shop", "p", "a.yaml:1:7"),
            None
        );
        // Another kind, namespace or name is another object; unnamed objects are not compared.
        assert_eq!(
            definitions.define(config_map, "shop", "p", "a.yaml:9:7"),
            None
        );
        assert_eq!(
            definitions.define(Subject::Policy, "other", "p", "b.yaml:1:7"),
            None
        );
        assert_eq!(
            definitions.define(Subject::Policy, "shop", "", "b.yaml:5:7"),
            None
        );
        assert_eq!(
            definitions.define(Subject::Policy, "shop", "", "b.yaml:6:7"),
            None
        );
        let again = definitions.define(Subject::Policy, "shop", "p", "c.yaml:3:9");
        assert_eq!(
            again.map(|e| e.to_string()).as_deref(),
            Some(
                "metadata.name: Duplicate value: \"p\": BackendTLSPolicy shop/p is already defined at a.yaml:1:7"
            )
        );
    }
}
