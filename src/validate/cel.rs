//! The eight `x-kubernetes-validations` rules of BackendTLSPolicy (v1.6.1), evaluated natively.
//!
//! CEL semantics that matter here: `has(x)` is false for absent fields, and every rule treats
//! an empty string like an absent field. A rule that reads a field of the wrong type or a
//! missing required field would be a CEL runtime error; the apiserver never gets that far
//! (type and required errors block CEL), so such rules answer `None` and are skipped.

use serde_json::Value;

use super::schema::CelRule;

/// T1 on `spec.targetRefs`.
pub const TARGET_SECTION_SPECIFIED: CelRule = CelRule {
    rule: "self.all(p1, self.all(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name ? ((!has(p1.sectionName) || p1.sectionName == '') == (!has(p2.sectionName) || p2.sectionName == '')) : true))",
    message: "sectionName must be specified when targetRefs includes 2 or more references to the same target",
    eval: target_section_specified,
};

/// T2 on `spec.targetRefs`.
pub const TARGET_SECTION_UNIQUE: CelRule = CelRule {
    rule: "self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && (((!has(p1.sectionName) || p1.sectionName == '') && (!has(p2.sectionName) || p2.sectionName == '')) || (has(p1.sectionName) && has(p2.sectionName) && p1.sectionName == p2.sectionName))))",
    message: "sectionName must be unique when targetRefs includes 2 or more references to the same target",
    eval: target_section_unique,
};

/// V1 on `spec.validation`.
pub const VALIDATION_NOT_BOTH: CelRule = CelRule {
    rule: r#"!(has(self.caCertificateRefs) && size(self.caCertificateRefs) > 0 && has(self.wellKnownCACertificates) && self.wellKnownCACertificates != "")"#,
    message: "must not contain both CACertificateRefs and WellKnownCACertificates",
    eval: |v| Some(!(has_refs(v)? && has_well_known(v)?)),
};

/// V2 on `spec.validation`.
pub const VALIDATION_EITHER: CelRule = CelRule {
    rule: r#"(has(self.caCertificateRefs) && size(self.caCertificateRefs) > 0 || has(self.wellKnownCACertificates) && self.wellKnownCACertificates != "")"#,
    message: "must specify either CACertificateRefs or WellKnownCACertificates",
    eval: |v| Some(has_refs(v)? || has_well_known(v)?),
};

/// S1 on `spec.validation.subjectAltNames[*]`.
pub const SAN_HOSTNAME_REQUIRED: CelRule = CelRule {
    rule: r#"!(self.type == "Hostname" && (!has(self.hostname) || self.hostname == ""))"#,
    message: "SubjectAltName element must contain Hostname, if Type is set to Hostname",
    eval: |v| Some(san_type(v)? != "Hostname" || non_empty(v, "hostname")?),
};

/// S2 on `spec.validation.subjectAltNames[*]`.
pub const SAN_HOSTNAME_FORBIDDEN: CelRule = CelRule {
    rule: r#"!(self.type != "Hostname" && has(self.hostname) && self.hostname != "")"#,
    message: "SubjectAltName element must not contain Hostname, if Type is not set to Hostname",
    eval: |v| Some(!(san_type(v)? != "Hostname" && non_empty(v, "hostname")?)),
};

/// S3 on `spec.validation.subjectAltNames[*]`.
pub const SAN_URI_REQUIRED: CelRule = CelRule {
    rule: r#"!(self.type == "URI" && (!has(self.uri) || self.uri == ""))"#,
    message: "SubjectAltName element must contain URI, if Type is set to URI",
    eval: |v| Some(san_type(v)? != "URI" || non_empty(v, "uri")?),
};

/// S4 on `spec.validation.subjectAltNames[*]`.
pub const SAN_URI_FORBIDDEN: CelRule = CelRule {
    rule: r#"!(self.type != "URI" && has(self.uri) && self.uri != "")"#,
    message: "SubjectAltName element must not contain URI, if Type is not set to URI",
    eval: |v| Some(!(san_type(v)? != "URI" && non_empty(v, "uri")?)),
};

/// Every rule, for the facts test.
pub const ALL: [&CelRule; 8] = [
    &TARGET_SECTION_SPECIFIED,
    &TARGET_SECTION_UNIQUE,
    &VALIDATION_NOT_BOTH,
    &VALIDATION_EITHER,
    &SAN_HOSTNAME_REQUIRED,
    &SAN_HOSTNAME_FORBIDDEN,
    &SAN_URI_REQUIRED,
    &SAN_URI_FORBIDDEN,
];

/// `has(self.f) && self.f != ""`, or `None` when `f` is not a string.
fn non_empty(object: &Value, field: &str) -> Option<bool> {
    match object.get(field) {
        None | Some(Value::Null) => Some(false),
        Some(Value::String(s)) => Some(!s.is_empty()),
        Some(_) => None,
    }
}

fn san_type(san: &Value) -> Option<&str> {
    san.get("type")?.as_str()
}

fn has_refs(validation: &Value) -> Option<bool> {
    match validation.get("caCertificateRefs") {
        None | Some(Value::Null) => Some(false),
        Some(Value::Array(refs)) => Some(!refs.is_empty()),
        Some(_) => None,
    }
}

fn has_well_known(validation: &Value) -> Option<bool> {
    non_empty(validation, "wellKnownCACertificates")
}

/// A target reference as the two targetRefs rules see it: group, kind, name and whether the
/// section is empty, plus the section itself.
struct Target<'v> {
    group: &'v str,
    kind: &'v str,
    name: &'v str,
    section: Option<&'v str>,
}

impl<'v> Target<'v> {
    fn read(value: &'v Value) -> Option<Self> {
        let field = |name: &str| value.get(name)?.as_str();
        let section = match value.get("sectionName") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return None,
        };
        Some(Self {
            group: field("group")?,
            kind: field("kind")?,
            name: field("name")?,
            section,
        })
    }

    fn same_target(&self, other: &Self) -> bool {
        self.group == other.group && self.kind == other.kind && self.name == other.name
    }

    fn unsectioned(&self) -> bool {
        self.section.is_none_or(str::is_empty)
    }

    /// "Same section" as T2 defines it: both empty or absent, or both present and equal.
    fn same_section(&self, other: &Self) -> bool {
        (self.unsectioned() && other.unsectioned())
            || matches!((self.section, other.section), (Some(a), Some(b)) if a == b)
    }
}

fn targets(value: &Value) -> Option<Vec<Target<'_>>> {
    value.as_array()?.iter().map(Target::read).collect()
}

fn target_section_specified(value: &Value) -> Option<bool> {
    let targets = targets(value)?;
    Some(targets.iter().all(|p1| {
        targets
            .iter()
            .all(|p2| !p1.same_target(p2) || p1.unsectioned() == p2.unsectioned())
    }))
}

fn target_section_unique(value: &Value) -> Option<bool> {
    let targets = targets(value)?;
    Some(targets.iter().all(|p1| {
        targets
            .iter()
            .filter(|p2| p1.same_target(p2) && p1.same_section(p2))
            .count()
            == 1
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, section: Option<&str>) -> Value {
        let mut v = json!({"group": "", "kind": "Service", "name": name});
        if let Some(s) = section {
            v["sectionName"] = json!(s);
        }
        v
    }

    #[test]
    fn target_rules_follow_the_upstream_cel_tests() {
        // (targets, T1 passes, T2 passes)
        let cases = [
            (vec![svc("a", None)], true, true),
            (vec![svc("a", None), svc("b", None)], true, true),
            (vec![svc("a", Some("x")), svc("a", Some("y"))], true, true),
            (vec![svc("a", None), svc("a", None)], true, false),
            (vec![svc("a", None), svc("a", Some("x"))], false, true),
            (vec![svc("a", Some("x")), svc("a", Some("x"))], true, false),
            (
                vec![svc("a", None), svc("a", None), svc("a", Some("x"))],
                false,
                false,
            ),
            (vec![svc("a", Some("")), svc("a", None)], true, false),
        ];
        for (targets, t1, t2) in cases {
            let list = Value::Array(targets);
            assert_eq!(
                (TARGET_SECTION_SPECIFIED.eval)(&list),
                Some(t1),
                "T1 {list}"
            );
            assert_eq!((TARGET_SECTION_UNIQUE.eval)(&list), Some(t2), "T2 {list}");
        }
    }

    #[test]
    fn target_rules_compare_case_sensitively() {
        let list = json!([{"group": "", "kind": "Service", "name": "a"}, {"group": "", "kind": "service", "name": "a"}]);
        assert_eq!((TARGET_SECTION_UNIQUE.eval)(&list), Some(true));
    }

    #[test]
    fn target_rules_skip_mistyped_lists() {
        let list = json!([{"group": "", "kind": "Service", "name": 5}]);
        assert_eq!((TARGET_SECTION_SPECIFIED.eval)(&list), None);
    }

    #[test]
    fn validation_rules() {
        let both = json!({"caCertificateRefs": [{}], "wellKnownCACertificates": "System"});
        let neither = json!({"caCertificateRefs": [], "wellKnownCACertificates": ""});
        let refs = json!({"caCertificateRefs": [{}]});
        let system = json!({"wellKnownCACertificates": "System"});
        assert_eq!((VALIDATION_NOT_BOTH.eval)(&both), Some(false));
        assert_eq!((VALIDATION_NOT_BOTH.eval)(&refs), Some(true));
        assert_eq!((VALIDATION_EITHER.eval)(&neither), Some(false));
        assert_eq!((VALIDATION_EITHER.eval)(&json!({})), Some(false));
        assert_eq!((VALIDATION_EITHER.eval)(&refs), Some(true));
        assert_eq!((VALIDATION_EITHER.eval)(&system), Some(true));
    }

    #[test]
    fn san_rules() {
        let rules = [
            &SAN_HOSTNAME_REQUIRED,
            &SAN_HOSTNAME_FORBIDDEN,
            &SAN_URI_REQUIRED,
            &SAN_URI_FORBIDDEN,
        ];
        let eval = |v: Value| rules.map(|r| (r.eval)(&v));
        let ok = Some(true);
        let fail = Some(false);
        assert_eq!(
            eval(json!({"type": "Hostname", "hostname": "a"})),
            [ok, ok, ok, ok]
        );
        assert_eq!(
            eval(json!({"type": "URI", "uri": "spiffe://a/b"})),
            [ok, ok, ok, ok]
        );
        assert_eq!(eval(json!({"type": "Hostname"})), [fail, ok, ok, ok]);
        assert_eq!(
            eval(json!({"type": "Hostname", "hostname": ""})),
            [fail, ok, ok, ok]
        );
        assert_eq!(
            eval(json!({"type": "URI", "hostname": "a"})),
            [ok, fail, fail, ok]
        );
        assert_eq!(
            eval(json!({"type": "Hostname", "hostname": "a", "uri": "x://y"})),
            [ok, ok, ok, fail]
        );
        assert_eq!(eval(json!({"hostname": "a"})), [None, None, None, None]);
    }
}
