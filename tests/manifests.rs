//! Checks on the rendered install manifests (`kubectl kustomize manifests/base` and the
//! cert-manager and secret-ca overlays): the security settings of the pod, least-privilege RBAC
//! (no Secret access but in the secret-ca overlay, and there `get` only), and the registration
//! of the webhooks. The container arguments are parsed with the webhook's own
//! command line, so a renamed flag fails here rather than in a cluster.

mod common;

use std::collections::BTreeSet;

use backendtls_webhook::cli::{Cli, Command};
use backendtls_webhook::telemetry::LogFormat;
use clap::Parser;
use serde_json::{Value, json};

const NAMESPACE: &str = "backendtls-webhook";
const NAME: &str = "backendtls-webhook";
const TLS_SECRET: &str = "backendtls-webhook-tls";
const TLS_DIR: &str = "/etc/backendtls-webhook/tls";
const POLICY_WEBHOOK: &str = "backendtlspolicies.backendtls-webhook.dev";
const CONFIGMAP_WEBHOOK: &str = "configmaps.backendtls-webhook.dev";
const TRUST_BUNDLE_WEBHOOK: &str = "clustertrustbundles.backendtls-webhook.dev";
const SECRET_WEBHOOK: &str = "secrets.backendtls-webhook.dev";

fn base() -> Vec<Value> {
    common::kustomize("manifests/base")
}

fn overlay() -> Vec<Value> {
    common::kustomize("manifests/overlays/cert-manager")
}

fn secret_ca() -> Vec<Value> {
    common::kustomize("manifests/overlays/secret-ca")
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let matching: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(matching.len(), 1, "exactly one {kind} {name}");
    matching[0]
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("a string: {v}")))
        .collect()
}

fn container(objects: &[Value]) -> &Value {
    let pod = &find(objects, "Deployment", NAME)["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    assert!(pod.get("initContainers").is_none(), "no init containers");
    &containers[0]
}

/// The `serve` arguments of the container, parsed by the webhook's own command line.
fn serve_args(objects: &[Value]) -> backendtls_webhook::cli::ServeArgs {
    let container = container(objects);
    assert!(
        container.get("command").is_none(),
        "the image's entrypoint (`backendtls-webhook serve`) is used"
    );
    let mut argv = vec!["backendtls-webhook", "serve"];
    argv.extend(strings(&container["args"]));
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    match cli.command {
        Command::Serve(args) => *args,
        other => panic!("not serve: {other:?}"),
    }
}

#[test]
fn base_holds_exactly_the_install_objects() {
    let objects = base();
    let kinds: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().expect("kind").to_owned(),
                o["metadata"]["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "ValidatingWebhookConfiguration",
    ]
    .iter()
    .map(|k| (k.to_string(), NAME.to_owned()))
    .collect();
    assert_eq!(kinds, expected);
    for object in &objects {
        let cluster_scoped = matches!(
            object["kind"].as_str(),
            Some(
                "Namespace"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "ValidatingWebhookConfiguration"
            )
        );
        let namespace = object["metadata"].get("namespace");
        if cluster_scoped {
            assert!(namespace.is_none(), "{object}");
        } else {
            assert_eq!(namespace, Some(&json!(NAMESPACE)), "{}", object["kind"]);
        }
    }
    assert_eq!(
        find(&objects, "Namespace", NAME)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn deployment_runs_two_locked_down_replicas() {
    let objects = base();
    let deployment = find(&objects, "Deployment", NAME);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "a rollout never drops below the desired replicas"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], NAME);
    assert_ne!(
        pod["automountServiceAccountToken"], false,
        "needs its token"
    );
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());

    let pod_security = &pod["securityContext"];
    let container = container(&objects);
    let security = &container["securityContext"];
    // Each setting holds for the container, whether set on it or inherited from the pod.
    let effective = |field: &str| {
        security
            .get(field)
            .or_else(|| pod_security.get(field))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(effective("runAsNonRoot"), true);
    assert_eq!(effective("runAsUser"), 65532);
    assert_eq!(
        effective("seccompProfile"),
        json!({"type": "RuntimeDefault"})
    );
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"], json!({"drop": ["ALL"]}));
    assert!(security.get("privileged").is_none_or(|p| p == false));

    assert_eq!(container["image"], "backendtls-webhook:dev");
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        container["resources"],
        json!({
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "128Mi"},
        })
    );

    let spread = pod["topologySpreadConstraints"]
        .as_array()
        .expect("topologySpreadConstraints");
    assert!(
        spread
            .iter()
            .any(|c| c["topologyKey"] == "kubernetes.io/hostname"
                && c["maxSkew"] == 1
                && c["labelSelector"]["matchLabels"] == pod_labels(&objects)),
        "{spread:?}"
    );
}

fn pod_labels(objects: &[Value]) -> Value {
    let deployment = find(objects, "Deployment", NAME);
    let labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    for (key, value) in selector.as_object().expect("matchLabels") {
        assert_eq!(&labels[key], value, "the selector selects the pods");
    }
    selector.clone()
}

#[test]
fn container_serves_tls_from_the_secret_with_https_probes() {
    let objects = base();
    let args = serve_args(&objects);
    assert_eq!(args.listen, "0.0.0.0:8443".parse().expect("addr"));
    assert_eq!(args.log_format, LogFormat::Json);
    assert_eq!(
        args.tls_cert_file,
        std::path::Path::new(TLS_DIR).join("tls.crt")
    );
    assert_eq!(
        args.tls_key_file,
        std::path::Path::new(TLS_DIR).join("tls.key")
    );
    assert!(
        args.objects.is_empty(),
        "in a cluster the lookup watches the API"
    );
    assert!(
        args.kubeconfig.is_none(),
        "in a pod the service account is used"
    );

    let container = container(&objects);
    let pod = &find(&objects, "Deployment", NAME)["spec"]["template"]["spec"];
    let mount = container["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == TLS_DIR)
        .expect("TLS mount");
    assert_eq!(mount["readOnly"], true);
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("TLS volume");
    assert_eq!(volume["secret"]["secretName"], TLS_SECRET);

    assert_eq!(
        container["ports"],
        json!([{"name": "https", "containerPort": 8443, "protocol": "TCP"}])
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(
            (&get["path"], &get["port"], &get["scheme"]),
            (&json!(path), &json!(8443), &json!("HTTPS")),
            "{probe}"
        );
    }

    // SIGTERM: the preStop pause, then up to --shutdown-timeout of draining, fit in the grace
    // period.
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");
    let pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        pause + args.shutdown_timeout.as_secs() < grace && grace <= 60,
        "preStop {pause}s + drain {:?} within {grace}s",
        args.shutdown_timeout
    );
}

#[test]
fn service_and_disruption_budget_select_the_pods() {
    let objects = base();
    let labels = pod_labels(&objects);
    let service = find(&objects, "Service", NAME);
    assert_eq!(service["spec"]["selector"], labels);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}])
    );
    let pdb = find(&objects, "PodDisruptionBudget", NAME);
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], labels);
}

#[test]
fn rbac_reads_configmaps_services_and_policies_and_nothing_else() {
    let objects = base();
    for kind in ["Role", "RoleBinding"] {
        assert!(objects.iter().all(|o| o["kind"] != kind), "no {kind}");
    }
    let mut expected = BTreeSet::new();
    for (group, resource) in [
        ("", "configmaps"),
        ("", "services"),
        ("gateway.networking.k8s.io", "backendtlspolicies"),
    ] {
        for verb in ["get", "list", "watch"] {
            expected.insert((group, resource, verb));
        }
    }
    // ClusterTrustBundles: public trust anchors, listed and watched for the profiles that
    // read them.
    expected.insert(("certificates.k8s.io", "clustertrustbundles", "list"));
    expected.insert(("certificates.k8s.io", "clustertrustbundles", "watch"));
    let grants = grants(find(&objects, "ClusterRole", NAME));
    assert_eq!(grants, expected);
    assert!(
        grants.iter().all(|(_, resource, _)| *resource != "secrets"),
        "the base install has no Secret access"
    );

    let binding = find(&objects, "ClusterRoleBinding", NAME);
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}])
    );
    find(&objects, "ServiceAccount", NAME);
}

/// Every (group, resource, verb) a ClusterRole grants; each at most once, and no
/// resourceNames or nonResourceURLs.
fn grants(role: &Value) -> BTreeSet<(&str, &str, &str)> {
    assert!(role.get("aggregationRule").is_none());
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let keys: BTreeSet<&str> = rule
            .as_object()
            .expect("rule")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["apiGroups", "resources", "verbs"]),
            "no resourceNames or nonResourceURLs: {rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        grants.insert((group, resource, verb)),
                        "granted twice: {group}/{resource} {verb}"
                    );
                }
            }
        }
    }
    grants
}

fn webhook<'a>(configuration: &'a Value, name: &str) -> &'a Value {
    configuration["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("webhook {name}"))
}

#[test]
fn every_webhook_is_registered_as_specified() {
    let objects = base();
    let configuration = find(&objects, "ValidatingWebhookConfiguration", NAME);
    assert_eq!(
        configuration["apiVersion"],
        "admissionregistration.k8s.io/v1"
    );
    assert_eq!(configuration["webhooks"].as_array().map(Vec::len), Some(3));
    let service = find(&objects, "Service", NAME);
    for name in [POLICY_WEBHOOK, CONFIGMAP_WEBHOOK, TRUST_BUNDLE_WEBHOOK] {
        let hook = webhook(configuration, name);
        assert_eq!(hook["sideEffects"], "None", "{name}");
        assert_eq!(hook["timeoutSeconds"], 5, "{name}");
        assert_eq!(hook["admissionReviewVersions"], json!(["v1"]), "{name}");
        assert_eq!(hook["matchPolicy"], "Equivalent", "{name}");
        assert!(hook.get("objectSelector").is_none(), "{name}");
        let client = &hook["clientConfig"];
        assert!(client.get("url").is_none(), "{name}");
        assert_eq!(
            client["service"],
            json!({"name": NAME, "namespace": NAMESPACE, "path": "/validate", "port": 443}),
            "{name}"
        );
        assert_eq!(client["service"]["name"], service["metadata"]["name"]);
        assert_eq!(
            client["service"]["port"],
            service["spec"]["ports"][0]["port"]
        );
        // The base's placeholder: valid base64, replaced by `make manifests`.
        assert_eq!(
            client["caBundle"], "UkVQTEFDRV9XSVRIX0JBU0U2NF9DQV9QRU0=",
            "{name}"
        );
    }

    let policies = webhook(configuration, POLICY_WEBHOOK);
    assert_eq!(policies["failurePolicy"], "Fail");
    assert_eq!(
        policies["rules"],
        json!([{
            "apiGroups": ["gateway.networking.k8s.io"],
            "apiVersions": ["v1", "v1alpha3"],
            "resources": ["backendtlspolicies"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }])
    );
    assert!(policies.get("matchConditions").is_none());

    let config_maps = webhook(configuration, CONFIGMAP_WEBHOOK);
    assert_eq!(config_maps["failurePolicy"], "Ignore");
    assert_eq!(
        config_maps["rules"],
        json!([{
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["configmaps"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "scope": "Namespaced",
        }])
    );
    assert_eq!(
        config_maps["namespaceSelector"],
        json!({"matchExpressions": [{
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": ["kube-system", NAMESPACE],
        }]})
    );
    let conditions = config_maps["matchConditions"]
        .as_array()
        .expect("matchConditions");
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["name"], "holds-ca-crt");
    let expression = conditions[0]["expression"].as_str().expect("expression");
    for needle in [
        "object != null",
        "oldObject != null",
        "'ca.crt' in object.data",
        "'ca.crt' in object.binaryData",
        "'ca.crt' in oldObject.data",
        "'ca.crt' in oldObject.binaryData",
    ] {
        assert!(expression.contains(needle), "{needle} in {expression}");
    }
    // What the expression decides is tested against fixtures in tests/apiserver_sim.rs.

    let trust_bundles = webhook(configuration, TRUST_BUNDLE_WEBHOOK);
    assert_eq!(trust_bundles["failurePolicy"], "Ignore");
    assert_eq!(
        trust_bundles["rules"],
        json!([{
            "apiGroups": ["certificates.k8s.io"],
            "apiVersions": ["v1beta1", "v1alpha1"],
            "resources": ["clustertrustbundles"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "scope": "Cluster",
        }])
    );
    assert!(trust_bundles.get("namespaceSelector").is_none());
}

#[test]
fn the_deployment_names_a_built_in_implementation() {
    let objects = base();
    let env = container(&objects)["env"].as_array().expect("env").clone();
    let implementation = env
        .iter()
        .find(|e| e["name"] == "BACKENDTLS_WEBHOOK_IMPLEMENTATION")
        .expect("the implementation is a manifests value");
    let name = implementation["value"].as_str().expect("a value");
    assert_eq!(name, "core", "the default: Gateway API core conformance");
    assert!(backendtls_webhook::validate::profile::built_in(name).is_some());
    assert!(
        env.iter()
            .all(|e| e["name"] != "BACKENDTLS_WEBHOOK_READ_SECRETS"),
        "the base does not read Secrets"
    );
}

#[test]
fn the_secret_ca_overlay_grants_get_on_secrets_and_guards_them() {
    let base = base();
    let objects = secret_ca();
    // Everything else is the base unchanged.
    for object in base
        .iter()
        .filter(|o| o["kind"] != "ValidatingWebhookConfiguration" && o["kind"] != "Deployment")
    {
        assert!(objects.contains(object), "{}", object["kind"]);
    }
    let role = find(&objects, "ClusterRole", "backendtls-webhook-secret-ca");
    assert_eq!(grants(role), BTreeSet::from([("", "secrets", "get")]));
    let binding = find(
        &objects,
        "ClusterRoleBinding",
        "backendtls-webhook-secret-ca",
    );
    assert_eq!(binding["roleRef"]["name"], "backendtls-webhook-secret-ca");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}])
    );

    let env = container(&objects)["env"].as_array().expect("env").clone();
    assert!(env.contains(&json!({"name": "BACKENDTLS_WEBHOOK_READ_SECRETS", "value": "true"})));
    let args = serve_args(&objects);
    assert!(
        !args.read_secrets,
        "set through the environment, not the arguments"
    );

    let configuration = find(&objects, "ValidatingWebhookConfiguration", NAME);
    let in_base = find(&base, "ValidatingWebhookConfiguration", NAME);
    let hooks = configuration["webhooks"].as_array().expect("webhooks");
    assert_eq!(
        &hooks[..3],
        in_base["webhooks"].as_array().expect("webhooks")
    );
    let secrets = webhook(configuration, SECRET_WEBHOOK);
    assert_eq!(secrets["failurePolicy"], "Ignore");
    assert_eq!(
        secrets["rules"],
        json!([{
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["secrets"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "scope": "Namespaced",
        }])
    );
    assert_eq!(
        secrets["namespaceSelector"],
        webhook(in_base, CONFIGMAP_WEBHOOK)["namespaceSelector"]
    );
    assert_eq!(
        secrets["clientConfig"],
        webhook(in_base, CONFIGMAP_WEBHOOK)["clientConfig"]
    );
    let conditions = secrets["matchConditions"]
        .as_array()
        .expect("matchConditions");
    let expression = conditions[0]["expression"].as_str().expect("expression");
    for needle in ["'ca.crt' in object.data", "'ca.crt' in oldObject.data"] {
        assert!(expression.contains(needle), "{needle} in {expression}");
    }
}

#[test]
fn cert_manager_overlay_issues_the_secret_and_injects_the_ca() {
    let base = base();
    let objects = overlay();
    // Everything but the webhook configuration is the base unchanged.
    for object in base
        .iter()
        .filter(|o| o["kind"] != "ValidatingWebhookConfiguration")
    {
        assert!(objects.contains(object), "{}", object["kind"]);
    }
    let configuration = find(&objects, "ValidatingWebhookConfiguration", NAME);
    let inject = configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        .as_str()
        .expect("inject-ca-from");
    let (namespace, certificate) = inject.split_once('/').expect("namespace/name");
    assert_eq!(namespace, NAMESPACE);
    for hook in configuration["webhooks"].as_array().expect("webhooks") {
        assert!(
            hook["clientConfig"].get("caBundle").is_none(),
            "cainjector owns caBundle: {}",
            hook["name"]
        );
        let mut without_ca = hook.clone();
        let mut in_base = webhook(
            find(&base, "ValidatingWebhookConfiguration", NAME),
            hook["name"].as_str().expect("name"),
        )
        .clone();
        in_base["clientConfig"]
            .as_object_mut()
            .expect("clientConfig")
            .remove("caBundle");
        without_ca["clientConfig"]
            .as_object_mut()
            .expect("clientConfig")
            .remove("caBundle");
        assert_eq!(without_ca, in_base, "only caBundle differs");
    }

    let cert_manager: Vec<&Value> = objects
        .iter()
        .filter(|o| o["apiVersion"] == "cert-manager.io/v1")
        .collect();
    assert_eq!(cert_manager.len(), 4, "two Issuers and two Certificates");
    for object in &cert_manager {
        assert_eq!(object["metadata"]["namespace"], NAMESPACE);
    }
    let serving = find(&objects, "Certificate", certificate);
    assert_eq!(serving["spec"]["secretName"], TLS_SECRET);
    assert_eq!(
        serving["spec"]["dnsNames"],
        json!([
            "backendtls-webhook.backendtls-webhook.svc",
            "backendtls-webhook.backendtls-webhook.svc.cluster.local",
        ])
    );
    assert_eq!(
        (
            &serving["spec"]["privateKey"]["algorithm"],
            &serving["spec"]["privateKey"]["size"]
        ),
        (&json!("ECDSA"), &json!(256))
    );
    assert_ne!(serving["spec"]["isCA"], true);
    // serving <- CA Issuer <- CA Certificate <- self-signed Issuer
    let issuer_of = |certificate: &Value| {
        let reference = &certificate["spec"]["issuerRef"];
        assert_eq!(reference["kind"], "Issuer");
        find(
            &objects,
            "Issuer",
            reference["name"].as_str().expect("name"),
        )
        .clone()
    };
    let ca_issuer = issuer_of(serving);
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"]
        .as_str()
        .expect("a CA Issuer");
    let ca = cert_manager
        .iter()
        .find(|o| o["kind"] == "Certificate" && o["spec"]["secretName"] == ca_secret)
        .expect("the CA Certificate");
    assert_eq!(ca["spec"]["isCA"], true);
    assert_eq!(ca["spec"]["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(issuer_of(ca)["spec"]["selfSigned"], json!({}));
}

#[test]
fn the_image_runs_as_the_deployment_user() {
    let dockerfile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"),
    )
    .expect("Dockerfile");
    let last_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a runtime stage");
    assert!(last_stage.starts_with("gcr.io/distroless/cc-debian12:nonroot"));
    assert!(last_stage.contains("\nUSER 65532:65532\n"));
    assert!(last_stage.contains(r#"ENTRYPOINT ["/usr/local/bin/backendtls-webhook", "serve"]"#));
}

/// The allocator's purge delay (10 ms, see src/main.rs) is set by the image and by the pod, the
/// binary no longer sets it itself.
#[test]
fn the_image_and_the_pod_set_the_allocator_purge_delay() {
    let dockerfile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"),
    )
    .expect("Dockerfile");
    let last_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a runtime stage");
    assert!(
        last_stage.contains("\nENV MIMALLOC_PURGE_DELAY=10\n"),
        "{last_stage}"
    );
    for objects in [base(), overlay()] {
        let env = container(&objects)["env"].as_array().expect("env");
        let delay: Vec<&Value> = env
            .iter()
            .filter(|v| v["name"] == "MIMALLOC_PURGE_DELAY")
            .collect();
        assert_eq!(
            delay,
            [&json!({"name": "MIMALLOC_PURGE_DELAY", "value": "10"})]
        );
    }
}
