//! Realistic alert streams with their expected grouping: several incidents interleaved
//! with scanner, updater and anomaly-detector noise, plus exact and near duplicates. Each
//! alert carries the group it belongs to, so a test can check the cases it ends up in.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

/// How an alert relates to the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new event.
    Fresh,
    /// The same alert sent again (same id, same content).
    ExactDuplicate,
    /// The same event fired again under a new id, later.
    NearDuplicate,
}

#[derive(Debug, Clone)]
pub struct Streamed {
    pub alert: Value,
    pub group: String,
    pub kind: Kind,
    pub time: DateTime<Utc>,
}

/// A small deterministic generator (no dependency, same stream on every machine).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

struct Builder {
    out: Vec<Streamed>,
    n: usize,
}

impl Builder {
    fn push(&mut self, group: &str, time: DateTime<Utc>, mut alert: Value) {
        self.n += 1;
        alert["id"] = json!(format!("alrt-{:05}", self.n));
        alert["time"] = json!(stamp(time));
        self.out.push(Streamed { alert, group: group.to_string(), kind: Kind::Fresh, time });
    }
}

/// The phishing-to-C2 intrusion on one workstation, with lateral movement to a database
/// server by the same user: one case.
fn intrusion(b: &mut Builder, start: DateTime<Utc>) {
    let steps = [
        ("Office application spawned PowerShell", "high", "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA", "WS-101"),
        ("Suspicious encoded PowerShell command", "high", "powershell.exe -enc JABjAD0ATgBlAHcALQBPAGIAagBlAGMAdAA", "WS-101"),
        ("Rundll32 loading DLL from user profile", "high", "rundll32.exe C:\\Users\\amorgan\\AppData\\Local\\Temp\\upd4.dll,Start", "WS-101"),
        ("Outbound connection to rare external IP", "medium", "C:\\Users\\amorgan\\AppData\\Local\\Temp\\upd4.exe", "WS-101"),
        ("Credential dumping via comsvcs MiniDump", "critical", "rundll32.exe C:\\Windows\\System32\\comsvcs.dll MiniDump 624 C:\\Temp\\l.dmp full", "WS-101"),
        ("Remote service created over SMB", "high", "sc.exe \\\\SRV-DB-02 create updsvc binPath= C:\\Windows\\Temp\\s.exe", "SRV-DB-02"),
        ("PsExec-style service execution", "high", "C:\\Windows\\Temp\\s.exe -k netsvcs", "SRV-DB-02"),
        ("Database dump with sqlcmd", "high", "sqlcmd.exe -S localhost -Q \"BACKUP DATABASE payroll TO DISK='C:\\Temp\\p.bak'\"", "SRV-DB-02"),
    ];
    for i in 0..25 {
        let (rule, sev, cmd, host) = steps[i % steps.len()];
        let ips: Vec<&str> = if i % 3 == 0 { vec!["198.51.100.23"] } else { vec![] };
        b.push(
            "intrusion",
            start + Duration::minutes(6 * i as i64),
            json!({"source": "sysmon", "rule": {"id": format!("sysmon-{}", i % steps.len()), "name": rule, "severity": sev},
                   "entities": {"users": ["CORP\\amorgan"], "hosts": [host], "ips": ips},
                   "asset": {"environment": "production", "criticality": "high"},
                   "fields": {"CommandLine": format!("{cmd} #{i}"), "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                              "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", "ProcessId": 4000 + i}}),
        );
    }
}

/// A leaked GitHub token cloning repositories from one address: one case, pivoting on the
/// token's fingerprint.
fn token_abuse(b: &mut Builder, start: DateTime<Utc>) {
    let repos = ["acme/payments", "acme/infra", "acme/ledger", "acme/auth-service", "acme/mobile", "acme/terraform-prod"];
    for i in 0..30 {
        let repo = format!("{}-{}", repos[i % repos.len()], i / repos.len());
        let repo = repo.as_str();
        b.push(
            "token-abuse",
            start + Duration::minutes(4 * i as i64),
            json!({"source": "github-audit", "rule": {"id": "gh-clone-burst", "name": "Token cloning many repositories", "severity": "high"},
                   "entities": {"users": ["dkline"], "tokens": ["ghp_R8x2Lq9TzV4mW7nK1pY6sB3dF5hJ0cGa2XeU"], "ips": ["203.0.113.50"], "repositories": [repo]},
                   "fields": {"action": "git.clone", "repo": repo, "actor": "dkline", "transport": "https", "seq": i}}),
        );
    }
}

/// A backup service account's keys used against many buckets from outside: one case.
fn cloud_abuse(b: &mut Builder, start: DateTime<Utc>) {
    let calls = ["ListBuckets", "GetObject", "GetObject", "CreateAccessKey", "PutBucketPolicy", "GetObject"];
    for i in 0..25 {
        let call = calls[i % calls.len()];
        b.push(
            "cloud-abuse",
            start + Duration::minutes(5 * i as i64),
            json!({"source": "aws-cloudtrail", "rule": {"id": "ct-anomalous-sa", "name": "Service account API calls from new ASN", "severity": "high"},
                   "entities": {"service_accounts": ["svc-backup"], "cloud_accounts": ["111122223333"], "ips": ["192.0.2.77"]},
                   "fields": {"eventSource": "s3.amazonaws.com", "eventName": call, "requestParameters": {"bucketName": format!("acme-backups-{}", i % 7), "key": format!("db/{i}.tar")}}}),
        );
    }
}

/// A Kubernetes service-account token reading secrets across namespaces: one case.
fn k8s_abuse(b: &mut Builder, start: DateTime<Utc>) {
    for i in 0..15 {
        let ns = ["prod", "payments", "kube-system", "monitoring", "auth"][i % 5];
        b.push(
            "k8s-abuse",
            start + Duration::minutes(7 * i as i64),
            json!({"source": "kubernetes-audit", "rule": {"id": "k8s-secret-sweep", "name": "Service account listing secrets across namespaces", "severity": "high"},
                   "entities": {"service_accounts": ["system:serviceaccount:reporting:report-runner"], "cloud_accounts": ["gke-prod-eu"]},
                   "fields": {"verb": if i % 2 == 0 { "list" } else { "get" }, "objectRef": {"resource": "secrets", "namespace": ns, "name": format!("s-{i}")}, "requestURI": format!("/api/v1/namespaces/{ns}/secrets/s-{i}")}}),
        );
    }
}

/// A scanner probing the web tier: near-identical 404 bursts, one address, one case.
fn scanner(b: &mut Builder, start: DateTime<Utc>, count: usize, span_hours: i64) {
    let paths = ["/wp-login.php", "/.env", "/admin/config.php", "/phpmyadmin/index.php", "/cgi-bin/luci", "/.git/config", "/server-status", "/actuator/env"];
    for i in 0..count {
        let host = format!("web-0{}", 1 + i % 4);
        let offset = Duration::seconds((span_hours * 3600) * i as i64 / count.max(1) as i64);
        b.push(
            "scanner",
            start + offset,
            json!({"source": "nginx", "rule": {"id": "web-404-burst", "name": "Burst of 404s from one client", "severity": "low"},
                   "entities": {"hosts": [host], "ips": ["203.0.113.9"]},
                   "fields": {"request": {"uri": format!("{}?v={i}", paths[i % paths.len()])}, "status": 404, "user_agent": "Mozilla/5.0 zgrab/0.x"}}),
        );
    }
}

/// The updater running on many workstations as SYSTEM: one case per workstation (SYSTEM
/// never pivots), each with a few alerts within hours.
fn updater(b: &mut Builder, start: DateTime<Utc>, hosts: usize, per_host: usize) {
    for h in 0..hosts {
        let host = format!("WS-{}", 300 + h);
        for k in 0..per_host {
            b.push(
                &format!("updater-{host}"),
                start + Duration::minutes((h as i64 * 13) % 600 + 50 * k as i64),
                json!({"source": "sysmon", "rule": {"id": "unsigned-child", "name": "Unsigned binary started by updater", "severity": "low"},
                       "entities": {"users": ["NT AUTHORITY\\SYSTEM"], "hosts": [host], "ips": ["10.20.0.5"]},
                       "fields": {"Image": "C:\\Program Files\\AcmeUpdate\\acmeupd.exe", "CommandLine": format!("acmeupd.exe /silent /component {k}"),
                                  "ParentImage": "C:\\Windows\\System32\\services.exe"}}),
            );
        }
    }
}

/// Impossible-travel anomalies: a few per user, each sign-in from a new address: one case
/// per user.
fn anomalies(b: &mut Builder, start: DateTime<Utc>, users: usize, per_user: usize) {
    for u in 0..users {
        let user = format!("user{u:03}@acme.example");
        for k in 0..per_user {
            b.push(
                &format!("anomaly-{user}"),
                start + Duration::minutes((u as i64 * 29) % 900 + 40 * k as i64),
                json!({"source": "okta", "rule": {"id": "okta-travel", "name": "Impossible travel between sign-ins", "severity": "medium"},
                       "entities": {"users": [user], "ips": [format!("2001:db8:{u:x}::{k:x}")]},
                       "fields": {"eventType": "user.session.start", "outcome": {"result": "SUCCESS"}, "client": {"ipAddress": format!("2001:db8:{u:x}::{k:x}")},
                                  "distance_km": 4000 + k * 100}}),
            );
        }
    }
}

/// Adds `exact` re-sent alerts and `near` re-fired ones (new id, up to two hours later),
/// then sorts the stream by alert time (stable: a re-sent alert follows its original).
fn with_duplicates(mut b: Builder, rng: &mut Lcg, exact: usize, near: usize) -> Vec<Streamed> {
    let fresh = b.out.len();
    for _ in 0..exact {
        let original = b.out[rng.below(fresh as u64) as usize].clone();
        b.out.push(Streamed { kind: Kind::ExactDuplicate, ..original });
    }
    for _ in 0..near {
        let original = b.out[rng.below(fresh as u64) as usize].clone();
        b.n += 1;
        let time = original.time + Duration::minutes(1 + rng.below(120) as i64);
        let mut alert = original.alert.clone();
        alert["id"] = json!(format!("alrt-{:05}", b.n));
        alert["time"] = json!(stamp(time));
        b.out.push(Streamed { alert, group: original.group, kind: Kind::NearDuplicate, time });
    }
    b.out.sort_by_key(|s| s.time);
    b.out
}

/// The four incidents of every stream, at their hours of the day.
fn incidents(b: &mut Builder, day: DateTime<Utc>) {
    intrusion(b, day + Duration::hours(9));
    token_abuse(b, day + Duration::hours(13));
    cloud_abuse(b, day + Duration::hours(2));
    k8s_abuse(b, day + Duration::hours(17));
}

/// 1,000 alerts: four incidents, a scanner, updater and anomaly noise, 60 exact and 60
/// near duplicates.
pub fn mixed_thousand() -> Vec<Streamed> {
    let mut rng = Lcg::new(7);
    let mut b = Builder { out: Vec::new(), n: 0 };
    let day = t0();
    incidents(&mut b, day);
    scanner(&mut b, day + Duration::hours(1), 485, 10);
    updater(&mut b, day + Duration::hours(3), 50, 4);
    anomalies(&mut b, day, 25, 4);
    let out = with_duplicates(b, &mut rng, 60, 60);
    assert_eq!(out.len(), 1000);
    out
}

/// A noisy day of `scale` × 1,000 alerts: the scanner is most of it, updater noise sits on
/// a fixed fleet behind one update server, anomalies repeat for a handful of users, and the
/// four incidents are in between.
pub fn noisy_day(scale: usize) -> Vec<Streamed> {
    let mut rng = Lcg::new(11);
    let mut b = Builder { out: Vec::new(), n: 0 };
    let day = t0();
    incidents(&mut b, day);
    let scanner_count = scale * 1000 * 7 / 10;
    scanner(&mut b, day, scanner_count, 20);
    // The update server pushes to the fleet: every alert names it, so they gather in one case.
    let updates = scale * 1000 * 15 / 100;
    for i in 0..updates {
        let host = format!("WS-{}", 1000 + i % 400);
        b.push(
            "updates",
            day + Duration::seconds(20 * 3600 * i as i64 / updates as i64),
            json!({"source": "sysmon", "rule": {"id": "unsigned-child", "name": "Unsigned binary started by updater", "severity": "low"},
                   "entities": {"users": ["NT AUTHORITY\\SYSTEM"], "hosts": [host, "UPD-01"]},
                   "fields": {"Image": "C:\\Program Files\\AcmeUpdate\\acmeupd.exe", "CommandLine": format!("acmeupd.exe /silent /pull \\\\UPD-01\\pkg\\{i}.msi")}}),
        );
    }
    let remaining = scale * 1000 - b.out.len() - scale * 100;
    anomalies(&mut b, day, 20, remaining / 20);
    with_duplicates(b, &mut rng, scale * 50, scale * 50)
}
