//! The model of `tests/fixtures/crd-facts.json` (written by `make crds`), shared by the tests
//! that read it: `crd_facts` (the validator's schema equals the facts), `crd_oracle` (an oracle
//! built from them) and `properties` (generated objects satisfy them). Unknown keys fail to
//! parse, so a fact the CRDs gain cannot go unnoticed. Included with `#[path]`, so each test
//! uses what it needs.
#![allow(dead_code)]

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// The facts file, parsed once per test binary.
pub fn facts() -> &'static Facts {
    static FACTS: OnceLock<Facts> = OnceLock::new();
    FACTS.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/crd-facts.json"))
            .expect("tests/fixtures/crd-facts.json parses (run `make crds`)")
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Facts {
    pub generated_from: Vec<Source>,
    pub crds: Vec<Crd>,
}

impl Facts {
    /// The CRD of a Gateway API release and channel.
    pub fn crd(&self, bundle_version: &str, channel: &str) -> &Crd {
        self.crds
            .iter()
            .find(|c| c.bundle_version == bundle_version && c.channel == channel)
            .unwrap_or_else(|| panic!("the {bundle_version} {channel} CRD is in the facts"))
    }
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub file: String,
    pub bundle_version: String,
    pub channel: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Crd {
    pub file: String,
    pub bundle_version: String,
    pub channel: String,
    pub versions: Vec<Version>,
}

impl Crd {
    /// One served version of the CRD.
    pub fn version(&self, name: &str) -> &Version {
        self.versions
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{} {} has {name}", self.bundle_version, self.channel))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Version {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    pub nodes: Vec<Node>,
    pub rules: Vec<Rule>,
}

/// One schema node.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    pub path: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub format: Option<String>,
    pub required: bool,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub max_properties: Option<usize>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub default: Option<Value>,
    #[serde(rename = "x-kubernetes-list-type")]
    pub list_type: Option<String>,
    #[serde(rename = "x-kubernetes-list-map-keys")]
    pub list_map_keys: Option<Vec<String>>,
    #[serde(default)]
    pub other_keywords: Vec<String>,
}

/// One `x-kubernetes-validations` rule.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub path: String,
    pub rule: String,
    pub message: Option<String>,
    pub message_expression: Option<String>,
    pub reason: Option<String>,
    pub field_path: Option<String>,
    pub optional_old_self: Option<bool>,
    #[serde(default)]
    pub other_keywords: Vec<String>,
}
