//! Whether an event is what its rule says it detects. A detection's alert carries the
//! rule's name and description beside the event the rule fired on. When the event's own
//! operation is not the one the rule names (a read where the rule is about a deletion, an
//! addition where it is about a removal, a different call altogether), when a rule about a
//! change fired on a read-only call, or when the attempt failed and the rule is not about
//! failures, the event is evidence against the rule's hypothesis, as an analyst reading it
//! would say: the detection matched something, but not what it was written for.
//!
//! The reading is lexical and general: the operation's words (`DeleteTrail`,
//! `Microsoft.Compute/virtualMachines/write`, `org.enable_two_factor_requirement`) against
//! the rule's words, through a small table of what kind of change a verb makes. An audit
//! record's parameters are read too: a rule that names a property ("Publicly Accessible",
//! "Host IPC") is contradicted by a request that sets that very property to false
//! (`publiclyAccessible: false`, `hostIPC: false`).

use serde::Serialize;

use super::event::{Attr, Event, EventKind};
use crate::alert::{Alert, AlertFormat};

/// What a verb does to its object. Rule names say it with participles and nouns
/// ("Deleted", "Deletion"), operations with imperatives ("Delete", "delete").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Delete,
    Disable,
    Create,
    Enable,
    Modify,
    Read,
    /// A sign-in, sign-out or session start: an access that changes nothing the rule could
    /// name. Read from operations only (`user_logout`, `ConsoleLogin`, `login.succeeded`).
    Session,
}

impl Change {
    /// Whether an operation of kind `op` cannot be what a rule about `self` describes.
    /// A deletion is a modification, so a rule about a change is not contradicted by one;
    /// a rule about a deletion is not contradicted by an update either (an update can
    /// remove a setting), but it is by a creation or a read. Something is often disabled
    /// by creating a setting (a registry value, a policy), so only enabling or reading
    /// contradicts a rule about disabling.
    fn excludes(self, op: Change) -> bool {
        use Change::*;
        if op == Session {
            return self != Session;
        }
        match self {
            Delete => matches!(op, Create | Enable | Read),
            Disable => matches!(op, Enable | Read),
            Create | Enable => matches!(op, Delete | Disable | Read),
            Modify => op == Read,
            Read => op != Read,
            Session => false,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Change::Delete => "a deletion",
            Change::Disable => "a disabling",
            Change::Create => "a creation",
            Change::Enable => "an enabling",
            Change::Modify => "a change",
            Change::Read => "a read",
            Change::Session => "a sign-in or sign-out",
        }
    }
}

/// Verbs and the change they make. Words that are often nouns in a rule's name ("Access",
/// "Set", "List", "New") are only read in operations.
const VERBS: [(Change, &str); 6] = [
    (
        Change::Delete,
        "delete deleted deletes deletion remove removed removes removal destroy destroyed drop dropped purge purged erase erased wipe wiped terminate terminated termination",
    ),
    (
        Change::Disable,
        "disable disabled disabling deactivate deactivated deactivation unenroll unenrolled stop stopped suspend suspended suspension revoke revoked revocation detach detached disassociate disassociated disassociation uninstall uninstalled unassign unassigned",
    ),
    // Azure's `…/write` is "create or update" a resource: never a deletion or a read.
    (
        Change::Create,
        "create created creates creation add added adds addition insert inserted invite invited install installed installation generate generated register registered registration provision provisioned write",
    ),
    (Change::Enable, "enable enabled activate activated activation enroll enrolled attach attached associate associated assign assigned grant granted"),
    (
        Change::Modify,
        "update updated updates modify modified modifies modification change changed changes edit edited put patch patched rename renamed transfer transferred replace replaced reset",
    ),
    (Change::Read, "get list listed describe read view viewed download downloaded search query lookup fetch accessed"),
];

/// Verbs that are usually nouns or adjectives in a rule's name ("Public Access", "New Device",
/// "Access List", "Search Path Interception"): read in operations only.
const OPERATION_ONLY: &str = "get list view read put set search query";

/// Words too common to tell one operation from another, including the words of generic
/// event categories (`USER_RESOURCE_UPDATE_CONTENT`, `PROCESS_LAUNCH`, `SETTING_CREATION`).
const STOP_WORDS: &str = "the and for from with via was were has have this that user users account accounts aws azure gcp microsoft google event events action api call activity audit resource resources content setting settings process launch network connection permission permissions generic status unspecified metadata object entity item data access";

/// Stop words that name an account: objects of an operation (`CreateUser`, `org.remove_member`)
/// when an operation is compared with its rule's words.
const ACCOUNT_WORDS: &str = "user users account accounts member members";

/// Values of an `action` or `EventType` field that are a verdict or a log level, not an
/// operation.
const NOT_OPERATIONS: &str = "allow allowed block blocked deny denied drop dropped pass accept reject alert success failure unknown none info information informational warning error notice audit_success audit_failure";

/// Rule wording that makes a failed or denied attempt what the rule is about.
const ABOUT_FAILURES: &str = "fail brute spray denied deny invalid unsuccessful lockout locked attempt guess reject block error unauthori forbidden";

/// Why the event reads against its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The operation makes a change of a kind the rule's name excludes.
    OppositeOperation,
    /// The rule is about a change; the call only read.
    ReadOnly,
    /// The rule names a change; the operation makes none of the kinds it names and shares no
    /// word with its name or description.
    OtherOperation,
    /// The attempt failed or was denied, and the rule is not about failures.
    Failed,
    /// The request sets the property the rule's name describes to false.
    PropertyOff,
}

impl Reason {
    /// Whether the reading rests on what the log source itself recorded about the event's
    /// kind of change, outcome or parameters (an operation of the opposite kind, a read-only
    /// flag, an error code, a property set to false), rather than only on the operation
    /// sharing no word with the rule. Only such a reading lets severity go a second level
    /// under the rule's (see `validate::severity_floor`).
    pub fn is_decisive(self) -> bool {
        !matches!(self, Reason::OtherOperation)
    }
}

/// An event that reads against its rule, with the value that says so.
#[derive(Debug, Clone, Serialize)]
pub struct Against {
    pub alert_id: String,
    pub reason: Reason,
    pub path: String,
    pub value: String,
    /// What the value does beside what the rule describes, in a few words.
    pub why: String,
}

impl Against {
    /// One line a reader can check.
    pub fn note(&self) -> String {
        format!("alert {}: {} = \"{}\" {}", self.alert_id, self.path, clip(&self.value, 80), self.why)
    }
}

/// Whether the event reads against what its rule says it detects, and why.
pub fn against_rule(e: &Event) -> Option<Against> {
    let against = |reason, o: &super::event::Observed, why: String| {
        Some(Against { alert_id: e.alert_id.clone(), reason, path: o.path.clone(), value: o.text.clone(), why })
    };
    let rule_changes = rule_changes(&e.rule_name);
    // A rule that names no change and has no description ("Windows Security event 4625")
    // says nothing an event could contradict.
    if rule_changes.is_empty() && e.rule_description.trim().is_empty() {
        return None;
    }
    // Operations are API calls and audit actions; an endpoint event's fields of that name
    // (`EventType`, `action`) are categories, not the operation a rule describes.
    let audit_record = matches!(e.kind, EventKind::CloudApi | EventKind::K8sAudit | EventKind::Auth | EventKind::Other);
    let operation = e.get(Attr::Operation).filter(|o| audit_record && !listed(NOT_OPERATIONS, &o.text.trim().to_ascii_lowercase()));
    if let Some(op) = operation {
        // A sign-in under a rule that speaks of sign-ins, sessions or MFA may be what it is
        // about ("Login from a Deactivated User"): only other rules are contradicted by one.
        let op_change = operation_change(&op.text).filter(|c| *c != Change::Session || !about_sessions(e));
        if let Some(c) = op_change
            && !rule_changes.is_empty()
            && rule_changes.iter().all(|r| r.excludes(c))
        {
            let named: Vec<&str> = rule_changes.iter().map(|r| r.describe()).collect();
            return against(Reason::OppositeOperation, op, format!("is {}, where the rule describes {}", c.describe(), named.join(" or ")));
        }
        if e.read_only && !rule_changes.is_empty() && rule_changes.iter().any(|r| *r != Change::Read) {
            return against(Reason::ReadOnly, op, "only read, and the rule is about a change".into());
        }
        // A different operation: one that makes no change the rule names and shares no word
        // with the rule (`user_channel_join` under "Slack App Added"). An operation of a kind the
        // rule names may be spelled its own way (`ci_config.changed` for "pipeline modified").
        if !rule_changes.is_empty() && op_change.is_none_or(|c| !rule_changes.contains(&c)) {
            // Accounts are what many audit operations act on (`CreateUser`): here they are an
            // object like any other, matched against the rule's own words.
            let kept = |w: &String| w.len() > 2 && (listed(ACCOUNT_WORDS, w) || !listed(STOP_WORDS, w));
            let op_words: Vec<String> = words(&op.text).into_iter().filter(kept).collect();
            let has_object = op_words.iter().any(|w| change_of(w).is_none());
            let rule_words: Vec<String> = words(&format!("{} {}", e.rule_name, e.rule_description)).into_iter().filter(kept).map(|w| stem(&w)).collect();
            if has_object && !op_words.iter().any(|w| shares_stem(&stem(w), &rule_words)) {
                return against(Reason::OtherOperation, op, "is another operation than the rule describes".into());
            }
        }
    }
    // A failure record by its event ID (a failed logon) is what a rule choosing it is about.
    let failure_by_id = e.get(Attr::EventId).is_some_and(|id| e.failed.as_ref().is_some_and(|f| f.path == id.path));
    if let Some(f) = e.failed.as_ref().filter(|_| !failure_by_id) {
        let text = format!("{} {}", e.rule_name, e.rule_description).to_ascii_lowercase();
        if !ABOUT_FAILURES.split_whitespace().any(|w| text.contains(w)) {
            return against(Reason::Failed, f, "says the attempt failed or was denied, and the rule is not about failures".into());
        }
    }
    None
}

/// [`against_rule`], and then whether the alert's own parameters set the property its rule
/// names to false.
pub fn against_alert(e: &Event, alert: &Alert) -> Option<Against> {
    against_rule(e).or_else(|| property_off(e, alert))
}

/// Each alert's reading against its rule where there is one, in the alerts' order, from the
/// alerts read as events (`events[i]` is `alerts[i]`): what an assessment keeps as `against`.
pub fn readings(events: &[Event], alerts: &[Alert]) -> Vec<Against> {
    events.iter().zip(alerts).filter_map(|(e, a)| against_alert(e, a)).collect()
}

/// Whether every alert's event reads against its rule for a decisive reason
/// ([`Reason::is_decisive`]), given the alerts' [`readings`] (an assessment's `against`).
/// Read from the alerts' own fields by this code, never from an engine's answer: the
/// validator uses it to let a contradicted alert go one more level under its rule's
/// severity without a person. Readings of other alerts, or too few, decide nothing.
pub fn decisively_against(alerts: &[Alert], readings: &[Against]) -> bool {
    !alerts.is_empty() && readings.len() == alerts.len() && alerts.iter().zip(readings).all(|(a, r)| r.alert_id == a.id && r.reason.is_decisive())
}

/// Rule wording that turns a property's meaning around ("Logging Disabled", "Login Without
/// MFA"): a property set to false may then be what the rule is about.
const NEGATIONS: &str = "without not non disable disabled disabling deactivate deactivated remove removed removal delete deleted deletion missing lack lacking unset stop stopped revoke revoked off";

/// A request parameter whose name is the property the rule's name describes, set to false:
/// `publiclyAccessible: false` under "RDS Instance Modified to be Publicly Accessible",
/// `hostIPC: false` under "Pod Using Host IPC Namespace". The parameter's name must have at
/// least two words and every one of them must be in the rule's name, so a generic flag
/// (`enabled`, `success`) or a property of something else never counts; a value of true
/// for the same name elsewhere in the event (a pending change) makes it ambiguous.
fn property_off(e: &Event, alert: &Alert) -> Option<Against> {
    if !matches!(e.kind, EventKind::CloudApi | EventKind::K8sAudit | EventKind::Auth | EventKind::Other) {
        return None;
    }
    let name_words = words(&e.rule_name);
    if name_words.iter().any(|w| listed(NEGATIONS, w)) {
        return None;
    }
    let rule_stems: Vec<String> = name_words.iter().filter(|w| w.len() > 2).map(|w| stem(w)).collect();
    let mut off: Option<(String, String)> = None;
    let mut on: Vec<String> = Vec::new();
    crate::jsonpath::for_each_scalar(&alert.fields, "", &mut |path, text| {
        let value = text.trim().to_ascii_lowercase();
        if value != "false" && value != "true" {
            return;
        }
        let leaf = path.rsplit(['.', '[']).next().unwrap_or(path).trim_matches(['"', ']']).to_string();
        let key_words: Vec<String> = words(&leaf).into_iter().filter(|w| w.len() > 2).collect();
        if key_words.len() < 2 || !key_words.iter().all(|w| shares_stem(&stem(w), &rule_stems)) {
            return;
        }
        if value == "true" {
            on.push(leaf.to_ascii_lowercase());
        } else if off.is_none() {
            off = Some((path.to_string(), leaf.to_ascii_lowercase()));
        }
    });
    let (path, leaf) = off?;
    if on.contains(&leaf) {
        return None;
    }
    let prefix = if alert.format == AlertFormat::Native { "fields." } else { "" };
    Some(Against {
        alert_id: e.alert_id.clone(),
        reason: Reason::PropertyOff,
        path: format!("{prefix}{path}"),
        value: "false".into(),
        why: "sets the property the rule names to false".into(),
    })
}

fn change_of(word: &str) -> Option<Change> {
    VERBS.iter().find(|(_, ws)| listed(ws, word)).map(|(c, _)| *c)
}

/// Whether a word is one of a space-separated list.
fn listed(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// The changes a rule's name says it is about, read from its plain words: a word inside an
/// API name the rule quotes (`serviceAccounts.getAccessToken`) names a call, not the change.
fn rule_changes(name: &str) -> Vec<Change> {
    let mut out = Vec::new();
    for token in name.split_whitespace() {
        let identifier =
            token.contains(['.', '_', '/', ':']) || token.chars().skip(1).any(|c| c.is_ascii_uppercase()) && token.chars().any(|c| c.is_ascii_lowercase());
        if identifier {
            continue;
        }
        for w in words(token) {
            if listed(OPERATION_ONLY, &w) {
                continue;
            }
            if let Some(c) = change_of(&w)
                && !out.contains(&c)
            {
                out.push(c);
            }
        }
    }
    out
}

/// The change an operation makes: the first verb of its last segment (`…/virtualNetworks/write`,
/// `org.enable_two_factor_requirement`, `DeleteTrail`, `Delete conditional access policy`);
/// without one, a sign-in or sign-out anywhere in its words (`user_logout`, `SIGN_IN`,
/// `login.succeeded`, `user.session.start`, `policy.evaluate_sign_on`).
fn operation_change(op: &str) -> Option<Change> {
    let trimmed = op.trim().trim_end_matches(['.', '/']);
    let last = trimmed.rsplit(['/', '.']).next().unwrap_or(trimmed);
    words(last).iter().find_map(|w| change_of(w)).or_else(|| is_session(&words(trimmed)).then_some(Change::Session))
}

/// Words of signing in or out, of a session's start or end, of authenticating.
const SESSION_WORDS: &str = "login logins logon logout logoff signin signon signout sso authentication authenticate authenticated";

fn is_session(ws: &[String]) -> bool {
    ws.iter().any(|w| listed(SESSION_WORDS, w))
        || ws.windows(2).any(|p| {
            matches!((p[0].as_str(), p[1].as_str()), ("sign" | "log", "in" | "on" | "out" | "off") | ("session", "start" | "started" | "end" | "ended"))
        })
}

/// Whether the rule's name or description speaks of sign-ins, sessions or second factors.
fn about_sessions(e: &Event) -> bool {
    let ws = words(&format!("{} {}", e.rule_name, e.rule_description));
    is_session(&ws) || ws.iter().any(|w| matches!(w.as_str(), "logged" | "session" | "sessions" | "mfa" | "2fa" | "auth" | "saml"))
}

/// Lower-cased words, camel case split: `DeleteDBInstance` → `delete`, `db`, `instance`.
pub(crate) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = chunk.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (p, c) = (chars[i - 1], chars[i]);
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if (p.is_ascii_lowercase() || p.is_ascii_digit()) && c.is_ascii_uppercase() || p.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower {
                out.push(chars[start..i].iter().collect::<String>().to_ascii_lowercase());
                start = i;
            }
        }
        if start < chars.len() {
            out.push(chars[start..].iter().collect::<String>().to_ascii_lowercase());
        }
    }
    out
}

/// A crude stem: `deletion`, `deleted`, `deletes` → `delet`.
fn stem(w: &str) -> String {
    for suffix in ["ation", "ion", "ing", "ed", "es", "s", "e"] {
        if let Some(s) = w.strip_suffix(suffix)
            && s.len() >= 3
        {
            return s.to_string();
        }
    }
    w.to_string()
}

/// Whether a stem is one of the words, or one begins the other (`repo`, `repository`).
fn shares_stem(s: &str, words: &[String]) -> bool {
    words.iter().any(|w| w == s || s.len() >= 4 && w.len() >= 4 && (w.starts_with(s) || s.starts_with(w.as_str())))
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { s.chars().take(max).collect::<String>() + "…" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use serde_json::json;

    fn event(name: &str, description: &str, fields: serde_json::Value) -> Event {
        let a = Alert::parse(
            0,
            &json!({"id": "a1", "source": "aws-cloudtrail", "time": "2026-01-01T00:00:00Z", "rule": {"name": name, "description": description, "severity": "high"}, "fields": fields}),
        )
        .unwrap();
        Event::of(&a)
    }

    #[test]
    fn a_read_or_an_opposite_change_reads_against_a_rule_about_a_deletion() {
        let list = event("Logging Configuration Deleted", "", json!({"eventSource": "bedrock.amazonaws.com", "eventName": "ListGuardrails", "readOnly": true}));
        assert_eq!(against_rule(&list).unwrap().reason, Reason::OppositeOperation);
        let write = event("Azure Virtual Network Deleted", "", json!({"operationName": "Microsoft.Network/virtualNetworks/write"}));
        assert_eq!(against_rule(&write).unwrap().reason, Reason::OppositeOperation);
        let enable = event("MFA Disabled", "", json!({"action": "org.enable_two_factor_requirement"}));
        assert_eq!(against_rule(&enable).unwrap().path, "fields.action");
    }

    #[test]
    fn the_operation_the_rule_describes_is_consistent() {
        let delete = event(
            "Logging Configuration Deleted",
            "",
            json!({"eventSource": "bedrock.amazonaws.com", "eventName": "DeleteModelInvocationLoggingConfiguration"}),
        );
        assert!(against_rule(&delete).is_none());
        // A deletion is a change; an update can disable a setting.
        let change = event("Azure Policy Changed", "", json!({"operationName": "Delete conditional access policy"}));
        assert!(against_rule(&change).is_none());
        let put = event("S3 Bucket Logging Disabled", "", json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketLogging"}));
        assert!(against_rule(&put).is_none());
        // A rule without a verb in its name is not judged on the operation's words.
        let root = event("Root Account Activity", "", json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning"}));
        assert!(against_rule(&root).is_none());
    }

    #[test]
    fn another_operation_and_a_failure_read_against_the_rule_unless_it_is_about_failures() {
        let other = event("Slack App Added", "An app was installed in the workspace.", json!({"action": "user_channel_join"}));
        assert_eq!(against_rule(&other).unwrap().reason, Reason::OtherOperation);
        let denied =
            event("AWS RDS Instance Deleted", "", json!({"eventSource": "rds.amazonaws.com", "eventName": "DeleteDBInstance", "errorCode": "AccessDenied"}));
        assert_eq!(against_rule(&denied).unwrap().reason, Reason::Failed);
        let spray =
            event("Password Spray", "Many failed logins from one address", json!({"eventType": "user.session.start", "outcome": {"result": "FAILURE"}}));
        assert!(against_rule(&spray).is_none());
    }

    fn alert(name: &str, fields: serde_json::Value) -> Alert {
        Alert::parse(
            0,
            &json!({"id": "a1", "source": "aws-cloudtrail", "time": "2026-01-01T00:00:00Z", "rule": {"name": name, "severity": "critical"}, "fields": fields}),
        )
        .unwrap()
    }

    fn read(a: &Alert) -> Option<Against> {
        against_alert(&Event::of(a), a)
    }

    fn readings_of(alerts: &[Alert]) -> Vec<Against> {
        readings(&alerts.iter().map(Event::of).collect::<Vec<_>>(), alerts)
    }

    fn decisive(alerts: &[Alert]) -> bool {
        decisively_against(alerts, &readings_of(alerts))
    }

    #[test]
    fn a_request_setting_the_named_property_to_false_reads_against_the_rule() {
        let rds = |public: bool| {
            alert(
                "AWS RDS Instance Modified to be Publicly Accessible",
                json!({"eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance", "requestParameters": {"dBInstanceIdentifier": "db1", "publiclyAccessible": public}}),
            )
        };
        let off = read(&rds(false)).unwrap();
        assert_eq!((off.reason, off.path.as_str()), (Reason::PropertyOff, "fields.requestParameters.publiclyAccessible"));
        assert!(decisive(&[rds(false)]));
        assert!(read(&rds(true)).is_none());
        // A pending change to true elsewhere in the record makes it ambiguous.
        let pending = alert(
            "RDS Instance Publicly Accessible",
            json!({"eventName": "ModifyDBInstance", "requestParameters": {"publiclyAccessible": false}, "responseElements": {"pendingModifiedValues": {"publiclyAccessible": true}}}),
        );
        assert!(read(&pending).is_none());
        let pod = alert(
            "Kubernetes Pod Using Host IPC Namespace",
            json!({"verb": "create", "objectRef": {"resource": "pods"}, "requestObject": {"spec": {"hostIPC": false}}}),
        );
        assert_eq!(read(&pod).unwrap().reason, Reason::PropertyOff);
    }

    #[test]
    fn generic_flags_and_negated_rules_are_not_read_as_the_named_property() {
        // One-word flags and properties of something else say nothing about the rule.
        let flag =
            alert("EC2 Instance Monitoring Enabled", json!({"eventName": "MonitorInstances", "enclaveOptions": {"enabled": false}, "ebsOptimized": false}));
        assert!(read(&flag).is_none());
        // Under a negated rule a property set to false may be what it is about.
        let without = alert("Console Login Without MFA Authenticated", json!({"eventName": "ConsoleLogin", "mfaAuthenticated": false}));
        assert!(read(&without).is_none());
        // Endpoint telemetry is not an audit record of a request.
        let process = alert(
            "Publicly Accessible Share Created",
            json!({"Image": "C:\\Windows\\System32\\net.exe", "CommandLine": "net share", "publiclyAccessible": false}),
        );
        assert!(read(&process).is_none());
    }

    #[test]
    fn only_readings_of_the_event_itself_are_decisive() {
        let other = alert("Slack App Added", json!({"action": "user_channel_join"}));
        assert_eq!(read(&other).unwrap().reason, Reason::OtherOperation);
        assert!(!decisive(std::slice::from_ref(&other)));
        let read_call = alert("WAF Web ACL Disassociated", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "ListWebACLs", "readOnly": true}));
        assert!(decisive(std::slice::from_ref(&read_call)));
        // Every alert of the request must read against its rule.
        let real = alert("WAF Web ACL Disassociated", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "DisassociateWebACL"}));
        // Readings of other alerts decide nothing, even one each with the same count.
        let mut renamed = real.clone();
        renamed.id = "a2".into();
        assert!(!decisively_against(std::slice::from_ref(&renamed), &readings_of(std::slice::from_ref(&read_call))));
        assert!(!decisive(&[read_call, real]));
        assert!(!decisive(&[]));
    }

    #[test]
    fn a_sign_in_or_out_reads_against_a_rule_about_a_change_unless_the_rule_is_about_sign_ins() {
        let logout = event("Slack App Added", "An app was installed in the workspace.", json!({"action": "user_logout"}));
        let x = against_rule(&logout).unwrap();
        assert_eq!(x.reason, Reason::OppositeOperation);
        assert!(x.reason.is_decisive());
        let login = event("OpenAI IP Allowlist Configuration Changes", "", json!({"type": "login.succeeded"}));
        assert_eq!(against_rule(&login).unwrap().reason, Reason::OppositeOperation);
        let sign_in = event("Logs Downloaded", "", json!({"event": {"action": "SIGN_IN"}}));
        assert_eq!(against_rule(&sign_in).unwrap().reason, Reason::OppositeOperation);
        // A rule about sign-ins is not contradicted by one.
        let deactivated = event("Login from a Deactivated User", "", json!({"eventType": "user.session.start"}));
        assert!(against_rule(&deactivated).is_none());
        assert_eq!(operation_change("policy.evaluate_sign_on"), Some(Change::Session));
        assert_eq!(operation_change("ConsoleLogin"), Some(Change::Session));
        assert_eq!(operation_change("user.session.impersonation.grant"), Some(Change::Enable));
        assert_eq!(operation_change("PasswordUpdated"), Some(Change::Modify));
    }

    #[test]
    fn an_operation_on_accounts_is_another_operation_under_a_rule_about_something_else() {
        let other =
            event("Data Classifier Updated Or Deleted", "This rule detects updates and deletions of data classifiers.", json!({"action": "CreateUser"}));
        assert_eq!(against_rule(&other).unwrap().reason, Reason::OtherOperation);
        let same = event("User Created Or Deleted", "This rule detects creations and deletions of users.", json!({"action": "CreateUser"}));
        assert!(against_rule(&same).is_none());
    }

    #[test]
    fn words_split_camel_case_and_paths() {
        assert_eq!(words("DeleteDBInstance"), ["delete", "db", "instance"]);
        assert_eq!(words("Microsoft.Compute/disks/read"), ["microsoft", "compute", "disks", "read"]);
        assert_eq!(operation_change("Update user."), Some(Change::Modify));
        assert_eq!(rule_changes("GCP IAM serviceAccounts getAccessToken Privilege Escalation"), []);
    }
}
