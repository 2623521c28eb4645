//! A fake Kubernetes apiserver for benchmarks (the one the tests use): serves the fixture
//! objects plus N generated ConfigMaps that no policy references, and writes a kubeconfig.
//!
//! `cargo run --release --example fake-apiserver -- --configmaps 5000 --size 10240 --kubeconfig DIR`

#[path = "../tests/common/fake_apiserver.rs"]
mod fake_apiserver;

use std::path::PathBuf;

use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Unrelated ConfigMaps to serve.
    #[arg(long, default_value_t = 5000)]
    configmaps: usize,
    /// Bytes of data in each.
    #[arg(long, default_value_t = 10 * 1024)]
    size: usize,
    /// Object files to serve as well (fixtures).
    #[arg(long)]
    objects: Vec<PathBuf>,
    /// Folder to write the kubeconfig into.
    #[arg(long)]
    kubeconfig: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut objects: Vec<serde_json::Value> =
        backendtls_webhook::objects::load_paths(&args.objects)?
            .into_iter()
            .map(|d| d.value)
            .collect();
    let filler = "x".repeat(args.size);
    for i in 0..args.configmaps {
        objects.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("unrelated-{i}"), "namespace": format!("team-{}", i % 50)},
            "data": {"settings.json": filler}
        }));
    }
    let server = fake_apiserver::FakeApiserver::start(objects, &["v1"]).await;
    std::fs::create_dir_all(&args.kubeconfig)?;
    let path = server.kubeconfig(&args.kubeconfig);
    println!("serving on {} (kubeconfig {})", server.addr, path.display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
