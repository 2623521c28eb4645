//! What a policy refers to, as plain data: the lookup layer fills a [`Snapshot`] for the
//! [`Wants`] of one request, and the pure validators read it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::ca_bundle::ParsedBundle;
use super::field::Echo;

/// A target as the policy names it (same namespace as the policy).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Section (a port name for Services); `None` when absent or empty.
    pub section: Option<String>,
}

impl TargetKey {
    /// One `targetRefs` entry; `None` when its group, kind or name is missing or not a string.
    pub fn from_ref(target: &Value) -> Option<Self> {
        let field = |f: &str| target.get(f).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            group: field("group")?,
            kind: field("kind")?,
            name: field("name")?,
            section: field("sectionName").filter(|s| !s.is_empty()),
        })
    }

    /// `Service payments-backend` or `Service payments-backend port https`, for messages.
    pub fn describe(&self) -> String {
        let kind = if self.group.is_empty() {
            Echo(&self.kind).to_string()
        } else {
            format!("{}.{}", Echo(&self.kind), Echo(&self.group))
        };
        match &self.section {
            Some(section) => format!("{kind} {}, section {}", Echo(&self.name), Echo(section)),
            None => format!("{kind} {}", Echo(&self.name)),
        }
    }
}

/// What one policy refers to, in the form used to find conflicts and CA bundle referrers.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.creationTimestamp` in Unix seconds, if set.
    pub created: Option<i64>,
    /// Its targets.
    pub targets: Vec<TargetKey>,
    /// Names of the core ConfigMaps it uses as CA bundles.
    pub ca_config_maps: Vec<String>,
}

impl PolicySummary {
    /// Summarises a BackendTLSPolicy object; `None` when it has no name.
    pub fn from_object(object: &Value, default_namespace: &str) -> Option<Self> {
        let metadata = object.get("metadata");
        fn text<'v>(v: Option<&'v Value>, f: &str) -> Option<&'v str> {
            v.and_then(|v| v.get(f)).and_then(Value::as_str)
        }
        let name = text(metadata, "name").filter(|n| !n.is_empty())?.to_owned();
        let namespace = text(metadata, "namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace)
            .to_owned();
        let created = text(metadata, "creationTimestamp").and_then(parse_time);
        let spec = object.get("spec");
        Some(Self {
            namespace,
            name,
            created,
            targets: targets(spec),
            ca_config_maps: ca_config_maps(spec),
        })
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", Echo(&self.namespace), Echo(&self.name))
    }

    /// The spec's precedence key, for listing rivals in order: older first, then
    /// `namespace/name`. A policy without a creation time sorts last among equals in time.
    /// Which of two policies wins is [`PolicySummary::precedes`].
    pub fn precedence(&self) -> (i64, String) {
        let id = format!("{}/{}", self.namespace, self.name);
        (self.created.unwrap_or(i64::MAX), id)
    }

    /// Whether this policy, the one under review, wins over `rival` by the spec's precedence,
    /// and on what grounds: the older `creationTimestamp` wins, and on equal times the first
    /// by `namespace/name`. A rival without a creation time (objects from files and
    /// `--objects` have none, while a request's object has the apiserver's) is compared by
    /// `namespace/name` too, so that of two such policies exactly one wins, whichever is
    /// reviewed. The policy under review without one is not stored yet: it is newer than any
    /// rival that is.
    pub fn precedes(&self, rival: &PolicySummary) -> (bool, Tiebreak) {
        // `namespace/name` order, of the names as they are (not as `id` shows them).
        let first = || self.precedence().1 < rival.precedence().1;
        match (self.created, rival.created) {
            (Some(own), Some(theirs)) if own != theirs => (own < theirs, Tiebreak::Older),
            (Some(_), Some(_)) => (first(), Tiebreak::SameAge),
            (None, Some(_)) => (false, Tiebreak::Older),
            (_, None) => (first(), Tiebreak::AgeUnknown),
        }
    }
}

/// What decided between two policies that select the same target and section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiebreak {
    /// Both creation times are known and differ: the older wins.
    Older,
    /// The creation times are equal: the first by `namespace/name` wins.
    SameAge,
    /// A creation time is missing: the first by `namespace/name` wins.
    AgeUnknown,
}

/// The targets of a spec, skipping malformed entries.
pub fn targets(spec: Option<&Value>) -> Vec<TargetKey> {
    let Some(list) = spec
        .and_then(|s| s.get("targetRefs"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter().filter_map(TargetKey::from_ref).collect()
}

/// Names of the core ConfigMaps a spec references as CA bundles.
pub fn ca_config_maps(spec: Option<&Value>) -> Vec<String> {
    let Some(list) = spec
        .and_then(|s| s.get("validation"))
        .and_then(|v| v.get("caCertificateRefs"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = list
        .iter()
        .filter(|r| is_core_config_map(r))
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether a CA reference names a core ConfigMap (`group: ""`, `kind: ConfigMap`).
pub fn is_core_config_map(reference: &Value) -> bool {
    reference.get("group").and_then(Value::as_str) == Some("")
        && reference.get("kind").and_then(Value::as_str) == Some("ConfigMap")
}

/// Parses an RFC 3339 time to Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// The `ca.crt` of a ConfigMap, with its parsed form (shared between requests by content).
#[derive(Clone, Debug)]
pub struct CaText {
    /// The PEM text.
    pub text: Arc<str>,
    /// Its parsed form.
    pub bundle: Arc<ParsedBundle>,
}

/// A ConfigMap as far as CA bundles are concerned.
#[derive(Clone, Debug)]
pub struct ConfigMapEntry {
    /// `data["ca.crt"]`, if present.
    pub ca_crt: Option<CaText>,
    /// Whether `binaryData["ca.crt"]` is present.
    pub binary_ca_crt: bool,
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name (empty when unnamed).
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// A Service as far as targets are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Its ports.
    pub ports: Vec<ServicePort>,
}

impl ServicePort {
    /// A port as the Service spec gives it: the name defaults to `""`, the protocol to `TCP`.
    pub fn new(name: Option<&str>, protocol: Option<&str>) -> Self {
        Self {
            name: name.unwrap_or("").to_owned(),
            protocol: protocol.unwrap_or("TCP").to_owned(),
        }
    }
}

impl ServiceEntry {
    /// Reads the ports of a Service object.
    pub fn from_object(object: &Value) -> Self {
        let ports = object
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        ServicePort::new(
                            p.get("name").and_then(Value::as_str),
                            p.get("protocol").and_then(Value::as_str),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { ports }
    }
}

/// What the validators need to know about one namespace's objects for one request.
#[derive(Clone, Debug, Default)]
pub struct Wants {
    /// The namespace of the object under review (references are same-namespace only).
    pub namespace: String,
    /// ConfigMaps to fetch by name.
    pub config_maps: Vec<String>,
    /// Services to fetch by name.
    pub services: Vec<String>,
    /// Return the other policies that target any of these objects.
    pub targets: Vec<TargetKey>,
    /// Return the policies that use this ConfigMap as a CA bundle.
    pub referrers_of: Option<String>,
}

impl Wants {
    /// What a BackendTLSPolicy object refers to.
    pub fn for_policy(object: &Value, namespace: &str) -> Self {
        let spec = object.get("spec");
        let targets = targets(spec);
        let mut services: Vec<String> = targets
            .iter()
            .filter(|t| t.group.is_empty() && t.kind == "Service")
            .map(|t| t.name.clone())
            .collect();
        services.sort();
        services.dedup();
        Self {
            namespace: namespace.to_owned(),
            config_maps: ca_config_maps(spec),
            services,
            targets,
            referrers_of: None,
        }
    }

    /// What a ConfigMap review needs: the policies that use it.
    pub fn for_config_map(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            referrers_of: Some(name.to_owned()),
            ..Self::default()
        }
    }
}

/// The answer to [`Wants`]: objects that exist are present; absent names do not exist.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// ConfigMaps by name.
    pub config_maps: HashMap<String, ConfigMapEntry>,
    /// Services by name.
    pub services: HashMap<String, ServiceEntry>,
    /// Policies that target a wanted target, or use the wanted ConfigMap.
    pub policies: Vec<Arc<PolicySummary>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_read_targets_and_core_config_maps() {
        let policy = json!({
            "metadata": {"name": "p", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "a", "sectionName": "https"}, {"group": "", "kind": "Service", "name": 5}],
                "validation": {"caCertificateRefs": [
                    {"group": "", "kind": "ConfigMap", "name": "ca"},
                    {"group": "", "kind": "Secret", "name": "s"},
                    {"group": "", "kind": "ConfigMap", "name": "ca"}
                ]}
            }
        });
        let summary = PolicySummary::from_object(&policy, "default").expect("named");
        assert_eq!(summary.id(), "shop/p");
        assert_eq!(summary.created, Some(1_767_225_600));
        assert_eq!(summary.targets.len(), 1);
        assert_eq!(summary.targets[0].section.as_deref(), Some("https"));
        assert_eq!(summary.ca_config_maps, ["ca"]);
        assert!(PolicySummary::from_object(&json!({"metadata": {}}), "x").is_none());
    }

    #[test]
    fn wants_for_a_policy_list_services_and_config_maps_once() {
        let policy = json!({"spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "a", "sectionName": "x"}, {"group": "", "kind": "Service", "name": "a", "sectionName": "y"}, {"group": "x.io", "kind": "Thing", "name": "t"}],
            "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]}
        }});
        let wants = Wants::for_policy(&policy, "shop");
        assert_eq!(wants.services, ["a"]);
        assert_eq!(wants.config_maps, ["ca"]);
        assert_eq!(wants.targets.len(), 3);
    }

    #[test]
    fn service_ports_default_to_tcp() {
        let svc = json!({"spec": {"ports": [{"name": "https", "port": 443}, {"name": "dns", "protocol": "UDP"}]}});
        let entry = ServiceEntry::from_object(&svc);
        assert_eq!(
            entry.ports[0],
            ServicePort {
                name: "https".into(),
                protocol: "TCP".into()
            }
        );
        assert_eq!(entry.ports[1].protocol, "UDP");
    }
}
