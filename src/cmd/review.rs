//! `review`: answer one AdmissionReview from a file or stdin, with an in-memory lookup.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{EXIT_INPUT, EXIT_OK};
use crate::admission::{Clock, Reviewer};
use crate::cli::ReviewArgs;
use crate::lookup::{BundleCache, MemoryLookup};
use crate::objects;

/// The largest review read (the apiserver's own request limit is 3 MiB per object).
const MAX_INPUT: u64 = 64 << 20;

/// Runs `review`.
pub fn run(args: &ReviewArgs) -> anyhow::Result<u8> {
    let body = read_input(&args.input)?;
    let documents = objects::load_paths(&args.objects).context("cannot load --objects")?;
    let bundles = Arc::new(BundleCache::default());
    let lookup = MemoryLookup::from_objects(documents.iter().map(|d| &d.value), &bundles);
    let clock = args.now.map_or(Clock::System, Clock::Fixed);
    let reviewer = Reviewer::new(args.policy.settings(), Arc::new(lookup), bundles, clock);
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

fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_end(&mut body)
            .context("cannot read stdin")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT).read_to_end(&mut body))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(body)
}
