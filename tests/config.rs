//! The config file, black-box: the `triage` binary with `--config`. Mistakes are refused at
//! start naming the file's line, `triage config check` prints the effective settings with
//! every secret masked, and a setting from the file yields to the environment, which yields
//! to a flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `triage` with `args` and only the environment `env`: the caller's own `TRIAGE_*`
/// variables must not leak in. A command that has not ended after a minute is killed (a
/// `serve` that started instead of refusing its config).
fn triage(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.args(args).env_clear().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("triage {args:?} was still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `triage --config <file> serve` with `config` as the file: it must refuse to start.
fn refused(dir: &Path, config: &str) -> String {
    let file = dir.join("triage.toml");
    std::fs::write(&file, config).unwrap();
    let data = dir.join("data");
    let out = triage(&["--config", file.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "serve", "--addr", "127.0.0.1:0"], &[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "started with a bad config:\n{config}\nstderr: {stderr}");
    assert!(stderr.contains("triage.toml"), "the file is not named: {stderr}");
    assert!(!data.join("triage.sqlite3").exists(), "a refused config must stop the service before it touches the data dir");
    stderr
}

#[test]
fn an_unknown_key_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(dir.path(), "engine = \"baseline\"\n\n[http]\nmax_connections = 10\n\n# the window of…\nwidnow = \"6h\"\n");
    assert!(stderr.contains("line 7") && stderr.contains("unknown field `widnow`"), "{stderr}");
    // In a table of its own too.
    let stderr = refused(dir.path(), "[llm]\nmodle = \"m\"\n");
    assert!(stderr.contains("line 2") && stderr.contains("unknown field `modle`"), "{stderr}");
}

#[test]
fn a_bad_duration_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(dir.path(), "[http]\naddr = \"127.0.0.1:0\"\nbody_timeout = \"soon\"\n");
    assert!(stderr.contains("line 3") && stderr.contains("body_timeout") && stderr.contains("soon"), "{stderr}");
    let stderr = refused(dir.path(), "approval_ttl = \"0s\"\n");
    assert!(stderr.contains("line 1") && stderr.contains("approval_ttl"), "{stderr}");
    let stderr = refused(dir.path(), "[llm]\ntimeout = 30\n");
    assert!(stderr.contains("line 2") && stderr.contains("timeout"), "a number is not a duration: {stderr}");
}

#[test]
fn a_missing_secret_file_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(dir.path(), "engine = \"llm\"\n[llm]\nmodel = \"m\"\napi_key_file = \"secrets/openai.key\"\n");
    assert!(stderr.contains("line 4") && stderr.contains("api_key_file") && stderr.contains("openai.key"), "{stderr}");
    let stderr = refused(dir.path(), "[audit]\nkey_file = \"/nonexistent/audit.key\"\n");
    assert!(stderr.contains("line 2") && stderr.contains("audit.key_file"), "{stderr}");
    // A secret written into the file itself is refused, and not echoed back.
    let stderr = refused(dir.path(), "[llm]\napi_key = \"sk-pasted-by-mistake\"\n");
    assert!(stderr.contains("line 2") && stderr.contains("api_key_file"), "{stderr}");
    assert!(!stderr.contains("sk-pasted-by-mistake"), "{stderr}");
}

#[test]
fn the_cli_takes_no_secret_as_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = triage(&["--data-dir", dir.path().to_str().unwrap(), "--llm-api-key", "sk-on-the-command-line", "config", "check"], &[]);
    assert!(!out.status.success());
    let out = triage(&["--data-dir", dir.path().to_str().unwrap(), "--fingerprint-key", "fingerprint-key-on-the-command-line", "config", "check"], &[]);
    assert!(!out.status.success());
}

#[test]
fn config_check_prints_the_effective_settings_with_every_secret_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openai.key"), "sk-live-0123456789abcdef\n").unwrap();
    std::fs::write(dir.path().join("audit.secret"), "audit-key-from-a-file-0123456789\n").unwrap();
    let file = dir.path().join("triage.toml");
    std::fs::write(&file, "engine = \"llm\"\n[llm]\nmodel = \"m1\"\napi_key_file = \"openai.key\"\n[audit]\nkey_file = \"audit.secret\"\n").unwrap();
    let data = dir.path().join("data");
    let env = [("TRIAGE_FINGERPRINT_KEY", "fingerprint-key-from-the-env-42")];
    let out = triage(&["--config", file.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "config", "check"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    for secret in ["sk-live-0123456789abcdef", "audit-key-from-a-file-0123456789", "fingerprint-key-from-the-env-42"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "a secret was printed:\n{stdout}\n{stderr}");
    }
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(stdout.contains("engine = \"llm\"") && stdout.contains("model = \"m1\""), "{stdout}");
    assert!(stdout.contains("api_key = \"***\"") && stdout.contains("fingerprint_key = \"***\"") && stdout.contains("key = \"***\""), "{stdout}");
    assert!(stdout.contains("from TRIAGE_FINGERPRINT_KEY") && stdout.contains("openai.key"), "where each secret came from: {stdout}");
    // Defaults are shown too: every limit, with its unit.
    assert!(stdout.contains("max_body = \"1MiB\"") && stdout.contains("approval_ttl = \"4h\"") && stdout.contains("timeout = \"30s\""), "{stdout}");
    // The output is itself TOML.
    let body: String = stdout.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let parsed: toml::Table = toml::from_str(&body).unwrap();
    assert_eq!(parsed["llm"]["model"].as_str(), Some("m1"));
    assert!(!data.join("triage.sqlite3").exists(), "config check opens nothing");
}

#[test]
fn the_file_yields_to_the_environment_which_yields_to_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // triage.toml in the data dir is read without --config.
    std::fs::write(data.join("triage.toml"), "approval_ttl = \"2h\"\n[http]\nmax_connections = 7\n[llm]\nmodel = \"from-file\"\n").unwrap();
    let check = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--data-dir", data.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["config", "check"]);
        let out = triage(&all, env);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let body: String = text(&out.stdout).lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        let t: toml::Table = toml::from_str(&body).unwrap();
        (t["http"]["max_connections"].as_integer().unwrap(), t["approval_ttl"].as_str().unwrap().to_string(), t["llm"]["model"].as_str().unwrap().to_string())
    };
    assert_eq!(check(&[], &[]), (7, "2h".into(), "from-file".into()));
    let env = [("TRIAGE_HTTP_MAX_CONNECTIONS", "8"), ("TRIAGE_APPROVAL_TTL_SECS", "60"), ("TRIAGE_LLM_MODEL", "from-env")];
    assert_eq!(check(&[], &env), (8, "1m".into(), "from-env".into()));
    let flags = ["--http-max-connections", "9", "--approval-ttl-secs", "90", "--llm-model", "from-flag"];
    assert_eq!(check(&flags, &env), (9, "1m30s".into(), "from-flag".into()));
    assert_eq!(check(&flags, &[]), (9, "1m30s".into(), "from-flag".into()));
}

#[test]
fn a_served_setting_from_the_file_takes_effect() {
    // The file's body limit is the one the running service enforces.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("triage.toml");
    std::fs::write(&file, "[http]\nmax_body = \"2KiB\"\n").unwrap();
    let settings = {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: triage::config::SettingsArgs,
        }
        Wrapper::parse_from(["triage", "--config", file.to_str().unwrap(), "--data-dir", dir.path().join("data").to_str().unwrap()]).settings.resolve().unwrap()
    };
    assert_eq!(settings.http.max_body, 2048);
    assert_eq!(settings.http.body_limit_for("/v1/recommend"), 2048);
    assert_eq!(settings.http.body_limit_for("/v1/alerts"), 4 * 1024 * 1024);
}
