//! Detection tuning: from an alert an analyst judged benign or a false positive, a Sigma rule
//! that matches that benign pattern, for an engineer to add as `not filter_…` to the rule
//! that fired.
//!
//! The selection keeps only values that identify *what ran, who ran it, where, and through
//! which API* (a list per field name, below) and that will look the same next time: ids,
//! timestamps, counters and redaction placeholders are never used, and the volatile parts of
//! a kept value (a GUID or date inside a path, an AWS assumed-role session name, a
//! placeholder inside a command line) become `*`. A value that is mostly volatile is dropped.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::matcher::{SigmaMatcher, escape};
use super::{one_line, re};
use crate::alert::Alert;
use crate::cases::verdict::ClosedCase;

/// A drafted filter rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaDraft {
    /// The rule, valid Sigma YAML.
    pub yaml: String,
    /// The selection as written: field name and Sigma value (escaped, `*` where the alert's
    /// value was volatile), in rule order.
    pub fields: Vec<(String, String)>,
    /// How many alerts of `past` (not the alert itself) the tuned rule would not have raised:
    /// those of the same detection (source and rule) that the filter matches.
    pub would_exclude: usize,
}

/// The fewest fields a filter may have: one value alone (an event name, a user) would hide
/// far more than the pattern the analyst judged.
pub const MIN_FIELDS: usize = 2;
/// The most fields a filter uses, the most telling first.
pub const MAX_FIELDS: usize = 6;
/// Longer values (scripts, encoded blobs) make brittle filters and are left out.
const MAX_VALUE_CHARS: usize = 1024;

/// A filter rule matching `alert`'s benign pattern, or `None` when the alert has fewer than
/// [`MIN_FIELDS`] stable identifying values (a filter would then be too broad to propose).
pub fn sigma_filter(alert: &Alert, past: &[Alert]) -> Option<SigmaDraft> {
    build(alert, past, None)
}

/// The case a filter is drafted for, named in its description.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaseContext<'a> {
    pub case_id: &'a str,
    pub closed: &'a ClosedCase,
}

pub(crate) fn build(alert: &Alert, past: &[Alert], case: Option<CaseContext<'_>>) -> Option<SigmaDraft> {
    let fields = identifying_fields(&alert.fields);
    if fields.len() < MIN_FIELDS {
        return None;
    }
    let group = fields.first().map_or(Group::Actor, |f| f.group);
    let selection_name = format!("filter_benign_{}", group.as_str());

    // Written by hand rather than through serde_yaml: every text is single-quoted, so a
    // value like `on`, `yes` or `10:30` stays a string for YAML 1.1 readers (PyYAML, which
    // pySigma and sigma-cli use) as it does for YAML 1.2 ones.
    let mut detection = format!("    {selection_name}:\n");
    for f in &fields {
        detection.push_str(&format!("        {}: {}\n", name(&f.path), quoted(&f.value)));
    }
    detection.push_str(&format!("    condition: {selection_name}\n"));

    // The id depends only on what the rule matches, so drafting the same pattern again
    // (another case, another day) yields the same rule id.
    let mut identity = format!("{}\n{}\n{}", alert.source, alert.rule.id.as_deref().unwrap_or(""), alert.rule.name);
    for f in &fields {
        identity.push_str(&format!("\n{}={}", f.path, f.value));
    }
    let id = super::rule_id::for_pattern(&identity);

    // Counted with the same matcher that evaluates the finished rule.
    let matcher = SigmaMatcher::parse(&format!("detection:\n{detection}")).ok()?;
    let mut seen: HashSet<&str> = HashSet::from([alert.id.as_str()]);
    let would_exclude = past.iter().filter(|p| same_detection(p, alert) && matcher.matches(p) && seen.insert(p.id.as_str())).count();

    let rule_name = one_line(&alert.rule.name, 200);
    let rule_ref = match &alert.rule.id {
        Some(rid) => format!("'{rule_name}' (rule id {})", one_line(rid, 128)),
        None => format!("'{rule_name}'"),
    };
    let origin = match case {
        Some(c) => format!(
            "case {} (alert {}), which {} closed as {}{}",
            one_line(c.case_id, 128),
            alert.id,
            one_line(&c.closed.closed_by, 100),
            c.closed.disposition.as_str().replace('_', " "),
            day(&c.closed.closed_at).map(|d| format!(" on {d}")).unwrap_or_default()
        ),
        None => format!("alert {}", alert.id),
    };
    let mut description = format!(
        "Benign pattern of {rule_ref} from {}, drafted by triage from {origin}. Sigma has no standalone exclusion rule, so this rule \
         matches the benign activity: to tune the source rule, copy the `{selection_name}` selection into its detection and append \
         `and not {selection_name}` to its condition. It matches {would_exclude} earlier alert{} of that rule.",
        one_line(&alert.source, 100),
        if would_exclude == 1 { "" } else { "s" }
    );
    if let Some(note) = case.map(|c| one_line(&c.closed.note, 300)).filter(|n| !n.is_empty()) {
        description.push_str(&format!(" Analyst's note: {note}"));
    }
    let field_names: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    let falsepositive = format!(
        "Malicious activity that imitates this benign pattern (same {}) also matches; once excluded from {rule_ref} it raises no alert",
        field_names.join(", ")
    );

    let mut yaml = String::new();
    yaml.push_str(&format!("title: {}\n", quoted(&format!("Benign pattern of {}", one_line(&alert.rule.name, 90)))));
    yaml.push_str(&format!("id: {id}\nstatus: experimental\n"));
    yaml.push_str(&format!("description: {}\n", quoted(&description)));
    yaml.push_str("author: triage learning draft\n");
    if let Some(d) = case.and_then(|c| day(&c.closed.closed_at)) {
        yaml.push_str(&format!("date: {d}\n"));
    }
    yaml.push_str("logsource:\n");
    for (k, v) in logsource(&alert.source) {
        yaml.push_str(&format!("    {k}: {}\n", name(&v)));
    }
    yaml.push_str("detection:\n");
    yaml.push_str(&detection);
    yaml.push_str(&format!("falsepositives:\n    - {}\n", quoted(&falsepositive)));
    yaml.push_str("level: informational\n");

    Some(SigmaDraft { yaml, fields: fields.into_iter().map(|f| (f.path, f.value)).collect(), would_exclude })
}

/// A YAML single-quoted scalar: `'` doubled, everything else as it is. The text must be one
/// line ([`one_line`] and [`stable_value`] make sure of it).
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A mapping key or a name (`windows`, `userIdentity.arn`): plain when it is a simple name
/// that no YAML reader takes for anything but a string, single-quoted otherwise.
fn name(text: &str) -> String {
    let simple = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '@'));
    let ambiguous = matches!(text.to_ascii_lowercase().as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null");
    if simple && !ambiguous { text.to_string() } else { quoted(text) }
}

/// Same source and same rule (by id when both carry one, else by name).
fn same_detection(a: &Alert, b: &Alert) -> bool {
    a.source.eq_ignore_ascii_case(&b.source)
        && match (&a.rule.id, &b.rule.id) {
            (Some(x), Some(y)) => x == y,
            _ => a.rule.name.eq_ignore_ascii_case(&b.rule.name),
        }
}

/// `YYYY-MM-DD` of an RFC 3339 time, as Sigma's `date` wants it.
fn day(time: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(time.trim()).ok().map(|t| t.format("%Y-%m-%d").to_string())
}

/// Sigma `logsource` for an alert source: Sysmon → `windows`/`sysmon` (`linux` for
/// sysmon-linux), `windows-<log>` → `windows`/`<log>`, CloudTrail → `aws`/`cloudtrail`,
/// `aws-<svc>` → `aws`/`<svc>`, GitHub → `github` (`audit` for its audit log), Okta →
/// `okta`/`okta`, Kubernetes → `kubernetes` (`audit`), GCP, Azure, M365 and auditd by
/// their Sigma names; anything else → `product: <source>`.
pub fn logsource(source: &str) -> Vec<(&'static str, String)> {
    let s = source.trim().to_ascii_lowercase();
    let ps = |p: &str, svc: &str| vec![("product", p.to_string()), ("service", svc.to_string())];
    let p = |p: &str| vec![("product", p.to_string())];
    if s.contains("sysmon") {
        return if s.contains("linux") { ps("linux", "sysmon") } else { ps("windows", "sysmon") };
    }
    if let Some(svc) = s.strip_prefix("windows-") {
        return ps("windows", svc);
    }
    if s == "powershell" {
        return ps("windows", "powershell");
    }
    if s.contains("cloudtrail") {
        return ps("aws", "cloudtrail");
    }
    if let Some(svc) = s.strip_prefix("aws-") {
        return ps("aws", svc);
    }
    if s.starts_with("gcp") {
        return if s.contains("audit") { ps("gcp", "gcp.audit") } else { p("gcp") };
    }
    if s == "azure-activity" {
        return ps("azure", "activitylogs");
    }
    if s.starts_with("azure") || s.starts_with("entra") {
        return p("azure");
    }
    if s.contains("github") {
        return if s.contains("audit") { ps("github", "audit") } else { p("github") };
    }
    if s.contains("okta") {
        return ps("okta", "okta");
    }
    if s.contains("kubernetes") || s.starts_with("k8s") {
        return if s.contains("audit") { ps("kubernetes", "audit") } else { p("kubernetes") };
    }
    if matches!(s.as_str(), "o365" | "m365" | "office365" | "m365-audit") {
        return p("m365");
    }
    if s.contains("auditd") {
        return ps("linux", "auditd");
    }
    if s == "linux-auth" {
        return ps("linux", "auth");
    }
    let cleaned: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    p(if cleaned.is_empty() { "unknown" } else { &cleaned })
}

/// What a field tells about the event; the first field's group names the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Process,
    Target,
    Actor,
    Host,
    Api,
    Client,
}

impl Group {
    fn as_str(self) -> &'static str {
        match self {
            Group::Process => "process",
            Group::Target => "target",
            Group::Actor => "actor",
            Group::Host => "host",
            Group::Api => "api_call",
            Group::Client => "client",
        }
    }
}

/// Field paths (compared case-insensitively) whose values identify an event's pattern, the
/// most telling first. A dotted entry also matches at the end of a longer path (Falco's
/// `output_fields.proc.cmdline`). Anything not listed (ids, times, counts, free text, IP
/// addresses that change with DHCP or NAT) is never used.
const IDENTIFYING: &[(&str, Group)] = &[
    // What ran.
    ("Image", Group::Process),
    ("SourceImage", Group::Process),
    ("NewProcessName", Group::Process),
    ("process.exe", Group::Process),
    ("process.executable", Group::Process),
    ("process.file.path", Group::Process),
    ("proc.exepath", Group::Process),
    ("proc.name", Group::Process),
    ("exe", Group::Process),
    ("comm", Group::Process),
    ("program", Group::Process),
    ("ImageFileName", Group::Process),
    ("FileName", Group::Process),
    ("OriginalFileName", Group::Process),
    // Its parent.
    ("ParentImage", Group::Process),
    ("ParentProcessName", Group::Process),
    ("ParentImageFileName", Group::Process),
    ("InitiatingProcessFileName", Group::Process),
    ("process.parent", Group::Process),
    ("process.parent.executable", Group::Process),
    ("process.parent_process.file.path", Group::Process),
    ("proc.pname", Group::Process),
    // How.
    ("CommandLine", Group::Process),
    ("ProcessCommandLine", Group::Process),
    ("process.cmdline", Group::Process),
    ("process.command_line", Group::Process),
    ("process.cmd_line", Group::Process),
    ("proc.cmdline", Group::Process),
    ("proctitle", Group::Process),
    ("InitiatingProcessCommandLine", Group::Process),
    ("ParentCommandLine", Group::Process),
    // On what.
    ("TargetImage", Group::Target),
    ("ImageLoaded", Group::Target),
    ("TargetObject", Group::Target),
    ("GrantedAccess", Group::Target),
    ("QueryName", Group::Target),
    ("DestinationHostname", Group::Target),
    ("ServiceName", Group::Target),
    ("TaskName", Group::Target),
    ("server_name", Group::Target),
    ("query", Group::Target),
    ("File", Group::Target),
    ("path", Group::Target),
    ("app_name", Group::Target),
    ("app", Group::Target),
    ("package", Group::Target),
    ("recipient", Group::Target),
    // Who.
    ("User", Group::Actor),
    ("SourceUser", Group::Actor),
    ("SubjectUserName", Group::Actor),
    ("TargetUserName", Group::Actor),
    ("AccountName", Group::Actor),
    ("SourceAccount", Group::Actor),
    ("UserName", Group::Actor),
    ("user", Group::Actor),
    ("user.name", Group::Actor),
    ("user.username", Group::Actor),
    ("proc.user", Group::Actor),
    ("process.user", Group::Actor),
    ("actor.user.name", Group::Actor),
    ("userPrincipalName", Group::Actor),
    ("UserId", Group::Actor),
    ("sender", Group::Actor),
    ("userIdentity.arn", Group::Actor),
    ("userIdentity.sessionContext.sessionIssuer.arn", Group::Actor),
    ("userIdentity.userName", Group::Actor),
    ("userIdentity.invokedBy", Group::Actor),
    ("serviceAccount", Group::Actor),
    ("protoPayload.authenticationInfo.principalEmail", Group::Actor),
    ("initiatedBy.user.userPrincipalName", Group::Actor),
    ("actor", Group::Actor),
    ("actor.alternateId", Group::Actor),
    ("actor.email", Group::Actor),
    ("actor.login", Group::Actor),
    ("actor.user.email", Group::Actor),
    // Where.
    ("Computer", Group::Host),
    ("ComputerName", Group::Host),
    ("WorkstationName", Group::Host),
    ("SourceComputer", Group::Host),
    ("Hostname", Group::Host),
    ("host", Group::Host),
    ("hostname", Group::Host),
    ("host.name", Group::Host),
    ("device.hostname", Group::Host),
    ("DeviceName", Group::Host),
    ("container.image.repository", Group::Host),
    ("k8s.ns.name", Group::Host),
    ("repo", Group::Host),
    ("repository", Group::Host),
    ("repository.full_name", Group::Host),
    ("org", Group::Host),
    // Which API.
    ("eventSource", Group::Api),
    ("eventName", Group::Api),
    ("eventType", Group::Api),
    ("event", Group::Api),
    ("rule", Group::Api),
    ("RuleID", Group::Api),
    ("secret_type", Group::Api),
    ("activity", Group::Api),
    ("action", Group::Api),
    ("verb", Group::Api),
    ("objectRef.resource", Group::Api),
    ("objectRef.namespace", Group::Api),
    ("protoPayload.serviceName", Group::Api),
    ("protoPayload.methodName", Group::Api),
    ("methodName", Group::Api),
    ("operationName", Group::Api),
    ("Operation", Group::Api),
    ("activityDisplayName", Group::Api),
    ("api.service.name", Group::Api),
    ("api.operation", Group::Api),
    // With which client.
    ("userAgent", Group::Client),
    ("user_agent", Group::Client),
    ("http_user_agent", Group::Client),
    ("ClientInfoString", Group::Client),
    ("client.userAgent.rawUserAgent", Group::Client),
];

#[derive(Debug, Clone)]
struct Chosen {
    path: String,
    value: String,
    group: Group,
}

/// The identifying fields of an event, as Sigma values, most telling first, at most [`MAX_FIELDS`].
fn identifying_fields(fields: &Value) -> Vec<Chosen> {
    let mut strings: Vec<(String, &str)> = Vec::new();
    collect_strings(fields, "", &mut strings);
    let mut out: Vec<Chosen> = Vec::new();
    for (wanted, group) in IDENTIFYING {
        if out.len() == MAX_FIELDS {
            break;
        }
        let suffix = format!(".{}", wanted.to_ascii_lowercase());
        let found = strings
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(wanted))
            .or_else(|| if wanted.contains('.') { strings.iter().find(|(p, _)| p.to_ascii_lowercase().ends_with(&suffix)) } else { None });
        let Some((path, raw)) = found else { continue };
        if out.iter().any(|c| c.path.eq_ignore_ascii_case(path)) {
            continue;
        }
        let last = path.rsplit('.').next().unwrap_or(path);
        if crate::alert::redact::is_secret_name(last) {
            continue;
        }
        if let Some(value) = stable_value(raw) {
            out.push(Chosen { path: path.clone(), value, group: *group });
        }
    }
    out
}

/// Every string reachable through objects (not arrays), with its dotted path.
fn collect_strings<'a>(v: &'a Value, prefix: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                collect_strings(child, &path, out);
            }
        }
        Value::String(s) if !prefix.is_empty() => out.push((prefix.to_string(), s)),
        _ => {}
    }
}

/// Parts of a value that differ between two otherwise identical events, and whether a
/// match must hold a digit to count (a run of hex letters alone is a word, not an id).
static VOLATILE: LazyLock<Vec<(Regex, bool)>> = LazyLock::new(|| {
    [
        // Redaction placeholders stand for a secret, which must not be matched on.
        (r"\[REDACTED[^\]]*\]", false),
        // GUIDs.
        (r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?", false),
        // Dates and timestamps.
        (r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?", false),
        // Hashes, nonces, hex ids.
        (r"\b[0-9A-Fa-f]{16,}\b", true),
        // The session name of an AWS assumed role (`…:assumed-role/<role>/<session>`): group 1.
        (r"(?i):assumed-role/[^/\s]+/([^\s]+)", false),
    ]
    .into_iter()
    .map(|(p, digit)| (re(p), digit))
    .collect()
});

static WHOLE_NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"^[+-]?\d+(?:\.\d+)?$"));

/// The fewest letters and digits a value with a wildcard must keep.
const MIN_STABLE_CHARS: usize = 6;

/// `raw` as a Sigma value: literal parts escaped, volatile parts `*`; `None` when too little
/// stable text is left to identify anything.
fn stable_value(raw: &str) -> Option<String> {
    // Kept untrimmed: Sigma compares whole values, and command lines often end in a space.
    if raw.trim().is_empty() || raw.chars().count() > MAX_VALUE_CHARS || WHOLE_NUMBER.is_match(raw.trim()) {
        return None;
    }
    // A line break can't sit in a single-quoted YAML scalar without being folded away.
    if raw.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (r, needs_digit) in VOLATILE.iter() {
        for caps in r.captures_iter(raw) {
            let Some(m) = caps.get(1).or_else(|| caps.get(0)) else { continue };
            if *needs_digit && !m.as_str().bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            spans.push((m.start(), m.end()));
        }
    }
    spans.sort_unstable();
    let mut out = String::new();
    let mut stable = 0;
    let mut at = 0;
    let mut wildcard_last = false;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        let lit = &raw[at..start.max(at)];
        if !lit.is_empty() {
            stable += lit.chars().filter(|c| c.is_alphanumeric()).count();
            out.push_str(&escape(lit));
            wildcard_last = false;
        }
        if !wildcard_last {
            out.push('*');
            wildcard_last = true;
        }
        at = end;
    }
    let lit = &raw[at..];
    stable += lit.chars().filter(|c| c.is_alphanumeric()).count();
    out.push_str(&escape(lit));
    let enough = if at > 0 { stable >= MIN_STABLE_CHARS } else { stable >= 1 };
    enough.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values_keep_identity_and_lose_what_changes() {
        assert_eq!(stable_value("C:\\Program Files\\x\\a.exe").as_deref(), Some("C:\\Program Files\\x\\a.exe"));
        assert_eq!(stable_value("run *.ps1 ?").as_deref(), Some("run \\*.ps1 \\?"));
        assert_eq!(
            stable_value("arn:aws:sts::111122223333:assumed-role/terraform-apply/atlantis-3084").as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/terraform-apply/*")
        );
        assert_eq!(
            stable_value("C:\\Windows\\Temp\\{4F1C2A3B-1111-2222-3333-444455556666}\\setup.exe /log C:\\logs\\2026-01-03T20:23:12Z.txt").as_deref(),
            // A backslash before a wildcard is doubled, as Sigma reads `\*` as a literal star.
            Some("C:\\Windows\\Temp\\\\*\\setup.exe /log C:\\logs\\\\*.txt")
        );
        assert_eq!(
            stable_value("curl -H 'Authorization: Bearer [REDACTED:http_auth#1]' https://api.internal/health").as_deref(),
            Some("curl -H 'Authorization: Bearer *' https://api.internal/health")
        );
        for gone in [
            "",
            "  ",
            "42",
            "3.14",
            "2026-01-03T20:23:12Z",
            "[REDACTED:github_token#1]",
            "{4F1C2A3B-1111-2222-3333-444455556666}",
            "d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert_eq!(stable_value(gone), None, "{gone}");
        }
        assert_eq!(stable_value(&"x".repeat(MAX_VALUE_CHARS + 1)), None);
        assert_eq!(stable_value("line one\nline two"), None);
        // Whole values are compared, so surrounding spaces stay.
        assert_eq!(stable_value("cmd.exe /c backup.cmd ").as_deref(), Some("cmd.exe /c backup.cmd "));
    }

    #[test]
    fn texts_stay_strings_for_yaml_1_1_readers() {
        for text in ["on", "yes", "No", "10:30", "0x1000", "~", "null", "it's", "- x", "#c", "*\\a.exe", "a: b"] {
            let yaml = format!("k: {}\n", quoted(text));
            let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(v.get("k").and_then(|x| x.as_str()), Some(text), "{yaml}");
        }
        assert_eq!(quoted("on"), "'on'");
        assert_eq!(name("userIdentity.arn"), "userIdentity.arn");
        assert_eq!(name("New City=NEGATIVE"), "'New City=NEGATIVE'");
        assert_eq!(name("on"), "'on'");
    }

    #[test]
    fn logsources() {
        let ls = |s: &str| logsource(s).into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        assert_eq!(ls("sysmon"), "product=windows,service=sysmon");
        assert_eq!(ls("sysmon-linux"), "product=linux,service=sysmon");
        assert_eq!(ls("aws-cloudtrail"), "product=aws,service=cloudtrail");
        assert_eq!(ls("cloudtrail"), "product=aws,service=cloudtrail");
        assert_eq!(ls("aws-guardduty"), "product=aws,service=guardduty");
        assert_eq!(ls("github-audit"), "product=github,service=audit");
        assert_eq!(ls("github"), "product=github");
        assert_eq!(ls("okta"), "product=okta,service=okta");
        assert_eq!(ls("kubernetes-audit"), "product=kubernetes,service=audit");
        assert_eq!(ls("k8s-audit"), "product=kubernetes,service=audit");
        assert_eq!(ls("windows-security"), "product=windows,service=security");
        assert_eq!(ls("falco"), "product=falco");
        assert_eq!(ls("My Source!"), "product=my_source_");
    }
}
