//! The apiserver's side of the webhook, simulated against the real server.
//!
//! The ValidatingWebhookConfiguration comes from `kubectl kustomize manifests/base`. For each
//! request this decides, as the apiserver's webhook dispatcher does, whether each webhook is
//! called: `namespaceSelector` (against the namespace's `kubernetes.io/metadata.name` label),
//! `objectSelector`, `rules` (groups, versions, resources with `/subresource`, operations, scope,
//! `*`), then `matchConditions` evaluated with the `cel` crate over `object`, `oldObject` and
//! `request` (null where absent). A called webhook is reached as the apiserver reaches it: the
//! caBundle (here the test server's CA) is the only trust, SNI and verification use
//! `<service>.<namespace>.svc` from `clientConfig.service`, HTTP/1.1, `POST <path>?timeout=Ns`,
//! the configured `timeoutSeconds` as the deadline. The answer is read as the apiserver reads it
//! (`request/admissionreview.go`, `errors/statuserror.go`), failurePolicy applied, and printed as
//! kubectl prints it.
//!
//! Not simulated: `matchPolicy: Equivalent` conversion (every fixture is sent in a version the
//! rules list), the `authorizer` CEL variable (no condition uses it), and cost limits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::objects;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Options, TestServer, fixtures, read_response};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

const POLICY_WEBHOOK: &str = "backendtlspolicies.backendtls-webhook.dev";
const CONFIGMAP_WEBHOOK: &str = "configmaps.backendtls-webhook.dev";

// ---------------------------------------------------------------------------------------------
// Which webhooks a request reaches
// ---------------------------------------------------------------------------------------------

/// The rendered ValidatingWebhookConfiguration.
fn configuration() -> Value {
    let objects = common::kustomize("manifests/base");
    let configurations: Vec<Value> = objects
        .into_iter()
        .filter(|o| o["kind"] == "ValidatingWebhookConfiguration")
        .collect();
    assert_eq!(configurations.len(), 1);
    configurations.into_iter().next().expect("one")
}

fn webhooks(configuration: &Value) -> &[Value] {
    configuration["webhooks"].as_array().expect("webhooks")
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn list(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `exactOrWildcard` of the apiserver's rule matcher.
fn exact_or_wildcard(items: &[&str], requested: &str) -> bool {
    items.iter().any(|&item| item == "*" || item == requested)
}

/// One rule against the request (`predicates/rules/rules.go`).
fn rule_matches(rule: &Value, request: &Value) -> bool {
    let operation = text(request, "/operation");
    let namespace = text(request, "/namespace");
    let scope = match rule["scope"].as_str().unwrap_or("*") {
        "*" => true,
        "Cluster" => namespace.is_empty(),
        "Namespaced" => !namespace.is_empty(),
        other => panic!("unknown scope {other}"),
    };
    let operations = list(&rule["operations"]);
    let operation_matches = operations.iter().any(|&o| o == "*" || o == operation);
    let group = exact_or_wildcard(&list(&rule["apiGroups"]), text(request, "/resource/group"));
    let version = exact_or_wildcard(
        &list(&rule["apiVersions"]),
        text(request, "/resource/version"),
    );
    let requested = text(request, "/resource/resource");
    let subresource = text(request, "/subResource");
    let resource = list(&rule["resources"]).iter().any(|entry| {
        let (resource, sub) = entry.split_once('/').unwrap_or((entry, ""));
        (resource == "*" || resource == requested) && (sub == "*" || sub == subresource)
    });
    scope && operation_matches && group && version && resource
}

/// A `metav1.LabelSelector` against a label set; an absent or empty selector matches all.
fn selector_matches(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return true;
    };
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let by_label = selector["matchLabels"]
        .as_object()
        .map(|m| m.iter().all(|(k, v)| label(k) == v.as_str()))
        .unwrap_or(true);
    let by_expression = selector["matchExpressions"]
        .as_array()
        .map(|expressions| {
            expressions.iter().all(|e| {
                let value = label(text(e, "/key"));
                let values = list(&e["values"]);
                match text(e, "/operator") {
                    "In" => value.is_some_and(|v| values.contains(&v)),
                    "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    other => panic!("unknown operator {other}"),
                }
            })
        })
        .unwrap_or(true);
    by_label && by_expression
}

/// `namespaceSelector`: requests for cluster-scoped objects (other than namespaces) are never
/// exempted; otherwise the namespace's labels decide. Namespaces carry
/// `kubernetes.io/metadata.name: <name>` (set by the apiserver); the simulated cluster has no
/// other namespace labels.
fn namespace_matches(hook: &Value, request: &Value) -> bool {
    let namespace = text(request, "/namespace");
    if namespace.is_empty() && text(request, "/resource/resource") != "namespaces" {
        return true;
    }
    let mut labels = Map::new();
    labels.insert("kubernetes.io/metadata.name".into(), json!(namespace));
    selector_matches(hook.get("namespaceSelector"), &labels)
}

/// `objectSelector`: matches when the new or the old object's labels match.
fn object_matches(hook: &Value, request: &Value) -> bool {
    ["/object", "/oldObject"].iter().any(|pointer| {
        let labels = request
            .pointer(pointer)
            .and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        selector_matches(hook.get("objectSelector"), &labels)
    })
}

/// Evaluates one CEL match condition with the variables the apiserver binds.
fn evaluate_condition(expression: &str, request: &Value) -> Result<bool, String> {
    let program = cel::Program::compile(expression).map_err(|e| format!("compile: {e}"))?;
    let mut context = cel::Context::default();
    let variable = |pointer: &str| request.pointer(pointer).cloned().unwrap_or(Value::Null);
    let mut bare_request = request.clone();
    if let Some(fields) = bare_request.as_object_mut() {
        fields.remove("object");
        fields.remove("oldObject");
    }
    for (name, value) in [
        ("object", variable("/object")),
        ("oldObject", variable("/oldObject")),
        ("request", bare_request),
    ] {
        context
            .add_variable(name, cel::to_value(&value).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{name}: {e:?}"))?;
    }
    match program.execute(&context) {
        Ok(cel::Value::Bool(result)) => Ok(result),
        Ok(other) => Err(format!("expression did not evaluate to bool: {other:?}")),
        Err(error) => Err(error.to_string()),
    }
}

/// What the dispatcher decides before calling a webhook.
#[derive(Debug, PartialEq)]
enum Route {
    /// Selectors, rules or match conditions leave the request out.
    Skip,
    /// The webhook is called.
    Call,
    /// A match condition failed to evaluate (the failure policy decides).
    ConditionError(String),
}

fn route(hook: &Value, request: &Value) -> Route {
    if !namespace_matches(hook, request) || !object_matches(hook, request) {
        return Route::Skip;
    }
    let rules = hook["rules"].as_array().expect("rules");
    if !rules.iter().any(|rule| rule_matches(rule, request)) {
        return Route::Skip;
    }
    // Any false condition skips the webhook; otherwise any error is an error.
    let mut error = None;
    for condition in hook["matchConditions"].as_array().into_iter().flatten() {
        match evaluate_condition(text(condition, "/expression"), request) {
            Ok(true) => {}
            Ok(false) => return Route::Skip,
            Err(e) => {
                error.get_or_insert(format!("{}: {e}", text(condition, "/name")));
            }
        }
    }
    error.map_or(Route::Call, Route::ConditionError)
}

/// The names of the webhooks a request is sent to.
fn called(configuration: &Value, request: &Value) -> Vec<String> {
    webhooks(configuration)
        .iter()
        .filter(|hook| {
            let route = route(hook, request);
            assert!(
                !matches!(route, Route::ConditionError(_)),
                "{route:?} for {request}"
            );
            route == Route::Call
        })
        .map(|hook| text(hook, "/name").to_owned())
        .collect()
}

fn review_request(file: &str) -> Value {
    let review: Value = serde_json::from_slice(&common::fixture(&format!("reviews/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    review["request"].clone()
}

// ---------------------------------------------------------------------------------------------
// Calling a webhook and reading its answer
// ---------------------------------------------------------------------------------------------

/// A rejection as `metav1.Status`, the way kubectl receives it.
#[derive(Debug, Clone, PartialEq)]
struct StatusError {
    reason: String,
    code: u64,
    message: String,
}

/// What the apiserver concluded from one webhook.
#[derive(Debug, PartialEq)]
enum Verdict {
    Allowed {
        warnings: Vec<String>,
    },
    Denied {
        warnings: Vec<String>,
        status: StatusError,
    },
    /// `ErrCallingWebhook`: transport failure, timeout, or an invalid answer.
    CallFailed(String),
}

/// `VerifyAdmissionResponse` for a validating webhook, then the allowed/denied reading.
fn interpret(webhook: &str, uid: &str, review: &Value) -> Verdict {
    let invalid = |reason: String| {
        Verdict::CallFailed(format!(
            "failed calling webhook {webhook:?}: received invalid webhook response: {reason}"
        ))
    };
    let Some(response) = review.get("response").filter(|r| r.is_object()) else {
        return invalid("webhook response was absent".into());
    };
    let got = text(response, "/uid");
    if got != uid {
        return invalid(format!("expected response.uid={uid:?}, got {got:?}"));
    }
    let api_version = text(review, "/apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = format!("{group}/{version}, Kind={}", text(review, "/kind"));
    if gvk != "admission.k8s.io/v1, Kind=AdmissionReview" {
        return invalid(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {gvk}"
        ));
    }
    if response
        .get("patch")
        .is_some_and(|p| p != "" && !p.is_null())
    {
        return invalid("validating webhook may not return response.patch".into());
    }
    if !text(response, "/patchType").is_empty() {
        return invalid("validating webhook may not return response.patchType".into());
    }
    let warnings = list(&response["warnings"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    if response["allowed"] == true {
        return Verdict::Allowed { warnings };
    }
    // `ToStatusErr`: `status` is read only on denial.
    let status = &response["status"];
    let code = status["code"].as_u64().unwrap_or(0).max(400);
    let denied_by = format!("admission webhook {webhook:?} denied the request");
    let message = match (text(status, "/message"), text(status, "/reason")) {
        ("", "") => format!("{denied_by} without explanation"),
        ("", reason) => format!("{denied_by}: {reason}"),
        (message, _) => format!("{denied_by}: {message}"),
    };
    Verdict::Denied {
        warnings,
        status: StatusError {
            reason: text(status, "/reason").to_owned(),
            code,
            message,
        },
    }
}

/// The webhook's address as the apiserver builds it from `clientConfig.service`.
struct Endpoint {
    host: String,
    authority: String,
    url: String,
    path_and_query: String,
    ca_pem: Vec<u8>,
    deadline: Duration,
}

fn endpoint(hook: &Value) -> Endpoint {
    let service = &hook["clientConfig"]["service"];
    let host = format!(
        "{}.{}.svc",
        text(service, "/name"),
        text(service, "/namespace")
    );
    let port = service["port"].as_u64().unwrap_or(443);
    let timeout = hook["timeoutSeconds"].as_u64().unwrap_or(10);
    let path = match text(service, "/path") {
        "" => "/",
        path => path,
    };
    let path_and_query = format!("{path}?timeout={timeout}s");
    Endpoint {
        url: format!("https://{host}:{port}{path_and_query}"),
        authority: format!("{host}:{port}"),
        host,
        path_and_query,
        ca_pem: BASE64
            .decode(text(hook, "/clientConfig/caBundle"))
            .expect("caBundle is base64"),
        deadline: Duration::from_secs(timeout),
    }
}

/// POSTs the AdmissionReview and reads the reply, within the webhook's timeout.
async fn post(server: &TestServer, endpoint: &Endpoint, body: &[u8]) -> Result<Value, String> {
    let exchange = async {
        let mut tls = server
            .connect_as(&endpoint.host, &endpoint.ca_pem)
            .await
            .map_err(|e| e.to_string())?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            endpoint.path_and_query,
            endpoint.authority,
            body.len()
        );
        tls.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(body).await.map_err(|e| e.to_string())?;
        let response = read_response(&mut tls).await;
        if response.status != 200 {
            return Err(format!(
                "an error on the server ({:?}) has prevented the request from succeeding",
                response.body.trim_end()
            ));
        }
        serde_json::from_str(&response.body).map_err(|e| format!("decoding the answer: {e}"))
    };
    match tokio::time::timeout(endpoint.deadline, exchange).await {
        Ok(Ok(review)) => Ok(review),
        Ok(Err(error)) => Err(format!("Post {:?}: {error}", endpoint.url)),
        Err(_) => Err(format!(
            "Post {:?}: context deadline exceeded",
            endpoint.url
        )),
    }
}

/// Calls one webhook with `request` and interprets the reply.
async fn call(server: &TestServer, hook: &Value, request: &Value) -> Verdict {
    let name = text(hook, "/name");
    assert_eq!(hook["admissionReviewVersions"][0], "v1");
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    }))
    .expect("json");
    match post(server, &endpoint(hook), &body).await {
        Ok(review) => interpret(name, text(request, "/uid"), &review),
        Err(error) => Verdict::CallFailed(format!(
            "failed calling webhook {name:?}: failed to call webhook: {error}"
        )),
    }
}

/// What the apiserver answers the client: the warnings, and the error if the request failed.
#[derive(Debug, Default)]
struct Answer {
    warnings: Vec<String>,
    error: Option<StatusError>,
    called: Vec<String>,
}

/// Applies the failure policy to a webhook's verdict.
fn settle(hook: &Value, verdict: Verdict, answer: &mut Answer) {
    let fail_closed = hook["failurePolicy"].as_str().unwrap_or("Fail") == "Fail";
    match verdict {
        Verdict::Allowed { warnings } => answer.warnings.extend(warnings),
        Verdict::Denied { warnings, status } => {
            answer.warnings.extend(warnings);
            answer.error.get_or_insert(status);
        }
        Verdict::CallFailed(error) if fail_closed => {
            answer.error.get_or_insert(StatusError {
                reason: "InternalError".into(),
                code: 500,
                message: format!("Internal error occurred: {error}"),
            });
        }
        // failurePolicy: Ignore: the apiserver logs it and admits the request.
        Verdict::CallFailed(_) => {}
    }
}

/// The validating-admission phase for one request against the whole configuration.
async fn admit(server: &TestServer, configuration: &Value, request: &Value) -> Answer {
    let mut answer = Answer::default();
    for hook in webhooks(configuration) {
        match route(hook, request) {
            Route::Skip => continue,
            Route::ConditionError(error) => {
                let verdict = Verdict::CallFailed(format!("match condition error: {error}"));
                settle(hook, verdict, &mut answer);
            }
            Route::Call => {
                answer.called.push(text(hook, "/name").to_owned());
                let verdict = call(server, hook, request).await;
                settle(hook, verdict, &mut answer);
            }
        }
    }
    answer
}

/// The kubectl command behind a request.
enum Kubectl<'a> {
    /// `kubectl apply -f FILE` of a new object.
    ApplyNew(&'a str),
    /// `kubectl replace -f FILE`.
    Replace(&'a str),
    /// `kubectl delete KIND NAME -n NAMESPACE` (kubectl 1.34 wording).
    Delete,
}

/// What the kubectl user reads (stderr and stdout, in order).
fn kubectl(command: &Kubectl, request: &Value, answer: &Answer) -> String {
    let mut lines: Vec<String> = answer
        .warnings
        .iter()
        .map(|w| format!("Warning: {w}"))
        .collect();
    let group = text(request, "/resource/group");
    let mut resource = text(request, "/kind/kind").to_lowercase();
    if !group.is_empty() {
        resource = format!("{resource}.{group}");
    }
    let name = text(request, "/name");
    let namespace = text(request, "/namespace");
    lines.push(match (&answer.error, command) {
        (None, Kubectl::ApplyNew(_)) => format!("{resource}/{name} created"),
        (None, Kubectl::Replace(_)) => format!("{resource}/{name} replaced"),
        (None, Kubectl::Delete) => {
            format!("{resource} {name:?} deleted from {namespace} namespace")
        }
        (Some(error), command) => {
            let message = match command {
                Kubectl::ApplyNew(file) => {
                    format!("error when creating {file:?}: {}", error.message)
                }
                Kubectl::Replace(file) => {
                    format!("error when replacing {file:?}: {}", error.message)
                }
                Kubectl::Delete => error.message.clone(),
            };
            match error.reason.as_str() {
                "" => format!("Error from server: {message}"),
                reason => format!("Error from server ({reason}): {message}"),
            }
        }
    });
    lines.join("\n")
}

/// The server `make run` would be, with the CA ConfigMaps of `tests/fixtures/configmaps` too
/// (what `review --objects tests/fixtures/objects --objects tests/fixtures/configmaps` sees).
async fn start_server() -> TestServer {
    let documents =
        objects::load_paths(&[fixtures().join("objects"), fixtures().join("configmaps")])
            .expect("fixture objects");
    let lookup =
        MemoryLookup::from_objects(documents.iter().map(|d| &d.value), &BundleCache::default());
    TestServer::start(Options {
        lookup: Some(Arc::new(lookup)),
        ..Options::default()
    })
    .await
}

/// The rendered configuration with the test server's CA as every caBundle.
fn configuration_trusting(server: &TestServer) -> Value {
    let mut configuration = configuration();
    let ca = BASE64.encode(server.ca.cert_pem());
    for hook in configuration["webhooks"].as_array_mut().expect("webhooks") {
        hook["clientConfig"]["caBundle"] = json!(ca);
    }
    configuration
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_fixture_review_reaches_the_webhooks_the_configuration_selects() {
    let configuration = configuration();
    let policy = || vec![POLICY_WEBHOOK.to_owned()];
    let config_map = || vec![CONFIGMAP_WEBHOOK.to_owned()];
    let expected = |file: &str| -> Option<Vec<String>> {
        Some(match file {
            // DELETE is not among the policy rule's operations.
            "policy-delete.json" => vec![],
            // `backendtlspolicies` does not match the `status` subresource.
            "policy-status-denied.json" => vec![],
            "policy-allowed-missing-ca.json"
            | "policy-denied-cel.json"
            | "policy-denied-cross-namespace.json"
            | "policy-denied-invalid-ca.json"
            | "policy-denied-ip-hostname.json"
            | "policy-denied-no-spec.json"
            | "policy-denied-schema.json"
            | "policy-denied-target-typos.json"
            | "policy-denied-types.json"
            | "policy-update-ratcheted.json"
            | "policy-v1-allowed.json"
            | "policy-v1alpha3-allowed.json" => policy(),
            // All hold `ca.crt` in a namespace the selector admits.
            "configmap-create-allowed.json"
            | "configmap-delete-warned.json"
            | "configmap-unreferenced-allowed.json"
            | "configmap-update-denied.json" => config_map(),
            _ => return None,
        })
    };
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(fixtures().join("reviews"))
        .expect("reviews")
        .map(|e| e.expect("entry").file_name().into_string().expect("name"))
        .filter(|name| name.ends_with(".json"))
        .collect();
    entries.sort();
    for file in entries {
        let want = expected(&file)
            .unwrap_or_else(|| panic!("new fixture {file}: add where it is routed to this table"));
        assert_eq!(
            called(&configuration, &review_request(&file)),
            want,
            "{file}"
        );
        seen += 1;
    }
    assert_eq!(seen, 18);
}

/// A ConfigMap request built from the CREATE fixture.
fn config_map_request(
    operation: &str,
    namespace: &str,
    object: Option<Value>,
    old_object: Option<Value>,
) -> Value {
    let mut request = review_request("configmap-create-allowed.json");
    request["operation"] = json!(operation);
    request["namespace"] = json!(namespace);
    request["name"] = json!("some-config");
    request["object"] = object.unwrap_or(Value::Null);
    request["oldObject"] = old_object.unwrap_or(Value::Null);
    request
}

fn config_map(namespace: &str, fields: Value) -> Value {
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "some-config", "namespace": namespace},
    });
    for (key, value) in fields.as_object().expect("fields") {
        object[key] = value.clone();
    }
    object
}

#[test]
fn only_configmaps_that_hold_or_held_ca_crt_are_sent() {
    let configuration = configuration();
    let with_ca = |ns: &str| config_map(ns, json!({"data": {"ca.crt": "PEM", "x": "y"}}));
    let without_ca = |ns: &str| config_map(ns, json!({"data": {"app.yaml": "a: 1"}}));
    let cases = [
        (
            "CREATE without ca.crt",
            config_map_request("CREATE", "shop", Some(without_ca("shop")), None),
            false,
        ),
        (
            "CREATE with no data at all",
            config_map_request("CREATE", "shop", Some(config_map("shop", json!({}))), None),
            false,
        ),
        (
            "CREATE with ca.crt",
            config_map_request("CREATE", "shop", Some(with_ca("shop")), None),
            true,
        ),
        (
            "CREATE with ca.crt in binaryData",
            config_map_request(
                "CREATE",
                "shop",
                Some(config_map(
                    "shop",
                    json!({"binaryData": {"ca.crt": "UEVN"}}),
                )),
                None,
            ),
            true,
        ),
        (
            "CREATE in kube-system",
            config_map_request("CREATE", "kube-system", Some(with_ca("kube-system")), None),
            false,
        ),
        (
            "CREATE in the webhook's namespace",
            config_map_request(
                "CREATE",
                "backendtls-webhook",
                Some(with_ca("backendtls-webhook")),
                None,
            ),
            false,
        ),
        (
            "UPDATE that removes ca.crt",
            config_map_request(
                "UPDATE",
                "shop",
                Some(without_ca("shop")),
                Some(with_ca("shop")),
            ),
            true,
        ),
        (
            "UPDATE that adds ca.crt",
            config_map_request(
                "UPDATE",
                "shop",
                Some(with_ca("shop")),
                Some(without_ca("shop")),
            ),
            true,
        ),
        (
            "UPDATE without ca.crt",
            config_map_request(
                "UPDATE",
                "shop",
                Some(without_ca("shop")),
                Some(without_ca("shop")),
            ),
            false,
        ),
        (
            "DELETE of a ConfigMap with ca.crt",
            config_map_request("DELETE", "shop", None, Some(with_ca("shop"))),
            true,
        ),
        (
            "DELETE of a ConfigMap without ca.crt",
            config_map_request("DELETE", "shop", None, Some(without_ca("shop"))),
            false,
        ),
        (
            "DELETE in kube-system",
            config_map_request("DELETE", "kube-system", None, Some(with_ca("kube-system"))),
            false,
        ),
    ];
    for (case, request, sent) in cases {
        let want: Vec<String> = if sent {
            vec![CONFIGMAP_WEBHOOK.into()]
        } else {
            vec![]
        };
        assert_eq!(called(&configuration, &request), want, "{case}");
    }
}

/// The secret-ca overlay's Secret check: only Secrets that hold (or held) `ca.crt`, outside
/// kube-system and the webhook's namespace; ClusterTrustBundle writes (cluster-scoped) reach
/// the base's ClusterTrustBundle check in any case.
#[test]
fn only_secrets_that_hold_or_held_ca_crt_are_sent_with_the_secret_ca_overlay() {
    let objects = common::kustomize("manifests/overlays/secret-ca");
    let configuration = objects
        .into_iter()
        .find(|o| o["kind"] == "ValidatingWebhookConfiguration")
        .expect("configuration");
    let secret = |ns: &str, data: Value| {
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": ns}});
        if !data.is_null() {
            secret["data"] = data;
        }
        secret
    };
    let request = |operation: &str, ns: &str, object: Option<Value>, old: Option<Value>| {
        let mut request = config_map_request(operation, ns, object, old);
        request["kind"] = json!({"group": "", "version": "v1", "kind": "Secret"});
        request["resource"] = json!({"group": "", "version": "v1", "resource": "secrets"});
        request["requestKind"] = request["kind"].clone();
        request["requestResource"] = request["resource"].clone();
        request["name"] = json!("tls");
        request
    };
    let with_ca = |ns: &str| secret(ns, json!({"ca.crt": "UEVN", "tls.key": "S0VZ"}));
    let without_ca = |ns: &str| secret(ns, json!({"tls.crt": "UEVN", "tls.key": "S0VZ"}));
    let cases = [
        (
            "CREATE with ca.crt",
            request("CREATE", "shop", Some(with_ca("shop")), None),
            true,
        ),
        (
            "CREATE without ca.crt",
            request("CREATE", "shop", Some(without_ca("shop")), None),
            false,
        ),
        (
            "CREATE with no data",
            request("CREATE", "shop", Some(secret("shop", Value::Null)), None),
            false,
        ),
        (
            "CREATE in kube-system",
            request("CREATE", "kube-system", Some(with_ca("kube-system")), None),
            false,
        ),
        (
            "UPDATE that removes ca.crt",
            request(
                "UPDATE",
                "shop",
                Some(without_ca("shop")),
                Some(with_ca("shop")),
            ),
            true,
        ),
        (
            "DELETE of a Secret with ca.crt",
            request("DELETE", "shop", None, Some(with_ca("shop"))),
            true,
        ),
        (
            "DELETE of a Secret without ca.crt",
            request("DELETE", "shop", None, Some(without_ca("shop"))),
            false,
        ),
    ];
    for (case, request, sent) in cases {
        let want: Vec<String> = if sent {
            vec!["secrets.backendtls-webhook.dev".into()]
        } else {
            vec![]
        };
        assert_eq!(called(&configuration, &request), want, "{case}");
    }
    let mut bundle = request("UPDATE", "", None, None);
    bundle["kind"] =
        json!({"group": "certificates.k8s.io", "version": "v1beta1", "kind": "ClusterTrustBundle"});
    bundle["resource"] = json!({"group": "certificates.k8s.io", "version": "v1beta1", "resource": "clustertrustbundles"});
    bundle["object"] = json!({"apiVersion": "certificates.k8s.io/v1beta1", "kind": "ClusterTrustBundle", "metadata": {"name": "roots"}, "spec": {"trustBundle": "PEM"}});
    assert_eq!(
        called(&configuration, &bundle),
        ["clustertrustbundles.backendtls-webhook.dev"]
    );
}

#[test]
fn rules_selectors_and_wildcards_behave_as_in_the_apiserver() {
    let request = review_request("policy-v1-allowed.json");
    let rule = |resources: Value, operations: Value| json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": resources, "operations": operations});
    assert!(rule_matches(&rule(json!(["*"]), json!(["*"])), &request));
    assert!(rule_matches(
        &rule(json!(["backendtlspolicies"]), json!(["CREATE"])),
        &request
    ));
    assert!(!rule_matches(
        &rule(json!(["backendtlspolicies/status"]), json!(["*"])),
        &request
    ));
    assert!(!rule_matches(
        &rule(json!(["services"]), json!(["*"])),
        &request
    ));
    let status = review_request("policy-status-denied.json");
    assert!(rule_matches(
        &rule(json!(["backendtlspolicies/*"]), json!(["*"])),
        &status
    ));
    assert!(rule_matches(
        &rule(json!(["*/status"]), json!(["UPDATE"])),
        &status
    ));
    assert!(!rule_matches(
        &rule(json!(["*"]), json!(["UPDATE"])),
        &status
    ));
    let mut cluster = rule(json!(["*"]), json!(["*"]));
    cluster["scope"] = json!("Cluster");
    assert!(!rule_matches(&cluster, &request));

    let labels = |pairs: &[(&str, &str)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    let selector = json!({
        "matchLabels": {"team": "a"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["system"]}],
    });
    assert!(selector_matches(Some(&selector), &labels(&[("team", "a")])));
    assert!(!selector_matches(
        Some(&selector),
        &labels(&[("team", "a"), ("tier", "system")])
    ));
    assert!(!selector_matches(Some(&selector), &labels(&[])));
    assert!(selector_matches(Some(&json!({})), &labels(&[])));
    assert!(selector_matches(
        Some(&json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]})),
        &labels(&[])
    ));

    // A condition that errors (object is null on DELETE) is an error, not a skip.
    let delete = review_request("configmap-delete-warned.json");
    assert!(evaluate_condition("has(object.data)", &delete).is_err());
    assert_eq!(
        evaluate_condition("object == null && oldObject != null", &delete),
        Ok(true)
    );
    assert_eq!(
        evaluate_condition(
            "request.operation == 'DELETE' && request.namespace == 'shop'",
            &delete
        ),
        Ok(true)
    );
}

#[tokio::test]
async fn kubectl_users_read_the_webhooks_verdicts() {
    let server = start_server().await;
    let configuration = configuration_trusting(&server);
    let run = |file: &'static str, command: Kubectl<'static>| {
        let configuration = &configuration;
        let server = &server;
        async move {
            let request = review_request(file);
            let answer = admit(server, configuration, &request).await;
            (kubectl(&command, &request, &answer), answer.called)
        }
    };
    let policy = || vec![POLICY_WEBHOOK.to_owned()];

    assert_eq!(
        run("policy-v1-allowed.json", Kubectl::ApplyNew("policy.yaml")).await,
        (
            "backendtlspolicy.gateway.networking.k8s.io/payments-backend-tls created".into(),
            policy()
        )
    );
    assert_eq!(
        run(
            "policy-denied-ip-hostname.json",
            Kubectl::ApplyNew("policy.yaml")
        )
        .await,
        (
            "Error from server (Invalid): error when creating \"policy.yaml\": admission webhook \
             \"backendtlspolicies.backendtls-webhook.dev\" denied the request: \
             BackendTLSPolicy.gateway.networking.k8s.io \"payments-backend-tls\" is invalid: \
             spec.validation.hostname: Invalid value: \"10.0.0.7\": must be a DNS name, not an IP \
             address"
                .into(),
            policy()
        )
    );
    assert_eq!(
        run(
            "policy-denied-invalid-ca.json",
            Kubectl::ApplyNew("policy.yaml")
        )
        .await,
        (
            "Error from server (Invalid): error when creating \"policy.yaml\": admission webhook \
             \"backendtlspolicies.backendtls-webhook.dev\" denied the request: \
             BackendTLSPolicy.gateway.networking.k8s.io \"payments-backend-tls\" is invalid: \
             [spec.validation.caCertificateRefs[0]: Invalid value: ConfigMap \"garbage-ca\" \
             ca.crt: certificate 0 (line 1) is not valid base64: unexpected character '!' on line \
             2, spec.validation.caCertificateRefs[1]: Invalid value: ConfigMap \"private-key-ca\" \
             ca.crt: private key leaked: line 20 holds a PRIVATE KEY block; ConfigMaps are \
             readable far more widely than Secrets, so remove it and rotate the key]"
                .into(),
            policy()
        )
    );
    assert_eq!(
        run(
            "configmap-update-denied.json",
            Kubectl::Replace("payments-backend-ca.yaml")
        )
        .await,
        (
            "Error from server (Invalid): error when replacing \"payments-backend-ca.yaml\": \
             admission webhook \"configmaps.backendtls-webhook.dev\" denied the request: \
             ConfigMap \"payments-backend-ca\" is invalid: data[ca.crt]: Invalid value: \
             certificate 0 (line 1) does not contain DER (it is not an X.509 certificate) (this \
             ConfigMap is the CA bundle of BackendTLSPolicy shop/payments-backend-tls)"
                .into(),
            vec![CONFIGMAP_WEBHOOK.to_owned()]
        )
    );
    assert_eq!(
        run("configmap-delete-warned.json", Kubectl::Delete).await,
        (
            "Warning: deleting the CA bundle of BackendTLSPolicy shop/payments-backend-tls: TLS \
             to its backends fails (ResolvedRefs=False)\n\
             configmap \"payments-backend-ca\" deleted from shop namespace"
                .into(),
            vec![CONFIGMAP_WEBHOOK.to_owned()]
        )
    );
    // Never sent: the status subresource and policy deletion.
    assert_eq!(
        run("policy-delete.json", Kubectl::Delete).await,
        (
            "backendtlspolicy.gateway.networking.k8s.io \"payments-backend-tls\" deleted from shop \
             namespace"
                .into(),
            vec![]
        )
    );
    assert_eq!(
        run("policy-status-denied.json", Kubectl::Replace("status.yaml"))
            .await
            .1,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_delete_with_ca_crt_only_in_the_old_object_is_sent_and_answered() {
    let server = start_server().await;
    let configuration = configuration_trusting(&server);
    // An unreferenced bundle: sent (it holds ca.crt), allowed without a word.
    let request = config_map_request(
        "DELETE",
        "shop",
        None,
        Some(config_map("shop", json!({"data": {"ca.crt": "PEM"}}))),
    );
    let answer = admit(&server, &configuration, &request).await;
    assert_eq!(answer.called, vec![CONFIGMAP_WEBHOOK.to_owned()]);
    assert_eq!(
        kubectl(&Kubectl::Delete, &request, &answer),
        "configmap \"some-config\" deleted from shop namespace"
    );
}

#[tokio::test]
async fn the_interpreter_rejects_answers_the_apiserver_rejects() {
    let server = start_server().await;
    let configuration = configuration_trusting(&server);
    let policies = &webhooks(&configuration)[0];
    let config_maps = &webhooks(&configuration)[1];
    assert_eq!(policies["name"], POLICY_WEBHOOK);
    let request = review_request("policy-v1-allowed.json");
    let uid = text(&request, "/uid");
    assert_eq!(uid, "10000000-0000-4000-8000-000000000001");

    // The real answer, then the same answer with its uid changed.
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request,
    }))
    .expect("json");
    let real = post(&server, &endpoint(policies), &body)
        .await
        .expect("answer");
    assert_eq!(
        interpret(POLICY_WEBHOOK, uid, &real),
        Verdict::Allowed { warnings: vec![] }
    );
    let mut wrong_uid = real.clone();
    wrong_uid["response"]["uid"] = json!("20000000-0000-4000-8000-000000000099");
    let verdict = interpret(POLICY_WEBHOOK, uid, &wrong_uid);
    assert_eq!(
        verdict,
        Verdict::CallFailed(
            "failed calling webhook \"backendtlspolicies.backendtls-webhook.dev\": received \
             invalid webhook response: expected \
             response.uid=\"10000000-0000-4000-8000-000000000001\", got \
             \"20000000-0000-4000-8000-000000000099\""
                .into()
        )
    );
    // failurePolicy: Fail turns it into an InternalError for the client...
    let mut answer = Answer::default();
    settle(policies, verdict, &mut answer);
    assert_eq!(
        kubectl(&Kubectl::ApplyNew("policy.yaml"), &request, &answer),
        "Error from server (InternalError): error when creating \"policy.yaml\": Internal error \
         occurred: failed calling webhook \"backendtlspolicies.backendtls-webhook.dev\": received \
         invalid webhook response: expected response.uid=\"10000000-0000-4000-8000-000000000001\", \
         got \"20000000-0000-4000-8000-000000000099\""
    );
    // ...while failurePolicy: Ignore admits the request.
    let mut answer = Answer::default();
    settle(
        config_maps,
        interpret(CONFIGMAP_WEBHOOK, uid, &wrong_uid),
        &mut answer,
    );
    assert!(answer.error.is_none() && answer.warnings.is_empty());

    let invalid = |review: Value| match interpret(POLICY_WEBHOOK, uid, &review) {
        Verdict::CallFailed(message) => message
            .strip_prefix(
                "failed calling webhook \"backendtlspolicies.backendtls-webhook.dev\": received \
                 invalid webhook response: ",
            )
            .expect("prefix")
            .to_owned(),
        other => panic!("accepted: {other:?}"),
    };
    let mut old_version = real.clone();
    old_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(
        invalid(old_version),
        "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got \
         admission.k8s.io/v1beta1, Kind=AdmissionReview"
    );
    assert_eq!(
        invalid(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})),
        "webhook response was absent"
    );
    let mut patched = real.clone();
    patched["response"]["patch"] = json!("W10=");
    assert_eq!(
        invalid(patched),
        "validating webhook may not return response.patch"
    );

    // Denials: codes under 400 become 400; an empty message falls back to the reason.
    let denial = |status: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "response": {"uid": uid, "allowed": false, "status": status, "warnings": ["w"]}})
    };
    assert_eq!(
        interpret(
            POLICY_WEBHOOK,
            uid,
            &denial(json!({"code": 200, "reason": "Nope"}))
        ),
        Verdict::Denied {
            warnings: vec!["w".into()],
            status: StatusError {
                reason: "Nope".into(),
                code: 400,
                message: "admission webhook \"backendtlspolicies.backendtls-webhook.dev\" denied \
                          the request: Nope"
                    .into(),
            },
        }
    );
    let Verdict::Denied { status, .. } = interpret(POLICY_WEBHOOK, uid, &denial(Value::Null))
    else {
        panic!("denied")
    };
    assert_eq!(
        status.message,
        "admission webhook \"backendtlspolicies.backendtls-webhook.dev\" denied the request \
         without explanation"
    );
}

#[tokio::test]
async fn the_placeholder_ca_bundle_fails_closed_for_policies_and_open_for_configmaps() {
    let server = start_server().await;
    // The base as rendered: caBundle is the placeholder, which holds no certificate.
    let configuration = configuration();
    let policy = review_request("policy-v1-allowed.json");
    let answer = admit(&server, &configuration, &policy).await;
    let printed = kubectl(&Kubectl::ApplyNew("policy.yaml"), &policy, &answer);
    assert!(
        printed.starts_with(
            "Error from server (InternalError): error when creating \"policy.yaml\": Internal \
             error occurred: failed calling webhook \"backendtlspolicies.backendtls-webhook.dev\": \
             failed to call webhook: Post \
             \"https://backendtls-webhook.backendtls-webhook.svc:443/validate?timeout=5s\": "
        ),
        "{printed}"
    );
    let config_map = review_request("configmap-update-denied.json");
    let answer = admit(&server, &configuration, &config_map).await;
    assert_eq!(answer.called, vec![CONFIGMAP_WEBHOOK.to_owned()]);
    assert!(answer.error.is_none(), "failurePolicy Ignore admits it");

    // A certificate for another name is refused too: SNI and verification use the Service.
    let mut elsewhere = configuration_trusting(&server);
    elsewhere["webhooks"][0]["clientConfig"]["service"]["namespace"] = json!("other");
    let answer = admit(&server, &elsewhere, &policy).await;
    let error = answer.error.expect("refused").message;
    assert!(
        error.contains("backendtls-webhook.other.svc") && error.contains("certificate"),
        "{error}"
    );
}

/// The kind walkthrough in README.md: its `policy.yaml`, created against the fixture objects
/// (which hold the Service `shop/payments-backend`), prints what its `console` block shows.
#[tokio::test]
async fn the_readme_walkthrough_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(fixtures().join("../../README.md")).expect("README");
    let section = readme
        .split_once("## Install in a cluster")
        .expect("the install section")
        .1;
    let policy_yaml = section
        .split_once("cat > policy.yaml <<'YAML'\n")
        .and_then(|(_, rest)| rest.split_once("\nYAML\n"))
        .expect("the policy.yaml heredoc")
        .0;
    let shown = section
        .split_once("kubectl apply -f policy.yaml\n```\n```console\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the console block after `kubectl apply -f policy.yaml`")
        .0;
    let policy = objects::parse_str("policy.yaml", policy_yaml).expect("policy.yaml")[0]
        .value
        .clone();
    let mut request = review_request("policy-v1-allowed.json");
    request["object"] = policy.clone();
    let server = start_server().await;
    let configuration = configuration_trusting(&server);
    let answer = admit(&server, &configuration, &request).await;
    assert_eq!(
        kubectl(&Kubectl::ApplyNew("policy.yaml"), &request, &answer),
        shown
    );

    // The fixed hostname the README mentions is created.
    request["object"]["spec"]["validation"]["hostname"] =
        json!("payments-backend.shop.svc.cluster.local");
    let answer = admit(&server, &configuration, &request).await;
    assert_eq!(
        kubectl(&Kubectl::ApplyNew("policy.yaml"), &request, &answer),
        "backendtlspolicy.gateway.networking.k8s.io/payments-backend-tls created"
    );
    assert!(section.contains(
        "prints\n`backendtlspolicy.gateway.networking.k8s.io/payments-backend-tls created`"
    ));
}
