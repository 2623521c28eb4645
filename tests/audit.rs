//! `audit` against the fake apiserver: policies validated as they stand in the cluster, and the
//! expiry of every CA certificate they reference.

mod common;

use std::process::Output;

use backendtls_webhook::objects;
use common::fake_apiserver::FakeApiserver;
use serde_json::{Value, json};

/// 2026-06-01: `expiring-ca` has 14 days left, `expired-ca` expired in 2020.
const NOW: &str = "2026-06-01T00:00:00Z";

fn policy(name: &str, config_map: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "inventory", "sectionName": "https"}],
            "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": config_map}], "hostname": "inventory.shop.svc"}
        }
    })
}

fn objects() -> Vec<Value> {
    let dirs = [
        common::fixtures().join("objects"),
        common::fixtures().join("configmaps"),
    ];
    let mut objects: Vec<Value> = objects::load_paths(&dirs)
        .expect("fixtures")
        .into_iter()
        .map(|d| d.value)
        .collect();
    // The sample CAs only become valid on 2026-11-26: point the sample policy at a bundle valid
    // on NOW.
    for object in &mut objects {
        if object["kind"] == "BackendTLSPolicy" {
            object["spec"]["validation"]["caCertificateRefs"][0]["name"] = json!("good-bundle-ca");
        }
    }
    let expiring = String::from_utf8(common::fixture("certs/expiring-ca.pem")).expect("pem");
    objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "expiring-ca", "namespace": "shop"}, "data": {"ca.crt": expiring}}));
    objects.push(policy("expiring", "expiring-ca"));
    let mut broken = policy("broken", "garbage-ca");
    broken["spec"]["targetRefs"][0]["sectionName"] = json!("grpc");
    objects.push(broken);
    let mut rival = policy("rival", "good-bundle-ca");
    rival["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    objects.push(rival);
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ignored"}}));
    objects
}

async fn audit(server: &FakeApiserver, dir: &tempfile::TempDir, extra: &[&str]) -> Output {
    let kubeconfig = server.kubeconfig(dir.path());
    let mut args = vec![
        "audit".to_owned(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--now".into(),
        NOW.into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"))
            .args(args)
            .output()
            .expect("runs")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reports_denials_conflicts_and_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(objects(), &["v1"]).await;
    let output = audit(&server, &dir, &[]).await;
    // The watch caches discover the served version; listing the policies reuses it.
    assert_eq!(server.discoveries(), 1);
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "BackendTLSPolicies: 4",
        "  shop/broken: DENIED",
        "    error: spec.validation.caCertificateRefs[0]: Invalid value: ConfigMap \"garbage-ca\" ca.crt: ",
        "    warning: spec.targetRefs[0].sectionName: Service \"inventory\" has no port \"grpc\"",
        "  shop/expiring: allowed, with warnings",
        "    warning: spec.validation.caCertificateRefs[0]: ConfigMap \"expiring-ca\" ca.crt: certificate 0 ",
        "  shop/payments-backend-tls: ok",
        "  shop/rival: allowed, with warnings",
        "    warning: spec.targetRefs[0]: BackendTLSPolicy shop/expiring also targets Service inventory, section https; this policy is older and wins: shop/expiring will be Accepted=False (Conflicted)",
        "    warning: spec.targetRefs[0]: BackendTLSPolicy shop/rival also targets Service inventory, section https; shop/rival is older and wins: this policy will be Accepted=False (Conflicted)",
        "4 policies: 1 would be denied, 3 with warnings; ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let expiring_row = text
        .lines()
        .find(|l| l.starts_with("  shop ") && l.contains("expiring-ca"))
        .expect("expiring row");
    assert!(
        expiring_row.contains("expiring") && expiring_row.contains("    14  "),
        "{expiring_row}"
    );
    let good_row = text
        .lines()
        .find(|l| l.starts_with("  shop ") && l.contains("good-bundle-ca"))
        .expect("good bundle row");
    assert!(
        good_row.contains("2035-01-01T00:00:00Z")
            && good_row.contains(" ok ")
            && good_row.ends_with("CN=Example Root CA,O=Example"),
        "{good_row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_without_the_crd_says_so_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(objects(), &[]).await;
    let output = audit(&server, &dir, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr,
        "backendtls-webhook audit: BackendTLSPolicy is not served by this cluster (Gateway API CRDs missing?)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_json_and_namespace_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut objects = objects();
    objects.retain(|o| o["metadata"]["name"] != "broken");
    let mut elsewhere = policy("elsewhere", "nope");
    elsewhere["metadata"]["namespace"] = json!("other");
    objects.push(elsewhere);
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let output = audit(&server, &dir, &["--output", "json", "--namespace", "shop"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let names: Vec<&str> = report["policies"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["expiring", "payments-backend-tls", "rival"]);
    assert_eq!(report["summary"]["denied"], 0);
    let expiring: Vec<&Value> = report["caCertificates"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["status"] == "expiring")
        .collect();
    assert_eq!(expiring.len(), 1);
    assert_eq!(expiring[0]["configMap"], "expiring-ca");
    assert_eq!(expiring[0]["daysLeft"], 14);
    assert_eq!(expiring[0]["notAfter"], "2026-06-15T00:00:00Z");
}

/// Runs `audit ARGS` with only the given environment for finding a cluster (`HOME`,
/// `KUBECONFIG`): none of the test's own.
async fn audit_with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, std::path::PathBuf)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_path_buf()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"))
            .arg("audit")
            .args(args)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("BACKENDTLS_WEBHOOK_KUBECONFIG")
            .env_remove("KUBECONFIG")
            .env_remove("HOME")
            .envs(env)
            .output()
            .expect("runs")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_without_a_cluster_exits_2() {
    let home = tempfile::tempdir().expect("tempdir");
    let output = audit_with_env(&[], &[("HOME", home.path())]).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "backendtls-webhook audit: no cluster: pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config (in a pod, the service account is used)\n"
    );
    // A kubeconfig that cannot be read is named once, without doubled quotes.
    let missing = home.path().join("nope");
    let output = audit_with_env(
        &["--kubeconfig", missing.to_str().expect("utf-8")],
        &[("HOME", home.path())],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "backendtls-webhook audit: cannot use kubeconfig {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// As kubectl: `$KUBECONFIG`, then `~/.kube/config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_finds_the_cluster_as_kubectl_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(objects(), &["v1"]).await;
    let kubeconfig = server.kubeconfig(dir.path());
    let home = tempfile::tempdir().expect("tempdir");
    let output = audit_with_env(
        &["--now", NOW],
        &[("HOME", home.path()), ("KUBECONFIG", &kubeconfig)],
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.starts_with("BackendTLSPolicies: 4\n"), "{text}");
    std::fs::create_dir(home.path().join(".kube")).expect("mkdir");
    std::fs::copy(&kubeconfig, home.path().join(".kube/config")).expect("copy");
    let output = audit_with_env(&["--now", NOW], &[("HOME", home.path())]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.starts_with("BackendTLSPolicies: 4\n"), "{text}");
}

/// An API server that does not answer is reported at once, with the cause, not after the
/// caches' sync timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_reported_at_once_with_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (closed, path) = common::unreachable_kubeconfig(dir.path());
    let output = audit_with_env(
        &["--kubeconfig", path.to_str().expect("utf-8")],
        &[("HOME", dir.path())],
    )
    .await;
    // This message comes from the probe before the caches start, so no sync timeout passed.
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "backendtls-webhook audit: cannot reach the cluster at http://{closed} (kubeconfig {}): ",
            path.display()
        )) && stderr.contains("Connection refused"),
        "{stderr}"
    );
}
