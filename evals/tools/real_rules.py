#!/usr/bin/env python3
"""Build rule-alert style eval sets from public detection-content repositories.

Usage:
    python3 evals/tools/real_rules.py [--attack enterprise-attack.json] [--out evals/real] GITDIR...

Each GITDIR is a bare git directory (or a clone) of one of the supported repositories; it is
read with `git show` at HEAD and never modified. Supported sources (recognised by content):

    splunk/security_content   detections/**/*.yml            -> splunk-detections
    chronicle/detection-rules rules/community/**/*.yaral     -> chronicle-rules
    mitre-attack/car          analytics/*.yaml               -> car-analytics
    falcosecurity/rules       rules/*.yaml                   -> falco-rules
    panther-labs/panther-analysis rules/**/*.yml (+ Tests)   -> panther-rules

For every set it writes `<name>.dev.jsonl` and `<name>.test.jsonl` into --out: one dataset line
(docs/contract.md section 9) per detection, or per test event for Panther. Output depends only
on the repositories' HEAD and the ATT&CK bundle. Every line is checked before anything is
written; on any problem nothing is written and the exit status is 1. Python 3, stdlib only.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter

TIME = "2026-01-15T12:00:00Z"
SEV = ["informational", "low", "medium", "high", "critical"]
CAP = 400
ALERT_KEYS = {"id", "source", "time", "rule", "entities", "asset", "fields"}
RULE_KEYS = {"id", "name", "severity", "description"}
ENTITY_KEYS = ["users", "hosts", "ips", "service_accounts", "tokens", "cloud_accounts",
               "files", "urls", "repositories"]
ALERT_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
TECH_RE = re.compile(r"\bT\d{4}(?:[./]\d{3})?\b")


# ======================================================================================
# minimal YAML reader (block and flow subset used by these repositories)
# ======================================================================================

class YamlError(ValueError):
    pass


_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^0x[0-9a-fA-F_]+$")
_OCT = re.compile(r"^0o?[0-7_]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+][0-9]+)?$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
         "yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False,
         "on": True, "On": True, "ON": True, "off": False, "Off": False, "OFF": False}
_NULL = {"", "~", "null", "Null", "NULL"}
_ESC = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
        "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
        "L": "\u2028", "P": "\u2029"}


def _resolve(s):
    """Type of a plain scalar (YAML 1.1 rules as PyYAML applies them; timestamps stay strings)."""
    if s in _NULL:
        return None
    if s in _BOOL:
        return _BOOL[s]
    if _INT.match(s):
        return int(s.replace("_", ""))
    if _HEX.match(s):
        return int(s.replace("_", ""), 16)
    if len(s) > 1 and s.startswith("0") and _OCT.match(s):
        return int(s.replace("_", "").replace("o", ""), 8)
    if _FLOAT.match(s) and any(c.isdigit() for c in s) and ("." in s or "e" in s.lower()):
        return float(s.replace("_", ""))
    return s


def _strip_comment(s):
    q = None
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            if q == '"' and c == "\\":
                i += 2
                continue
            if c == q:
                if q == "'" and i + 1 < len(s) and s[i + 1] == "'":
                    i += 2
                    continue
                q = None
        elif c in "'\"" and (i == 0 or s[i - 1] in " \t[{,:"):
            q = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _dq(body):
    out = []
    k = 0
    while k < len(body):
        c = body[k]
        if c == "\\" and k + 1 < len(body):
            e = body[k + 1]
            width = {"x": 2, "u": 4, "U": 8}.get(e)
            if width:
                out.append(chr(int(body[k + 2:k + 2 + width], 16)))
                k += 2 + width
                continue
            if e in _ESC:
                out.append(_ESC[e])
                k += 2
                continue
            raise YamlError(f"bad escape \\{e}")
        out.append(c)
        k += 1
    return "".join(out)


def _scan_quoted(text, start):
    q = text[start]
    k = start + 1
    while k < len(text):
        c = text[k]
        if q == '"' and c == "\\":
            k += 2
            continue
        if c == q:
            if q == "'" and k + 1 < len(text) and text[k + 1] == "'":
                k += 2
                continue
            return k + 1
        k += 1
    return -1


def _fold_quoted(raw, q):
    lines = raw.split("\n")
    if len(lines) == 1:
        body = raw
    else:
        out = [lines[0].rstrip(" \t")]
        blanks = 0
        for n, ln in enumerate(lines[1:], 1):
            last = n == len(lines) - 1
            if ln.strip(" \t") == "" and not last:
                blanks += 1
                continue
            prev = out[-1]
            if q == '"' and prev.endswith("\\") and (len(prev) - len(prev.rstrip("\\"))) % 2 == 1:
                out[-1] = prev[:-1]
                sep = "\n" * blanks
            else:
                sep = "\n" * blanks if blanks else " "
            blanks = 0
            piece = ln.lstrip(" \t")
            if not last:
                piece = piece.rstrip(" \t")
            out.append(sep + piece)
        body = "".join(out)
    return body.replace("''", "'") if q == "'" else _dq(body)


class _Incomplete(Exception):
    pass


class _Flow:
    def __init__(self, text):
        self.t = text
        self.k = 0

    def ws(self):
        t = self.t
        while self.k < len(t):
            c = t[self.k]
            if c in " \t\n":
                self.k += 1
            elif c == "#" and (self.k == 0 or t[self.k - 1] in " \t\n"):
                nl = t.find("\n", self.k)
                self.k = len(t) if nl < 0 else nl
            else:
                break

    def value(self):
        self.ws()
        if self.k >= len(self.t):
            raise _Incomplete()
        c = self.t[self.k]
        if c == "[":
            self.k += 1
            out = []
            while True:
                self.ws()
                if self.k >= len(self.t):
                    raise _Incomplete()
                if self.t[self.k] == "]":
                    self.k += 1
                    return out
                item = self.value()
                self.ws()
                if self.k < len(self.t) and self.t[self.k] == ":" and (self.k + 1 >= len(self.t) or self.t[self.k + 1] in " \n,]"):
                    self.k += 1
                    item = {item: self.value()}
                    self.ws()
                out.append(item)
                if self.k >= len(self.t):
                    raise _Incomplete()
                if self.t[self.k] == ",":
                    self.k += 1
                elif self.t[self.k] != "]":
                    raise YamlError(f"bad flow sequence near {self.t[self.k:self.k + 30]!r}")
        if c == "{":
            self.k += 1
            out = {}
            while True:
                self.ws()
                if self.k >= len(self.t):
                    raise _Incomplete()
                if self.t[self.k] == "}":
                    self.k += 1
                    return out
                key = self.scalar()
                self.ws()
                if self.k >= len(self.t):
                    raise _Incomplete()
                val = None
                if self.t[self.k] == ":":
                    self.k += 1
                    self.ws()
                    if self.k < len(self.t) and self.t[self.k] not in ",}":
                        val = self.value()
                out[key] = val
                self.ws()
                if self.k >= len(self.t):
                    raise _Incomplete()
                if self.t[self.k] == ",":
                    self.k += 1
                elif self.t[self.k] != "}":
                    raise YamlError(f"bad flow mapping near {self.t[self.k:self.k + 30]!r}")
        return self.scalar()

    def scalar(self):
        t = self.t
        c = t[self.k]
        if c in "'\"":
            end = _scan_quoted(t, self.k)
            if end < 0:
                raise _Incomplete()
            body = t[self.k + 1:end - 1]
            self.k = end
            return _fold_quoted(body, c)
        start = self.k
        while self.k < len(t):
            c = t[self.k]
            if c in ",]}":
                break
            if c == ":" and (self.k + 1 >= len(t) or t[self.k + 1] in " \n,]}"):
                break
            if c == "#" and t[self.k - 1] in " \t\n":
                break
            self.k += 1
        raw = t[start:self.k]
        raw = " ".join(x.strip() for x in raw.split("\n") if x.strip()) if "\n" in raw else raw.strip()
        return _resolve(raw)


class _Yaml:
    _KEY = re.compile(r"""^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"\[\]{}#&*!|>%@`,?:-][^#]*?|[-?:][^\s][^#]*?)\s*:(?:\s|$)""")

    def __init__(self, text):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
        self.lines = text.split("\n")
        self.n = len(self.lines)

    @staticmethod
    def _ind(line):
        return len(line) - len(line.lstrip(" "))

    def _next(self, i):
        while i < self.n:
            s = self.lines[i].strip()
            if s and not s.startswith("#"):
                break
            i += 1
        return i

    def parse(self):
        i = self._next(0)
        while i < self.n and self.lines[i].startswith("%"):
            i = self._next(i + 1)
        if i < self.n and (self.lines[i].rstrip() == "---" or self.lines[i].startswith("--- ")):
            rest = self.lines[i][3:].strip()
            if rest and not rest.startswith("#"):
                self.lines[i] = "    " + rest
            else:
                i = self._next(i + 1)
        if i >= self.n:
            return None
        val, i = self.node(i, -1)
        i = self._next(i)
        if i < self.n and self.lines[i].strip() not in ("...", "---"):
            raise YamlError(f"unexpected content at line {i + 1}")
        return val

    def _is_key(self, s):
        if s.startswith("- ") or s == "-" or s[:1] in "[{":
            return None
        return self._KEY.match(s)

    def node(self, i, parent_ind):
        i = self._next(i)
        if i >= self.n:
            return None, i
        line = self.lines[i]
        ind = self._ind(line)
        if ind <= parent_ind:
            return None, i
        s = line[ind:]
        if s.startswith("- ") or s.rstrip() == "-":
            return self.seq(i, ind)
        if self._is_key(s):
            return self.mapping(i, ind)
        if s[0] in "[{":
            return self.flow(i, ind)
        if s[0] in "'\"":
            return self.quoted(i, ind)
        if s[0] in "|>":
            return self.block_scalar(i, s.strip(), parent_ind)
        return self.plain(i, _strip_comment(s).strip(), parent_ind)

    def seq(self, i, ind):
        out = []
        while True:
            i = self._next(i)
            if i >= self.n:
                break
            line = self.lines[i]
            if self._ind(line) != ind:
                if self._ind(line) > ind:
                    raise YamlError(f"bad indentation at line {i + 1}")
                break
            s = line[ind:]
            if not (s.startswith("- ") or s.rstrip() == "-"):
                break
            rest = s[1:]
            if rest.strip() == "" or rest.strip().startswith("#"):
                v, i = self.node(i + 1, ind)
            else:
                self.lines[i] = " " * (ind + 1) + rest
                v, i = self.node(i, ind)
            out.append(v)
        return out, i

    def mapping(self, i, ind):
        out = {}
        while True:
            i = self._next(i)
            if i >= self.n:
                break
            line = self.lines[i]
            li = self._ind(line)
            if li != ind:
                if li > ind:
                    raise YamlError(f"bad indentation at line {i + 1}")
                break
            s = line[ind:]
            m = self._is_key(s)
            if not m:
                break
            raw = m.group(0).rstrip()[:-1].strip()
            if raw.startswith('"'):
                key = _dq(raw[1:-1])
            elif raw.startswith("'"):
                key = raw[1:-1].replace("''", "'")
            else:
                key = _resolve(raw)
            rest = s[m.end():]
            col = ind + m.end() + (len(rest) - len(rest.lstrip()))
            val, i = self.value(i, rest.strip(), col, ind)
            out[key] = val
        return out, i

    def value(self, i, r, col, ind):
        if r == "" or r.startswith("#"):
            j = self._next(i + 1)
            if j < self.n:
                l2 = self.lines[j]
                i2 = self._ind(l2)
                if i2 == ind and (l2[i2:].startswith("- ") or l2[i2:].rstrip() == "-"):
                    return self.seq(j, ind)
            return self.node(i + 1, ind)
        if r[0] in "|>":
            return self.block_scalar(i, r, ind)
        if r[0] in "[{":
            return self.flow(i, col)
        if r[0] in "'\"":
            return self.quoted(i, col)
        return self.plain(i, _strip_comment(r).strip(), ind)

    def plain(self, i, first, ind):
        parts = [first]
        j = i + 1
        blanks = 0
        while j < self.n:
            l2 = self.lines[j]
            st = l2.strip()
            if st == "":
                blanks += 1
                j += 1
                continue
            if self._ind(l2) <= ind or st.startswith("#"):
                break
            parts.append("\n" * blanks if blanks else " ")
            blanks = 0
            parts.append(_strip_comment(st))
            j += 1
        if len(parts) == 1:
            return _resolve(first), j
        return "".join(parts), j

    def block_scalar(self, i, header, ind):
        header = _strip_comment(header).strip()
        style = header[0]
        chomp = "clip"
        explicit = None
        for c in header[1:]:
            if c == "-":
                chomp = "strip"
            elif c == "+":
                chomp = "keep"
            elif c.isdigit():
                explicit = int(c)
        j = i + 1
        raw = []
        bi = None if explicit is None else max(ind, 0) + explicit
        while j < self.n:
            l2 = self.lines[j]
            if l2.strip() == "":
                raw.append("")
                j += 1
                continue
            li = self._ind(l2)
            if bi is None:
                if li <= ind:
                    break
                bi = li
            if li < bi:
                break
            raw.append(l2[bi:])
            j += 1
        trail = 0
        while raw and raw[-1] == "":
            raw.pop()
            trail += 1
        if not raw:
            return ("\n" * trail if chomp == "keep" else ""), j
        if style == "|":
            text = "\n".join(raw)
        else:
            text = raw[0]
            prev_more = raw[0].startswith(" ")
            for k in range(1, len(raw)):
                ln = raw[k]
                if ln == "":
                    text += "\n"
                    continue
                more = ln.startswith(" ")
                if raw[k - 1] == "":
                    if more or prev_more:
                        text += "\n"
                    text += ln
                elif more or prev_more:
                    text += "\n" + ln
                else:
                    text += " " + ln
                prev_more = more
        if chomp == "strip":
            return text, j
        if chomp == "clip":
            return text + "\n", j
        return text + "\n" + "\n" * trail, j

    def quoted(self, i, col):
        text = self.lines[i][col:]
        j = i
        end = _scan_quoted(text, 0)
        while end < 0:
            j += 1
            if j >= self.n:
                raise YamlError(f"unterminated quoted scalar at line {i + 1}")
            text += "\n" + self.lines[j]
            end = _scan_quoted(text, 0)
        if _strip_comment(text[end:]).strip():
            raise YamlError(f"text after quoted scalar at line {j + 1}")
        return _fold_quoted(text[1:end - 1], text[0]), j + 1

    def flow(self, i, col):
        text = self.lines[i][col:]
        j = i
        while True:
            try:
                f = _Flow(text)
                val = f.value()
                if _strip_comment(text[f.k:]).strip():
                    raise YamlError(f"text after flow collection at line {j + 1}")
                return val, j + 1
            except _Incomplete:
                j += 1
                if j >= self.n:
                    raise YamlError(f"unterminated flow collection at line {i + 1}")
                text += "\n" + self.lines[j]


def yaml_loads(text):
    return _Yaml(text).parse()


# ======================================================================================
# git access
# ======================================================================================

class Repo:
    def __init__(self, gitdir):
        self.gitdir = gitdir
        self.commit = self.git("rev-parse", "HEAD").strip()
        self.short = self.commit[:7]
        self.files = self.git("ls-tree", "-r", "--name-only", "-z", "HEAD").split("\0")
        self.files = [f for f in self.files if f]

    def git(self, *args):
        return subprocess.run(["git", "--git-dir", self.gitdir, *args], check=True,
                              stdout=subprocess.PIPE).stdout.decode("utf-8")

    def show(self, path):
        return self.git("show", f"HEAD:{path}")

    def has(self, path):
        return path in set(self.files)


# ======================================================================================
# ATT&CK
# ======================================================================================

class Attack:
    def __init__(self, path):
        with open(path, encoding="utf-8") as fh:
            bundle = json.load(fh)
        by_stix = {}
        self.active = {}
        self.status = {}
        for o in bundle["objects"]:
            if o.get("type") != "attack-pattern":
                continue
            ext = next((r["external_id"] for r in o.get("external_references", [])
                        if r.get("source_name") == "mitre-attack"), None)
            if not ext:
                continue
            by_stix[o["id"]] = ext
            if o.get("revoked"):
                self.status[ext] = "revoked"
            elif o.get("x_mitre_deprecated"):
                self.status[ext] = "deprecated"
            else:
                self.status[ext] = "active"
                self.active[ext] = o["name"]
        self.revoked_by = {}
        for o in bundle["objects"]:
            if o.get("type") == "relationship" and o.get("relationship_type") == "revoked-by":
                s, t = by_stix.get(o["source_ref"]), by_stix.get(o["target_ref"])
                if s and t:
                    self.revoked_by[s] = t
        # "Parent: Sub" and plain technique names -> IDs (only names that are unique)
        names = {}
        for tid, name in self.active.items():
            if "." in tid:
                full = f"{self.active.get(tid.split('.')[0], '?')}: {name}"
            else:
                full = name
            names.setdefault(full.lower(), set()).add(tid)
        self.by_name = {k: next(iter(v)) for k, v in names.items() if len(v) == 1}

    def normalize(self, raw, stats):
        """Source IDs -> sorted active IDs; revoked ones follow revoked-by, others are dropped."""
        out = set()
        for t in raw:
            t = t.strip().upper().replace("/", ".")
            if not re.fullmatch(r"T\d{4}(\.\d{3})?", t):
                continue
            seen = set()
            cur = t
            while self.status.get(cur) == "revoked" and cur in self.revoked_by and cur not in seen:
                seen.add(cur)
                cur = self.revoked_by[cur]
            if cur in self.active:
                if cur != t:
                    stats[f"technique remapped {t}->{cur}"] += 1
                    stats["techniques remapped (revoked)"] += 1
                out.add(cur)
            else:
                stats[f"technique dropped {t} ({self.status.get(t, 'unknown')})"] += 1
                stats["techniques dropped (deprecated/unknown)"] += 1
        return sorted(out)


# ======================================================================================
# shared helpers
# ======================================================================================

def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def severity_from_score(score):
    """Splunk risk score 0-100 -> severity (see evals/README.md)."""
    if score < 20:
        return "informational"
    if score < 40:
        return "low"
    if score < 60:
        return "medium"
    if score < 80:
        return "high"
    return "critical"


_NAMED_SEV = {"info": "informational", "informational": "informational", "low": "low",
              "medium": "medium", "high": "high", "critical": "critical"}

_ID = r"\bT(?:A\d{4}|\d{4}(?:[./]\d{3})?)\b"
_ID_PHRASE = re.compile(
    r"\(?\s*(?:MITRE\s+)?(?:ATT&CK\s*(?:®|\(R\))?\s+)?(?:(?:sub-?)?(?:techniques?|tactics?)\s+)?(?:IDs?\s*:?\s*)?"
    r"\[?" + _ID + r"\]?(?:\s*(?:,|and|/)\s*\[?" + _ID + r"\]?)*\s*\)?")
_MITRE_WORDS = re.compile(r"\b(?:the\s+)?MITRE\s+ATT&CK\s*(?:®|\(R\))?(?:\s+framework)?|\bATT&CK\s*(?:®|\(R\))?|\bMITRE\b")
_ATTACK_LINK = re.compile(r"\[([^\]]*)\]\(\s*https?://attack\.mitre\.org/[^)\s]*\s*\)", re.I)
_ATTACK_URL = re.compile(r"https?://attack\.mitre\.org/[^\s)\]>\"']*", re.I)
_GAP = "\x00"


def scrub(text):
    """Remove literal ATT&CK IDs, attack.mitre.org links and 'MITRE ATT&CK' tag text.

    Text without any of them is returned unchanged (stripped); otherwise only the spaces
    around each removed span are tidied."""
    if not text:
        return text, False
    t = _ATTACK_LINK.sub(lambda m: m.group(1) if not re.fullmatch(r"\s*" + _ID + r"\s*", m.group(1)) else _GAP, text)
    t = _ATTACK_URL.sub(_GAP, t)
    t = _ID_PHRASE.sub(_GAP, t)
    t = _MITRE_WORDS.sub(_GAP, t)
    if t == text:
        return text.strip(), False
    t = re.sub(r"\(\s*" + _GAP + r"[\s" + _GAP + r"]*\)|\[\s*" + _GAP + r"[\s" + _GAP + r"]*\]", _GAP, t)
    t = re.sub(r"[ \t]*" + _GAP + r"[" + _GAP + r" \t]*(?=[,.;:)])", "", t)
    t = re.sub(r"(?<=[(\n])[ \t]*" + _GAP + r"[" + _GAP + r" \t]*", "", t)
    t = re.sub(r"[ \t]*" + _GAP + r"[" + _GAP + r" \t]*", " ", t)
    t = re.sub(r"^[ \t]*[-:,;]?[ \t]*", "", t.strip())
    return t.strip(), True


SLUGS = [
    (r"sysmon for linux", "sysmon-linux"), (r"sysmon", "sysmon"), (r"powershell", "powershell"),
    (r"crowdstrike", "crowdstrike"), (r"cloudtrail|amazon security lake", "aws-cloudtrail"),
    (r"guardduty", "aws-guardduty"), (r"security ?hub|securityfinding", "aws-securityhub"),
    (r"vpc ?flow", "aws-vpcflow"), (r"cloudwatchlogs eks|eks", "kubernetes-audit"), (r"okta", "okta"),
    (r"azure active directory|azure ad|entra", "azure-ad"), (r"azure audit|azure activity", "azure-activity"),
    (r"o365|office 365|microsoft 365", "o365"), (r"ms graph", "ms-graph"),
    (r"google workspace|g ?suite|workspace activity|workspace alerts|gmail|chrome management", "google-workspace"),
    (r"gcp|cloud audit|security command center|google scc", "gcp-audit"), (r"github", "github-audit"),
    (r"kubernetes audit|kube", "kubernetes-audit"), (r"kubernetes falco|falco", "falco"),
    (r"linux auditd", "linux-auditd"),
    (r"windows event log security|windows security|microsoft windows|windows event", "windows-security"),
    (r"defender atp|defender xdr|defender for endpoint", "defender-endpoint"),
    (r"windows event log defender|windows defender", "windows-defender"),
    (r"windows event log system|windows system", "windows-system"), (r"windows registry", "windows-registry"),
    (r"suricata", "suricata"), (r"zeek|corelight", "zeek"), (r"palo alto", "paloalto"), (r"zscal", "zscaler"),
    (r"nginx", "nginx"), (r"splunk stream", "splunk-stream"), (r"onelogin", "onelogin"),
    (r"sentinelone", "sentinelone"), (r"osquery", "osquery"), (r"\biis\b", "iis"),
]


def slugify(s):
    s = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")
    return s[:40].strip("-") or "unknown"


def source_slug(data_source):
    low = data_source.lower()
    for rx, slug in SLUGS:
        if re.search(rx, low):
            return slug
    low = re.sub(r"\b(event ?id|eventcode)?\s*\d+\b", "", low)
    return slugify(low)


def put_field(fields, key, val):
    """Set a derived literal; a key seen with two different values is dropped."""
    if key in fields and fields[key] != val:
        fields[key] = None
    else:
        fields[key] = val


def literal_value(v):
    if isinstance(v, str) and re.fullmatch(r"-?\d{1,9}", v):
        return int(v)
    return v


# ======================================================================================
# boolean condition reader: keeps only comparisons every match must satisfy
# ======================================================================================
# token kinds: "(" ")" "AND" "OR" "NOT" "NL" and ("ATOM", field, value) where field/value
# are None for anything that is not a positive equality with a literal value.

def parse_bool(tokens, or_tighter):
    toks = []
    for t in tokens:
        if t == "NL":
            if not toks or toks[-1] in ("AND", "OR", "NOT", "(", "NL"):
                continue
        elif t in ("AND", "OR", ")") and toks and toks[-1] == "NL":
            toks.pop()
        toks.append(t)
    while toks and toks[-1] == "NL":
        toks.pop()
    toks = ["AND" if t == "NL" else t for t in toks]
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def starts_unary(t):
        return t is not None and (t == "(" or t == "NOT" or isinstance(t, tuple))

    def unary():
        t = peek()
        if t == "NOT":
            pos[0] += 1
            return ("not", unary())
        if t == "(":
            pos[0] += 1
            e = expr()
            if peek() != ")":
                raise ValueError("unbalanced")
            pos[0] += 1
            return e
        if isinstance(t, tuple):
            pos[0] += 1
            return t
        raise ValueError(f"unexpected {t!r}")

    def chain(inner, op):
        items = [inner()]
        while True:
            t = peek()
            if t == op:
                pos[0] += 1
                items.append(inner())
            elif op == "AND" and starts_unary(t):
                items.append(inner())
            else:
                break
        return items[0] if len(items) == 1 else (op.lower(), items)

    if or_tighter:
        def expr():
            return chain(lambda: chain(unary, "OR"), "AND")
    else:
        def expr():
            return chain(lambda: chain(unary, "AND"), "OR")

    if not toks:
        return ("and", [])
    e = expr()
    if pos[0] != len(toks):
        raise ValueError("trailing tokens")
    return e


def required(node, canon=lambda f: f):
    """(field, value) pairs that hold whenever the condition matches."""
    if isinstance(node, tuple) and node and node[0] == "ATOM":
        _, f, v = node
        return [(f, v)] if f is not None else []
    kind = node[0]
    if kind == "not":
        return []
    if kind == "and":
        out = []
        for c in node[1]:
            out.extend(required(c, canon))
        return out
    if kind == "or":
        sets = [required(c, canon) for c in node[1]]
        if not sets or any(not s for s in sets):
            return []
        keyed = [{(canon(f), str(v).lower()): (f, v) for f, v in s} for s in sets]
        common = set(keyed[0])
        for k in keyed[1:]:
            common &= set(k)
        out = []
        for key in sorted(common):
            cands = [k[key] for k in keyed]
            exact = [c for c in cands if c[0] == key[0]]
            out.append(exact[0] if exact else cands[0])
        return out
    return []


def has_wild(v):
    return isinstance(v, str) and ("*" in v or "%" in v or v == "")


# ---------------- SPL ----------------

_SPL_FIELD = r'(?:"[^"]+"|[A-Za-z_][\w.{}\-]*)'
_SPL_CMP = re.compile(r'(' + _SPL_FIELD + r')\s*(!=|==|<=|>=|=|<|>)\s*("(?:[^"\\]|\\.)*"|[^\s()\[\]]+)')
_SPL_IN = re.compile(r'(' + _SPL_FIELD + r')\s+(?:IN|in)\s*\(')


def _spl_unquote(v):
    if v.startswith('"') and v.endswith('"') and len(v) >= 2:
        return re.sub(r'\\(.)', r'\1', v[1:-1])
    return v


def _spl_values(s):
    vals = []
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[^,\s]+', s):
        vals.append(_spl_unquote(m.group(0)))
    return vals


def spl_tokens(s):
    toks = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            toks.append(c)
            i += 1
            continue
        if c == "[":
            depth = 0
            while i < n:
                if s[i] == "[":
                    depth += 1
                elif s[i] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
            toks.append(("ATOM", None, None))
            continue
        if c == "`":
            j = s.find("`", i + 1)
            i = n if j < 0 else j + 1
            toks.append(("ATOM", None, None))
            continue
        m = _SPL_IN.match(s, i)
        if m:
            j = m.end()
            depth = 1
            k = j
            inq = False
            while k < n and depth:
                ch = s[k]
                if ch == '"' and s[k - 1] != "\\":
                    inq = not inq
                elif not inq and ch == "(":
                    depth += 1
                elif not inq and ch == ")":
                    depth -= 1
                k += 1
            vals = _spl_values(s[j:k - 1])
            f = _spl_unquote(m.group(1))
            if len(vals) == 1 and not has_wild(vals[0]):
                toks.append(("ATOM", f, vals[0]))
            else:
                toks.append(("ATOM", None, None))
            i = k
            continue
        m = _SPL_CMP.match(s, i)
        if m and m.group(1) not in ("AND", "OR", "NOT"):
            f, op, v = _spl_unquote(m.group(1)), m.group(2), _spl_unquote(m.group(3))
            if op in ("=", "==") and not has_wild(v):
                toks.append(("ATOM", f, v))
            else:
                toks.append(("ATOM", None, None))
            i = m.end()
            continue
        if c == '"':
            j = _scan_quoted(s, i)
            i = n if j < 0 else j
            toks.append(("ATOM", None, None))
            continue
        m = re.compile(r'[^\s()\[\]`]+').match(s, i)
        w = m.group(0)
        i = m.end()
        if w in ("AND", "OR", "NOT"):
            toks.append(w)
        else:
            toks.append(("ATOM", None, None))
    return toks


def split_pipes(s):
    """Split an SPL search into pipeline stages (outside quotes, brackets and backticks)."""
    parts, cur, depth, q, bt = [], [], 0, False, False
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            cur.append(c)
            if c == "\\" and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 2
                continue
            if c == '"':
                q = False
        elif bt:
            cur.append(c)
            if c == "`":
                bt = False
        elif c == '"':
            q = True
            cur.append(c)
        elif c == "`":
            bt = True
            cur.append(c)
        elif c == "[":
            depth += 1
            cur.append(c)
        elif c == "]":
            depth -= 1
            cur.append(c)
        elif c == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


# ======================================================================================
# Splunk security_content
# ======================================================================================

SPLUNK_META_FIELDS = {"index", "sourcetype", "source", "eventtype", "earliest", "latest", "host",
                      "summariesonly", "allow_old_summaries", "fillnull_value", "nodename", "Channel"}
SOURCETYPE_SLUGS = [
    (r"aws:cloudtrail|asl:", "aws-cloudtrail"), (r"okta", "okta"), (r"sysmon", "sysmon"),
    (r"wineventlog:security|xmlwineventlog:security|wineventlog_security", "windows-security"),
    (r"o365|ms:o365", "o365"), (r"azure:monitor:aad|azure:aad|mscs:azure", "azure-ad"),
    (r"gsuite|gws:", "google-workspace"), (r"kube", "kubernetes-audit"), (r"github", "github-audit"),
    (r"powershell", "powershell"), (r"aws:cloudwatchlogs", "aws-cloudwatch"), (r"gcp|google:gcp", "gcp-audit"),
    (r"stream:http", "splunk-stream"), (r"suricata", "suricata"), (r"wineventlog:system", "windows-system"),
]
# CloudTrail eventSource of API names a search matches by eventName only (AWS API reference)
CLOUDTRAIL_SOURCES = {"consolelogin": "signin.amazonaws.com", "createloginprofile": "iam.amazonaws.com",
                      "updateloginprofile": "iam.amazonaws.com", "createvirtualmfadevice": "iam.amazonaws.com",
                      "updatesamlprovider": "iam.amazonaws.com", "createaccesskey": "iam.amazonaws.com",
                      "copyobject": "s3.amazonaws.com", "getobject": "s3.amazonaws.com", "deletebucket": "s3.amazonaws.com",
                      "putbucketversioning": "s3.amazonaws.com", "deletenetworkaclentry": "ec2.amazonaws.com",
                      "modifysnapshotattribute": "ec2.amazonaws.com", "modifyimageattribute": "ec2.amazonaws.com",
                      "assumerolewithsaml": "sts.amazonaws.com"}
DATAMODEL_SLUGS = {"Endpoint": "edr", "Network_Traffic": "network-traffic", "Web": "web-proxy",
                   "Network_Resolution": "dns", "Authentication": "authentication", "Change": "change-audit",
                   "Risk": "splunk-risk", "Email": "email", "Intrusion_Detection": "ids",
                   "Updates": "updates", "Certificates": "certificates", "Vulnerabilities": "vulnerability"}


class Splunk:
    name = "splunk-detections"
    repo_name = "splunk/security_content"
    tag = "splunk"

    def __init__(self, repo):
        self.repo = repo
        self.macros = {}
        for f in repo.files:
            if f.startswith("macros/") and f.endswith(".yml"):
                d = yaml_loads(repo.show(f)) or {}
                if isinstance(d.get("name"), str) and isinstance(d.get("definition"), str):
                    self.macros[d["name"]] = (d.get("arguments") or [], d["definition"])

    @staticmethod
    def detect(repo):
        return any(f.startswith("detections/") for f in repo.files) and any(f.startswith("macros/") for f in repo.files)

    def expand(self, s, depth=0):
        """Inline filter macros (one level of pipeline text, no '|' in the definition)."""
        meta = []

        def rep(m):
            body = m.group(1)
            name, args = body, []
            am = re.fullmatch(r"([\w.\-]+)\((.*)\)", body, re.S)
            if am:
                name, args = am.group(1), [a.strip() for a in am.group(2).split(",")]
            if name.endswith("_filter") or name.startswith("security_content_") or name == "drop_dm_object_name":
                return " "
            d = self.macros.get(name if not args else f"{name}({len(args)})") or self.macros.get(name)
            if not d or "|" in d[1] or depth > 5:
                return m.group(0)
            text = d[1]
            for a, v in zip(d[0], args):
                text = text.replace(f"${a}$", v)
            meta.append(name)
            return " (" + self.expand(text, depth + 1)[0] + ") "
        out = re.sub(r"`([^`]+)`", rep, s)
        return out, meta

    def condition_parts(self, search):
        """Filter expressions of the search: the base search or tstats 'where', plus '| search' stages."""
        stages = split_pipes(search)
        exprs = []
        datamodel = None
        first = True
        for st in stages:
            if not st:
                continue
            low = st.lower()
            if first:
                first = False
                if low.startswith("tstats") or low.startswith("from "):
                    dm = re.search(r"datamodel[=:]\s*\"?([A-Za-z_]+)", st)
                    datamodel = dm.group(1) if dm else None
                    m = re.search(r"\bwhere\b(.*?)(?:\bby\b|$)", st, re.S | re.I)
                    if m:
                        exprs.append(m.group(1))
                    continue
                if low.startswith(("inputlookup", "rest", "makeresults", "datamodel", "pivot", "mstats", "loadjob")):
                    return exprs, datamodel
                exprs.append(st[7:] if low.startswith("search ") else st)
                continue
            if re.match(r"(stats|eventstats|streamstats|chart|timechart|eval|anomalydetection|apply|fit|"
                        r"transaction|xyseries|join|append|appendpipe|lookup|inputlookup|outputlookup|top|rare|"
                        r"mvexpand|foreach|map|tstats|dedup|bin|bucket|fillnull)\b", low):
                break
            if low.startswith("search "):
                exprs.append(st[7:])
        return exprs, datamodel

    def fields_of(self, search):
        exprs, datamodel = self.condition_parts(search)
        prefixes = set(re.findall(r"drop_dm_object_name\(\"?([\w.]+)\"?\)", search))
        fields = {}
        sourcetypes = []
        for e in exprs:
            text, _ = self.expand(e)
            try:
                tree = parse_bool(spl_tokens(text), or_tighter=True)
            except ValueError:
                continue

            def canon(f):
                g = f.split(".")[-1]
                return "process_name" if g in ("process_name", "original_file_name") else f
            for f, v in required(tree, canon):
                base = f
                for p in prefixes:
                    if base.startswith(p + "."):
                        base = base[len(p) + 1:]
                if base in ("sourcetype", "source", "eventtype"):
                    sourcetypes.append(str(v))
                if base in SPLUNK_META_FIELDS:
                    continue
                put_field(fields, base, literal_value(v))
            # sourcetypes from OR'ed macro definitions (source selection, not a literal)
            sourcetypes += re.findall(r"\b(?:sourcetype|source|eventtype)\s*=\s*\"?([^\s\")]+)", text)
        fields = {k: v for k, v in sorted(fields.items()) if v is not None}
        return fields, sourcetypes, datamodel

    def build(self, attack, stats):
        out = []
        for path in sorted(self.repo.files):
            if not (path.startswith("detections/") and path.endswith(".yml")):
                continue
            if path.startswith("detections/deprecated/"):
                stats["left out: deprecated"] += 1
                continue
            d = yaml_loads(self.repo.show(path))
            if not isinstance(d, dict) or d.get("status") == "deprecated":
                stats["left out: deprecated"] += 1
                continue
            if d.get("type") not in ("TTP", "Anomaly"):
                stats[f"left out: type {d.get('type')}"] += 1
                continue
            tags = d.get("tags") or {}
            techs = attack.normalize(tags.get("mitre_attack_id") or [], stats)
            if not techs:
                stats["left out: no active ATT&CK technique"] += 1
                continue
            if "rba" in d and isinstance(d["rba"], dict) and isinstance(d["rba"].get("score"), (int, float)):
                score = d["rba"]["score"]
            elif isinstance(tags.get("risk_score"), (int, float)):
                score = tags["risk_score"]
            elif isinstance(tags.get("impact"), (int, float)) and isinstance(tags.get("confidence"), (int, float)):
                score = tags["impact"] * tags["confidence"] / 100
            else:
                score = None
            sev = severity_from_score(score) if score is not None else None
            ds = [x for x in (d.get("data_source") or []) if isinstance(x, str)]
            fields, sourcetypes, datamodel = self.fields_of(d.get("search") or "")
            if ds:
                slug = source_slug(ds[0].split(" AND ")[0])
            else:
                slug = None
                first = split_pipes(d.get("search") or "")[0]
                for mname in re.findall(r"`([\w]+)", first):
                    for rx, s in SLUGS:
                        if re.search(rx, mname.replace("_", " ").lower()):
                            slug = s
                            break
                    if slug:
                        break
                for st in [] if slug else sourcetypes:
                    for rx, s in SOURCETYPE_SLUGS:
                        if re.search(rx, st.lower()):
                            slug = s
                            break
                    if slug:
                        break
                slug = slug or DATAMODEL_SLUGS.get(datamodel or "", "splunk")
            if slug == "aws-cloudtrail" and "eventSource" not in fields and isinstance(fields.get("eventName"), str):
                es = CLOUDTRAIL_SOURCES.get(fields["eventName"].lower())
                if es:
                    fields = dict(sorted({**fields, "eventSource": es}.items()))
                    stats["eventSource added from eventName"] += 1
            name, nch = scrub(d["name"])
            desc, dch = scrub((d.get("description") or "").strip())
            stats["names scrubbed"] += nch
            stats["descriptions scrubbed"] += dch
            uid = str(d["id"])
            rule = {"id": uid, "name": name}
            if sev:
                rule["severity"] = sev
            if desc:
                rule["description"] = desc
            alert = {"id": f"splunk:{uid}", "source": slug, "time": TIME, "rule": rule, "fields": fields}
            line = {"id": f"real-splunk-{uid}", "alerts": [alert],
                    "gold": {"severity": sev, "techniques": techs, "disposition": "true_positive"},
                    "tags": ["real", "rule-alert", "splunk", f"splunk-{d['type'].lower()}", f"status-{d.get('status')}",
                             f"domain-{path.split('/')[1]}"],
                    "source": f"github:{self.repo_name}@{self.repo.short}:{path}", "license": "Apache-2.0"}
            out.append((line["id"], line))
        return out


# ======================================================================================
# Google SecOps (Chronicle) community rules
# ======================================================================================

def strip_c_comments(text):
    out = []
    i = 0
    n = len(text)
    q = None
    while i < n:
        c = text[i]
        if q:
            out.append(c)
            if c == "\\" and q == '"' and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == q:
                q = None
            i += 1
            continue
        if c in "\"`":
            q = c
            out.append(c)
            i += 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_YL_CMP = re.compile(r'\$(\w+)\.([\w.]+(?:\["[^"]*"\])?[\w.]*)\s*(!=|=|>=|<=|>|<)\s*("(?:[^"\\]|\\.)*"|`[^`]*`|/(?:[^/\\\n]|\\.)*/|-?\d+(?:\.\d+)?|\$\w+|%\w+|\w+)(\s+nocase)?')


def yaral_tokens(s):
    toks = []
    i = 0
    n = len(s)
    depth = 0
    while i < n:
        c = s[i]
        if c == "\n":
            if depth == 0:
                toks.append("NL")
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if c == "(":
            depth += 1
            toks.append("(")
            i += 1
            continue
        if c == ")":
            depth -= 1
            toks.append(")")
            i += 1
            continue
        m = _YL_CMP.match(s, i)
        if m:
            var, path, op, v = m.group(1), m.group(2), m.group(3), m.group(4)
            if op == "=" and v.startswith('"'):
                val = re.sub(r'\\(.)', r'\1', v[1:-1])
                toks.append(("ATOM", (var, path), val) if val != "" else ("ATOM", None, None))
            else:
                toks.append(("ATOM", None, None))
            i = m.end()
            continue
        m = re.compile(r"\b(and|or|not)\b").match(s, i)
        if m:
            toks.append(m.group(1).upper())
            i = m.end()
            continue
        # any other operand: function call, regex, literal, placeholder comparison ...
        j = i
        d2 = 0
        while j < n:
            ch = s[j]
            if ch in "\"`":
                k = _scan_quoted(s, j) if ch == '"' else s.find("`", j + 1) + 1
                j = n if k <= 0 else k
                continue
            if ch == "/" and (j == i or s[j - 1] in " =(,"):
                k = j + 1
                while k < n and s[k] != "/" and s[k] != "\n":
                    k += 2 if s[k] == "\\" else 1
                j = k + 1
                continue
            if ch == "(":
                d2 += 1
            elif ch == ")":
                if d2 == 0:
                    break
                d2 -= 1
            elif ch == "\n" and d2 == 0:
                break
            elif d2 == 0 and ch == " " and re.match(r"\s+(and|or)\b", s[j:]):
                break
            j += 1
        if j == i:
            j = i + 1
        toks.append(("ATOM", None, None))
        i = j
    return toks


class Chronicle:
    name = "chronicle-rules"
    repo_name = "chronicle/detection-rules"
    tag = "chronicle"

    def __init__(self, repo):
        self.repo = repo

    @staticmethod
    def detect(repo):
        return any(f.startswith("rules/community/") and f.endswith(".yaral") for f in repo.files)

    @staticmethod
    def sections(text):
        body = strip_c_comments(text)
        secs = {}
        cur = None
        for line in body.split("\n"):
            m = re.match(r"^\s*(meta|events|match|outcome|condition|options)\s*:\s*$", line)
            if m:
                cur = m.group(1)
                secs[cur] = []
                continue
            if cur:
                secs[cur].append(line)
        return {k: "\n".join(v) for k, v in secs.items()}

    @staticmethod
    def meta(sec):
        meta = {}
        for m in re.finditer(r'^\s*(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', sec, re.M):
            meta.setdefault(m.group(1), re.sub(r'\\(["\\])', r'\1', m.group(2)))
        return meta

    def build(self, attack, stats):
        out = []
        for path in sorted(self.repo.files):
            if not (path.startswith("rules/community/") and path.endswith(".yaral")):
                continue
            raw = self.repo.show(path)
            if re.search(r"sigma", raw, re.I):
                stats["left out: Sigma port (mentions Sigma/SigmaHQ)"] += 1
                continue
            secs = self.sections(raw)
            meta = self.meta(secs.get("meta", ""))
            rtype = meta.get("type", "").strip().lower()
            if rtype == "hunt":
                stats["left out: type hunt"] += 1
                continue
            ids = []
            for k, v in meta.items():
                if "technique" in k or k in ("mitre_attack_url",) or (k == "tags"):
                    ids += [x.replace("/", ".") for x in re.findall(r"T\d{4}(?:/\d{3})?(?:\.\d{3})?", v)]
            for m in re.finditer(r'\$mitre_attack_technique_id\s*=\s*"([^"]*)"', secs.get("outcome", "")):
                ids += re.findall(r"T\d{4}(?:\.\d{3})?", m.group(1))
            if not ids:
                for k in ("mitre_attack_technique", "technique"):
                    for part in re.split(r"\s*[,;]\s*", meta.get(k, "")):
                        tid = attack.by_name.get(part.strip().lower())
                        if tid:
                            ids.append(tid)
                            stats["techniques from technique names"] += 1
            techs = attack.normalize(ids, stats)
            if not techs:
                stats["left out: no active ATT&CK technique"] += 1
                continue
            sev = _NAMED_SEV.get(meta.get("severity", "").strip().lower())
            if meta.get("severity") and not sev:
                stats[f"unknown severity {meta.get('severity')}"] += 1
            ds = meta.get("data_source") or meta.get("platform") or ""
            slug = source_slug(ds.split(",")[0]) if ds.strip() else "google-secops"
            fields = {}
            try:
                tree = parse_bool(yaral_tokens(secs.get("events", "")), or_tighter=False)
                req = required(tree)
            except ValueError:
                req = []
                stats["events section not read"] += 1
            per_var = {}
            for (var, fpath), v in req:
                put_field(per_var.setdefault(var, {}), fpath, literal_value(v))
            per_var = {k: {a: b for a, b in sorted(v.items()) if b is not None} for k, v in per_var.items()}
            per_var = {k: v for k, v in per_var.items() if v}
            if len(per_var) == 1:
                fields = next(iter(per_var.values()))
            elif per_var:
                fields = {k: per_var[k] for k in sorted(per_var)}
            rname = meta.get("rule_name") or re.search(r"^\s*rule\s+(\w+)", raw, re.M).group(1)
            name, nch = scrub(rname)
            desc, dch = scrub(meta.get("description", "").strip())
            stats["names scrubbed"] += nch
            stats["descriptions scrubbed"] += dch
            rid = meta.get("rule_id") or re.search(r"^\s*rule\s+(\w+)", raw, re.M).group(1)
            rid = re.sub(r"[^A-Za-z0-9_.:@-]", "_", rid)
            rule = {"id": rid, "name": name}
            if sev:
                rule["severity"] = sev
            if desc:
                rule["description"] = desc
            alert = {"id": f"chronicle:{rid}"[:128], "source": slug, "time": TIME, "rule": rule, "fields": fields}
            tags = ["real", "rule-alert", "chronicle"]
            if rtype:
                tags.append(f"chronicle-{rtype}")
            if meta.get("platform"):
                tags.append(f"platform-{slugify(meta['platform'].split(',')[0])}")
            line = {"id": f"real-chronicle-{rid}", "alerts": [alert],
                    "gold": {"severity": sev, "techniques": techs, "disposition": "true_positive"},
                    "tags": tags, "source": f"github:{self.repo_name}@{self.repo.short}:{path}",
                    "license": "Apache-2.0"}
            out.append((line["id"], line))
        return out


# ======================================================================================
# MITRE CAR
# ======================================================================================

_CAR_CMP = re.compile(r'([A-Za-z_][\w.]*)\s*(==|!=|=|>=|<=|>|<|\bmatch\b|\bin\b)\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\]|\([^)]*\)|[^\s()]+)')


def car_tokens(s):
    toks = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            toks.append(c)
            i += 1
            continue
        m = re.compile(r"\b(and|or|not|AND|OR|NOT)\b").match(s, i)
        if m:
            toks.append(m.group(1).upper())
            i = m.end()
            continue
        m = _CAR_CMP.match(s, i)
        if m:
            f, op, v = m.group(1), m.group(2), m.group(3)
            if op in ("==", "=") and v.startswith('"'):
                val = v[1:-1].replace('\\"', '"')
                toks.append(("ATOM", f, val) if not has_wild(val) else ("ATOM", None, None))
            else:
                toks.append(("ATOM", None, None))
            i = m.end()
            continue
        m = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s()]+').match(s, i)
        toks.append(("ATOM", None, None))
        i = m.end()
    return toks


class Car:
    name = "car-analytics"
    repo_name = "mitre-attack/car"
    tag = "car"

    def __init__(self, repo):
        self.repo = repo

    @staticmethod
    def detect(repo):
        return any(f.startswith("analytics/CAR-") for f in repo.files)

    def pseudo_fields(self, d):
        codes = [im.get("code") or "" for im in d.get("implementations") or []
                 if str(im.get("type", "")).lower() in ("pseudocode", "psuedocode")]
        if len(codes) != 1:
            return {}
        code = codes[0]
        filters = re.findall(r"\bfilter\s+\w+\s+where\s*", code)
        if len(filters) != 1 or re.search(r"\bjoin\b|\bgroup\b", code):
            return {}
        start = code.index(filters[0]) + len(filters[0])
        rest = code[start:]
        if not rest.startswith("("):
            return {}
        depth = 0
        end = None
        for k, ch in enumerate(rest):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    end = k
                    break
        if end is None:
            return {}
        try:
            tree = parse_bool(car_tokens(rest[:end + 1]), or_tighter=False)
        except ValueError:
            return {}
        fields = {}
        for f, v in required(tree):
            put_field(fields, f, literal_value(v))
        return {k: v for k, v in sorted(fields.items()) if v is not None}

    def build(self, attack, stats):
        out = []
        for path in sorted(self.repo.files):
            if not (path.startswith("analytics/CAR-") and path.endswith(".yaml")):
                continue
            d = yaml_loads(self.repo.show(path))
            ids = []
            for cov in d.get("coverage") or []:
                subs = [s for s in cov.get("subtechniques") or [] if s]
                ids += subs if subs else [cov.get("technique") or ""]
            techs = attack.normalize(ids, stats)
            if not techs:
                stats["left out: no active ATT&CK technique"] += 1
                continue
            fields = {}
            refs = [r for r in d.get("data_model_references") or [] if isinstance(r, str)]
            objs = sorted({"/".join(r.split("/")[:2]) for r in refs})
            if len(objs) == 1:
                obj, act = objs[0].split("/")
                fields["object"], fields["action"] = obj, act
            fields.update(self.pseudo_fields(d))
            snippet = None
            for tp in d.get("true_positives") or []:
                sn = tp.get("event_snippet")
                if sn and self.repo.has(f"docs/true_positives/{sn}"):
                    snippet = json.loads(self.repo.show(f"docs/true_positives/{sn}"))
                    break
            tags = ["real", "rule-alert", "car"]
            if snippet is not None:
                fields = snippet if isinstance(snippet, dict) else {"event": snippet}
                tags.append("recorded-event")
                stats["with recorded true-positive event"] += 1
            dom = str(d.get("information_domain") or "")
            if "Network" in dom and "Host" not in dom:
                slug = "network-flow"
            elif snippet is not None or any(str(im.get("data_model", "")).lower().startswith("sysmon") for im in d.get("implementations") or []):
                slug = "sysmon" if "Host" in dom else "car"
            else:
                slug = "endpoint" if "Host" in dom else "car"
            name, nch = scrub(d["title"])
            desc, dch = scrub(str(d.get("description") or "").strip())
            stats["names scrubbed"] += nch
            stats["descriptions scrubbed"] += dch
            rule = {"id": d["id"], "name": name}
            if desc:
                rule["description"] = desc
            alert = {"id": f"car:{d['id']}", "source": slug, "time": TIME, "rule": rule, "fields": fields}
            for p in d.get("platforms") or []:
                tags.append(f"platform-{slugify(str(p))}")
            line = {"id": f"real-car-{d['id']}", "alerts": [alert],
                    "gold": {"severity": None, "techniques": techs, "disposition": "true_positive"},
                    "tags": tags, "source": f"github:{self.repo_name}@{self.repo.short}:{path}",
                    "license": "Apache-2.0"}
            out.append((line["id"], line))
        return out


# ======================================================================================
# Falco rules
# ======================================================================================

FALCO_SEV = {"emergency": "critical", "alert": "critical", "critical": "critical", "error": "high",
             "warning": "medium", "notice": "low", "informational": "informational", "info": "informational",
             "debug": "informational"}
_FALCO_CMP = re.compile(r'([a-z][\w.]*(?:\[[^\]]*\])?)\s*(=|==|!=|<=|>=|<|>|\bin\b|\bpmatch\b|\bintersects\b|\bcontains\b|\bicontains\b|\bstartswith\b|\bendswith\b|\bglob\b|\bbcontains\b|\bregex\b)\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|\([^)]*\)|[^\s()]+)')


class Falco:
    name = "falco-rules"
    repo_name = "falcosecurity/rules"
    tag = "falco"
    FILES = ["rules/falco_rules.yaml", "rules/falco-incubating_rules.yaml", "rules/falco-sandbox_rules.yaml"]

    def __init__(self, repo):
        self.repo = repo

    @staticmethod
    def detect(repo):
        return "rules/falco_rules.yaml" in repo.files

    def tokens(self, s, macros, lists, depth=0):
        toks = []
        i = 0
        n = len(s)
        while i < n:
            c = s[i]
            if c.isspace():
                i += 1
                continue
            if c in "()":
                toks.append(c)
                i += 1
                continue
            m = re.compile(r"\b(and|or|not)\b").match(s, i)
            if m:
                toks.append(m.group(1).upper())
                i = m.end()
                continue
            m = _FALCO_CMP.match(s, i)
            if m:
                f, op, v = m.group(1), m.group(2), m.group(3)
                atom = ("ATOM", None, None)
                if op in ("=", "=="):
                    val = v[1:-1] if v[:1] in "\"'" else v
                    if not v.startswith("(") and val not in lists:
                        atom = ("ATOM", f, val)
                elif op == "in" and v.startswith("("):
                    items = []
                    for it in re.findall(r'"[^"]*"|\'[^\']*\'|[^,\s()]+', v[1:-1]):
                        it = it.strip("\"'")
                        items += lists.get(it, [it]) if depth < 5 else [it]
                    if len(items) == 1 and items[0] not in lists:
                        atom = ("ATOM", f, items[0])
                toks.append(atom)
                i = m.end()
                continue
            m = re.compile(r"[\w.\-\[\]]+").match(s, i)
            if m and m.group(0) in macros and depth < 8:
                inner = self.tokens(macros[m.group(0)], macros, lists, depth + 1)
                toks += ["("] + inner + [")"]
                i = m.end()
                continue
            m = re.compile(r'"[^"]*"|\S+?(?=[\s()]|$)').match(s, i)
            toks.append(("ATOM", None, None))
            i = m.end() if m and m.end() > i else i + 1
        return toks

    def build(self, attack, stats):
        out = []
        macros, lists, rules = {}, {}, []
        for path in self.FILES:
            if path not in self.repo.files:
                continue
            for item in yaml_loads(self.repo.show(path)) or []:
                if not isinstance(item, dict):
                    continue
                if "macro" in item and "condition" in item:
                    macros[item["macro"]] = str(item["condition"])
                elif "list" in item:
                    lists[item["list"]] = [str(x) for x in item.get("items") or []]
                elif "rule" in item and "desc" in item:
                    rules.append((path, item))
        for path, r in rules:
            if r.get("enabled") is False:
                stats["left out: disabled by default"] += 1
                continue
            rtags = [str(t) for t in r.get("tags") or []]
            if "maturity_deprecated" in rtags:
                stats["left out: deprecated"] += 1
                continue
            techs = attack.normalize([t for t in rtags if TECH_RE.fullmatch(t)], stats)
            if not techs:
                stats["left out: no active ATT&CK technique"] += 1
                continue
            sev = FALCO_SEV.get(str(r.get("priority", "")).lower())
            try:
                tree = parse_bool(self.tokens(str(r.get("condition", "")), macros, lists), or_tighter=False)
                req = required(tree)
            except ValueError:
                req = []
                stats["condition not read"] += 1
            fields = {}
            for f, v in req:
                put_field(fields, f, literal_value(v))
            fields = {k: v for k, v in sorted(fields.items()) if v is not None}
            name, nch = scrub(r["rule"])
            desc, dch = scrub(str(r.get("desc") or "").strip())
            stats["names scrubbed"] += nch
            stats["descriptions scrubbed"] += dch
            rid = slugify(r["rule"])
            rule = {"id": rid, "name": name}
            if sev:
                rule["severity"] = sev
            if desc:
                rule["description"] = desc
            src = "kubernetes-audit" if "k8s_audit" in rtags else "falco"
            alert = {"id": f"falco:{rid}", "source": src, "time": TIME, "rule": rule, "fields": fields}
            tags = ["real", "rule-alert", "falco"] + [t.replace("_", "-") for t in rtags if t.startswith("maturity_")]
            line = {"id": f"real-falco-{rid}", "alerts": [alert],
                    "gold": {"severity": sev, "techniques": techs, "disposition": "true_positive"},
                    "tags": tags, "source": f"github:{self.repo_name}@{self.repo.short}:{path}",
                    "license": "Apache-2.0"}
            out.append((line["id"], line))
        return out


# ======================================================================================
# Panther analysis (rules with malicious and benign test events)
# ======================================================================================

PANTHER_SLUGS = {"AWS.CloudTrail": "aws-cloudtrail", "GCP.AuditLog": "gcp-audit", "Azure.MonitorActivity": "azure-activity",
                 "Azure.Audit": "azure-ad", "GSuite.ActivityEvent": "google-workspace", "GSuite.Reports": "google-workspace",
                 "Okta.SystemLog": "okta", "GitHub.Audit": "github-audit", "GitHub.Webhook": "github-webhook",
                 "Amazon.EKS.Audit": "kubernetes-audit", "GCP.K8s": "kubernetes-audit",
                 "Crowdstrike.FDREvent": "crowdstrike", "Crowdstrike.EventStreams": "crowdstrike",
                 "Crowdstrike.DNSRequest": "crowdstrike", "Crowdstrike.DetectionSummary": "crowdstrike",
                 "AWS.VPCFlow": "aws-vpcflow", "AWS.GuardDuty": "aws-guardduty",
                 "AWS.SecurityFindingFormat": "aws-securityhub", "OneLogin.Events": "onelogin",
                 "Osquery.Differential": "osquery", "Microsoft365.Audit.AzureActiveDirectory": "o365",
                 "Microsoft365.Audit.SharePoint": "o365", "Microsoft365.Audit.Exchange": "o365",
                 "Microsoft365.Audit.General": "o365"}
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]+$")


def dig(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def panther_entities(logtype, log):
    ent = {}

    def add(kind, v):
        if isinstance(v, str) and v.strip() and v not in ent.setdefault(kind, []):
            ent[kind].append(v)
    if not isinstance(log, dict):
        return {}
    if logtype == "AWS.CloudTrail":
        ui = log.get("userIdentity") or {}
        add("users", ui.get("arn") if isinstance(ui, dict) else None)
        ip = log.get("sourceIPAddress")
        if isinstance(ip, str) and _IPV4.match(ip):
            add("ips", ip)
        add("cloud_accounts", str(log.get("recipientAccountId")) if log.get("recipientAccountId") is not None else None)
    elif logtype == "Okta.SystemLog":
        add("users", dig(log, "actor", "alternateId"))
        add("ips", dig(log, "client", "ipAddress"))
    elif logtype == "GitHub.Audit":
        add("users", log.get("actor"))
        add("repositories", log.get("repo"))
    elif logtype == "GCP.AuditLog":
        add("users", dig(log, "protoPayload", "authenticationInfo", "principalEmail"))
        ip = dig(log, "protoPayload", "requestMetadata", "callerIp")
        if isinstance(ip, str) and _IPV4.match(ip):
            add("ips", ip)
    return {k: v for k, v in ent.items() if v}


class Panther:
    name = "panther-rules"
    repo_name = "panther-labs/panther-analysis"
    tag = "panther"
    group_split = True   # a rule's malicious and benign events go to the same half

    def __init__(self, repo):
        self.repo = repo

    @staticmethod
    def detect(repo):
        return "global_helpers/panther_base_helpers.py" in repo.files and any(f.startswith("rules/") for f in repo.files)

    def build(self, attack, stats):
        out = []
        files = set(self.repo.files)
        for path in sorted(self.repo.files):
            if not (path.startswith("rules/") and path.endswith((".yml", ".yaml"))):
                continue
            d = yaml_loads(self.repo.show(path))
            if not isinstance(d, dict) or d.get("AnalysisType") != "rule":
                stats[f"left out: AnalysisType {d.get('AnalysisType') if isinstance(d, dict) else '?'}"] += 1
                continue
            if d.get("Enabled") is not True:
                stats["left out: rule not enabled"] += 1
                continue
            raw = []
            for k, v in (d.get("Reports") or {}).items():
                if str(k).upper().startswith("MITRE"):
                    for e in v or []:
                        raw += re.findall(r"T\d{4}(?:\.\d{3})?", str(e))
            techs = attack.normalize(raw, stats)
            if not techs:
                stats["left out: no active ATT&CK technique"] += 1
                continue
            tests = [t for t in d.get("Tests") or [] if isinstance(t, dict) and isinstance(t.get("Log"), dict)]
            pos = [(i, t) for i, t in enumerate(tests) if t.get("ExpectedResult") is True]
            neg = [(i, t) for i, t in enumerate(tests) if t.get("ExpectedResult") is False]
            if not pos:
                stats["left out: no malicious test event"] += 1
                continue
            py = d.get("Filename")
            dynamic = False
            if py:
                pyp = path.rsplit("/", 1)[0] + "/" + py
                if pyp in files:
                    dynamic = re.search(r"^def severity\(", self.repo.show(pyp), re.M) is not None
            sev = None if dynamic else _NAMED_SEV.get(str(d.get("Severity", "")).lower())
            stats["rules with event-dependent severity (severity null)"] += dynamic
            logtypes = [str(x) for x in d.get("LogTypes") or []]
            lt = logtypes[0] if logtypes else ""
            slug = PANTHER_SLUGS.get(lt) or slugify(lt.replace(".", "-")) or "panther"
            name, nch = scrub(str(d.get("DisplayName") or d.get("RuleID")))
            desc, dch = scrub(str(d.get("Description") or "").strip())
            stats["names scrubbed"] += nch
            stats["descriptions scrubbed"] += dch
            rid = str(d["RuleID"])
            safe = re.sub(r"[^A-Za-z0-9_.:@-]", "_", rid)
            picks = [("tp", pos[0])] + ([("bn", neg[0])] if neg else [])
            stats["rules with a benign test event"] += bool(neg)
            for kind, (idx, t) in picks:
                rule = {"id": rid, "name": name}
                if sev:
                    rule["severity"] = sev
                if desc:
                    rule["description"] = desc
                alert = {"id": f"panther:{safe}:{idx}"[:128], "source": slug, "time": TIME, "rule": rule}
                ent = panther_entities(lt, t["Log"])
                if ent:
                    alert["entities"] = ent
                alert["fields"] = t["Log"]
                tags = ["real", "rule-alert", "panther", f"logtype-{slugify(lt)}",
                        "panther-expected-true" if kind == "tp" else "panther-expected-false"]
                if t.get("Mocks"):
                    tags.append("mocked-helpers")
                if dynamic:
                    tags.append("event-dependent-severity")
                if kind == "bn" and re.search(r"error|fail|denied|unsuccessful|unauthori", str(t.get("Name", "")), re.I):
                    tags.append("failed-action")
                if kind == "tp":
                    gold = {"severity": sev, "techniques": techs, "disposition": "true_positive"}
                else:
                    gold = {"severity": "informational", "techniques": [], "disposition": "benign"}
                line = {"id": f"real-panther-{safe}-{kind}{idx}", "alerts": [alert], "gold": gold, "tags": tags,
                        "source": f"github:{self.repo_name}@{self.repo.short}:{path}#Tests[{idx}]",
                        "license": "Apache-2.0"}
                out.append((rid, line))
        return out


# ======================================================================================
# Microsoft Sentinel analytic rules (Azure/Azure-Sentinel), from an exported directory
# ======================================================================================
# The repository is read file by file (a snapshot of it is too large to fetch), so the input
# is a directory of rule YAMLs exported as read plus COMMITS.tsv (path <TAB> commit of the
# version read). Only the top-level fields below are needed; they are read by a small,
# forgiving line reader because some published rules are not strictly valid YAML (an
# entity mapping without `fieldMappings:`, `description: | 'text` on one line).

_SENT_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(?:\s+(.*?))?\s*$")


def _sent_unquote(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == "'":
        return v[1:-1].replace("''", "'")
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return json.loads(v) if "\\" in v else v[1:-1]
    return v


def sentinel_fields(text):
    """Top-level scalar, block-scalar and list fields of a Sentinel rule YAML."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out, i, n = {}, 0, len(lines)
    while i < n:
        m = _SENT_KEY.match(lines[i])
        if not m:
            i += 1
            continue
        key, val = m.group(1), (m.group(2) or "")
        j = i + 1
        body = []
        while j < n and (not lines[j].strip() or lines[j][:1] in (" ", "\t", "-") or lines[j].lstrip().startswith("#")):
            if lines[j][:1] == "-" or lines[j][:1] in (" ", "\t") or not lines[j].strip():
                body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            body.pop()
        style = re.match(r"^([|>])([-+]?)\s*(.*)$", val)
        if style:                       # block scalar (also `| 'text` written on the key line)
            rest = style.group(3)
            rest = "" if rest.startswith("#") else rest
            ind = min((len(l) - len(l.lstrip(" ")) for l in body if l.strip()), default=0)
            blk = ([rest] if rest else []) + [l[ind:] for l in body]
            if style.group(1) == ">":
                paras, cur = [], []
                for l in blk:
                    if l.strip():
                        cur.append(l.strip())
                    elif cur:
                        paras.append(" ".join(cur)); cur = []
                if cur:
                    paras.append(" ".join(cur))
                out[key] = "\n".join(paras)
            else:
                out[key] = "\n".join(blk)
        elif val.startswith("["):       # flow list
            out[key] = [_sent_unquote(x) for x in val.strip("[] ").split(",") if x.strip()]
        elif val:
            out[key] = _sent_unquote(re.sub(r"\s+#.*$", "", val) if not val.startswith(("'", '"')) else val)
        else:                           # block list or mapping: keep the raw body
            items = [re.sub(r"\s+#.*$", "", l.strip()[1:].strip()) for l in body if re.match(r"^\s*-\s+\S", l)]
            out[key] = {"_items": [_sent_unquote(x) for x in items], "_body": body}
        i = j
    return out


def sentinel_datatypes(field):
    """dataTypes of requiredDataConnectors, in file order, without duplicates."""
    if not isinstance(field, dict):
        return []
    out, in_dt = [], False
    for l in field["_body"]:
        s = l.strip()
        if s.startswith("dataTypes:") or s.startswith("- dataTypes:"):
            in_dt = True
            continue
        if re.match(r"^-?\s*connectorId:", s):
            in_dt = False
            continue
        if in_dt and s.startswith("- "):
            t = _sent_unquote(s[2:].strip()).split(" (")[0].strip()
            if t and t not in out:
                out.append(t)
    return out


SENTINEL_SOURCES = [   # first data type -> alert source slug
    (r"^securityevents?$|^windowsevent$", "windows-security"), (r"^device\w*events$|^deviceinfo$", "defender-endpoint"),
    (r"^azureactivity$", "azure-activity"),
    (r"^(signinlogs|auditlogs|aadnoninteractiveusersigninlogs|aadserviceprincipalsigninlogs)$", "azure-ad"),
    (r"^officeactivity$", "o365"), (r"^awscloudtrail$", "aws-cloudtrail"), (r"^gcp", "gcp-audit"),
    (r"^okta", "okta"), (r"^github", "github-audit"), (r"^syslog$", "syslog"), (r"^dnsevents$", "dns"),
    (r"^commonsecuritylog$", "cef"), (r"^slackaudit", "slack-audit"),
    (r"^salesforceservicecloud", "salesforce"), (r"^dynamics365activity$", "dynamics365"),
    (r"^jiraaudit$", "jira-audit"), (r"^cloudflare", "cloudflare"),
]
SENTINEL_FAMILIES = [  # path prefix -> family for the breakdown tag
    ("Detections/SecurityEvent/", "windows"), ("Solutions/Windows Security Events/", "windows"),
    ("Solutions/Microsoft Defender XDR/", "windows"), ("Solutions/Endpoint Threat Protection Essentials/", "windows"),
    ("Solutions/Azure Activity/", "azure-activity"), ("Detections/AzureActivity/", "azure-activity"),
    ("Solutions/Microsoft Entra ID/", "entra"), ("Solutions/Microsoft 365/", "office365"),
    ("Solutions/Amazon Web Services/", "aws"), ("Solutions/GoogleCloudPlatformIAM/", "gcp"),
    ("Solutions/Google Cloud Platform Audit Logs/", "gcp"), ("Solutions/Okta Single Sign-On/", "saas"),
    ("Solutions/GitHub/", "saas"), ("Solutions/PaloAlto-PAN-OS/", "network"),
    ("Solutions/Network Session Essentials/", "network"), ("Solutions/DNS Essentials/", "network"),
    ("Solutions/Windows Server DNS/", "network"), ("Solutions/Syslog/", "linux"),
    ("Solutions/SlackAudit/", "saas"), ("Solutions/Salesforce Service Cloud/", "saas"),
    ("Solutions/Dynamics 365/", "saas"), ("Solutions/AtlassianJiraAudit/", "saas"),
    ("Solutions/CiscoASA/", "network"), ("Solutions/Zscaler Internet Access/", "network"),
    ("Solutions/Cloudflare/", "network"),
]
SENTINEL_SEV = {"informational": "informational", "low": "low", "medium": "medium", "high": "high"}
_SENT_FOREIGN = re.compile(r"\bsigma(?:hq)?\b|elastic/detection-rules|\belastic (?:detection )?rules?\b|"
                           r"atomic[ -]red[ -]team|redcanaryco", re.I)
_KQL_EQ = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*==\s*(\"[^\"\n]*\"|'[^'\n]*'|-?\d+)(?![\w.])")


def sentinel_query_fields(query, table):
    """Literal equality tests every result must satisfy: `| where` stages of a query that reads
    one table in one pipeline (no let/union/join), without or/not/negation in the stage."""
    q = "\n".join(re.sub(r"(^|\s)//.*$", "", l) for l in query.split("\n"))
    if re.search(r"\b(let|union|join|lookup|materialize)\b", q):
        return {}
    stages = re.split(r"\n\s*\|", "\n" + q.strip())
    if not stages or stages[1 if stages[0] == "" else 0].strip().split()[:1] != [table]:
        return {}
    fields = {}
    for st in stages:
        st = st.strip()
        if not st.startswith("where "):
            continue
        if re.search(r"\bor\b|\bnot\s*\(|!|\bhas_any\b|\bin~?\s*\(", st, re.I):
            continue
        for k, v in _KQL_EQ.findall(st):
            if re.search(r"\b" + k + r"\s*=(?!=)", q) or re.search(r"\b(parse|evaluate|mv-expand|mvexpand)\b", q):
                continue                # a column the query computes, not an event field
            put_field(fields, k, literal_value(_sent_unquote(v)))
    return {k: v for k, v in fields.items() if v is not None}


class Sentinel:
    name = "sentinel-rules"
    repo_name = "Azure/Azure-Sentinel"
    tag = "sentinel"
    license = "MIT"

    def __init__(self, export_dir):
        self.dir = export_dir
        self.commits = {}
        with open(os.path.join(export_dir, "COMMITS.tsv"), encoding="utf-8") as fh:
            for row in fh.read().splitlines()[1:]:
                path, commit = row.split("\t")
                if not re.fullmatch(r"[0-9a-f]{40}", commit):
                    raise SystemExit(f"COMMITS.tsv: bad commit for {path}")
                self.commits[path] = commit

    def build(self, attack, stats):
        out, seen = [], {}
        for path in sorted(self.commits):
            if not path.endswith(".yaml"):
                stats["left out: not a .yaml rule"] += 1
                continue
            with open(os.path.join(self.dir, path), encoding="utf-8") as fh:
                text = fh.read()
            d = sentinel_fields(text)
            rid, rname = str(d.get("id", "")).strip(), str(d.get("name", "")).strip()
            techs_raw = d.get("relevantTechniques")
            techs_raw = techs_raw["_items"] if isinstance(techs_raw, dict) else (techs_raw or [])
            if not rid or not rname or not d.get("query"):
                stats["left out: no id/name/query (moved or retired stub)"] += 1
                continue
            tags_f = d.get("tags")
            tags_txt = " ".join(tags_f["_items"]) if isinstance(tags_f, dict) else str(tags_f or "")
            if _SENT_FOREIGN.search(str(d.get("description", "")) + " " + tags_txt):
                stats["left out: says it comes from Sigma/Elastic/Atomic Red Team"] += 1
                continue
            techs = attack.normalize(techs_raw, stats)
            if not techs:
                stats["left out: no active relevantTechniques"] += 1
                continue
            sev = SENTINEL_SEV.get(str(d.get("severity", "")).strip().lower())
            if sev is None:
                stats[f"left out: severity {d.get('severity')!r}"] += 1
                continue
            if rid in seen:
                stats["left out: duplicate rule id"] += 1
                continue
            seen[rid] = path
            dtypes = sentinel_datatypes(d.get("requiredDataConnectors"))
            family = next((f for p, f in SENTINEL_FAMILIES if path.startswith(p)), "other")
            known = [t for t in dtypes if any(re.search(rx, t.lower()) for rx, _ in SENTINEL_SOURCES)]
            table = (known or dtypes or [""])[0]
            if not table:
                m = re.search(r"^\s*([A-Z][A-Za-z0-9_]+)\s*$", d["query"], re.M)
                table = m.group(1) if m else ""
            slug = next((s for rx, s in SENTINEL_SOURCES if re.search(rx, table.lower())), slugify(table or family))
            if table == "Event" and re.search(r"sysmon", d["query"], re.I):
                slug = "sysmon"
            elif table == "Event":
                slug = "windows-event"
            if slug == "cef" and "PaloAlto" in path:
                slug = "paloalto"
            elif slug == "cef" and "CiscoASA" in path:
                slug = "cisco-asa"
            elif slug == "cef" and "Zscaler" in path:
                slug = "zscaler"
            if re.search(r"\b_Im_Dns\b", d["query"]):          # ASIM parsers: normalised schema, not the
                slug = "dns"                                     # first vendor table listed as a connector
            elif re.search(r"\b_Im_NetworkSession\b", d["query"]):
                slug = "network-session"
            desc = str(d.get("description", "")).strip()
            if len(desc) >= 2 and desc[0] == "'" and desc.rstrip()[-1] == "'":
                desc = desc[1:-1]
            desc = re.sub(r"[ \t]*\n[ \t]*", "\n", desc.strip())
            name_s, _ = scrub(rname)
            desc_s, _ = scrub(desc)
            fields = {"Type": table} if table else {}
            fields.update(sentinel_query_fields(d["query"], table))
            kind = str(d.get("kind", "Scheduled")).strip().lower() or "scheduled"
            tags = ["real", "rule-alert", self.tag, f"family-{family}", f"kind-{kind}"]
            if len(dtypes) > 1:
                tags.append("multi-table")
            alert = {"id": f"sentinel:{rid}", "source": slug, "time": TIME,
                     "rule": {"id": rid, "name": name_s, "severity": sev, "description": desc_s},
                     "fields": fields}
            line = {"id": f"real-sentinel-{rid}", "alerts": [alert],
                    "gold": {"severity": sev, "techniques": techs, "disposition": "true_positive"},
                    "tags": tags, "source": f"github:{self.repo_name}@{self.commits[path]}:{path}",
                    "license": self.license}
            stats[f"family {family}"] += 1
            out.append((line["id"], line))
        return out


SOURCES = [Splunk, Chronicle, Car, Falco, Panther]
LICENSE_FILES = {"splunk-detections": "LICENSE", "chronicle-rules": "LICENSE", "car-analytics": "LICENSE.txt",
                 "falco-rules": "LICENSE", "panther-rules": "LICENSE.txt"}


# ======================================================================================
# validation, sampling, split, write
# ======================================================================================

def check_line(line, active, problems):
    w = line.get("id", "?")
    if set(line) != {"id", "alerts", "gold", "tags", "source", "license"}:
        problems.append(f"{w}: bad line keys {sorted(line)}")
    if not isinstance(line.get("alerts"), list) or len(line["alerts"]) != 1:
        problems.append(f"{w}: expected one alert")
        return
    a = line["alerts"][0]
    if set(a) - ALERT_KEYS:
        problems.append(f"{w}: unknown alert keys {sorted(set(a) - ALERT_KEYS)}")
    for k in ("id", "source", "time", "rule"):
        if k not in a:
            problems.append(f"{w}: alert missing {k}")
    if not ALERT_ID_RE.match(str(a.get("id", ""))):
        problems.append(f"{w}: bad alert id {a.get('id')!r}")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(a.get("time", ""))):
        problems.append(f"{w}: bad time")
    if not isinstance(a.get("source"), str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", a["source"]):
        problems.append(f"{w}: bad source slug {a.get('source')!r}")
    r = a.get("rule", {})
    if not isinstance(r, dict) or set(r) - RULE_KEYS or not isinstance(r.get("name"), str) or not r["name"].strip():
        problems.append(f"{w}: bad rule object")
    elif "severity" in r and r["severity"] not in SEV:
        problems.append(f"{w}: bad rule severity {r['severity']!r}")
    for k, vv in (a.get("entities") or {}).items():
        if k not in ENTITY_KEYS or not isinstance(vv, list) or not all(isinstance(x, str) for x in vv):
            problems.append(f"{w}: bad entities.{k}")
    if "asset" in a:
        problems.append(f"{w}: asset is not derived from the source")
    if not isinstance(a.get("fields", {}), dict):
        problems.append(f"{w}: fields is not an object")
    blob = json.dumps({"name": r.get("name"), "description": r.get("description")})
    if TECH_RE.search(blob) or re.search(r"MITRE|ATT&CK", blob):
        problems.append(f"{w}: rule text still carries an ATT&CK label")
    g = line.get("gold", {})
    if set(g) != {"severity", "techniques", "disposition"}:
        problems.append(f"{w}: bad gold keys")
    if g.get("severity") is not None and g.get("severity") not in SEV:
        problems.append(f"{w}: bad gold severity")
    if g.get("disposition") not in ("true_positive", "benign", "false_positive"):
        problems.append(f"{w}: bad disposition")
    for t in g.get("techniques", []):
        if t not in active:
            problems.append(f"{w}: technique {t} not active")
    if g.get("disposition") == "true_positive" and not g.get("techniques"):
        problems.append(f"{w}: true positive without techniques")
    if g.get("disposition") != "true_positive" and g.get("techniques"):
        problems.append(f"{w}: benign line with techniques")
    if not str(line.get("source", "")).startswith("github:") or line.get("license") not in ("Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause"):
        problems.append(f"{w}: missing attribution or licence")


def check_license(repo, path):
    text = repo.show(path)
    if "Apache License" not in text or "Version 2.0" not in text:
        raise SystemExit(f"{repo.gitdir}: {path} is not the Apache License 2.0; refusing")


def select(items, cap, group_split):
    """Keep at most `cap` lines, choosing whole groups by hash; return (dev, test)."""
    groups = {}
    for key, line in items:
        groups.setdefault(key if group_split else line["id"], []).append(line)
    order = sorted(groups, key=lambda k: sha("sample:" + k))
    kept, n = [], 0
    for k in order:
        if n + len(groups[k]) > cap:
            if n >= cap:
                break
            continue
        kept.append(k)
        n += len(groups[k])
    dev, test = [], []
    for k in sorted(kept):
        half = dev if int(sha(k)[:2], 16) % 2 == 0 else test
        half.extend(sorted(groups[k], key=lambda l: l["id"]))
    return sorted(dev, key=lambda l: l["id"]), sorted(test, key=lambda l: l["id"])


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for l in lines:
            fh.write(json.dumps(l, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n")


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gitdirs", nargs="*", help="git directories of the source repositories")
    ap.add_argument("--sentinel", metavar="EXPORT_DIR",
                    help="directory of Azure/Azure-Sentinel rule YAMLs exported as read, with COMMITS.tsv")
    ap.add_argument("--attack", default=os.environ.get("TRIAGE_ATTACK_BUNDLE", "/work/shared/attack/enterprise-attack.json"))
    ap.add_argument("--out", default=os.path.join(here, "real"))
    ap.add_argument("--cap", type=int, default=CAP, help="max lines per set (dev + test)")
    args = ap.parse_args()
    if not args.gitdirs and not args.sentinel:
        ap.error("give at least one git directory or --sentinel")

    attack = Attack(args.attack)
    results = []
    problems = []
    if args.sentinel:
        src = Sentinel(args.sentinel)
        stats = Counter()
        items = src.build(attack, stats)
        for _, line in items:
            check_line(line, attack.active, problems)
        dev, test = select(items, args.cap, False)
        results.append((src, None, stats, items, dev, test))
    for gd in args.gitdirs:
        repo = Repo(gd)
        kinds = [S for S in SOURCES if S.detect(repo)]
        if len(kinds) != 1:
            raise SystemExit(f"{gd}: not one of the supported repositories")
        src = kinds[0](repo)
        check_license(repo, LICENSE_FILES[src.name])
        stats = Counter()
        items = src.build(attack, stats)
        for _, line in items:
            if TECH_RE.search(json.dumps(line["alerts"][0].get("fields", {}))):
                line["tags"].append("fields-carry-attack-id")
                stats["events that carry an ATT&CK ID themselves (tagged)"] += 1
            check_line(line, attack.active, problems)
        dev, test = select(items, args.cap, getattr(src, "group_split", False))
        results.append((src, repo, stats, items, dev, test))
    ids = Counter(l["id"] for *_, dev, test in results for l in dev + test)
    problems += [f"{i}: duplicate line id" for i, n in ids.items() if n > 1]
    aids = Counter(l["alerts"][0]["id"] for *_, dev, test in results for l in dev + test)
    problems += [f"{i}: duplicate alert id" for i, n in aids.items() if n > 1]
    if problems:
        for p in problems[:80]:
            print("PROBLEM:", p, file=sys.stderr)
        print(f"{len(problems)} problems; nothing written", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    for src, repo, stats, items, dev, test in results:
        write_jsonl(os.path.join(args.out, f"{src.name}.dev.jsonl"), dev)
        write_jsonl(os.path.join(args.out, f"{src.name}.test.jsonl"), test)
        both = dev + test
        print(f"== {src.name}  github:{src.repo_name}@{repo.commit if repo else 'per-file commits (COMMITS.tsv)'}")
        print(f"  candidates {len(items)}  written {len(both)} (dev {len(dev)}, test {len(test)})")
        tp = [l for l in both if l["gold"]["disposition"] == "true_positive"]
        print(f"  malicious {len(tp)}  benign {len(both) - len(tp)}  "
              f"with severity {sum(1 for l in both if l['gold']['severity'] is not None)} "
              f"(malicious {sum(1 for l in tp if l['gold']['severity'] is not None)})")
        for half, ls in (("dev", dev), ("test", test)):
            t = sum(1 for l in ls if l["gold"]["disposition"] == "true_positive")
            print(f"  {half}: lines {len(ls)} malicious {t} benign {len(ls) - t} "
                  f"severity {sum(1 for l in ls if l['gold']['severity'] is not None)}")
        print(f"  distinct techniques {len({t for l in both for t in l['gold']['techniques']})}")
        print("  gold severity: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(str(l['gold']['severity']) for l in tp).items())))
        print("  alert sources: " + ", ".join(f"{k}={v}" for k, v in Counter(l['alerts'][0]['source'] for l in both).most_common()))
        print(f"  alerts with derived fields: {sum(1 for l in both if l['alerts'][0]['fields'])}")
        for k, v in sorted(stats.items()):
            if not k.startswith("technique remapped ") and not k.startswith("technique dropped "):
                print(f"  {k}: {v}")
        detail = sorted((k, v) for k, v in stats.items() if k.startswith(("technique remapped ", "technique dropped ")))
        if detail:
            print("  " + "; ".join(f"{k[10:]} x{v}" for k, v in detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
