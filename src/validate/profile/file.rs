//! Profiles from files: a profile read from a parsed YAML or JSON file, and a profile written in
//! that format (so that a built-in one can be copied and adapted).

use super::*;

/// At most this many items in any list of a profile file.
pub const MAX_ITEMS: usize = 64;
/// At most this many characters in any text of a profile file.
pub const MAX_TEXT: usize = 512;

/// A problem with a profile file, at a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// The field (`caCertificateRefs.sources[0].kind`).
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
    /// Whether the problem is the key itself (an unknown field) rather than its value.
    pub on_key: bool,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.segments().is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Profile {
    /// Reads a profile from a parsed profile file (YAML or JSON; the format is in the README).
    /// Every problem is returned, each at its field; unknown fields are problems, so that a
    /// misspelt fact is never silently left out.
    pub fn from_value(value: &Value) -> Result<Self, Vec<ProfileError>> {
        let mut reader = Reader::default();
        let profile = reader.profile(value);
        match profile {
            Some(profile) if reader.errors.is_empty() => Ok(profile),
            _ => Err(reader.errors),
        }
    }
}

/// Reads a profile file, collecting every problem.
#[derive(Default)]
struct Reader {
    errors: Vec<ProfileError>,
}

impl Reader {
    fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.errors.push(ProfileError {
            path: path.clone(),
            message: message.into(),
            on_key: false,
        });
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &FieldPath,
        fields: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.error(
                path,
                format!(
                    "must be a mapping, got {}",
                    crate::validate::schema::json_type(value)
                ),
            );
            return None;
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                let known = fields.join(", ");
                self.errors.push(ProfileError {
                    path: path.field_owned(key),
                    message: format!("unknown field (known: {known})"),
                    on_key: true,
                });
            }
        }
        Some(map)
    }

    fn text(
        &mut self,
        map: &Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        required: bool,
    ) -> Option<Text> {
        let at = path.field(field);
        match map.get(field) {
            None | Some(Value::Null) if required => {
                self.error(&at, "required");
                None
            }
            None | Some(Value::Null) => None,
            Some(value) => self.string(value, &at),
        }
    }

    fn string(&mut self, value: &Value, at: &FieldPath) -> Option<Text> {
        let Some(text) = value.as_str() else {
            self.error(
                at,
                format!(
                    "must be a string, got {}",
                    crate::validate::schema::json_type(value)
                ),
            );
            return None;
        };
        if text.trim().is_empty() {
            self.error(at, "must not be empty");
            return None;
        }
        if text.chars().count() > MAX_TEXT {
            self.error(at, format!("must be at most {MAX_TEXT} characters"));
            return None;
        }
        if text.chars().any(char::is_control) {
            self.error(at, "must not contain control characters");
            return None;
        }
        Some(Cow::Owned(text.to_owned()))
    }

    fn list<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        required: bool,
    ) -> Option<(&'v [Value], FieldPath)> {
        let at = path.field(field);
        let value = match map.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.error(&at, "required");
                }
                return None;
            }
            Some(value) => value,
        };
        let Some(items) = value.as_array() else {
            self.error(
                &at,
                format!(
                    "must be a list, got {}",
                    crate::validate::schema::json_type(value)
                ),
            );
            return None;
        };
        if items.len() > MAX_ITEMS {
            self.error(&at, format!("must have at most {MAX_ITEMS} items"));
            return None;
        }
        if required && items.is_empty() {
            self.error(&at, "must have at least 1 item");
            return None;
        }
        Some((items, at))
    }

    fn choice<T: Copy>(
        &mut self,
        map: &Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        let at = path.field(field);
        let Some(value) = map.get(field).filter(|v| !v.is_null()) else {
            return default;
        };
        let found = value
            .as_str()
            .and_then(|s| choices.iter().find(|(name, _)| *name == s));
        match found {
            Some((_, choice)) => *choice,
            None => {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                self.error(&at, format!("must be one of {}", names.join(", ")));
                default
            }
        }
    }

    fn profile(&mut self, value: &Value) -> Option<Profile> {
        let root = FieldPath::root();
        let map = self.object(
            value,
            &root,
            &[
                "name",
                "implementation",
                "versions",
                "caCertificateRefs",
                "coreGroupAlias",
                "wellKnownCACertificates",
                "targetKinds",
                "unsupportedTargetKinds",
                "options",
                "pitfalls",
            ],
        )?;
        let name = self.name(map, &root);
        let implementation = self.text(map, "implementation", &root, true);
        let versions = self.text(map, "versions", &root, true);
        let ca = self.ca_refs(
            map.get("caCertificateRefs"),
            &root.field("caCertificateRefs"),
        );
        let core_group_alias = self.boolean(map, "coreGroupAlias", &root);
        let well_known = self.well_known(map, &root);
        let target_kinds = self.target_kinds(map, &root);
        let unsupported_target = self.choice(
            map,
            "unsupportedTargetKinds",
            &root,
            &[
                ("Rejected", UnsupportedTarget::Rejected),
                ("Ignored", UnsupportedTarget::Ignored),
            ],
            UnsupportedTarget::Rejected,
        );
        let options = self.options(map.get("options"), &root.field("options"));
        let pitfalls = self.pitfalls(map, &root);
        let (ca_sources, ca_refs, unsupported_ca_kind) = ca?;
        Some(Profile {
            name: name?,
            implementation: implementation?,
            versions: versions?,
            ca_sources: Cow::Owned(ca_sources),
            unsupported_ca_kind,
            ca_refs,
            core_group_alias,
            well_known,
            target_kinds: Cow::Owned(target_kinds?),
            unsupported_target,
            options,
            pitfalls: Cow::Owned(pitfalls),
        })
    }

    /// `name`: required, a DNS label.
    fn name(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Option<Text> {
        let name = self.text(map, "name", root, true);
        if let Some(name) = &name
            && (name.len() > 63 || !crate::validate::schema::NAMESPACE.is_match(name))
        {
            self.error(
                &root.field("name"),
                "must be a lowercase DNS label (a-z, 0-9, -), like envoy-gateway",
            );
        }
        name
    }

    /// `targetKinds`: required, a list of kinds.
    fn target_kinds(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Option<Vec<Kind>> {
        self.list(map, "targetKinds", root, true)
            .map(|(items, at)| {
                let kinds: Vec<Kind> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.kind(v, &at.index(i)))
                    .collect();
                kinds
            })
    }

    /// `pitfalls`: optional, a list of pitfalls.
    fn pitfalls(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Vec<Pitfall> {
        self.list(map, "pitfalls", root, false)
            .map_or_else(Vec::new, |(items, at)| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.pitfall(v, &at.index(i)))
                    .collect()
            })
    }

    fn boolean(&mut self, map: &Map<String, Value>, field: &'static str, path: &FieldPath) -> bool {
        match map.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                let message = format!(
                    "must be a boolean, got {}",
                    crate::validate::schema::json_type(other)
                );
                self.error(&path.field(field), message);
                false
            }
        }
    }

    /// `Unstated` (the default), `AnyAsSystem`, or the list of accepted values.
    fn well_known(&mut self, map: &Map<String, Value>, path: &FieldPath) -> WellKnown {
        const FIELD: &str = "wellKnownCACertificates";
        match map.get(FIELD) {
            None | Some(Value::Null) => WellKnown::Unstated,
            Some(Value::String(s)) if s == "Unstated" => WellKnown::Unstated,
            Some(Value::String(s)) if s == "AnyAsSystem" => WellKnown::AnyAsSystem,
            Some(Value::Array(_)) => match self.list(map, FIELD, path, true) {
                Some((items, at)) => {
                    let values = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| self.string(v, &at.index(i)))
                        .collect();
                    WellKnown::Only(Cow::Owned(values))
                }
                None => WellKnown::Unstated,
            },
            Some(_) => {
                let message = "must be Unstated, AnyAsSystem, or the list of accepted values";
                self.error(&path.field(FIELD), message);
                WellKnown::Unstated
            }
        }
    }

    fn ca_refs(
        &mut self,
        value: Option<&Value>,
        path: &FieldPath,
    ) -> Option<(Vec<CaSource>, CaRefUse, UnsupportedCaKind)> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            self.error(path, "required");
            return None;
        };
        let map = self.object(value, path, &["sources", "use", "unsupportedKinds"])?;
        let (items, at) = self.list(map, "sources", path, true)?;
        let mut sources: Vec<CaSource> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(source) = self.ca_source(item, &at.index(i)) else {
                continue;
            };
            if sources.iter().any(|s| s.kind == source.kind) {
                self.error(
                    &at.index(i).field("kind"),
                    format!("{} is listed twice", source.kind),
                );
                continue;
            }
            sources.push(source);
        }
        let ca_refs = self.choice(
            map,
            "use",
            path,
            &[
                ("All", CaRefUse::All),
                ("FirstOnly", CaRefUse::FirstOnly),
                ("One", CaRefUse::One),
            ],
            CaRefUse::All,
        );
        let unsupported = self.choice(
            map,
            "unsupportedKinds",
            path,
            &[
                ("Rejected", UnsupportedCaKind::Rejected),
                (
                    "IgnoredBesideSupported",
                    UnsupportedCaKind::IgnoredBesideSupported,
                ),
            ],
            UnsupportedCaKind::Rejected,
        );
        Some((sources, ca_refs, unsupported))
    }

    fn ca_kind(&mut self, value: &Value, at: &FieldPath) -> Option<CaKind> {
        let found = value
            .as_str()
            .and_then(|s| CaKind::ALL.into_iter().find(|k| k.kind() == s));
        if found.is_none() {
            self.error(at, "must be one of ConfigMap, Secret, ClusterTrustBundle");
        }
        found
    }

    fn ca_source(&mut self, value: &Value, path: &FieldPath) -> Option<CaSource> {
        let fields = ["kind", "keys", "onlyKeyFallback", "secretTypes"];
        let map = self.object(value, path, &fields)?;
        let kind = match map.get("kind") {
            None => {
                self.error(&path.field("kind"), "required");
                None
            }
            Some(value) => self.ca_kind(value, &path.field("kind")),
        }?;
        let keyed = kind != CaKind::ClusterTrustBundle;
        let keys = match self.list(map, "keys", path, false) {
            Some(_) if !keyed => {
                let message = "a ClusterTrustBundle holds one bundle (spec.trustBundle): no keys";
                self.error(&path.field("keys"), message);
                Vec::new()
            }
            Some((items, at)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let key = self.string(v, &at.index(i))?;
                    if !KNOWN_CA_KEYS.contains(&key.as_ref()) {
                        let known = KNOWN_CA_KEYS.join(", ");
                        let message = format!("must be a key the webhook keeps: one of {known}");
                        self.error(&at.index(i), message);
                        return None;
                    }
                    Some(key)
                })
                .collect(),
            None if keyed => vec![CA_CRT],
            None => Vec::new(),
        };
        if keyed && keys.is_empty() && !self.errors.iter().any(|e| e.path.starts_with(path)) {
            self.error(&path.field("keys"), "must have at least 1 item");
        }
        let fallback = self.boolean(map, "onlyKeyFallback", path);
        if fallback && !keyed {
            self.error(
                &path.field("onlyKeyFallback"),
                "a ClusterTrustBundle has no keys",
            );
        }
        let secret_types = match self.list(map, "secretTypes", path, false) {
            Some(_) if kind != CaKind::Secret => {
                self.error(&path.field("secretTypes"), "only a Secret has a type");
                Vec::new()
            }
            Some((items, at)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| self.string(v, &at.index(i)))
                .collect(),
            None => Vec::new(),
        };
        Some(CaSource {
            kind,
            keys: Cow::Owned(keys),
            only_key_fallback: fallback,
            secret_types: Cow::Owned(secret_types),
        })
    }

    fn kind(&mut self, value: &Value, path: &FieldPath) -> Option<Kind> {
        let map = self.object(value, path, &["group", "kind"])?;
        let group = match map.get("group") {
            None | Some(Value::Null) => Cow::Borrowed(""),
            Some(Value::String(g)) if g.is_empty() => Cow::Borrowed(""),
            Some(v) => self.string(v, &path.field("group"))?,
        };
        if !group.is_empty() && !crate::validate::names::is_dns_subdomain(&group) {
            self.error(
                &path.field("group"),
                "must be an API group (a DNS subdomain), or \"\" for core",
            );
            return None;
        }
        let kind = self.text(map, "kind", path, true)?;
        if kind.len() > 63 || !crate::validate::schema::KIND.is_match(&kind) {
            self.error(
                &path.field("kind"),
                "must be a kind (letters and digits, like ServiceImport)",
            );
            return None;
        }
        Some(Kind { group, kind })
    }

    fn options(&mut self, value: Option<&Value>, path: &FieldPath) -> OptionsSupport {
        match value {
            None | Some(Value::Null) => OptionsSupport::Unstated,
            Some(Value::String(s)) if s == "Unstated" => OptionsSupport::Unstated,
            Some(Value::String(s)) if s == "Ignored" => OptionsSupport::Ignored,
            Some(value @ Value::Object(_)) => {
                let Some(map) = self.object(value, path, &["keys"]) else {
                    return OptionsSupport::Unstated;
                };
                let Some((items, at)) = self.list(map, "keys", path, true) else {
                    return OptionsSupport::Unstated;
                };
                let keys = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let key = self.string(v, &at.index(i))?;
                        let problems = crate::validate::names::qualified_name_problems(&key);
                        if !problems.is_empty() {
                            self.error(
                                &at.index(i),
                                format!("option keys are qualified names: {}", problems.join("; ")),
                            );
                            return None;
                        }
                        Some(key)
                    })
                    .collect();
                OptionsSupport::Keys(Cow::Owned(keys))
            }
            Some(_) => {
                self.error(
                    path,
                    "must be Unstated, Ignored, or a mapping with keys: [...]",
                );
                OptionsSupport::Unstated
            }
        }
    }

    fn pitfall(&mut self, value: &Value, path: &FieldPath) -> Option<Pitfall> {
        let map = self.object(value, path, &["when", "warning", "source"])?;
        let when = self.when(map.get("when"), &path.field("when"));
        let warning = self.text(map, "warning", path, true);
        let source = self.text(map, "source", path, true);
        Some(Pitfall {
            when: when?,
            warning: warning?,
            source: source?,
        })
    }

    fn when(&mut self, value: Option<&Value>, path: &FieldPath) -> Option<When> {
        const HELP: &str = "must be Always, AnyWellKnownCACertificates, SubjectAltNames, BadCACertificateRef, BadCACertificateContent, FallbackKey, or a mapping with one of wellKnownCACertificates, caCertificateRefKind, targetKind";
        match value {
            None | Some(Value::Null) => {
                self.error(path, "required");
                None
            }
            Some(Value::String(s)) => match s.as_str() {
                "Always" => Some(When::Always),
                "AnyWellKnownCACertificates" => Some(When::AnyWellKnown),
                "SubjectAltNames" => Some(When::SubjectAltNames),
                "BadCACertificateRef" => Some(When::BadCaRef),
                "BadCACertificateContent" => Some(When::BadCaContent),
                "FallbackKey" => Some(When::FallbackKey),
                _ => {
                    self.error(path, HELP);
                    None
                }
            },
            Some(value @ Value::Object(map)) if map.len() == 1 => {
                let map = self.object(
                    value,
                    path,
                    &[
                        "wellKnownCACertificates",
                        "caCertificateRefKind",
                        "targetKind",
                    ],
                )?;
                let (field, inner) = map.iter().next()?;
                match field.as_str() {
                    "wellKnownCACertificates" => self
                        .string(inner, &path.field("wellKnownCACertificates"))
                        .map(When::WellKnown),
                    "caCertificateRefKind" => self
                        .ca_kind(inner, &path.field("caCertificateRefKind"))
                        .map(When::CaKind),
                    _ => self
                        .kind(inner, &path.field("targetKind"))
                        .map(When::TargetKind),
                }
            }
            Some(_) => {
                self.error(path, HELP);
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles as files
// ---------------------------------------------------------------------------------------------

impl Profile {
    /// The profile in the file format [`Profile::from_value`] reads (as JSON; YAML is a
    /// superset), so that a built-in profile can be copied into a file and adapted.
    pub fn to_value(&self) -> Value {
        let texts =
            |list: &[Text]| Value::from(list.iter().map(|t| t.to_string()).collect::<Vec<_>>());
        let kind = |k: &Kind| serde_json::json!({"group": k.group, "kind": k.kind});
        let sources: Vec<Value> = self
            .ca_sources
            .iter()
            .map(|s| {
                let mut source = Map::new();
                source.insert("kind".into(), s.kind.kind().into());
                if s.kind != CaKind::ClusterTrustBundle {
                    source.insert("keys".into(), texts(&s.keys));
                }
                if s.only_key_fallback {
                    source.insert("onlyKeyFallback".into(), true.into());
                }
                if !s.secret_types.is_empty() {
                    source.insert("secretTypes".into(), texts(&s.secret_types));
                }
                Value::Object(source)
            })
            .collect();
        let well_known = match &self.well_known {
            WellKnown::Unstated => Value::from("Unstated"),
            WellKnown::AnyAsSystem => Value::from("AnyAsSystem"),
            WellKnown::Only(values) => texts(values),
        };
        let options = match &self.options {
            OptionsSupport::Unstated => Value::from("Unstated"),
            OptionsSupport::Ignored => Value::from("Ignored"),
            OptionsSupport::Keys(keys) => serde_json::json!({"keys": texts(keys)}),
        };
        let pitfalls: Vec<Value> = self
            .pitfalls
            .iter()
            .map(|p| {
                let when = match &p.when {
                    When::Always => Value::from("Always"),
                    When::AnyWellKnown => Value::from("AnyWellKnownCACertificates"),
                    When::SubjectAltNames => Value::from("SubjectAltNames"),
                    When::BadCaRef => Value::from("BadCACertificateRef"),
                    When::BadCaContent => Value::from("BadCACertificateContent"),
                    When::FallbackKey => Value::from("FallbackKey"),
                    When::WellKnown(v) => serde_json::json!({"wellKnownCACertificates": v}),
                    When::CaKind(k) => serde_json::json!({"caCertificateRefKind": k.kind()}),
                    When::TargetKind(k) => serde_json::json!({"targetKind": kind(k)}),
                };
                serde_json::json!({"when": when, "warning": p.warning, "source": p.source})
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "implementation": self.implementation,
            "versions": self.versions,
            "caCertificateRefs": {
                "sources": sources,
                "use": match self.ca_refs {
                    CaRefUse::All => "All",
                    CaRefUse::FirstOnly => "FirstOnly",
                    CaRefUse::One => "One",
                },
                "unsupportedKinds": match self.unsupported_ca_kind {
                    UnsupportedCaKind::Rejected => "Rejected",
                    UnsupportedCaKind::IgnoredBesideSupported => "IgnoredBesideSupported",
                },
            },
            "coreGroupAlias": self.core_group_alias,
            "wellKnownCACertificates": well_known,
            "targetKinds": self.target_kinds.iter().map(kind).collect::<Vec<_>>(),
            "unsupportedTargetKinds": match self.unsupported_target {
                UnsupportedTarget::Rejected => "Rejected",
                UnsupportedTarget::Ignored => "Ignored",
            },
            "options": options,
            "pitfalls": pitfalls,
        })
    }
}
