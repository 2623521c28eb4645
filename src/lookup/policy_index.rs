//! Policies by what they point at, for the two questions a lookup answers about other
//! policies: which ones target this object (conflicts), and which use this ConfigMap as a CA
//! bundle (the ConfigMap guard). Building it is linear; answering is a few hash lookups,
//! however many policies a cluster has.

use std::collections::HashMap;
use std::sync::Arc;

use crate::validate::{CaKind, PolicySummary, Wants};

/// `(namespace, group, kind, name)` of a target, whatever its section (a policy's
/// [`crate::validate::TargetKey`] without `section`, with the policy's namespace).
type TargetedObject = (String, String, String, String);

/// The policies of a snapshot by target and by CA source, built once per snapshot.
#[derive(Debug, Default)]
pub(crate) struct PolicyIndex {
    by_target: HashMap<TargetedObject, Vec<Arc<PolicySummary>>>,
    /// By ConfigMap and Secret (`namespace`, name) and ClusterTrustBundle (`""`, name), each
    /// policy once.
    by_ca: HashMap<(CaKind, String, String), Vec<Arc<PolicySummary>>>,
}

impl PolicyIndex {
    /// Indexes `policies`.
    pub fn build<'a>(policies: impl IntoIterator<Item = &'a Arc<PolicySummary>>) -> Self {
        let mut index = Self::default();
        for policy in policies {
            let ns = &policy.namespace;
            let mut targets: Vec<TargetedObject> = policy
                .targets
                .iter()
                .map(|t| (ns.clone(), t.group.clone(), t.kind.clone(), t.name.clone()))
                .collect();
            targets.sort();
            targets.dedup();
            for key in targets {
                index
                    .by_target
                    .entry(key)
                    .or_default()
                    .push(Arc::clone(policy));
            }
            let mut sources: Vec<(CaKind, String, String)> = policy
                .ca_refs
                .iter()
                .map(|(kind, name)| match kind {
                    CaKind::ConfigMap | CaKind::Secret => (*kind, ns.clone(), name.clone()),
                    CaKind::ClusterTrustBundle => (*kind, String::new(), name.clone()),
                })
                .collect();
            sources.sort();
            sources.dedup();
            for key in sources {
                index.by_ca.entry(key).or_default().push(Arc::clone(policy));
            }
        }
        index
    }

    /// The policies `wants` asks about, each once.
    pub fn select(&self, wants: &Wants) -> Vec<Arc<PolicySummary>> {
        let ns = &wants.namespace;
        let mut found: Vec<Arc<PolicySummary>> = Vec::new();
        // Each policy once, however many of the wanted targets it selects: a set of the
        // policies found, so that this stays linear in what is selected.
        let mut seen: std::collections::HashSet<*const PolicySummary, foldhash::fast::RandomState> =
            std::collections::HashSet::default();
        let mut add = |found: &mut Vec<Arc<PolicySummary>>,
                       policies: Option<&Vec<Arc<PolicySummary>>>| {
            for policy in policies.into_iter().flatten() {
                if seen.insert(Arc::as_ptr(policy)) {
                    found.push(Arc::clone(policy));
                }
            }
        };
        for target in &wants.targets {
            let key = (
                ns.clone(),
                target.group.clone(),
                target.kind.clone(),
                target.name.clone(),
            );
            add(&mut found, self.by_target.get(&key));
        }
        if let Some((kind, name)) = &wants.ca_referrers_of {
            let namespace = match kind {
                CaKind::ClusterTrustBundle => String::new(),
                _ => ns.clone(),
            };
            add(
                &mut found,
                self.by_ca.get(&(*kind, namespace, name.clone())),
            );
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::TargetKey as Target;

    fn policy(
        ns: &str,
        name: &str,
        target: &str,
        section: Option<&str>,
        ca: &str,
    ) -> Arc<PolicySummary> {
        Arc::new(PolicySummary {
            namespace: ns.into(),
            name: name.into(),
            created: None,
            targets: vec![Target {
                group: String::new(),
                kind: "Service".into(),
                name: target.into(),
                section: section.map(str::to_owned),
            }],
            ca_refs: vec![(CaKind::ConfigMap, ca.into())],
        })
    }

    #[test]
    fn selects_by_target_object_and_by_config_map_within_the_namespace() {
        let policies = [
            policy("shop", "a", "svc", Some("https"), "ca"),
            policy("shop", "b", "svc", None, "other"),
            policy("shop", "c", "elsewhere", None, "ca"),
            policy("other", "d", "svc", None, "ca"),
        ];
        let index = PolicyIndex::build(&policies);
        let wants = Wants {
            namespace: "shop".into(),
            targets: vec![Target {
                group: String::new(),
                kind: "Service".into(),
                name: "svc".into(),
                section: None,
            }],
            ..Wants::default()
        };
        let names: Vec<String> = index
            .select(&wants)
            .iter()
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(
            names,
            ["a", "b"],
            "any section of the same Service; other namespaces excluded"
        );
        let referrers = Wants::for_ca_object(CaKind::ConfigMap, "shop", "ca");
        let names: Vec<String> = index
            .select(&referrers)
            .iter()
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(names, ["a", "c"]);
    }
}
