//! The README's curl examples, run against a real server seeded as `make run` seeds it, must
//! print exactly the output the README shows. Needs the `curl` program (`.ci/run` installs it).

mod common;

use std::process::Command;

use common::{Options, TestServer};

/// `(command, expected output)` for each ```sh block holding a `curl` to /validate that is
/// followed by a ```json block.
fn examples(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("```") else { break };
        let block = &after[..end];
        let (lang, body) = block.split_once('\n').unwrap_or((block, ""));
        blocks.push((lang.trim().to_owned(), body.to_owned()));
        rest = &after[end + 3..];
    }
    blocks
        .windows(2)
        .filter(|pair| {
            pair[0].0 == "sh"
                && pair[0].1.contains("curl ")
                && pair[0].1.contains("/validate")
                && pair[1].0 == "json"
        })
        .map(|pair| (pair[0].1.replace("\\\n", " "), pair[1].1.trim().to_owned()))
        .collect()
}

#[tokio::test]
async fn readme_curl_examples_print_what_the_readme_shows() {
    let readme =
        std::fs::read_to_string(common::fixtures().join("../../README.md")).expect("README");
    let examples = examples(&readme);
    assert!(
        examples.len() >= 2,
        "expected an allowed and a denied curl example, found {}",
        examples.len()
    );
    let server = TestServer::start(Options::default()).await;
    let ca = server.dir.path().join("ca.crt");
    std::fs::write(&ca, server.ca.cert_pem()).expect("ca");
    for (command, expected) in examples {
        assert!(
            command.contains("--cacert certs/ca.crt")
                && command.contains("https://localhost:8443/validate"),
            "{command}"
        );
        let command = command
            .replace("certs/ca.crt", ca.to_str().expect("utf-8"))
            .replace(
                "https://localhost:8443/",
                &format!("https://localhost:{}/", server.addr.port()),
            );
        let output = tokio::task::spawn_blocking(move || {
            Command::new("sh")
                .arg("-c")
                .arg(format!("{} --silent --show-error", command.trim()))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
        })
        .await
        .expect("join")
        .expect("curl is needed for this test (apt-get install curl)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected);
    }
}
