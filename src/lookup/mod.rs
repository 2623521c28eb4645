//! "What does this object refer to?": the [`Lookup`] trait answers a [`Wants`] with a
//! [`Snapshot`]. [`MemoryLookup`] serves tests, the CLI and clusterless runs; the cluster
//! implementation reads watch caches.

mod bundles;
pub mod cluster;
mod memory;
mod policy_index;
pub mod secrets;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// A boxed future, so that lookups can be used as `Arc<dyn Lookup>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a lookup could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The caches have not finished their initial sync.
    #[error("the webhook's caches are not synced yet")]
    NotReady,
    /// The cluster did not answer in time.
    #[error("the cluster did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The cluster answered with an error.
    #[error("cluster lookup failed: {0}")]
    Cluster(String),
}

/// Answers what an object under review refers to.
pub trait Lookup: Send + Sync {
    /// The objects `wants` names that exist, and the policies it asks about.
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
