//! `review`: answer one AdmissionReview from a file or stdin, with an in-memory lookup.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{EXIT_INPUT, EXIT_OK};
use crate::admission::Reviewer;
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
    match answer {
        Ok((_, review)) => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &review)?;
            writeln!(out)?;
            Ok(EXIT_OK)
        }
        Err(bad) => {
            eprintln!("backendtls-webhook review: {}: {bad}", args.input.display());
            Ok(EXIT_INPUT)
        }
    }
}
