//! "What does this object refer to?": the [`Lookup`] trait answers a [`Wants`] with a
//! [`Snapshot`]. [`MemoryLookup`] serves tests, the CLI and clusterless runs; the cluster
//! implementation reads watch caches.

mod bundles;
pub mod cluster;
mod memory;
mod policy_index;
pub mod secrets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use futures_util::future::BoxFuture;

pub use self::bundles::BundleCache;
pub use self::cluster::{ClusterLookup, ClusterOptions};
pub use self::memory::MemoryLookup;
use crate::validate::{ConfigMapEntry, PolicySummary, ServiceEntry, Snapshot, Wants};

/// `(namespace, name)`: how both lookups key what they hold.
type Key = (String, String);

/// The snapshot for `wants` from what a lookup holds: the ConfigMaps and Services asked for,
/// in the request's namespace, and the policies its index selected.
fn select(
    wants: &Wants,
    config_maps: &HashMap<Key, ConfigMapEntry>,
    services: &HashMap<Key, ServiceEntry>,
    policies: Vec<Arc<PolicySummary>>,
) -> Snapshot {
    let key = |name: &String| (wants.namespace.clone(), name.clone());
    Snapshot {
        config_maps: wants
            .config_maps
            .iter()
            .filter_map(|name| Some((name.clone(), config_maps.get(&key(name))?.clone())))
            .collect(),
        services: wants
            .services
            .iter()
            .filter_map(|name| Some((name.clone(), services.get(&key(name))?.clone())))
            .collect(),
        policies,
        ..Snapshot::default()
    }
}

/// Why a lookup could not be answered within its time limit (see [`snapshot_within`]).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The caches had not finished their initial sync when the limit passed.
    #[error("the webhook's caches did not finish syncing within {0:?}")]
    NotReady(Duration),
    /// The caches are synced, but what the lookup asked the cluster (a Secret) was not
    /// answered within the limit.
    #[error("the cluster did not answer within {0:?}")]
    Timeout(Duration),
}

/// The snapshot `lookup` gives for `wants` within `limit`, or why there is none: its caches
/// are still syncing (a cluster lookup waits for them), or the cluster did not answer.
pub async fn snapshot_within(
    lookup: &dyn Lookup,
    wants: &Wants,
    limit: Duration,
) -> Result<Snapshot, LookupError> {
    match crate::timeout::within(limit, lookup.snapshot(wants)).await {
        Some(answer) => answer,
        None if lookup.is_ready() => Err(LookupError::Timeout(limit)),
        None => Err(LookupError::NotReady(limit)),
    }
}

/// Answers what an object under review refers to.
pub trait Lookup: Send + Sync {
    /// The objects `wants` names that exist, and the policies it asks about. It may take
    /// unbounded time (a cluster lookup waits for its caches to sync): callers bound it, as
    /// [`snapshot_within`] does.
    fn snapshot<'a>(&'a self, wants: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>>;

    /// A number that changes whenever what the lookup knows changes (cached decisions are
    /// keyed by it).
    fn generation(&self) -> u64 {
        0
    }

    /// Whether lookups can be answered (caches synced).
    fn is_ready(&self) -> bool {
        true
    }

    /// A short description for logs (`in-memory (3 objects)`, `cluster`).
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup that never answers, synced or not.
    struct Stalled {
        ready: bool,
    }

    impl Lookup for Stalled {
        fn snapshot<'a>(&'a self, _: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
            Box::pin(std::future::pending())
        }

        fn is_ready(&self) -> bool {
            self.ready
        }

        fn describe(&self) -> String {
            "stalled".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_past_its_limit_says_whether_the_caches_were_syncing() {
        let wants = Wants::default();
        let limit = Duration::from_millis(300);
        let syncing = snapshot_within(&Stalled { ready: false }, &wants, limit).await;
        let syncing = syncing.expect_err("no snapshot");
        assert!(matches!(syncing, LookupError::NotReady(l) if l == limit));
        assert_eq!(
            syncing.to_string(),
            "the webhook's caches did not finish syncing within 300ms"
        );
        let synced = snapshot_within(&Stalled { ready: true }, &wants, limit).await;
        let synced = synced.expect_err("no snapshot");
        assert_eq!(
            synced.to_string(),
            "the cluster did not answer within 300ms"
        );
        let bundles = BundleCache::default();
        let memory = MemoryLookup::from_objects(std::iter::empty(), &bundles);
        assert!(snapshot_within(&memory, &wants, limit).await.is_ok());
    }
}
