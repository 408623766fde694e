//! A case as a graph of what its alerts name (contract section 10,
//! `GET /v1/cases/{id}/graph`): one node per entity however many alerts name it, one edge
//! per (from, to, relation), each listing the alerts that drew it. A pure function of the
//! alerts; the caller supplies secret fingerprints and inventory context.
//!
//! Entities come from the alert's `entities` and from its `fields` (read through
//! [`Event`] where it already knows the field names: image, parent, file path, cloud
//! event source, Kubernetes resource). What is drawn, per alert:
//!
//! - `rule:<rule id, else name>` **fired_on** `alert:<id>`: the rule fired, raising the alert.
//! - `alert:<id>` **fired_on** every user, host, service account, token, cloud account,
//!   repository and IP it names (the kinds cases correlate on), and on any other node it
//!   names that none of its other edges reaches, so no node floats free.
//! - On an endpoint: `user` **acted_on** `host`; `host` **ran** `process` and `user`
//!   **ran** `process`; `process:<parent image>` **parent_of** `process:<image>`. The
//!   process (else the host, else the user) **connected_to** the destination IPs, domains
//!   and URLs and **accessed** the files. An IP in `entities` whose direction the fields
//!   don't tell is the host's peer: `host` **connected_to** `ip`.
//! - On a control plane (cloud, SaaS, Kubernetes, and logons): a chain from where a request
//!   came from to what it reached, source `ip` → `token` → `user` → `service_account` →
//!   targets (`cloud_account`, `repository`, `service`), each present layer linked to the
//!   next present one, the relation named by the layer reached: **used** a token,
//!   **authenticated_as** a user or service account, **accessed** a target. So `ip used
//!   token`, `token authenticated_as user`, `user accessed repository`; with no token,
//!   `ip authenticated_as user`; with no principal either, `ip accessed cloud_account`.
//!
//! Ids are `<kind>:<value>`, hosts and domains lower-cased (labels keep the sender's
//! spelling). Processes are their image path, never the command line. No id or label
//! carries a redaction placeholder (`[REDACTED:github_token#1]`): a placeholder becomes its
//! fingerprint when the caller knows it, else the value is left out; so is a token the
//! sender masked (`***`, `ghp_…(redacted)`). Values are bounded:
//! labels to [`MAX_LABEL_CHARS`], ids to about as much (a longer value keeps its start and
//! a hash of the whole, so two long values never merge), and each kind to
//! [`MAX_PER_KIND`] values per alert. Nodes are sorted by id, edges by (from, to, relation).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::knowledge::event::{Attr, Event, EventKind};

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// The most values of one kind drawn from one alert; the rest are left out.
pub const MAX_PER_KIND: usize = 32;

/// What a node stands for (contract section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    User,
    Host,
    Process,
    Ip,
    CloudAccount,
    ServiceAccount,
    Token,
    Repository,
    Service,
    Vulnerability,
    Rule,
    Alert,
    File,
    Url,
    Domain,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::User => "user",
            NodeKind::Host => "host",
            NodeKind::Process => "process",
            NodeKind::Ip => "ip",
            NodeKind::CloudAccount => "cloud_account",
            NodeKind::ServiceAccount => "service_account",
            NodeKind::Token => "token",
            NodeKind::Repository => "repository",
            NodeKind::Service => "service",
            NodeKind::Vulnerability => "vulnerability",
            NodeKind::Rule => "rule",
            NodeKind::Alert => "alert",
            NodeKind::File => "file",
            NodeKind::Url => "url",
            NodeKind::Domain => "domain",
        }
    }
}

/// How an edge's `from` relates to its `to` (contract section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    ActedOn,
    Ran,
    ParentOf,
    ConnectedTo,
    AuthenticatedAs,
    Used,
    Accessed,
    FiredOn,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::ActedOn => "acted_on",
            Relation::Ran => "ran",
            Relation::ParentOf => "parent_of",
            Relation::ConnectedTo => "connected_to",
            Relation::AuthenticatedAs => "authenticated_as",
            Relation::Used => "used",
            Relation::Accessed => "accessed",
            Relation::FiredOn => "fired_on",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `<kind>:<value>`.
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    /// Ids of the alerts that name it, sorted.
    pub alerts: Vec<String>,
    /// What the caller knows of it (inventory criticality, owner…); empty otherwise.
    pub context: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub relation: Relation,
    /// Ids of the alerts that draw it, sorted.
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.id.as_str().cmp(id)).ok().map(|i| &self.nodes[i])
    }

    pub fn edge(&self, from: &str, relation: Relation, to: &str) -> Option<&Edge> {
        self.edges.iter().find(|e| e.from == from && e.to == to && e.relation == relation)
    }
}

/// The graph of `alerts`. `fingerprint_of` turns a redaction placeholder into the `fp_…`
/// fingerprint of its secret when the caller knows it (the request's
/// [`Redactor::fingerprint_of`](crate::alert::Redactor::fingerprint_of)); `context` gives
/// a node's context by node id (inventory facts), `None` for none.
pub fn build(alerts: &[Alert], fingerprint_of: &dyn Fn(&str) -> Option<String>, context: &dyn Fn(&str) -> Option<Map<String, Value>>) -> Graph {
    let mut builder = Builder { fingerprint_of, nodes: BTreeMap::new(), edges: BTreeMap::new() };
    for alert in alerts {
        builder.add(alert);
    }
    let nodes = builder
        .nodes
        .into_iter()
        .map(|(id, n)| Node { context: context(&id).unwrap_or_default(), id, kind: n.kind, label: n.label, alerts: n.alerts.into_iter().collect() })
        .collect();
    let edges =
        builder.edges.into_iter().map(|((from, to, _), (relation, alerts))| Edge { from, to, relation, alerts: alerts.into_iter().collect() }).collect();
    Graph { nodes, edges }
}

// Where senders put what the entities don't say. A dotted name is a whole path, a plain
// name a last path segment anywhere (as in `knowledge::event`), both case-blind; the first
// name of a group that the fields carry is the one read.

/// Sysmon and Windows, ECS, Defender.
const HOSTS: &[&str] = &["Computer", "ComputerName", "DeviceName", "host.hostname", "host.name"];
/// Sysmon and Windows logons, ECS; CloudTrail; Okta; GitHub audit; Kubernetes audit.
const USERS: &[&[&str]] =
    &[&["User", "TargetUserName", "user.name"], &["userIdentity.arn", "userIdentity.userName"], &["actor.alternateId"], &["actor"], &["user.username"]];
/// Where a request came from: CloudTrail, Okta, GitHub, Kubernetes, Windows logons, Azure,
/// OCSF, ECS.
const ORIGINS: &[&str] = &["sourceIPAddress", "client.ipAddress", "actor_ip", "sourceIPs", "IpAddress", "callerIpAddress", "src_endpoint.ip", "source.ip"];
/// Where a connection went: Sysmon, OCSF, ECS.
const DESTINATIONS: &[&str] = &["DestinationIp", "dst_endpoint.ip", "destination.ip", "dest_ip"];
const DOMAINS: &[&str] = &["QueryName", "DestinationHostname", "dns.question.name", "query.hostname"];
const URLS: &[&str] = &["url.full", "url.original", "url"];
const TOKENS: &[&str] = &["userIdentity.accessKeyId"];
const CLOUD_ACCOUNTS: &[&[&str]] = &[&["recipientAccountId"], &["userIdentity.accountId"]];
const REPOSITORIES: &[&str] = &["repo", "repository.full_name", "repository"];
const VULNERABILITIES: &[&str] = &["vulnerabilities.cve.uid", "cve.id"];
/// OCSF process attributes, read before [`Event`]'s names (which find only `process.name`).
const OCSF_IMAGE: &str = "process.file.path";
const OCSF_PARENT_IMAGE: &str = "process.parent_process.file.path";
/// Kubernetes usernames of service accounts.
const K8S_SERVICE_ACCOUNT: &str = "system:serviceaccount:";

struct Pending {
    kind: NodeKind,
    label: String,
    alerts: BTreeSet<String>,
}

type EdgeKey = (String, String, &'static str);

struct Builder<'a> {
    fingerprint_of: &'a dyn Fn(&str) -> Option<String>,
    nodes: BTreeMap<String, Pending>,
    edges: BTreeMap<EdgeKey, (Relation, BTreeSet<String>)>,
}

impl Builder<'_> {
    fn add(&mut self, alert: &Alert) {
        let a = alert.id.as_str();
        let Some(alert_node) = self.node(NodeKind::Alert, a, a) else { return };
        let event = Event::of(alert);
        let fields = Fields::of(&alert.fields);
        let e = &alert.entities;
        let other = |kind: NodeKind| e.other.iter().filter(move |(k, _)| other_kind(k) == Some(kind)).map(|(_, v)| v.as_str());

        let hosts = self.many(NodeKind::Host, e.hosts.iter().map(String::as_str).chain(fields.first(HOSTS)), a);
        let (accounts, people): (Vec<&str>, Vec<&str>) = e
            .users
            .iter()
            .map(String::as_str)
            .chain(USERS.iter().flat_map(|group| fields.first(group)))
            .partition(|u| u.trim().to_ascii_lowercase().starts_with(K8S_SERVICE_ACCOUNT));
        let users = self.many(NodeKind::User, people, a);
        let service_accounts = self.many(NodeKind::ServiceAccount, e.service_accounts.iter().map(String::as_str).chain(accounts), a);
        let tokens = self.many(NodeKind::Token, e.tokens.iter().map(String::as_str).chain(fields.first(TOKENS)), a);
        let mut targets =
            self.many(NodeKind::CloudAccount, e.cloud_accounts.iter().map(String::as_str).chain(CLOUD_ACCOUNTS.iter().flat_map(|g| fields.first(g))), a);
        targets.extend(self.many(NodeKind::Repository, e.repositories.iter().map(String::as_str).chain(fields.first(REPOSITORIES)), a));
        let k8s_object = (event.kind == EventKind::K8sAudit).then(|| k8s_object(&fields)).flatten();
        let event_source = event.get(Attr::EventSource).map(|o| o.text.as_str());
        let services = self.many(NodeKind::Service, event_source.into_iter().chain(k8s_object.as_deref()).chain(other(NodeKind::Service)), a);
        targets.extend(services.iter().cloned());

        // Addresses: where a request came from, where a connection went, and the entity
        // IPs the fields don't place.
        let is_ip = |v: &&str| v.trim().parse::<IpAddr>().is_ok();
        let mut origins = self.many(NodeKind::Ip, fields.first(ORIGINS).into_iter().filter(is_ip), a);
        let inbound = fields.first(&["Initiated"]).first().is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        let destinations = if inbound { fields.first(&["SourceIp"]) } else { fields.first(DESTINATIONS) };
        let remotes = without(self.many(NodeKind::Ip, destinations.into_iter().filter(is_ip), a), &origins);
        let unplaced = without(without(self.many(NodeKind::Ip, e.ips.iter().map(String::as_str), a), &origins), &remotes);
        let peers = if hosts.is_empty() {
            origins.extend(unplaced);
            Vec::new()
        } else {
            unplaced
        };

        let image_text = fields.first(&[OCSF_IMAGE]).into_iter().next().or_else(|| event.get(Attr::Image).map(|o| o.text.as_str()));
        let parent_text = fields.first(&[OCSF_PARENT_IMAGE]).into_iter().next().or_else(|| event.get(Attr::ParentImage).map(|o| o.text.as_str()));
        let image = image_text.and_then(|t| self.node(NodeKind::Process, t, a));
        let parent = parent_text.and_then(|t| self.node(NodeKind::Process, t, a)).filter(|p| Some(p) != image.as_ref());
        let mut processes: Vec<String> = image.iter().cloned().collect();
        processes.extend(without(self.many(NodeKind::Process, other(NodeKind::Process), a), &processes));
        // OCSF lists the process's own image (path and name) among the files; it is drawn
        // as the process.
        let images: Vec<String> = [image_text, parent_text]
            .into_iter()
            .flatten()
            .flat_map(|t| {
                let path = t.trim().to_lowercase();
                let name = path.rsplit(['\\', '/']).next().unwrap_or_default().to_string();
                [path, name]
            })
            .collect();
        let file_path = event.get(Attr::FilePath).map(|o| o.text.as_str());
        let file_values = file_path.into_iter().chain(e.files.iter().map(String::as_str)).filter(|f| !images.contains(&f.trim().to_lowercase()));
        let files = self.many(NodeKind::File, file_values, a);
        let domains = self.many(NodeKind::Domain, fields.first(DOMAINS).into_iter().chain(other(NodeKind::Domain)), a);
        let urls = self.many(NodeKind::Url, e.urls.iter().map(String::as_str).chain(fields.first(URLS).into_iter().filter(|u| u.contains("://"))), a);
        let vulnerabilities = self.many(NodeKind::Vulnerability, fields.first(VULNERABILITIES).into_iter().chain(other(NodeKind::Vulnerability)), a);

        let mut edges: Vec<(String, Relation, String)> = Vec::new();

        // The endpoint: who acted on which host, what ran, what it reached.
        link(&mut edges, &users, Relation::ActedOn, &hosts);
        link(&mut edges, &hosts, Relation::Ran, &processes);
        link(&mut edges, &users, Relation::Ran, &processes);
        if let (Some(parent), Some(image)) = (&parent, &image) {
            link(&mut edges, std::slice::from_ref(parent), Relation::ParentOf, std::slice::from_ref(image));
        }
        let actor: &[String] = match &image {
            Some(image) => std::slice::from_ref(image),
            None if !hosts.is_empty() => &hosts,
            None => &users,
        };
        for reached in [&remotes, &domains, &urls] {
            link(&mut edges, actor, Relation::ConnectedTo, reached);
        }
        link(&mut edges, actor, Relation::Accessed, &files);
        link(&mut edges, &hosts, Relation::ConnectedTo, &peers);

        // The control plane: source → token → user → service account → target, each
        // present layer linked to the next present one.
        let mut previous: &[String] = &origins;
        for (layer, relation) in
            [(&tokens, Relation::Used), (&users, Relation::AuthenticatedAs), (&service_accounts, Relation::AuthenticatedAs), (&targets, Relation::Accessed)]
        {
            if layer.is_empty() {
                continue;
            }
            link(&mut edges, previous, relation, layer);
            previous = layer;
        }

        // The alert, on what it correlates by and on whatever nothing else reaches.
        let alert_only = std::slice::from_ref(&alert_node);
        for pivots in [&hosts, &users, &service_accounts, &tokens, &origins, &remotes, &peers] {
            link(&mut edges, alert_only, Relation::FiredOn, pivots);
        }
        link(&mut edges, alert_only, Relation::FiredOn, &targets.iter().filter(|t| !services.contains(t)).cloned().collect::<Vec<_>>());
        let reached: BTreeSet<String> = edges.iter().flat_map(|(f, _, t)| [f.clone(), t.clone()]).collect();
        let loose: Vec<String> = [&processes, &parent.iter().cloned().collect(), &files, &domains, &urls, &services, &vulnerabilities]
            .into_iter()
            .flatten()
            .filter(|n| !reached.contains(*n))
            .cloned()
            .collect();
        link(&mut edges, alert_only, Relation::FiredOn, &loose);
        let rule = alert.rule.id.as_deref().filter(|id| !id.trim().is_empty()).unwrap_or(&alert.rule.name);
        if let Some(rule) = self.labelled(NodeKind::Rule, rule, Some(&alert.rule.name), a) {
            link(&mut edges, std::slice::from_ref(&rule), Relation::FiredOn, alert_only);
        }

        for (from, relation, to) in edges {
            self.edges.entry((from, to, relation.as_str())).or_insert_with(|| (relation, BTreeSet::new())).1.insert(a.to_string());
        }
    }

    /// The node for `value`, named by alert `alert`: its id, or `None` when the value can't
    /// be drawn (empty, `-`, not a domain, or holding a placeholder without fingerprint).
    fn node(&mut self, kind: NodeKind, value: &str, alert: &str) -> Option<String> {
        self.labelled(kind, value, None, alert)
    }

    /// [`Builder::node`] labelled `label` rather than by its value, when `label` can be shown.
    fn labelled(&mut self, kind: NodeKind, value: &str, label: Option<&str>, alert: &str) -> Option<String> {
        let shown = self.unredacted(value.trim())?;
        if kind != NodeKind::Alert && !shown.chars().any(char::is_alphanumeric) {
            return None;
        }
        // A token the sender already masked (`ghp_…(redacted)`) names no secret: drawn, it
        // would join alerts whose secrets may differ (contract section 12).
        if kind == NodeKind::Token && !shown.starts_with("fp_") && crate::alert::redact::is_secret_placeholder(&shown) {
            return None;
        }
        let key = match kind {
            NodeKind::Host => shown.to_lowercase(),
            NodeKind::Domain => domain(&shown)?,
            NodeKind::Ip => shown.parse::<IpAddr>().map(|ip| ip.to_string()).unwrap_or_else(|_| shown.clone()),
            _ => shown.clone(),
        };
        let id = format!("{}:{}", kind.as_str(), bounded_id(&key));
        let label = bounded_label(&label.map(str::trim).filter(|l| !l.is_empty()).and_then(|l| self.unredacted(l)).unwrap_or_else(|| shown.clone()));
        let node = self.nodes.entry(id.clone()).or_insert_with(|| Pending { kind, label: label.clone(), alerts: BTreeSet::new() });
        // The same label whatever order the alerts come in.
        if label < node.label {
            node.label = label;
        }
        node.alerts.insert(alert.to_string());
        Some(id)
    }

    /// The distinct nodes of `values`, at most [`MAX_PER_KIND`].
    fn many<'v>(&mut self, kind: NodeKind, values: impl IntoIterator<Item = &'v str>, alert: &str) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for v in values {
            if ids.len() >= MAX_PER_KIND {
                break;
            }
            if let Some(id) = self.node(kind, v, alert)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids
    }

    /// `text` with each redaction placeholder replaced by its secret's fingerprint; `None`
    /// when one has no known fingerprint.
    fn unredacted(&self, text: &str) -> Option<String> {
        const OPEN: &str = "[REDACTED";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let len = rest[start..].find(']')? + 1;
            let fingerprint = (self.fingerprint_of)(&rest[start..start + len])?;
            if fingerprint.contains(OPEN) {
                return None;
            }
            out.push_str(&fingerprint);
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// An edge from each of `from` to each of `to`, never from a node to itself.
fn link(edges: &mut Vec<(String, Relation, String)>, from: &[String], relation: Relation, to: &[String]) {
    for f in from {
        for t in to.iter().filter(|t| *t != f) {
            edges.push((f.clone(), relation, t.clone()));
        }
    }
}

fn without(mut ids: Vec<String>, drawn: &[String]) -> Vec<String> {
    ids.retain(|id| !drawn.contains(id));
    ids
}

/// The node kind of an entity list the contract doesn't name (`entities.domains`).
fn other_kind(list: &str) -> Option<NodeKind> {
    match list.to_ascii_lowercase().as_str() {
        "domain" | "domains" => Some(NodeKind::Domain),
        "process" | "processes" => Some(NodeKind::Process),
        "service" | "services" => Some(NodeKind::Service),
        "vulnerability" | "vulnerabilities" | "cve" | "cves" => Some(NodeKind::Vulnerability),
        _ => None,
    }
}

/// A Kubernetes audit record's object as an API path: `k8s:prod/pods/web-1/exec`.
fn k8s_object(fields: &Fields) -> Option<String> {
    let part = |name: &str| fields.first(&[name]).into_iter().next().map(str::trim).filter(|v| !v.is_empty());
    let resource = part("objectRef.resource")?;
    let path: Vec<&str> = [part("objectRef.namespace"), Some(resource), part("objectRef.name"), part("objectRef.subresource")].into_iter().flatten().collect();
    Some(format!("k8s:{}", path.join("/")))
}

/// A domain name lower-cased without its trailing dot, if `value` is one (with at least
/// one dot: a single label is a host name).
fn domain(value: &str) -> Option<String> {
    let d = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (d.contains('.') && d.len() <= 253 && d.parse::<IpAddr>().is_err() && d.split('.').all(label_ok)).then_some(d)
}

/// A value for an id: as it is, or when longer than a label may be, its start and a hash
/// of the whole so that two long values stay two nodes.
fn bounded_id(value: &str) -> String {
    if value.chars().count() <= MAX_LABEL_CHARS {
        return value.to_string();
    }
    let start: String = value.chars().take(MAX_LABEL_CHARS - 20).collect();
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!("{start}…{}", &digest[..16])
}

fn bounded_label(value: &str) -> String {
    if value.chars().count() <= MAX_LABEL_CHARS {
        return value.to_string();
    }
    let mut label: String = value.chars().take(MAX_LABEL_CHARS - 1).collect();
    label.push('…');
    label
}

/// Every scalar under an alert's `fields`, by lower-cased path without array indices.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn of(fields: &Value) -> Fields {
        let mut out = Vec::new();
        crate::jsonpath::for_each_scalar(fields, "", &mut |path, text| {
            if text.chars().any(char::is_alphanumeric) {
                out.push((normalise_path(path), text.to_string()));
            }
        });
        Fields(out)
    }

    /// The values at the first of `names` the fields carry (every element of an array).
    fn first(&self, names: &[&str]) -> Vec<&str> {
        for name in names {
            let name = name.to_ascii_lowercase();
            let matches = |path: &str| if name.contains('.') { path == name } else { path.rsplit('.').next() == Some(name.as_str()) };
            if let Some((path, _)) = self.0.iter().find(|(p, _)| matches(p)) {
                return self.0.iter().filter(|(p, _)| p == path).map(|(_, v)| v.as_str()).collect();
            }
        }
        Vec::new()
    }
}

/// `a.b[0].c` and `a["b.c"]` become `a.b.c` and `a.b.c`, lower-cased.
fn normalise_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '[' {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let inner: String = chars.by_ref().take_while(|c| *c != ']').collect();
        let inner = inner.trim_matches('"');
        if !inner.is_empty() && !inner.bytes().all(|b| b.is_ascii_digit()) {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&inner.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(v: Value) -> Alert {
        Alert::parse(0, &v).unwrap()
    }

    /// The graph without fingerprints or context; no node of it floats free.
    fn plain(alerts: &[Alert]) -> Graph {
        let g = build(alerts, &|_| None, &|_| None);
        for n in &g.nodes {
            assert!(g.edges.iter().any(|e| e.from == n.id || e.to == n.id), "{} has no edge", n.id);
        }
        g
    }

    fn ids(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.id.as_str()).collect()
    }

    fn edges(g: &Graph) -> Vec<String> {
        g.edges.iter().map(|e| format!("{} {} {}", e.from, e.relation.as_str(), e.to)).collect()
    }

    const POWERSHELL: &str = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    const WINWORD: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";

    fn sysmon(id: &str, host: &str) -> Alert {
        alert(json!({
            "id": id, "source": "sysmon", "time": "2026-03-02T10:15:00Z",
            "rule": {"id": "r-ps", "name": "Encoded PowerShell spawned by Office", "severity": "high"},
            "entities": {"users": ["CORP\\jdoe"], "hosts": [host]},
            "fields": {
                "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS-042",
                "Image": POWERSHELL, "CommandLine": "powershell -nop -enc SQBFAFgA",
                "ParentImage": WINWORD, "ParentCommandLine": "\"WINWORD.EXE\" /n invoice.docm",
                "User": "CORP\\jdoe"
            }
        }))
    }

    #[test]
    fn a_sysmon_process_creation_draws_user_host_process_and_parent() {
        let g = plain(&[sysmon("a1", "WS-042")]);
        let ps = format!("process:{POWERSHELL}");
        let word = format!("process:{WINWORD}");
        assert_eq!(ids(&g), vec!["alert:a1", "host:ws-042", word.as_str(), ps.as_str(), "rule:r-ps", "user:CORP\\jdoe"]);
        assert_eq!(
            edges(&g),
            vec![
                "alert:a1 fired_on host:ws-042".to_string(),
                "alert:a1 fired_on user:CORP\\jdoe".to_string(),
                format!("host:ws-042 ran {ps}"),
                format!("{word} parent_of {ps}"),
                "rule:r-ps fired_on alert:a1".to_string(),
                "user:CORP\\jdoe acted_on host:ws-042".to_string(),
                format!("user:CORP\\jdoe ran {ps}"),
            ]
        );
        let host = g.node("host:ws-042").unwrap();
        assert_eq!((host.kind, host.label.as_str(), host.alerts.clone()), (NodeKind::Host, "WS-042", vec!["a1".to_string()]));
        assert_eq!(g.node(&ps).unwrap().label, POWERSHELL);
        assert_eq!(g.node("rule:r-ps").unwrap().label, "Encoded PowerShell spawned by Office");
        assert!(g.nodes.iter().all(|n| !n.id.contains("-enc") && n.context.is_empty()));
    }

    fn cloudtrail() -> Alert {
        alert(json!({
            "id": "ct-1", "source": "cloudtrail", "time": "2026-03-02T11:00:00Z",
            "rule": {"name": "Access key created for another user"},
            "entities": {"tokens": ["[REDACTED:aws_access_key#1]"]},
            "fields": {
                "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "sourceIPAddress": "203.0.113.9",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ci", "accountId": "123456789012",
                                 "accessKeyId": "[REDACTED:aws_access_key#1]", "userName": "ci"},
                "recipientAccountId": "123456789012",
                "requestParameters": {"userName": "backdoor"}
            }
        }))
    }

    #[test]
    fn a_cloudtrail_call_chains_source_ip_access_key_principal_and_account() {
        let fingerprints = |p: &str| (p == "[REDACTED:aws_access_key#1]").then(|| "fp_00aa11bb22cc33dd".to_string());
        let g = build(&[cloudtrail()], &fingerprints, &|_| None);
        let user = "user:arn:aws:iam::123456789012:user/ci";
        assert_eq!(
            ids(&g),
            vec![
                "alert:ct-1",
                "cloud_account:123456789012",
                "ip:203.0.113.9",
                "rule:Access key created for another user",
                "service:iam.amazonaws.com",
                "token:fp_00aa11bb22cc33dd",
                user,
            ]
        );
        assert_eq!(
            edges(&g),
            vec![
                "alert:ct-1 fired_on cloud_account:123456789012".to_string(),
                "alert:ct-1 fired_on ip:203.0.113.9".to_string(),
                "alert:ct-1 fired_on token:fp_00aa11bb22cc33dd".to_string(),
                format!("alert:ct-1 fired_on {user}"),
                "ip:203.0.113.9 used token:fp_00aa11bb22cc33dd".to_string(),
                "rule:Access key created for another user fired_on alert:ct-1".to_string(),
                format!("token:fp_00aa11bb22cc33dd authenticated_as {user}"),
                format!("{user} accessed cloud_account:123456789012"),
                format!("{user} accessed service:iam.amazonaws.com"),
            ]
        );
    }

    #[test]
    fn without_a_fingerprint_a_placeholder_is_left_out_never_drawn() {
        let g = plain(&[cloudtrail()]);
        assert!(g.node("ip:203.0.113.9").is_some());
        assert!(g.nodes.iter().all(|n| n.kind != NodeKind::Token));
        assert!(g.edge("ip:203.0.113.9", Relation::AuthenticatedAs, "user:arn:aws:iam::123456789012:user/ci").is_some());

        let leaky = alert(json!({
            "id": "x1", "source": "proxy", "time": "2026-03-02T11:00:00Z", "rule": {"name": "Token in URL [REDACTED:github_token#2]"},
            "entities": {"users": ["[REDACTED:assigned_secret#1]"], "hosts": ["WS-7"],
                         "urls": ["https://api.example.com/?access_token=[REDACTED:github_token#2]", "https://ok.example.com/a"]},
            "fields": {"url": "https://x.example.com/?t=[REDACTED:github_token#2]"}
        }));
        let g = plain(&[leaky]);
        let text = serde_json::to_string(&g).unwrap();
        assert!(!text.contains("[REDACTED"), "{text}");
        assert_eq!(ids(&g), vec!["alert:x1", "host:ws-7", "url:https://ok.example.com/a"]);
        assert_eq!(edges(&g), vec!["alert:x1 fired_on host:ws-7", "host:ws-7 connected_to url:https://ok.example.com/a"]);

        // A rule with an id keeps its node; a name it can't show gives way to the id.
        let named = alert(json!({"id": "x3", "source": "proxy", "time": "2026-03-02T11:00:00Z",
                                 "rule": {"id": "r-leak", "name": "Token [REDACTED:github_token#2] in URL"}}));
        let g = plain(&[named]);
        assert_eq!(edges(&g), vec!["rule:r-leak fired_on alert:x3"]);
        assert_eq!(g.node("rule:r-leak").unwrap().label, "r-leak");
    }

    #[test]
    fn a_placeholder_inside_a_value_becomes_its_fingerprint() {
        let a = alert(json!({
            "id": "x2", "source": "proxy", "time": "2026-03-02T11:00:00Z", "rule": {"id": "r-url", "name": "Token in URL"},
            "entities": {"urls": ["https://api.example.com/?access_token=[REDACTED:github_token#1]"]}
        }));
        let g = build(&[a], &|p| (p == "[REDACTED:github_token#1]").then(|| "fp_1234567890abcdef".into()), &|_| None);
        assert_eq!(ids(&g), vec!["alert:x2", "rule:r-url", "url:https://api.example.com/?access_token=fp_1234567890abcdef"]);
        assert!(g.edge("alert:x2", Relation::FiredOn, "url:https://api.example.com/?access_token=fp_1234567890abcdef").is_some());
    }

    #[test]
    fn a_github_token_used_from_an_ip_against_a_repository() {
        let a = alert(json!({
            "id": "gh-1", "source": "github", "time": "2026-03-02T12:00:00Z",
            "rule": {"id": "gh-clone", "name": "Repository cloned with a leaked token"},
            "entities": {"tokens": ["fp_1234567890abcdef"], "repositories": ["acme/payments"]},
            "fields": {"action": "git.clone", "actor": "octocat", "actor_ip": "198.51.100.7", "repo": "acme/payments", "org": "acme",
                       "programmatic_access_type": "personal access token (classic)"}
        }));
        let g = plain(&[a]);
        assert_eq!(ids(&g), vec!["alert:gh-1", "ip:198.51.100.7", "repository:acme/payments", "rule:gh-clone", "token:fp_1234567890abcdef", "user:octocat"]);
        assert_eq!(
            edges(&g),
            vec![
                "alert:gh-1 fired_on ip:198.51.100.7",
                "alert:gh-1 fired_on repository:acme/payments",
                "alert:gh-1 fired_on token:fp_1234567890abcdef",
                "alert:gh-1 fired_on user:octocat",
                "ip:198.51.100.7 used token:fp_1234567890abcdef",
                "rule:gh-clone fired_on alert:gh-1",
                "token:fp_1234567890abcdef authenticated_as user:octocat",
                "user:octocat accessed repository:acme/payments",
            ]
        );
    }

    #[test]
    fn two_alerts_on_one_host_share_its_node_and_their_edges() {
        // The second names the host in other casing and comes first; the first is repeated.
        let g = plain(&[sysmon("a2", "ws-042"), sysmon("a1", "WS-042"), sysmon("a1", "WS-042")]);
        assert_eq!(g.nodes.iter().filter(|n| n.kind == NodeKind::Host).count(), 1);
        let host = g.node("host:ws-042").unwrap();
        assert_eq!(host.alerts, vec!["a1", "a2"]);
        assert_eq!(host.label, "WS-042");
        let acted = g.edge("user:CORP\\jdoe", Relation::ActedOn, "host:ws-042").unwrap();
        assert_eq!(acted.alerts, vec!["a1", "a2"]);
        assert_eq!(g.edges.iter().filter(|e| e.relation == Relation::ActedOn).count(), 1);
        let mut sorted = g.clone();
        sorted.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        sorted.edges.sort_by(|a, b| (&a.from, &a.to, a.relation.as_str()).cmp(&(&b.from, &b.to, b.relation.as_str())));
        assert_eq!(sorted, g);
        assert_eq!(plain(&[sysmon("a1", "WS-042"), sysmon("a2", "ws-042")]), g);
    }

    #[test]
    fn unknown_fields_and_entity_kinds_are_ignored() {
        let a = alert(json!({
            "id": "u1", "source": "custom", "time": "2026-03-02T12:00:00Z", "rule": {"name": "Odd"},
            "entities": {"colors": ["red"], "domains": ["Evil.Example."]},
            "fields": {"foo": "WS-999", "nested": {"bar": "10.0.0.1", "Hostname": "srv-1"}, "requestParameters": {"userName": "x"}}
        }));
        let g = plain(&[a]);
        assert_eq!(ids(&g), vec!["alert:u1", "domain:evil.example", "rule:Odd"]);
        assert_eq!(edges(&g), vec!["alert:u1 fired_on domain:evil.example", "rule:Odd fired_on alert:u1"]);
        assert_eq!(g.node("domain:evil.example").unwrap().label, "Evil.Example.");
    }

    #[test]
    fn network_dns_and_file_events_hang_off_the_process() {
        let base = |id: &str, fields: Value| {
            alert(json!({"id": id, "source": "sysmon", "time": "2026-03-02T10:15:00Z", "rule": {"name": "n"},
                         "entities": {"hosts": ["WS-042"], "ips": ["10.1.2.3"]}, "fields": fields}))
        };
        let net = base(
            "n1",
            json!({"EventID": 3, "Image": POWERSHELL, "SourceIp": "10.1.2.3", "DestinationIp": "198.51.100.20", "DestinationHostname": "C2.Example.NET"}),
        );
        let inbound = base(
            "n2",
            json!({"EventID": 3, "Image": "C:\\Windows\\System32\\svchost.exe", "Initiated": "false", "SourceIp": "192.0.2.44", "DestinationIp": "10.1.2.3"}),
        );
        let dns = base("d1", json!({"EventID": 22, "Image": POWERSHELL, "QueryName": "c2.example.net"}));
        let file = base("f1", json!({"EventID": 11, "Image": POWERSHELL, "TargetFilename": "C:\\Users\\jdoe\\AppData\\Local\\Temp\\a.ps1"}));
        let g = plain(&[net, inbound, dns, file]);
        let ps = format!("process:{POWERSHELL}");
        assert_eq!(g.edge(&ps, Relation::ConnectedTo, "ip:198.51.100.20").unwrap().alerts, vec!["n1"]);
        assert_eq!(g.edge(&ps, Relation::ConnectedTo, "domain:c2.example.net").unwrap().alerts, vec!["d1", "n1"]);
        assert!(g.edge("process:C:\\Windows\\System32\\svchost.exe", Relation::ConnectedTo, "ip:192.0.2.44").is_some());
        assert!(g.edge(&ps, Relation::Accessed, "file:C:\\Users\\jdoe\\AppData\\Local\\Temp\\a.ps1").is_some());
        // The entity IP the fields don't place is the host's peer; Sysmon's own SourceIp isn't a destination.
        assert_eq!(g.edge("host:ws-042", Relation::ConnectedTo, "ip:10.1.2.3").unwrap().alerts, vec!["d1", "f1", "n1", "n2"]);
        assert!(g.edge(&ps, Relation::ConnectedTo, "ip:10.1.2.3").is_none());
        assert_eq!(g.edge("host:ws-042", Relation::Ran, &ps).unwrap().alerts, vec!["d1", "f1", "n1"]);
    }

    #[test]
    fn okta_and_kubernetes_principals_come_from_their_source_address() {
        let okta = alert(json!({
            "id": "ok-1", "source": "okta", "time": "2026-03-02T12:00:00Z", "rule": {"name": "MFA fatigue"},
            "fields": {"eventType": "user.session.start", "actor": {"alternateId": "jdoe@corp.example", "type": "User"},
                       "client": {"ipAddress": "192.0.2.10"}, "outcome": {"result": "FAILURE"}}
        }));
        let k8s = alert(json!({
            "id": "k-1", "source": "k8s-audit", "time": "2026-03-02T12:00:00Z", "rule": {"name": "Exec into pod"},
            "fields": {"verb": "create", "user": {"username": "system:serviceaccount:ci:deployer"}, "sourceIPs": ["10.0.0.5"],
                       "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "web-1"}}
        }));
        let g = plain(&[okta, k8s]);
        assert!(g.edge("ip:192.0.2.10", Relation::AuthenticatedAs, "user:jdoe@corp.example").is_some());
        let sa = "service_account:system:serviceaccount:ci:deployer";
        assert!(g.edge("ip:10.0.0.5", Relation::AuthenticatedAs, sa).is_some());
        assert!(g.edge(sa, Relation::Accessed, "service:k8s:prod/pods/web-1/exec").is_some());
        assert!(g.nodes.iter().all(|n| n.kind != NodeKind::User || n.id == "user:jdoe@corp.example"));
    }

    #[test]
    fn an_ocsf_finding_draws_its_process_not_a_file_of_its_image() {
        let a = alert(json!({
            "class_uid": 2004, "time": 1772446500000_i64, "severity_id": 4,
            "finding_info": {"uid": "f-1", "title": "Suspicious child of Office"},
            "device": {"hostname": "WS-042"},
            "actor": {"user": {"name": "jdoe"}},
            "process": {"file": {"path": POWERSHELL, "name": "powershell.exe"}, "parent_process": {"file": {"path": WINWORD}}},
            "evidences": [{"process": {"file": {"path": POWERSHELL}}}]
        }));
        let g = plain(&[a]);
        let ps = format!("process:{POWERSHELL}");
        assert!(g.edge(&format!("process:{WINWORD}"), Relation::ParentOf, &ps).is_some());
        assert!(g.edge("host:ws-042", Relation::Ran, &ps).is_some());
        assert!(g.edge("user:jdoe", Relation::ActedOn, "host:ws-042").is_some());
        assert!(g.nodes.iter().all(|n| n.kind != NodeKind::File), "{:?}", ids(&g));
    }

    #[test]
    fn long_values_are_bounded_and_stay_distinct() {
        let long = |tail: &str| format!("https://evil.example/{}{tail}", "a".repeat(5000));
        let a = alert(json!({
            "id": "l1", "source": "proxy", "time": "2026-03-02T12:00:00Z", "rule": {"name": "n"},
            "entities": {"urls": [long("1"), long("2")]}
        }));
        let g = plain(&[a]);
        let urls: Vec<&Node> = g.nodes.iter().filter(|n| n.kind == NodeKind::Url).collect();
        assert_eq!(urls.len(), 2);
        assert_ne!(urls[0].id, urls[1].id);
        assert!(urls.iter().all(|n| n.label.chars().count() == MAX_LABEL_CHARS && n.id.chars().count() <= MAX_LABEL_CHARS + 4));
    }

    #[test]
    fn context_is_attached_by_node_id_and_the_json_has_the_contract_shape() {
        let context = |id: &str| (id == "host:ws-042").then(|| json!({"criticality": "high"}).as_object().cloned().unwrap_or_default());
        let g = build(&[sysmon("a1", "WS-042")], &|_| None, &context);
        let v = serde_json::to_value(&g).unwrap();
        let host = v["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "host:ws-042").unwrap();
        assert_eq!(host, &json!({"id": "host:ws-042", "kind": "host", "label": "WS-042", "alerts": ["a1"], "context": {"criticality": "high"}}));
        assert!(v["nodes"].as_array().unwrap().iter().filter(|n| n["id"] != "host:ws-042").all(|n| n["context"] == json!({})));
        let acted = v["edges"].as_array().unwrap().iter().find(|e| e["relation"] == "acted_on").unwrap();
        assert_eq!(acted, &json!({"from": "user:CORP\\jdoe", "to": "host:ws-042", "relation": "acted_on", "alerts": ["a1"]}));
        assert_eq!(v["nodes"][0]["kind"], "alert");
        assert!(v["nodes"].as_array().unwrap().iter().any(|n| n["kind"] == "process"));
    }
}
