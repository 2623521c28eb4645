//! An in-process fake Kubernetes apiserver (plain HTTP on 127.0.0.1) serving discovery, list
//! (with `limit`/`continue` paging) and watch (newline-delimited events, resourceVersions,
//! bookmarks, `410 Gone` for expired versions) for ConfigMaps, Services, BackendTLSPolicies
//! and (when served, [`FakeApiserver::serve_cluster_trust_bundles`]) ClusterTrustBundles, and
//! GET of one Secret (list and watch of Secrets are refused, 403, as the webhook's RBAC
//! refuses them), so the real kube client code can be tested without a cluster. Every request
//! is recorded ([`FakeApiserver::log`]).
//!
//! Test controls: [`FakeApiserver::apply`], [`FakeApiserver::delete`],
//! [`FakeApiserver::drop_watches`] (every open watch ends, as when a connection breaks),
//! [`FakeApiserver::expire_history`] (resuming from an older resourceVersion gets 410, forcing
//! a relist) and [`FakeApiserver::hold_lists`] (lists wait until released, to test readiness
//! and lookup budgets).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// The BackendTLSPolicy API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// One served collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    ConfigMap,
    Service,
    Policy,
    Secret,
    ClusterTrustBundle,
}

impl Kind {
    fn of(object: &Value) -> Option<Kind> {
        match (object["apiVersion"].as_str()?, object["kind"].as_str()?) {
            ("v1", "ConfigMap") => Some(Kind::ConfigMap),
            ("v1", "Service") => Some(Kind::Service),
            ("v1", "Secret") => Some(Kind::Secret),
            (version, "ClusterTrustBundle") if version.starts_with(CERTIFICATES_GROUP) => {
                Some(Kind::ClusterTrustBundle)
            }
            (version, "BackendTLSPolicy") if version.starts_with(GATEWAY_GROUP) => {
                Some(Kind::Policy)
            }
            _ => None,
        }
    }

    fn list_kind(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMapList",
            Kind::Service => "ServiceList",
            Kind::Policy => "BackendTLSPolicyList",
            Kind::Secret => "SecretList",
            Kind::ClusterTrustBundle => "ClusterTrustBundleList",
        }
    }
}

/// The ClusterTrustBundle API group.
pub const CERTIFICATES_GROUP: &str = "certificates.k8s.io";

/// One request as the fake apiserver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
}

struct Watcher {
    kind: Kind,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct Inner {
    revision: u64,
    /// Events at or below this revision are gone: resuming from before it gets 410.
    oldest: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: Vec<(u64, Kind, &'static str, Value)>,
    watchers: Vec<Watcher>,
    served_versions: Vec<&'static str>,
    /// The ClusterTrustBundle version served, if any.
    trust_bundle_version: Option<&'static str>,
    /// Answer Secret GETs with 403 (no `get` on secrets).
    secrets_forbidden: bool,
    log: Vec<Logged>,
    lists: u64,
    watches: u64,
    discoveries: u64,
}

/// The fake apiserver; dropped, it stops serving.
pub struct FakeApiserver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    hold: Arc<Hold>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Hold {
    held: Mutex<bool>,
    /// Secret GETs wait (until the server is dropped): an apiserver that does not answer.
    secrets_held: Mutex<bool>,
    released: Notify,
}

impl FakeApiserver {
    /// Serves `objects` (ConfigMaps, Services and BackendTLSPolicies; other kinds are ignored)
    /// with BackendTLSPolicy served as `versions`.
    pub async fn start(
        objects: impl IntoIterator<Item = Value>,
        versions: &[&'static str],
    ) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            served_versions: versions.to_vec(),
            ..Inner::default()
        }));
        let hold = Arc::new(Hold::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .fallback(handle)
            .with_state((Arc::clone(&inner), Arc::clone(&hold)));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = Self {
            addr,
            inner,
            hold,
            task,
        };
        for object in objects {
            server.apply(object);
        }
        server
    }

    /// Writes a kubeconfig for this server into `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).expect("kubeconfig");
        path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake apiserver state")
    }

    /// Creates or replaces an object, notifying watches.
    pub fn apply(&self, mut object: Value) {
        let Some(kind) = Kind::of(&object) else {
            return;
        };
        let mut inner = self.lock();
        inner.revision += 1;
        let revision = inner.revision;
        let cluster_scoped = kind == Kind::ClusterTrustBundle;
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(if cluster_scoped { "" } else { "default" })
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !cluster_scoped {
            object["metadata"]["namespace"] = json!(namespace);
        }
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        if object["metadata"]["creationTimestamp"].is_null() {
            object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        let existed = inner
            .objects
            .insert((kind, namespace, name), object.clone())
            .is_some();
        let kind_of_event = if existed { "MODIFIED" } else { "ADDED" };
        inner
            .history
            .push((revision, kind, kind_of_event, object.clone()));
        notify(&mut inner, kind, kind_of_event, &object);
    }

    /// Deletes an object, notifying watches.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let mut inner = self.lock();
        let Some(mut object) = inner
            .objects
            .remove(&(kind, namespace.to_owned(), name.to_owned()))
        else {
            return;
        };
        inner.revision += 1;
        let revision = inner.revision;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        inner
            .history
            .push((revision, kind, "DELETED", object.clone()));
        notify(&mut inner, kind, "DELETED", &object);
    }

    /// Ends every open watch, as a broken connection would.
    pub fn drop_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Forgets the event history: a watch resumed from an older resourceVersion gets 410 Gone
    /// and the client must relist.
    pub fn expire_history(&self) {
        let mut inner = self.lock();
        inner.oldest = inner.revision;
        inner.history.clear();
    }

    /// Makes list requests wait until [`FakeApiserver::release_lists`].
    pub fn hold_lists(&self) {
        *self.hold.held.lock().expect("hold") = true;
    }

    /// Lets held and future list requests through.
    pub fn release_lists(&self) {
        *self.hold.held.lock().expect("hold") = false;
        self.hold.released.notify_waiters();
    }

    /// How many list and watch requests were served.
    pub fn requests(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.lists, inner.watches)
    }

    /// How many API discovery requests (`GET /apis`) were served.
    pub fn discoveries(&self) -> u64 {
        self.lock().discoveries
    }

    /// Serves ClusterTrustBundles as `certificates.k8s.io/<version>`.
    pub fn serve_cluster_trust_bundles(&self, version: &'static str) {
        self.lock().trust_bundle_version = Some(version);
    }

    /// Makes Secret GETs wait for ever, as an apiserver that does not answer.
    pub fn hold_secrets(&self) {
        *self.hold.secrets_held.lock().expect("hold") = true;
    }

    /// Answers Secret GETs with 403, as an apiserver does without `get` on secrets.
    pub fn forbid_secrets(&self) {
        self.lock().secrets_forbidden = true;
    }

    /// Every request served so far, in order.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }
}

impl Drop for FakeApiserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn notify(inner: &mut Inner, kind: Kind, event: &str, object: &Value) {
    let line = event_line(event, object);
    inner
        .watchers
        .retain(|w| w.kind != kind || w.tx.send(line.clone()).is_ok());
}

fn event_line(event: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": event, "object": object})).expect("json");
    line.push(b'\n');
    Bytes::from(line)
}

type AppState = (Arc<Mutex<Inner>>, Arc<Hold>);

async fn handle(State((inner, hold)): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    inner.lock().expect("state").log.push(Logged {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().unwrap_or("").to_owned(),
    });
    let method = request.method().clone();
    let raw_query = request.uri().query().unwrap_or("").to_owned();
    if let Some(response) = secret_or_trust_bundles(&inner, &hold, &method, &raw_query, &path).await
    {
        return response;
    }
    let query: BTreeMap<String, String> = raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2F", "/")))
        .collect();
    let versions = inner.lock().expect("state").served_versions.clone();
    let gateway_prefix = format!("/apis/{GATEWAY_GROUP}/");
    // Namespaced collections: .../namespaces/<ns>/<plural> filters the cluster-wide one.
    let (path, namespace) = match path.split_once("/namespaces/") {
        Some((prefix, rest)) => match rest.split_once('/') {
            Some((ns, plural)) if !plural.contains('/') => {
                (format!("{prefix}/{plural}"), Some(ns.to_owned()))
            }
            _ => (path.clone(), None),
        },
        None => (path.clone(), None),
    };
    let kind = match path.as_str() {
        "/apis" => {
            let mut state = inner.lock().expect("state");
            state.discoveries += 1;
            let trust_bundles = state.trust_bundle_version;
            return json_response(api_groups(&versions, trust_bundles));
        }
        "/api/v1/configmaps" => Kind::ConfigMap,
        "/api/v1/services" => Kind::Service,
        p if p.starts_with(&gateway_prefix) => {
            let rest = &p[gateway_prefix.len()..];
            match rest.split_once('/') {
                None if versions.contains(&rest) => return json_response(api_resources(rest)),
                Some((version, "backendtlspolicies")) if versions.contains(&version) => {
                    Kind::Policy
                }
                _ => return not_found(&path),
            }
        }
        _ => return not_found(&path),
    };
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        watch(&inner, kind, &query)
    } else {
        loop {
            let released = hold.released.notified();
            if !*hold.held.lock().expect("hold") {
                break;
            }
            released.await;
        }
        list(&inner, kind, namespace.as_deref(), &query)
    }
}

/// `GET /api/v1/namespaces/<ns>/secrets/<name>` (one Secret), any other Secret request (403:
/// the webhook may only get them), and the ClusterTrustBundle collection when it is served.
async fn secret_or_trust_bundles(
    inner: &Mutex<Inner>,
    hold: &Hold,
    method: &axum::http::Method,
    raw_query: &str,
    path: &str,
) -> Option<Response> {
    if let Some(rest) = path.strip_prefix("/api/v1/namespaces/")
        && let Some((namespace, rest)) = rest.split_once('/')
        && let Some(name) = rest.strip_prefix("secrets/")
    {
        if *hold.secrets_held.lock().expect("hold") {
            return Some(std::future::pending().await);
        }
        let state = inner.lock().expect("state");
        if state.secrets_forbidden || method != axum::http::Method::GET {
            return Some(forbidden(path));
        }
        let key = (Kind::Secret, namespace.to_owned(), name.to_owned());
        return Some(match state.objects.get(&key) {
            Some(secret) => json_response(secret.clone()),
            None => not_found(path),
        });
    }
    if path == "/api/v1/secrets" || path.ends_with("/secrets") {
        return Some(forbidden(path));
    }
    let version = inner.lock().expect("state").trust_bundle_version?;
    let query: BTreeMap<String, String> = raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if path == format!("/apis/{CERTIFICATES_GROUP}/{version}") {
        return Some(json_response(
            json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": format!("{CERTIFICATES_GROUP}/{version}"), "resources": [
            {"name": "clustertrustbundles", "singularName": "clustertrustbundle", "namespaced": false,
             "kind": "ClusterTrustBundle", "verbs": ["get", "list", "watch"]}]}),
        ));
    }
    if path != format!("/apis/{CERTIFICATES_GROUP}/{version}/clustertrustbundles") {
        return None;
    }
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return Some(watch(inner, Kind::ClusterTrustBundle, &query));
    }
    loop {
        let released = hold.released.notified();
        if !*hold.held.lock().expect("hold") {
            break;
        }
        released.await;
    }
    Some(list(inner, Kind::ClusterTrustBundle, None, &query))
}

fn forbidden(path: &str) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("forbidden: {path}"), "reason": "Forbidden", "code": 403});
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/json")],
        serde_json::to_vec(&status).expect("json"),
    )
        .into_response()
}

fn list(
    inner: &Mutex<Inner>,
    kind: Kind,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Response {
    let mut inner = inner.lock().expect("state");
    inner.lists += 1;
    let all: Vec<&Value> = inner
        .objects
        .iter()
        .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|wanted| wanted == ns))
        .map(|(_, v)| v)
        .collect();
    let start: usize = query
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(all.len());
    let items: Vec<&Value> = all[start.min(all.len())..end].to_vec();
    let mut metadata = json!({"resourceVersion": inner.revision.to_string()});
    if end < all.len() {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(all.len() - end);
    }
    json_response(
        json!({"apiVersion": "v1", "kind": kind.list_kind(), "metadata": metadata, "items": items}),
    )
}

fn watch(inner: &Mutex<Inner>, kind: Kind, query: &BTreeMap<String, String>) -> Response {
    let mut inner = inner.lock().expect("state");
    inner.watches += 1;
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    if from < inner.oldest {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {from} ({})", inner.oldest), "reason": "Expired", "code": 410});
        let _ = tx.send(event_line("ERROR", &status));
        drop(tx);
    } else {
        for (revision, k, event, object) in &inner.history {
            if *k == kind && *revision > from {
                let _ = tx.send(event_line(event, object));
            }
        }
        if query
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true")
        {
            let bookmark = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": inner.revision.to_string()}});
            let _ = tx.send(event_line("BOOKMARK", &bookmark));
        }
        inner.watchers.push(Watcher { kind, tx });
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("response")
}

fn api_groups(versions: &[&str], trust_bundles: Option<&str>) -> Value {
    let group_versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{GATEWAY_GROUP}/{v}"), "version": v}))
        .collect();
    let mut groups = if versions.is_empty() {
        vec![]
    } else {
        vec![
            json!({"name": GATEWAY_GROUP, "versions": group_versions, "preferredVersion": group_versions[0]}),
        ]
    };
    if let Some(v) = trust_bundles {
        let version = json!({"groupVersion": format!("{CERTIFICATES_GROUP}/{v}"), "version": v});
        groups.push(
            json!({"name": CERTIFICATES_GROUP, "versions": [version], "preferredVersion": version}),
        );
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_resources(version: &str) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GATEWAY_GROUP}/{version}"), "resources": [
        {"name": "backendtlspolicies", "singularName": "backendtlspolicy", "namespaced": true, "kind": "BackendTLSPolicy",
         "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"], "shortNames": ["btlspolicy"]},
        {"name": "backendtlspolicies/status", "singularName": "", "namespaced": true, "kind": "BackendTLSPolicy", "verbs": ["get", "patch", "update"]}
    ]})
}

fn json_response(value: Value) -> Response {
    (
        [("content-type", "application/json")],
        serde_json::to_vec(&value).expect("json"),
    )
        .into_response()
}

fn not_found(path: &str) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("the server could not find the requested resource ({path})"), "reason": "NotFound", "code": 404});
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        serde_json::to_vec(&status).expect("json"),
    )
        .into_response()
}
