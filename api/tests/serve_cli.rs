//! The `adforge` binary on a machine with no configuration.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn adforge(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adforge"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL");
    for (name, _) in std::env::vars() {
        if name.starts_with("ADFORGE_") {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn serve_starts_without_configuration_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = adforge(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answer = None;
    while Instant::now() < deadline {
        if let Ok(body) = http_get(port, "/healthz") {
            answer = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().ok();
    child.wait().ok();
    let answer = answer.expect("adforge serve never answered /healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        dir.path().join("data/adforge.sqlite3").exists(),
        "SQLite file created on first start"
    );
}

#[test]
fn advertiser_create_prints_a_working_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = adforge(dir.path())
        .args(["advertiser", "create", "Acme Corp"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("adf_"))
        .expect("a key is printed");
    let migrate = adforge(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success());
    // The key is stored only hashed.
    let secret = key.rsplit('_').next().unwrap();
    for file in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in clear"
        );
    }

    let empty = adforge(dir.path())
        .args(["advertiser", "create", "  "])
        .output()
        .unwrap();
    assert!(!empty.status.success());
}

/// A minimal HTTP/1.1 GET, to keep the test free of an async runtime.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}
