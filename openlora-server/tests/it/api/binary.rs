//! The `openlora-server serve` binary: starts from flags and a TOML file, answers /health and
//! a completion, refuses to start with payments on but no chain settings, and stops cleanly
//! (exit 0) on SIGTERM.

use crate::common::tiny_model;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ol_testkit::free_port;

#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    let bin = env!("CARGO_BIN_EXE_openlora-server");
    let dir = tempfile::tempdir().unwrap();

    // Payments on without chain settings: a clear refusal, before the model loads.
    let out = Command::new(bin)
        .args(["serve", "--model", tiny_model().to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env_remove("OPENLORA_SERVER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("payments are on but --l2-rpc is not set"), "{stderr}");

    let port = free_port();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "model = {:?}\nno-payment = true\nledger = {:?}\nmax-batch = 4\n",
            tiny_model(),
            dir.path().join("ledger.db")
        ),
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let health: serde_json::Value = loop {
        if let Ok(r) = client.get(format!("{url}/health")).send() {
            break r.json().unwrap();
        }
        assert!(child.try_wait().unwrap().is_none(), "serve exited during start-up");
        assert!(Instant::now() < deadline, "serve did not answer in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health["status"], "ok");
    assert!(health["payment"].is_null());
    let model = health["model"].as_str().unwrap().to_owned();
    let answer: serde_json::Value = client
        .post(format!("{url}/v1/completions"))
        .json(&serde_json::json!({"model": model, "prompt": "OPEN", "max_tokens": 3, "ignore_eos": true}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["usage"]["completion_tokens"], 3, "{answer}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{log}");
    assert!(log.contains("openlora-server stopped"), "{log}");
}
