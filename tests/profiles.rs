//! Every built-in implementation profile on fixtures (`tests/fixtures/profiles/<profile>/`):
//! a policy it accepts, one it denies and one it warns about, each pinning one fact of the
//! profile, named with its source. They run through `validate --implementation NAME`, which
//! resolves the ConfigMaps, Secrets and ClusterTrustBundles of `objects.yaml` offline; the
//! environment-variable twin is checked once.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The fixture certificates are valid then (tests/fixtures/certs/README.md).
const NOW: &str = "2026-06-01T00:00:00Z";
const DIR: &str = "tests/fixtures/profiles";

/// What a case expects of `validate`.
enum Expect {
    /// Allowed; the only warnings are the profile's warnings about every policy (at the root).
    Accepted,
    /// An error at this field whose message contains this text.
    Denied(&'static str, &'static str),
    /// Allowed, with a warning at this field whose message contains this text.
    Warned(&'static str, &'static str),
}

/// One case: the fixture, what is expected, the profile fact it pins and where that is from.
struct Case {
    file: &'static str,
    expect: Expect,
    fact: &'static str,
    source: &'static str,
}

fn run(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
    command
        .arg("validate")
        .args(args)
        .args(["--now", NOW, "--output", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BACKENDTLS_WEBHOOK_IMPLEMENTATION")
        .env_remove("BACKENDTLS_WEBHOOK_IMPLEMENTATION_FILE");
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    command.output().expect("runs")
}

/// The findings about the case's file: `(severity, field, message)`.
fn findings(output: &Output, file: &str) -> Vec<(String, String, String)> {
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["file"] == file)
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (text("severity"), text("field"), text("message"))
        })
        .collect()
}

fn check(profile: &str, cases: &[Case]) {
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(DIR)
            .join(profile)
            .is_dir()
    );
    for case in cases {
        let file = format!("{DIR}/{profile}/{}.yaml", case.file);
        let objects = format!("{DIR}/objects.yaml");
        let output = run(&["--implementation", profile, &objects, &file], None);
        let found = findings(&output, &file);
        let about = format!(
            "{profile} {}: {} ({})\nfindings: {found:#?}",
            case.file, case.fact, case.source
        );
        let errors: Vec<&(String, String, String)> =
            found.iter().filter(|f| f.0 == "error").collect();
        match case.expect {
            Expect::Accepted => {
                assert_eq!(output.status.code(), Some(0), "{about}");
                assert!(
                    found.iter().all(|(_, field, _)| field.is_empty()),
                    "{about}"
                );
            }
            Expect::Denied(field, text) => {
                assert_eq!(output.status.code(), Some(1), "{about}");
                assert!(
                    errors.iter().any(|f| f.1 == field && f.2.contains(text)),
                    "{about}"
                );
            }
            Expect::Warned(field, text) => {
                assert_eq!(output.status.code(), Some(0), "{about}");
                assert!(errors.is_empty(), "{about}");
                assert!(
                    found
                        .iter()
                        .any(|f| f.0 == "warning" && f.1 == field && f.2.contains(text)),
                    "{about}"
                );
            }
        }
    }
}

const GATEWAY_API: &str = "kubernetes-sigs/gateway-api@v1.6.1:apis/v1/backendtlspolicy_types.go";

#[test]
fn core() {
    check(
        "core",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "a ConfigMap CA reference read at ca.crt is core",
                source: GATEWAY_API,
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs[0].kind",
                    r#"Unsupported value: "Secret": supported values: "ConfigMap" (ResolvedRefs=False, InvalidKind)"#,
                ),
                fact: "CA kinds other than ConfigMap are implementation-specific",
                source: GATEWAY_API,
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.wellKnownCACertificates",
                    "is implementation-specific",
                ),
                fact: "wellKnownCACertificates values other than System are implementation-specific",
                source: GATEWAY_API,
            },
        ],
    );
}

#[test]
fn envoy_gateway() {
    check(
        "envoy-gateway",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "Secret CA references are read (since v1.1.0)",
                source: "https://github.com/envoyproxy/gateway/issues/2777",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.wellKnownCACertificates",
                    r#"Unsupported value: "example.com/corp-roots": supported values: "System" (Envoy Gateway v1.6.0 to v1.9.x: Accepted=False, Invalid)"#,
                ),
                fact: "System is the only wellKnownCACertificates value",
                source: "envoyproxy/gateway@d32f28294245:internal/gatewayapi/backendtlspolicy.go:512-537",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.options",
                    "Envoy Gateway v1.6.0 to v1.9.x does not read spec.options",
                ),
                fact: "spec.options is never read",
                source: "https://github.com/envoyproxy/gateway/issues/5845",
            },
        ],
    );
}

#[test]
fn istio() {
    check(
        "istio",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "a ConfigMap CA reference (cacert, else ca.crt)",
                source: "istio/istio@86c9f01fd735:pilot/pkg/credentials/kube/secrets.go:330-360",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs[0].kind",
                    r#"Unsupported value: "Secret": supported values: "ConfigMap" (Istio 1.28.0 to 1.30.x: ResolvedRefs=False, InvalidKind)"#,
                ),
                fact: "a Secret CA reference is an unsupported reference kind",
                source: "istio/istio@86c9f01fd735:pilot/pkg/config/kube/gateway/backend_policies.go:707-749",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.caCertificateRefs[1]",
                    "uses only the first CA reference: caCertificateRefs[1] is ignored",
                ),
                fact: "only caCertificateRefs[0] is used",
                source: "istio/istio@86c9f01fd735:pilot/pkg/config/kube/gateway/backend_policies.go:701-706",
            },
        ],
    );
}

#[test]
fn nginx_gateway_fabric() {
    check(
        "nginx-gateway-fabric",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "one ConfigMap CA reference read at ca.crt",
                source: "nginx/nginx-gateway-fabric@e55bfe33969f:internal/controller/state/resolver/configmaps.go:32-58",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs",
                    "must have at most 1 items (NGINX Gateway Fabric v2.3.0 to v2.6.x accepts one CA reference",
                ),
                fact: "more than one CA reference makes the policy invalid",
                source: "nginx/nginx-gateway-fabric@e55bfe33969f:internal/controller/state/graph/backend_tls_policy.go:133-137",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.subjectAltNames",
                    "subjectAltNames are not read: only hostname is verified",
                ),
                fact: "subjectAltNames are not read",
                source: "nginx/documentation@08c4aa3d:content/ngf/overview/gateway-api-compatibility.md",
            },
        ],
    );
}

#[test]
fn traefik() {
    check(
        "traefik",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "Secret CA references of any type are read at ca.crt (since v3.7.0)",
                source: "https://github.com/traefik/traefik/pull/12927",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs[0].kind",
                    r#"Unsupported value: "certificates.k8s.io/ClusterTrustBundle": supported values: "ConfigMap", "Secret""#,
                ),
                fact: "ClusterTrustBundle is not read (proposed, not merged)",
                source: "https://github.com/traefik/traefik/pull/13410",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.subjectAltNames",
                    "subjectAltNames are not read",
                ),
                fact: "v3.7.x does not read subjectAltNames",
                source: "traefik/traefik@fd5a576df2e8:pkg/provider/kubernetes/gateway/httproute.go",
            },
        ],
    );
}

#[test]
fn kgateway() {
    check(
        "kgateway",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "Secret CA references are read (since v2.2.0)",
                source: "kgateway-dev/kgateway@e8b96ae3:pkg/kgateway/extensions2/plugins/backendtlspolicy/plugin.go",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs[0].kind",
                    r#"Unsupported value: "certificates.k8s.io/ClusterTrustBundle": supported values: "ConfigMap", "Secret" (kgateway"#,
                ),
                fact: "kinds other than ConfigMap and Secret are an InvalidKindError",
                source: "kgateway-dev/kgateway@e8b96ae3:pkg/kgateway/extensions2/plugins/backendtlspolicy/plugin.go",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.caCertificateRefs[1]",
                    "kgateway v2.2.0 to v2.4.x uses only the first CA reference",
                ),
                fact: "only caCertificateRefs[0] is used, without a condition",
                source: "kgateway-dev/kgateway@e8b96ae3:pkg/kgateway/extensions2/plugins/backendtlspolicy/plugin.go",
            },
        ],
    );
}

#[test]
fn agentgateway() {
    check(
        "agentgateway",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "a ConfigMap CA reference read at ca.crt",
                source: "agentgateway/agentgateway@75b4e6ce6e0e:controller/pkg/agentgateway/plugins/tls.go:66-93",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs[0].kind",
                    r#"Unsupported value: "Secret": supported values: "ConfigMap" (agentgateway v1.0.0 to v1.4.x"#,
                ),
                fact: "a Secret CA reference is invalid",
                source: "https://github.com/agentgateway/agentgateway/issues/3414",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.targetRefs[0]",
                    r#"ignores targets of kind "multicluster.x-k8s.io/ServiceImport" without a condition"#,
                ),
                fact: "targets of unsupported kinds are skipped without a condition",
                source: "agentgateway/agentgateway@75b4e6ce6e0e:controller/pkg/agentgateway/plugins/backend_tls_plugin.go:139-181",
            },
        ],
    );
}

#[test]
fn cilium() {
    check(
        "cilium",
        &[
            Case {
                file: "accepted",
                expect: Expect::Accepted,
                fact: "one ConfigMap CA reference read at ca.crt",
                source: "cilium/cilium@8890d123:operator/pkg/gateway-api/policychecks/backendtlspolicy.go",
            },
            Case {
                file: "denied",
                expect: Expect::Denied(
                    "spec.validation.caCertificateRefs",
                    "must have at most 1 items (Cilium v1.20.x accepts one CA reference",
                ),
                fact: "more than one CA reference is not supported",
                source: "cilium/cilium@8890d123:operator/pkg/gateway-api/policychecks/backendtlspolicy.go",
            },
            Case {
                file: "warned",
                expect: Expect::Warned(
                    "spec.validation.wellKnownCACertificates",
                    "the policy shows Accepted but traffic to the backend goes out in plaintext",
                ),
                fact: "wellKnownCACertificates is accepted and the traffic is plaintext",
                source: "https://github.com/cilium/cilium/issues/48307",
            },
        ],
    );
}

#[test]
fn every_built_in_profile_has_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
    for name in backendtls_webhook::validate::profile::built_in_names() {
        for file in ["accepted", "denied", "warned"] {
            let path = dir.join(name).join(format!("{file}.yaml"));
            assert!(path.is_file(), "{}", path.display());
        }
    }
}

/// `BACKENDTLS_WEBHOOK_IMPLEMENTATION` is the twin of `--implementation`, and
/// `BACKENDTLS_WEBHOOK_IMPLEMENTATION_FILE` of `--implementation-file`.
#[test]
fn the_environment_selects_the_implementation() {
    let file = format!("{DIR}/envoy-gateway/accepted.yaml");
    let objects = format!("{DIR}/objects.yaml");
    let env = ("BACKENDTLS_WEBHOOK_IMPLEMENTATION", "envoy-gateway");
    assert_eq!(run(&[&objects, &file], Some(env)).status.code(), Some(0));
    assert_eq!(run(&[&objects, &file], None).status.code(), Some(1));

    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("secrets.yaml");
    let yaml = "name: my-gateway\nimplementation: My Gateway\nversions: v1\ncaCertificateRefs:\n  sources:\n    - kind: Secret\ntargetKinds:\n  - kind: Service\n";
    std::fs::write(&profile, yaml).expect("profile");
    let env = (
        "BACKENDTLS_WEBHOOK_IMPLEMENTATION_FILE",
        profile.to_str().expect("utf-8"),
    );
    assert_eq!(run(&[&objects, &file], Some(env)).status.code(), Some(0));
    let both = run(&["--implementation", "istio", &objects, &file], Some(env));
    assert_eq!(both.status.code(), Some(2), "one profile at a time");
}

/// `review` resolves Secrets and ClusterTrustBundles from `--objects` the same way.
#[test]
fn review_resolves_secrets_and_trust_bundles_from_its_objects() {
    use std::io::Write as _;
    let review = |args: &[&str], policy: &str| {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(policy))
                .expect("fixture");
        let documents = backendtls_webhook::objects::parse_str(policy, &text).expect("yaml");
        let object = &documents[0].value;
        let body = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "r", "kind": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"},
                        "namespace": "shop", "name": object["metadata"]["name"], "operation": "CREATE", "object": object}
        });
        let mut child = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"))
            .arg("review")
            .args(args)
            .args([
                "--objects",
                &format!("{DIR}/objects.yaml"),
                "--now",
                NOW,
                "-",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("BACKENDTLS_WEBHOOK_IMPLEMENTATION")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawns");
        let input = serde_json::to_vec(&body).expect("json");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("writes");
        let output = child.wait_with_output().expect("runs");
        let answer: Value = serde_json::from_slice(&output.stdout).expect("an AdmissionReview");
        answer["response"].clone()
    };
    let secret = review(
        &["--implementation", "envoy-gateway"],
        "envoy-gateway/accepted.yaml",
    );
    assert_eq!(secret["allowed"], true, "{secret}");
    assert!(secret.get("warnings").is_none(), "{secret}");
    let core = review(&[], "envoy-gateway/accepted.yaml");
    assert_eq!(core["allowed"], false, "{core}");
    let bundle = review(
        &["--implementation", "envoy-gateway"],
        "envoy-gateway/warned.yaml",
    );
    assert_eq!(bundle["allowed"], true, "{bundle}");
    let warnings = bundle["warnings"].to_string();
    assert!(
        !warnings.contains("not found"),
        "the ClusterTrustBundle resolves: {warnings}"
    );
}

/// The README's profile file example loads, and is the built-in `envoy-gateway` profile (with
/// one of its pitfalls).
#[test]
fn the_readme_profile_file_is_the_envoy_gateway_profile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let (_, after) = readme
        .split_once("<!-- profile-file -->\n```yaml\n")
        .expect("the example");
    let (yaml, _) = after.split_once("```").expect("its end");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("profile.yaml");
    std::fs::write(&path, yaml).expect("writes");
    let loaded = backendtls_webhook::cli::load_profile_file(path.to_str().expect("utf-8"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut built_in = backendtls_webhook::validate::profile::ENVOY_GATEWAY;
    let pitfalls: Vec<_> = built_in
        .pitfalls
        .iter()
        .filter(|p| loaded.pitfalls.contains(p))
        .cloned()
        .collect();
    assert_eq!(pitfalls.len(), 1);
    built_in.pitfalls = pitfalls.into();
    assert_eq!(*loaded, built_in);
}
