//! `review`: answer one AdmissionReview from a file or stdin, with an in-memory lookup.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{EXIT_INPUT, EXIT_OK};
use crate::admission::{BadReview, Reviewer};
use crate::cli::ReviewArgs;
use crate::lookup::{BundleCache, MemoryLookup};
use crate::objects;

/// Runs `review`.
pub fn run(args: &ReviewArgs) -> anyhow::Result<u8> {
    let body = objects::read_source(&args.input)?;
    let documents = objects::load_paths(&args.objects).context("cannot load --objects")?;
    let bundles = Arc::new(BundleCache::default());
    let settings = args.policy.settings();
    let objects = documents.iter().map(|d| &d.value);
    let lookup = MemoryLookup::from_objects_for(objects, &bundles, Arc::clone(&settings.profile));
    let clock = args.clock.clock();
    let reviewer = Reviewer::new(settings, Arc::new(lookup), bundles, clock);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let answer = runtime.block_on(reviewer.review(&body, Duration::from_secs(10)));
    match answer.into_review() {
        Ok(review) => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &review)?;
            writeln!(out)?;
            Ok(EXIT_OK)
        }
        Err(bad) => {
            eprintln!(
                "backendtls-webhook review: {}: {bad}{}",
                args.input.display(),
                yaml_hint(&args.input, &body, &bad)
            );
            Ok(EXIT_INPUT)
        }
    }
}

/// When the input is not JSON but is YAML, it is most likely an object meant for `validate`.
fn yaml_hint(input: &Path, body: &[u8], bad: &BadReview) -> String {
    if !bad.not_json {
        return String::new();
    }
    let is_yaml = std::str::from_utf8(body)
        .ok()
        .is_some_and(|text| objects::parse_str("-", text).is_ok_and(|d| !d.is_empty()));
    if !is_yaml {
        return String::new();
    }
    format!(
        "\n  review answers an AdmissionReview in JSON, as the apiserver sends it; this is YAML: to check the objects in it, use `backendtls-webhook validate {}`",
        input.display()
    )
}
