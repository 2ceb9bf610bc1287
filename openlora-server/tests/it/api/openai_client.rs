//! The real `openai` Python package (from PyPI, pinned in
//! `scripts/toolchain/requirements-clients.txt`, installed by `scripts/bootstrap` into
//! `.tools/venv-clients`) talks to the server unchanged: models, completions and chat, whole
//! and streamed, seeded sampling, typed errors (`tests/clients/openai_client.py`).

use super::{TestServer, repo_root};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_client_works_unchanged() {
    let python = repo_root().join(".tools/venv-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/bootstrap (it installs the Python test clients)",
        python.display()
    );
    let t = TestServer::free().await;
    let adapter = t.add_adapter(21).await.to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_client.py");
    let (url, base) = (t.url.clone(), t.server.engine.model_name().to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args([&url, &adapter, &base]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the openai client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    eprintln!("openai client: {seen}");
    assert_eq!(seen["errors"], "ok");
    // Every answered inference is in the usage ledger (6 generations; the refused ones are not).
    assert_eq!(t.server.gate.ledger().counts().await.unwrap().inferences, 6);
    t.shutdown().await;
}
