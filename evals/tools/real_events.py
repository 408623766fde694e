#!/usr/bin/env python3
"""Build raw-event evaluation sets from public, licensed attack telemetry.

Sources (each is a git directory, read with ``git show``; nothing is downloaded here):

* OTRF Security-Datasets (MIT): Windows event logs, Azure/M365 and AWS logs recorded
  while simulating attacks, with the lab's background activity.  Every dataset used
  here was reviewed by hand against its metadata YAML; the events that *are* the
  simulated activity are picked by the per-dataset rules in ``OTRF_DATASETS`` and
  labelled with the techniques the event itself shows.  Background events of the
  same recordings are sampled as benign lines.
* DataDog stratus-red-team (Apache-2.0): the CloudTrail "detonation logs" published
  with the attack-technique documentation (``docs/detonation-logs/*.json``).
* MITRE Caldera stockpile (Apache-2.0): the abilities' commands (``data/abilities/*/*.yml``),
  each run the way the Caldera agent runs it and forwarded as one process-creation event.

Usage::

    python3 evals/tools/real_events.py [--otrf <git dir of OTRF/Security-Datasets>] \\
        [--stratus <git dir of DataDog/stratus-red-team>] [--caldera <git dir of mitre/stockpile>] \\
        [--attack /work/shared/attack/enterprise-attack.json] [--out evals/real] \\
        [--report] [--cache <dir>]

Writes ``<out>/otrf-events.{dev,test}.jsonl``, ``<out>/stratus-cloud.{dev,test}.jsonl`` and
``<out>/caldera-commands.{dev,test}.jsonl``, each only for the sources given (split by the
first byte of sha256 of the line id: even -> dev).

Python 3 standard library only, deterministic.  Every line is validated (native alert
keys, id charset, active ATT&CK technique IDs, gold fields) before anything is written;
if a check fails nothing is written and the exit status is non-zero.
"""

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

# Caldera's ability files are read with the YAML reader the rule sets already use.
from real_rules import yaml_loads as load_yaml

# ---------------------------------------------------------------------------
# git helpers


def git(gitdir, *args, text=False):
    out = subprocess.run(["git", "--git-dir=" + gitdir] + list(args), capture_output=True, check=True)
    return out.stdout.decode("utf-8") if text else out.stdout


def head_commit(gitdir):
    return git(gitdir, "rev-parse", "HEAD", text=True).strip()


def read_archive_members(blob, path):
    """Return [(member name, bytes)] of the data files inside a zip or tar.gz blob."""
    members = []
    if path.lower().endswith(".zip"):
        z = zipfile.ZipFile(io.BytesIO(blob))
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            name = os.path.basename(info.filename)
            if info.is_dir() or name.startswith("._") or "__MACOSX" in info.filename:
                continue
            members.append((name, z.read(info)))
    elif path.endswith(".tar.gz"):
        t = tarfile.open(fileobj=io.BytesIO(blob))
        for m in sorted(t.getmembers(), key=lambda m: m.name):
            name = os.path.basename(m.name)
            if not m.isfile() or name.startswith("._"):
                continue
            members.append((name, t.extractfile(m).read()))
    else:
        members.append((os.path.basename(path), blob))
    return members


def json_lines(data):
    out = []
    for i, line in enumerate(data.splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append((i, rec))
    return out


# ---------------------------------------------------------------------------
# normalisation of Windows records (NXLog, Winlogbeat 6, Azure Monitor exports)

COLLECTOR_KEYS = {
    "@version", "tags", "port", "host", "SourceModuleName", "SourceModuleType", "EventReceivedTime",
    "@metadata", "beat", "TenantId", "_ResourceId", "MG", "ManagementGroupName", "SourceSystem",
    "Type", "SourceComputerId", "EventOriginId", "AgentId", "Machine",
}
MAX_VALUE = 4096
# Evidence fields longer than 4 KB (encoded PowerShell launchers, whole script modules) are cut to
# 4 KB with a marker; any other value over 4 KB (rendered Message text, binary blobs) is dropped.
TRUNCATE_KEYS = {"CommandLine", "ParentCommandLine", "ScriptBlockText", "ImagePath", "ServiceFileName",
                 "Details", "Payload", "ProcessCommandLine"}


def parse_xml_eventdata(xml):
    return {m.group(1): m.group(2) for m in re.finditer(r'<Data Name="([^"]+)">(.*?)</Data>', xml or "", re.S)}


def normalise_windows(rec):
    """Flatten one recorded Windows event into a dict of its own fields."""
    if "event_data" in rec or "computer_name" in rec:  # Winlogbeat 6
        f = dict(rec.get("event_data") or {})
        f["EventID"] = rec.get("event_id")
        f["Channel"] = rec.get("log_name")
        f["SourceName"] = rec.get("source_name")
        f["Hostname"] = rec.get("computer_name")
        if rec.get("message"):
            f["Message"] = rec["message"]
        f["@timestamp"] = rec.get("@timestamp")
        return f
    if "TimeGenerated" in rec and "EventData" in rec:  # Azure Monitor WindowsEvent / SecurityEvent
        raw = rec.get("EventData")
        data = {}
        if isinstance(raw, str) and raw.lstrip().startswith("{"):
            try:
                data = json.loads(raw)
            except ValueError:
                data = {}
        elif isinstance(raw, str):
            data = parse_xml_eventdata(raw)
        f = {k: v for k, v in rec.items() if k not in ("EventData",)}
        f.update(data)
        if "Computer" in f and "Hostname" not in f:
            f["Hostname"] = f["Computer"]
        if "Provider" in f and "SourceName" not in f:
            f["SourceName"] = f["Provider"]
        if "EventSourceName" in f and "SourceName" not in f:
            f["SourceName"] = f["EventSourceName"]
        return f
    return dict(rec)


def event_id(f):
    try:
        return int(f.get("EventID"))
    except (TypeError, ValueError):
        return None


def channel_kind(f):
    ch = str(f.get("Channel") or "")
    src = str(f.get("SourceName") or f.get("Provider") or "")
    if "Sysmon" in ch or "Sysmon" in src:
        return "sysmon"
    if ch.lower() == "security":
        return "security"
    if "PowerShell" in ch:
        return "powershell"
    if ch == "System":
        return "system"
    return ch.lower() or "other"


SYSMON_NAMES = {
    1: "Sysmon process creation", 2: "Sysmon file creation time changed", 3: "Sysmon network connection",
    5: "Sysmon process terminated", 6: "Sysmon driver loaded", 7: "Sysmon image loaded",
    8: "Sysmon CreateRemoteThread", 9: "Sysmon RawAccessRead", 10: "Sysmon process access",
    11: "Sysmon file created", 12: "Sysmon registry object added or deleted", 13: "Sysmon registry value set",
    14: "Sysmon registry object renamed", 15: "Sysmon file stream created", 17: "Sysmon pipe created",
    18: "Sysmon pipe connected", 19: "Sysmon WMI event filter activity", 20: "Sysmon WMI event consumer activity",
    21: "Sysmon WMI event consumer-to-filter activity", 22: "Sysmon DNS query", 23: "Sysmon file delete",
}
PS_NAMES = {4104: "PowerShell script block logged", 4103: "PowerShell module logging",
            800: "PowerShell pipeline execution details"}


def windows_source_and_rule(f):
    kind, eid = channel_kind(f), event_id(f)
    if kind == "sysmon":
        return "sysmon", "sysmon-%d" % eid, SYSMON_NAMES.get(eid, "Sysmon event %d" % eid)
    if kind == "security":
        return "windows-security", "win-security-%d" % eid, "Windows Security event %d" % eid
    if kind == "powershell":
        return "powershell", "powershell-%d" % eid, PS_NAMES.get(eid, "PowerShell event %d" % eid)
    if kind == "system":
        return "windows-system", "win-system-%d" % eid, "Windows System event %d" % eid
    ch = str(f.get("Channel") or f.get("EventLog") or "Windows")
    slug = re.sub(r"[^a-z0-9]+", "-", ch.lower()).strip("-")
    return "windows-" + slug[:40], "win-%s-%d" % (slug[:40], eid or 0), "Windows %s event %d" % (ch, eid or 0)


def iso_utc(value):
    if value in (None, ""):
        return None
    s = str(value).strip()
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]00:?00)?$", s)
    if not m:
        return None
    frac = (m.group(3) or "")[:4]
    return "%sT%s%sZ" % (m.group(1), m.group(2), frac)


def windows_time(f):
    for key in ("UtcTime", "TimeCreated", "@timestamp", "TimeGenerated", "EventTime"):
        t = iso_utc(f.get(key))
        if t:
            return t
    return None


def clean_fields(f, keep_message=False):
    out = {}
    structured = sum(1 for k in f if k not in COLLECTOR_KEYS and k not in ("Message",))
    for k, v in f.items():
        if k in COLLECTOR_KEYS or v is None:
            continue
        if k == "Message" and not keep_message and structured >= 8:
            continue
        size = len(v) if isinstance(v, str) else len(json.dumps(v))
        if size > MAX_VALUE:
            if k in TRUNCATE_KEYS and isinstance(v, str):
                v = v[:MAX_VALUE] + "...[truncated %d chars]" % (size - MAX_VALUE)
            else:
                continue
        out[k] = v
    return out


NOT_A_USER = {"", "-", "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "ANONYMOUS LOGON", "N/A"}


def add_unique(lst, value):
    if value and value not in lst:
        lst.append(value)


def clean_ip(v):
    v = str(v or "").strip()
    if v.startswith("::ffff:"):
        v = v[7:]
    if v in ("", "-", "::", "0.0.0.0", "::1", "127.0.0.1"):
        return None
    if not re.match(r"^[0-9a-fA-F:.]+$", v):
        return None
    return v


def windows_entities(f):
    ent = {"users": [], "hosts": [], "ips": [], "files": []}
    add_unique(ent["hosts"], f.get("Hostname") or f.get("Computer"))
    for key in ("User", "SubjectUserName", "TargetUserName"):
        v = str(f.get(key) or "").strip()
        short = v.split("\\")[-1].split("@")[0]
        if short.upper() in NOT_A_USER or short.endswith("$") or not short:
            continue
        add_unique(ent["users"], v)
    for key in ("SourceIp", "DestinationIp", "IpAddress", "SourceAddress", "DestAddress", "Client_IPAddress"):
        add_unique(ent["ips"], clean_ip(f.get(key)))
    for key in ("TargetFilename",):
        add_unique(ent["files"], f.get(key))
    return {k: v for k, v in ent.items() if v}


# ---------------------------------------------------------------------------
# per-dataset selection rules


class Rule:
    """Malicious-event rule: event id(s), field regexes (case-insensitive), techniques."""

    def __init__(self, eids, techniques, n=1, **conds):
        self.eids = eids if isinstance(eids, tuple) else (eids,)
        self.techniques = techniques
        self.n = n
        self.conds = {k: re.compile(v, re.I) for k, v in conds.items()}

    def kind_ok(self, f):
        kind, eid = channel_kind(f), event_id(f)
        if eid not in self.eids:
            return False
        if eid is not None and eid <= 30:
            return kind == "sysmon"
        if eid in (4103, 4104, 800):
            return kind == "powershell"
        if eid in (7045, 7036, 7040):
            return kind == "system"
        return kind == "security"

    def matches(self, f):
        if not self.kind_ok(f):
            return False
        for key, rx in self.conds.items():
            v = f.get(key)
            if v is None:
                return False
            sv = v if isinstance(v, str) else json.dumps(v)
            if (len(sv) > MAX_VALUE and key not in TRUNCATE_KEYS) or not rx.search(sv):
                return False
        return True


R = Rule


def D(meta, path, rules, taint=None, note=""):
    return {"meta": meta, "path": path, "rules": rules, "taint": taint, "note": note}


W = "datasets/atomic/windows/"
OTRF_DATASETS = [
    # --- Empire / Covenant / Metasploit / manual simulations (atomic) -----------------
    D("SDWIN-190518182022", W + "execution/host/empire_launcher_vbs.zip", [
        R(1, ["T1059.005"], Image=r"wscript", CommandLine=r"launcher\.vbs"),
        R(1, ["T1059.001", "T1059.005"], Image=r"powershell", ParentImage=r"wscript", CommandLine=r"-enc"),
        R(4104, ["T1059.001"], ScriptBlockText=r"cachedGroupPolicySettings"),
    ]),
    D("SDWIN-190301125905", W + "defense_evasion/host/empire_powerview_ldap_ntsecuritydescriptor.zip", [
        R(5136, ["T1222.001"], AttributeLDAPDisplayName=r"nTSecurityDescriptor", SubjectUserName=r"pgustavo"),
        R(4662, ["T1222.001"], SubjectUserName=r"pgustavo", Properties=r"%%1539"),
    ]),
    D("SDWIN-190301174830", W + "credential_access/host/empire_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip", [
        R(4662, ["T1003.006"], n=2, SubjectUserName=r"pgustavo", Properties=r"1131f6a[ad]"),
    ]),
    D("SDWIN-190319020147", W + "discovery/host/empire_shell_net_localgroup_administrators.zip", [
        R(1, ["T1069.001"], Image=r"\\net\.exe$", CommandLine=r"localgroup"),
        R(1, ["T1069.001"], Image=r"\\net1\.exe$", CommandLine=r"localgroup"),
    ]),
    D("SDWIN-190319020729", W + "discovery/host/empire_shell_net_local_users.zip", [
        R(1, ["T1087.001"], Image=r"\\net\.exe$", CommandLine=r"\buser\b"),
        R(1, ["T1087.001"], Image=r"\\net1\.exe$", CommandLine=r"\buser\b"),
    ]),
    D("SDWIN-190319021158", W + "discovery/host/empire_shell_samr_EnumDomainUsers.zip", [
        R(1, ["T1087.002"], Image=r"\\net\.exe$", CommandLine=r"user /domain"),
        R(5145, ["T1087.002"], RelativeTargetName=r"^samr$", SubjectUserName=r"pgustavo"),
    ]),
    D("SDWIN-190319023812", W + "persistence/host/empire_persistence_registry_modification_run_keys_standard_user.zip", [
        R(13, ["T1547.001"], TargetObject=r"\\CurrentVersion\\Run\\", Image=r"powershell"),
    ]),
    D("SDWIN-190319024742", W + "persistence/host/empire_schtasks_creation_standard_user.zip", [
        R(1, ["T1053.005"], Image=r"schtasks\.exe$", CommandLine=r"/Create"),
        R(4698, ["T1053.005"], TaskName=r"MordorSchtask"),
    ]),
    D("SDWIN-190319131123", W + "credential_access/host/empire_over_pth_patch_lsass.zip", [
        R(10, ["T1550.002"], SourceImage=r"powershell", TargetImage=r"lsass\.exe$", GrantedAccess=r"0x1038"),
        R(4624, ["T1550.002"], LogonType=r"^9$"),
    ], taint=r"seclogon"),
    D("SDWIN-190319145126", W + "credential_access/host/empire_shell_rubeus_asktgt_ptt.zip", [
        R(1, ["T1550.002", "T1550.003"], Image=r"Rubeus\.exe$", CommandLine=r"asktgt"),
        R(4768, ["T1550.002"], TargetUserName=r"^pgustavo$", TicketEncryptionType=r"0x17"),
    ]),
    D("SDWIN-190403133337", W + "lateral_movement/host/empire_shell_dcerpc_smb_service_dll_hijack.zip", [
        R(11, ["T1574.001"], n=2, TargetFilename=r"System32\\wlbsctrl\.dll$"),
        R(5145, ["T1021.002", "T1574.001"], RelativeTargetName=r"wlbsctrl\.dll"),
    ], taint=r"IKEEXT|wlbsctrl"),
    D("SDWIN-190518200432", W + "defense_evasion/host/empire_psinject_PEinjection.zip", [
        R(8, ["T1055"], SourceImage=r"powershell", TargetImage=r"notepad\.exe$"),
        R(10, ["T1055"], SourceImage=r"powershell", TargetImage=r"notepad\.exe$", GrantedAccess=r"0x1f3fff"),
    ], taint=r"notepad"),
    D("SDWIN-190518201207", W + "discovery/host/empire_shell_rpc_samr_smb_group_domain_admins_standard_user.zip", [
        R(1, ["T1069.002"], Image=r"\\net\.exe$", CommandLine=r"Domain Admins"),
        R(1, ["T1069.002"], Image=r"\\net1\.exe$", CommandLine=r"Domain Admins"),
        R(5145, ["T1069.002"], RelativeTargetName=r"^samr$", SubjectUserName=r"sbeavers"),
    ]),
    D("SDWIN-190518201922", W + "defense_evasion/host/empire_wdigest_downgrade.tar.gz", [
        R(13, ["T1112"], TargetObject=r"WDigest\\UseLogonCredential"),
    ]),
    D("SDWIN-190518202151", W + "credential_access/host/empire_mimikatz_logonpasswords.zip", [
        R(10, ["T1003.001"], SourceImage=r"powershell", TargetImage=r"lsass\.exe$"),
    ]),
    D("SDWIN-190518203650", W + "defense_evasion/host/empire_enable_rdp.tar.gz", [
        R(13, ["T1112"], TargetObject=r"fDenyTSConnections"),
        R(1, ["T1112"], Image=r"\\reg\.exe$", CommandLine=r"fDenyTSConnections"),
        R(1, ["T1562.004"], Image=r"netsh\.exe$", CommandLine=r"remotedesktop"),
    ], taint=r"TermService|UmRdpService|SessionEnv|CertPropSvc|Terminal Server|RDP-Tcp|rdpclip"),
    D("SDWIN-190518210125", W + "lateral_movement/host/empire_smbexec_dcerpc_smb_svcctl.zip", [
        R(7045, ["T1021.002", "T1569.002"], ImagePath=r"COMSPEC.*powershell"),
        R(1, ["T1021.002", "T1569.002"], Image=r"\\cmd\.exe$", ParentImage=r"services\.exe$", CommandLine=r"-enc"),
    ]),
    D("SDWIN-190518210652", W + "lateral_movement/host/empire_psexec_dcerpc_tcp_svcctl.zip", [
        R(7045, ["T1021.002", "T1569.002"], ServiceName=r"^Updater$", ImagePath=r"powershell"),
        R(1, ["T1021.002", "T1569.002"], Image=r"\\cmd\.exe$", ParentImage=r"services\.exe$", CommandLine=r"-enc"),
    ]),
    D("SDWIN-190518211052", W + "lateral_movement/host/empire_dcom_shellwindows_stager.zip", [
        R(1, ["T1021.003"], Image=r"\\cmd\.exe$", ParentImage=r"explorer\.exe$", CommandLine=r"-enc"),
    ], taint=r"explorer\.exe"),
    D("SDWIN-190518211456", W + "lateral_movement/host/empire_psremoting_stager.zip", [
        R(1, ["T1021.006"], Image=r"wsmprovhost\.exe$", User=r"pgustavo"),
        R(1, ["T1021.006", "T1059.001"], Image=r"powershell\.exe$", ParentImage=r"wsmprovhost\.exe$"),
        R(3, ["T1021.006"], Image=r"powershell", DestinationPort=r"^5985$"),
    ]),
    D("SDWIN-190518213907", W + "lateral_movement/host/empire_msbuild_dcerpc_wmi_smb.zip", [
        R(1, ["T1047", "T1127.001"], Image=r"\\cmd\.exe$", ParentImage=r"WmiPrvSE", CommandLine=r"MSBuild"),
        R(1, ["T1127.001"], Image=r"MSBuild\.exe$", CommandLine=r"pshell\.xml"),
    ], taint=r"MSBuild|csc\.exe|cvtres"),
    D("SDWIN-190518221344", W + "defense_evasion/host/empire_dllinjection_LoadLibrary_CreateRemoteThread.zip", [
        R(8, ["T1055.001"], SourceImage=r"powershell", TargetImage=r"notepad\.exe$"),
        R(10, ["T1055.001"], SourceImage=r"powershell", TargetImage=r"notepad\.exe$", GrantedAccess=r"0x1f3fff"),
    ], taint=r"notepad|launcher"),
    D("SDWIN-190518224039", W + "discovery/host/empire_find_localadmin_smb_svcctl_OpenSCManager.zip", [
        R(5145, ["T1069.001"], RelativeTargetName=r"^svcctl$", SubjectUserName=r"pgustavo"),
    ]),
    D("SDWIN-190518230752", W + "credential_access/host/empire_mimikatz_extract_keys.zip", [
        R(11, ["T1558"], TargetFilename=r"\.kirbi$"),
    ], note="metadata maps T1003.004; the recorded module is mimikatz extract_tickets, the event is a Kerberos ticket export (T1558)"),
    D("SDWIN-190518235535", W + "credential_access/host/empire_mimikatz_backupkeys_dcerpc_smb_lsarpc.zip", [
        R(4662, ["T1003.004"], n=2, SubjectUserName=r"pgustavo", ObjectName=r"G\$BCKUPKEY"),
        R(11, ["T1003.004"], Image=r"powershell", TargetFilename=r"ntds_capi_.*\.pvk$"),
    ], note="metadata maps T1003; the events are reads of the LSA secret objects G$BCKUPKEY_* (T1003.004)"),
    D("SDWIN-190625133822", W + "credential_access/host/empire_shell_reg_dump_sam.zip", [
        R(1, ["T1003.002"], Image=r"\\reg\.exe$", CommandLine=r"save HKLM\\sam"),
        R(11, ["T1003.002"], Image=r"\\reg\.exe$", TargetFilename=r"\\sam$"),
    ]),
    D("SDWIN-191027055035", W + "credential_access/host/rdp_interactive_taskmanager_lsass_dump.zip", [
        R(10, ["T1003.001"], SourceImage=r"taskmgr\.exe$", TargetImage=r"lsass\.exe$", GrantedAccess=r"0x1fffff"),
        R(11, ["T1003.001"], TargetFilename=r"lsass\.DMP$"),
    ], taint=r"taskmgr"),
    D("SDWIN-191027223020", W + "defense_evasion/host/covenant_installutil.zip", [
        R(1, ["T1218.004"], Image=r"InstallUtil\.exe$", CommandLine=r"GruntHTTP\.dll"),
        R(4688, ["T1218.004"], NewProcessName=r"\\cmd\.exe$", CommandLine=r"InstallUtil"),
    ]),
    D("SDWIN-191225045202", W + "defense_evasion/host/empire_monologue_netntlm_downgrade.zip", [
        R(13, ["T1112"], TargetObject=r"Lsa\\LMCompatibilityLevel$"),
        R(13, ["T1112"], TargetObject=r"MSV1_0\\NtlmMinClientSec$"),
    ]),
    D("SDWIN-200609225055", W + "collection/host/msf_record_mic.zip", [
        R(13, ["T1123"], TargetObject=r"microphone\\NonPackaged\\.*powershell\.exe\\LastUsedTime"),
        R(4657, ["T1123"], ObjectName=r"microphone\\NonPackaged\\.*powershell"),
    ], taint=r"microphone|CapabilityAccessManager"),
    D("SDWIN-200721232741", W + "defense_evasion/host/empire_launcher_sct_regsvr32.zip", [
        R(1, ["T1218.010"], Image=r"regsvr32\.exe$", CommandLine=r"scrobj"),
        R(1, ["T1218.010", "T1059.001"], Image=r"powershell\.exe$", ParentImage=r"regsvr32\.exe$"),
    ]),
    D("SDWIN-200722001847", W + "persistence/host/empire_persistence_registry_modification_run_keys_elevated_user.zip", [
        R(13, ["T1547.001"], TargetObject=r"^HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\"),
    ]),
    D("SDWIN-200724174200", W + "lateral_movement/host/covenant_wmi_remote_event_subscription_ActiveScriptEventConsumers.zip", [
        R(19, ["T1546.003"], Name=r"WSUS_"),
        R(21, ["T1546.003"], Consumer=r"ActiveScriptEventConsumer"),
        R(1, ["T1047"], Image=r"MoveWMI\.exe$"),
    ], taint=r"scrcons|WSUS_"),
    D("SDWIN-200805020926", W + "credential_access/host/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip", [
        R(4662, ["T1003.006"], n=2, SubjectUserName=r"pgustavo", Properties=r"1131f6a[ad]"),
    ]),
    D("SDWIN-200805034820", W + "lateral_movement/host/covenant_sc_query_dcerpc_smb_svcctl.zip", [
        R(1, ["T1007"], Image=r"\\sc\.exe$", CommandLine=r"query"),
        R(5145, ["T1021.002"], RelativeTargetName=r"^svcctl$", SubjectUserName=r"pgustavo"),
    ], note="metadata maps T1021.002; the sc.exe event itself is a remote service query (T1007)"),
    D("SDWIN-200806012009", W + "lateral_movement/host/covenant_sharpsc_query_dcerpc_smb_svcctl.zip", [
        R(5145, ["T1021.002"], RelativeTargetName=r"^svcctl$", SubjectUserName=r"pgustavo"),
    ]),
    D("SDWIN-200806015757", W + "lateral_movement/host/covenant_copy_smb_CreateRequest.zip", [
        R(5145, ["T1021.002", "T1570"], RelativeTargetName=r"GruntHTTP\.exe", ShareName=r"C\$"),
        R(11, ["T1570"], TargetFilename=r"ProgramData\\GruntHTTP\.exe$"),
    ]),
    D("SDWIN-200806022635", W + "lateral_movement/host/covenant_sharpsc_create_dcerpc_smb_svcctl.zip", [
        R(7045, ["T1543.003", "T1021.002"], ImagePath=r"GruntHTTP2"),
        R(4697, ["T1543.003", "T1021.002"], ServiceFileName=r"GruntHTTP2"),
    ]),
    D("SDWIN-200806030120", W + "lateral_movement/host/covenant_sharpsc_start_dcerpc_smb_svcctl.zip", [
        R(4656, ["T1021.002", "T1569.002"], ObjectName=r"^IKEEXT$", SubjectUserName=r"pgustavo", AccessMask=r"^0x10$"),
        R(5145, ["T1021.002"], RelativeTargetName=r"^svcctl$", SubjectUserName=r"pgustavo"),
    ], taint=r"IKEEXT|IKE and AuthIP"),
    D("SDWIN-200806031938", W + "lateral_movement/host/covenant_sharpsc_stop_dcerpc_smb_svcctl.zip", [
        R(5145, ["T1021.002"], RelativeTargetName=r"^svcctl$", SubjectUserName=r"pgustavo"),
        R(4656, ["T1021.002"], ObjectName=r"^IKEEXT$", SubjectUserName=r"pgustavo"),
    ], taint=r"IKEEXT|IKE and AuthIP"),
    D("SDWIN-200806035621", W + "lateral_movement/host/covenant_sharpwmi_create_dcerpc_wmi.zip", [
        R(1, ["T1047"], Image=r"GruntHTTP2\.exe$", ParentImage=r"WmiPrvSE"),
        R(4688, ["T1047"], NewProcessName=r"GruntHTTP2\.exe$", ParentProcessName=r"WmiPrvSE"),
    ]),
    D("SDWIN-200806115603", W + "lateral_movement/host/covenant_psremoting_command.zip", [
        R(1, ["T1021.006"], Image=r"wsmprovhost\.exe$", User=r"pgustavo"),
        R(4648, ["T1021.006"], ProcessName=r"GruntHTTP", TargetServerName=r"WORKSTATION6"),
    ], taint=r"wsmprovhost"),
    D("SDWIN-200807103913", W + "credential_access/host/empire_mimikatz_lsadump_patch.zip", [
        R(10, ["T1003.001"], SourceImage=r"powershell", TargetImage=r"lsass\.exe$", GrantedAccess=r"0x1438"),
        R(4656, ["T1003.001"], ProcessName=r"powershell", ObjectName=r"lsass\.exe$"),
    ]),
    D("SDWIN-200904032946", W + "privilege_escalation/host/empire_uac_shellapi_fodhelper.zip", [
        R(13, ["T1548.002"], TargetObject=r"ms-settings\\Shell\\Open\\command\\\(Default\)$"),
        R(13, ["T1548.002"], TargetObject=r"ms-settings\\Shell\\Open\\command\\DelegateExecute$"),
        R(1, ["T1548.002"], Image=r"fodhelper\.exe$"),
    ], taint=r"Appinfo|consent\.exe|fodhelper|ms-settings"),
    D("SDWIN-200914080546", W + "lateral_movement/host/empire_wmic_add_user_backdoor.zip", [
        R(1, ["T1047"], Image=r"WMIC\.exe$", CommandLine=r"process call create"),
        R(1, ["T1047", "T1136.001"], Image=r"\\net\.exe$", ParentImage=r"WmiPrvSE", CommandLine=r"/add"),
        R(4720, ["T1136.001"], TargetUserName=r"^backdoor$"),
    ]),
    D("SDWIN-200916232559", W + "lateral_movement/host/mimikatz_CVE-2020-1472_Unauthenticated_NetrServerAuthenticate2.zip", [
        R(1, ["T1210"], Image=r"mimikatz\.exe$", CommandLine=r"zerologon"),
        R(4742, ["T1210"], SubjectUserName=r"ANONYMOUS LOGON"),
    ]),
    D("SDWIN-200917174542", W + "lateral_movement/host/covenant_dcom_executeexcel4macro_allowed.zip", [
        R(1, ["T1021.003"], Image=r"MoveExcel4\.exe$"),
        R(1, ["T1021.003"], Image=r"EXCEL\.EXE$", CommandLine=r"automation -Embedding"),
    ], taint=r"EXCEL|Office16|ExcelDna|\.xll"),
    D("SDWIN-200918145959", W + "lateral_movement/host/covenant_dcom_registerxll.zip", [
        R(1, ["T1021.003"], Image=r"MoveExcelXLL\.exe$"),
        R(7, ["T1021.003"], ImageLoaded=r"\.xll$"),
        R(1, ["T1021.003"], Image=r"EXCEL\.EXE$", CommandLine=r"automation -Embedding"),
    ], taint=r"EXCEL|Office16|\.xll"),
    D("SDWIN-200921001437", W + "lateral_movement/host/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip", [
        R(1, ["T1047", "T1059.001"], Image=r"powershell\.exe$", ParentImage=r"WmiPrvSE", CommandLine=r"-enc"),
    ]),
    D("SDWIN-200921230246", W + "credential_access/host/empire_shell_rubeus_asktgt_createnetonly.zip", [
        R(1, ["T1550.002"], Image=r"Rubeus\.exe$", CommandLine=r"createnetonly"),
        R(4768, ["T1550.002"], TargetUserName=r"^pgustavo$", TicketEncryptionType=r"0x17"),
    ], taint=r"seclogon"),
    D("SDWIN-200922042230", W + "credential_access/host/empire_powerdump_sam_access.zip", [
        R(4103, ["T1003.002"], Payload=r"Get-UserKeys"),
    ]),
    D("SDWIN-201009173318", W + "lateral_movement/host/covenant_wmi_wbemcomn_dll_hijack.zip", [
        R(5145, ["T1021.002", "T1574.001"], RelativeTargetName=r"wbem\\wbemcomn\.dll$"),
        R(1, ["T1047"], Image=r"WMIC\.exe$", CommandLine=r"/node:"),
        R(1, ["T1574.001"], Image=r"notepad\.exe$", ParentImage=r"WmiPrvSE"),
    ], taint=r"wbemcomn|notepad|test\.dll"),
    D("SDWIN-201009183000", W + "lateral_movement/host/covenant_dcom_iertutil_dll_hijack.zip", [
        R(5145, ["T1021.002", "T1574.001"], RelativeTargetName=r"Internet Explorer\\iertutil\.dll$"),
        R(7, ["T1021.003", "T1574.001"], Image=r"iexplore\.exe$", ImageLoaded=r"Program Files\\Internet Explorer\\iertutil\.dll$"),
    ], taint=r"iertutil|iexplore|ielowutil|Internet Explorer"),
    D("SDWIN-201012183248", W + "defense_evasion/host/covenant_lolbin_wuauclt_createremotethread.zip", [
        R(1, ["T1218"], Image=r"wuauclt\.exe$", CommandLine=r"RunHandlerComServer"),
        R(7, ["T1218"], Image=r"wuauclt\.exe$", ImageLoaded=r"SimpleInjection\.dll$"),
    ], taint=r"wuauclt|SimpleInjection|notepad"),
    D("SDWIN-201023031210", W + "defense_evasion/host/purplesharp_pe_injection_createremotethread.zip", [
        R(8, ["T1055.002"], SourceImage=r"PurpleSharp\.exe$", TargetImage=r"notepad\.exe$"),
        R(10, ["T1055.002"], SourceImage=r"PurpleSharp\.exe$", TargetImage=r"notepad\.exe$"),
    ], taint=r"notepad|PING\.EXE"),
    D("SDWIN-201022042947", W + "lateral_movement/host/purplesharp_ad_playbook_I.zip", [
        R(4625, ["T1110.003"], n=2, FailureReason=r"%%2313"),
        R(4769, ["T1558.003"], n=2, TicketEncryptionType=r"^0x17$", TargetUserName=r"pgustavo"),
        R(5145, ["T1135"], RelativeTargetName=r"^srvsvc$", SubjectUserName=r"pgustavo"),
        R(1, ["T1021.006"], Image=r"wsmprovhost\.exe$", User=r"pgustavo"),
    ], taint=r"wsmprovhost|lrodriguez|mscott|pbeesly|sysmonsvc|nxlogsvc|defensesvc|otrsvc|mordorsvc"),
    D("SDWIN-201026235835", W + "defense_evasion/host/cmd_process_herpaderping_snippingtool.zip", [
        R(1, ["T1055"], Image=r"ProcessHerpaderping\.exe$"),
        R(1, ["T1055"], ParentImage=r"ProcessHerpaderping\.exe$"),
        R(11, ["T1055"], Image=r"ProcessHerpaderping\.exe$", TargetFilename=r"\.exe$"),
    ], taint=r"SnippingTool"),
    D("SDWIN-201028191914", W + "credential_access/host/psh_windows_vault_web_credentials.zip", [
        R((5379, 5382), ["T1555.004"], n=2),
    ], note="metadata maps T1055; the events are Credential Manager / vault credential reads (T1555.004)"),
    D("SDWIN-201029001615", W + "execution/host/psh_python_webserver.zip", [
        R(1, ["T1562.004"], Image=r"netsh\.exe$", CommandLine=r"firewall add rule.*python"),
        R(1, ["T1059.006"], Image=r"python\.exe$", CommandLine=r"http\.server"),
    ]),
    D("SDWIN-201029202324", W + "execution/host/cmd_sharpview_pcre_net.zip", [
        R(1, ["T1069.002"], Image=r"SharpView\.exe$", CommandLine=r"Get-ObjectAcl"),
    ], note="metadata maps T1059; the event is an AD permission/group enumeration (T1069.002)"),
    D("SDWIN-201102163918", W + "discovery/host/cmd_seatbelt_group_user.zip", [
        R(1, ["T1012"], Image=r"Seatbelt\.exe$"),
    ]),
    D("SDWIN-201219070027", W + "lateral_movement/host/schtask_create.zip", [
        R(1, ["T1053.005"], Image=r"schtasks\.exe$", CommandLine=r"/create"),
        R(4698, ["T1053.005"], TaskName=r"EventCacheManager"),
    ], taint=r"dumpcap|Wireshark|EventCacheManager"),
    D("SDWIN-201219075059", W + "lateral_movement/host/schtask_modification.zip", [
        R(4702, ["T1053.005"], TaskName=r"EventCacheManager", SubjectUserName=r"pgustavo"),
    ], taint=r"dumpcap|Wireshark|EventCacheManager"),
    D("SDWIN-210314014019", W + "persistence/host/proxylogon_ssrf_rce_poc.zip", [
        R(1, ["T1505.003", "T1190"], Image=r"\\cmd\.exe$", ParentImage=r"w3wp\.exe$"),
        R(11, ["T1505.003"], TargetFilename=r"ohyeah\.aspx$"),
        R(1, ["T1190"], Image=r"python\.exe$", CommandLine=r"public-poc"),
    ], taint=r"ohyeah|w3wp|OWAAppPool|csc\.exe|cvtres|owa\\\\auth|HttpProxy|0:0:0:0:0:0:0:1|::1\b|127\.0\.0\.1"),
    D("SDWIN-210611210814", W + "other/aptsimulator_cobaltstrike.zip", [
        R(1, ["T1134.001", "T1543.003"], Image=r"\\sc\.exe$", CommandLine=r"create .*pipe"),
        R(1, ["T1134.001"], Image=r"\\cmd\.exe$", ParentImage=r"services\.exe$", CommandLine=r"\\\\\.\\pipe\\"),
    ]),
    D("SDWIN-220630130349", W + "defense_evasion/host/auditpol_system_user_auditpolicy_modification.zip", [
        R(4688, ["T1562.002"], NewProcessName=r"auditpol\.exe$", CommandLine=r"success:disable"),
        R(4688, ["T1562.002"], NewProcessName=r"auditpol\.exe$", CommandLine=r"/clear"),
        R(4719, ["T1562.002"]),
    ], taint=r"auditpol|payload"),
    D("SDWIN-220703123711", W + "defense_evasion/host/reg_cmd_process_commandline_logging_disabled.zip", [
        R(1, ["T1562.002"], Image=r"\\reg\.exe$", CommandLine=r"ProcessCreationIncludeCmdLine_Enabled"),
        R(4657, ["T1562.002"], ObjectValueName=r"ProcessCreationIncludeCmdLine_Enabled"),
    ], taint=r"ProcessCreationIncludeCmdLine"),
    D("SDWIN-220703123711", W + "defense_evasion/host/reg_meterpreter_process_commandline_logging_disabled.zip", [
        R(13, ["T1562.002"], TargetObject=r"ProcessCreationIncludeCmdLine_Enabled"),
    ], taint=r"ProcessCreationIncludeCmdLine"),
    D("SDWIN-220705170038", W + "defense_evasion/host/cmd_wevtutil_modify_security_eventlog_path.zip", [
        R(1, ["T1562.002"], Image=r"wevtutil\.exe$", CommandLine=r"set-log"),
    ], taint=r"wevtutil"),
    D("SDWIN-220708104215", W + "defense_evasion/host/cmd_disable_eventlog_service_startuptype_modification_via_registry.zip", [
        R(1, ["T1562.002"], Image=r"\\reg\.exe$", CommandLine=r"Services\\EventLog .*Start"),
        R(13, ["T1562.002"], TargetObject=r"Services\\EventLog\\Start$"),
    ], taint=r"Services\\EventLog"),
    D("SDWIN-220708104215", W + "defense_evasion/host/reg_disable_eventlog_service_startuptype_modification_via_registry.zip", [
        R(13, ["T1562.002"], TargetObject=r"Services\\EventLog\\Start$"),
    ], taint=r"Services\\EventLog"),
    D("SDWIN-220708104215", W + "defense_evasion/host/psh_disable_eventlog_service_startuptype_modification.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"Set-Service -Name EventLog"),
    ], taint=r"Services\\EventLog"),
    D("SDWIN-220708104300", W + "defense_evasion/host/cmd_psh_stop_netprofm_eventlog_before_reboot.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"Set-Service -Name netprofm"),
    ], taint=r"netprofm"),
    D("SDWIN-220708104300", W + "defense_evasion/host/cmd_psh_stop_netprofm_eventlog_after_reboot.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"Stop-Service -Name EventLog"),
    ], taint=r"netprofm|EventLog"),
    D("SDWIN-220708104300", W + "defense_evasion/host/psh_metasploit_stop_netprofm_eventlog_before_reboot.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"Set-Service -Name netprofm"),
    ], taint=r"netprofm"),
    D("SDWIN-220708104300", W + "defense_evasion/host/psh_metasploit_stop_netprofm_eventlog_after_reboot.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"Stop-Service -Name EventLog"),
    ], taint=r"netprofm|EventLog"),
    D("SDWIN-220803205800", W + "defense_evasion/host/cmd_stop_event_logging_controlset_minint_key.zip", [
        R(1, ["T1562.002"], Image=r"\\reg\.exe$", CommandLine=r"MiniNt"),
    ], taint=r"MiniNt"),
    D("SDWIN-220803205800", W + "defense_evasion/host/cmd_stop_event_logging_controlset001_minint_key.zip", [
        R(1, ["T1562.002"], Image=r"\\reg\.exe$", CommandLine=r"MiniNt"),
    ], taint=r"MiniNt"),
    D("SDWIN-220803205800", W + "defense_evasion/host/reg_stop_event_logging_controlset_minint_key.zip", [
        R(12, ["T1562.002"], TargetObject=r"\\MiniNt$"),
    ], taint=r"MiniNt"),
    D("SDWIN-220803205800", W + "defense_evasion/host/reg_stop_event_logging_controlset001_minint_key.zip", [
        R(12, ["T1562.002"], TargetObject=r"\\MiniNt$"),
    ], taint=r"MiniNt"),
    D("SDWIN-220803205800", W + "defense_evasion/host/psh_stop_event_logging_controlset_minint_key.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"New-Item -Path HKLM:\\SYSTEM\\CurrentControlSet\\Control\\MiniNt"),
    ], taint=r"MiniNt"),
    D("SDWIN-220803205800", W + "defense_evasion/host/psh_stop_event_logging_controlset001_minint_key.zip", [
        R(4104, ["T1562.002"], ScriptBlockText=r"New-Item -Path HKLM:\\SYSTEM\\ControlSet001\\Control\\MiniNt"),
    ], taint=r"MiniNt"),
    D("SDWIN-230720004300", W + "credential_access/host/empire_ninjacopy_dumping_ntds_dit_file.zip", [
        R(11, ["T1003.003"], Image=r"powershell", TargetFilename=r"ntds.*\.dit$"),
    ], taint=r"ntds|NinjaCopy"),
    # --- compound campaigns -------------------------------------------------------------
    D("LSASS_campaign_01", "datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip", [
        R(1, ["T1204.002"], Image=r"winx64_payload\.exe$", ParentImage=r"explorer\.exe$"),
        R(1, ["T1082"], Image=r"systeminfo\.exe$"),
        R(7045, ["T1134.001", "T1543.003"], ImagePath=r"rundll32\.exe .*\\Temp\\"),
        R(10, ["T1003.001"], SourceImage=r"winx64_payload\.exe$", TargetImage=r"lsass\.exe$", GrantedAccess=r"0x1410"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt"),
    D("LSASS_campaign_02", "datasets/compound/LSASS_campaign_02/metasploit_procdump_lsass_memory_dump.zip", [
        R(1, ["T1204.002"], Image=r"happy_image\.jpeg\.exe$", ParentImage=r"explorer\.exe$"),
        R(1, ["T1033"], Image=r"whoami\.exe$"),
        R(11, ["T1105"], TargetFilename=r"Program Files\\procdump\.exe$"),
        R(1, ["T1003.001"], Image=r"procdump\.exe$", CommandLine=r"-ma lsass"),
        R(11, ["T1003.001"], TargetFilename=r"lsass_dump.*\.dmp$"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt|RarSFX|happy_image"),
    D("LSASS_campaign_03", "datasets/compound/LSASS_campaign_03/metasploit_comsvcs_lsass_memory_dump.zip", [
        R(1, ["T1204.002"], Image=r"winx64_payload\.exe$", ParentImage=r"explorer\.exe$"),
        R(1, ["T1057"], Image=r"tasklist\.exe$", CommandLine=r"/svc"),
        R(7045, ["T1543.003", "T1134.001"], ImagePath=r"rundll32\.exe .*\\Temp\\"),
        R(1, ["T1003.001"], Image=r"rundll32\.exe$", CommandLine=r"comsvcs.*MiniDump"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt"),
    D("LSASS_campaign_04", "datasets/compound/LSASS_campaign_04/metasploit_out-minidump_lsass_memory_dump.zip", [
        R(1, ["T1204.002"], Image=r"winx64_payload\.exe$", ParentImage=r"explorer\.exe$"),
        R(4104, ["T1003.001"], ScriptBlockText=r"Out-Minidump;"),
        R(11, ["T1003.001"], TargetFilename=r"lsass_\d+\.dmp$"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt|Minidump"),
    D("LSASS_campaign_05", "datasets/compound/LSASS_campaign_05/metasploit_sharpdump_lsass_memory_dump.zip", [
        R(1, ["T1082"], Image=r"systeminfo\.exe$"),
        R(11, ["T1105"], TargetFilename=r"SharpDump\.exe$", Image=r"winx64_payload"),
        R(1, ["T1003.001"], Image=r"SharpDump\.exe$"),
        R(11, ["T1003.001"], Image=r"SharpDump\.exe$", TargetFilename=r"debug\d+\.bin$"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt|SharpDump"),
    D("LSASS_campaign_06", "datasets/compound/LSASS_campaign_06/metasploit_outflank-dumpert_lsass_memory_dump.zip", [
        R(1, ["T1204.002"], Image=r"winx64_payload\.exe$", ParentImage=r"explorer\.exe$"),
        R(1, ["T1003.001"], Image=r"Outflank-Dumpert\.exe$"),
        R(11, ["T1003.001"], TargetFilename=r"dumpert\.dmp$"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt|Dumpert"),
    D("LSASS_campaign_07", "datasets/compound/LSASS_campaign_07/metasploit_nanodump_lsass_memory_dump.zip", [
        R(1, ["T1033"], Image=r"whoami\.exe$"),
        R(11, ["T1105"], TargetFilename=r"nanodump\.x64\.exe$"),
        R(1, ["T1003.001"], Image=r"nanodump\.x64\.exe$"),
        R(11, ["T1003.001"], Image=r"nanodump", TargetFilename=r"lsass_dump\.dmp$"),
    ], taint=r"PowerShell_ISE|tasklist|processes\.txt|nanodump"),
    D("Log4Shell", "datasets/compound/Log4Shell/sysmon_log4shell_cve2021_44228_java_serialized_object.zip", [
        R(1, ["T1190", "T1059.001"], Image=r"powershell\.exe$", ParentImage=r"tomcat9\.exe$"),
        R(3, ["T1190"], Image=r"tomcat9\.exe$", DestinationPort=r"^1389$"),
    ], taint=r"tomcat|192\.168\.3\.5|Tomcat9"),
]

# Datasets read in full and left out, with the reason (reported in evals/README.md).
OTRF_LEFT_OUT = [
    ("Atomic Red Team tests (metadata `simulation.tools` points at redcanaryco/atomic-red-team)",
     "SDLIN-201110074812, SDLIN-201110081941, SDWIN-201017061100, SDWIN-201018195009, SDWIN-201018225619, "
     "SDWIN-201019002900, SDWIN-201019033054, SDWIN-201019224718, SDWIN-201019232515, SDWIN-201020013208, "
     "SDWIN-201021001911, SDWIN-201021204544, SDWIN-201021232814, SDWIN-201022002145, SDWIN-201022013121, "
     "SDWIN-201022015432, SDWIN-201022022144, SDWIN-201022025808, SDWIN-201022035214, SDWIN-201023020513, "
     "SDWIN-201023023651, SDWIN-230718150800, SDWIN-230718151900 (and cmd_dumping_ntds_dit_file_volume_shadow_copy.zip, "
     "which belongs to SDWIN-230718150800)"),
    ("recording not in the snapshot (file of 4 MiB or more, or an empty/absent blob)",
     "SDWIN-190518184306 (empire_wmi_local_event_subscriptions_elevated_user.zip), SDWIN-200921175806 "
     "(empire_schtasks_creation_execution_elevated_user.zip), compound/apt29 day 1 and day 2 host logs, "
     "compound/windows/apt3 (both tar.gz archives)"),
    ("no event in the recording shows the described activity by itself",
     "SDWIN-190625103712 (mimikatz lsadump::sam: only generic process-handle events), SDWIN-200806130039 "
     "(Covenant GetDomainGroup: only an LDAP connection), SDWIN-201102041306 (PowerShell HttpListener: no script "
     "block or process event), SDWIN-210427020247 (AD FS configuration export: metadata technique T0000, no "
     "telling event)"),
    ("archives without a metadata YAML (no documented ground truth)",
     "empire_mimikatz_lsadump_inject_protected_mode, empire_mimikatz_opth, empire_scm_dll_hijack_ikeext, "
     "covenant_com_wsman_automation, covenant_psremoting_grunt, covenant_persiststartup, covenant_persistwmi, "
     "empire_invoke_runas, cmd_process_herpaderping_mimiexplorer, raccine_samples, raccine_simulation_mode, "
     "covenant_dcom_executeexcel4macro_blocked (only the 'allowed' run is used)"),
    ("not raw host/cloud events (packet captures, Zeek logs) or Linux/syslog exports kept out of this Windows-centred set",
     "all network/*.zip, *_pcap*.zip, *zeek*, Log4Shell syslog_auoms/syslog_sysmon/securityauditing/vminsights "
     "exports, aws_s3_honeybucketlogs.csv (SDAWS-2202181000: S3 access logs without documented attacker rows)"),
]

# Non-Windows OTRF records: (meta, path, kind, [(predicate, techniques)], benign predicate or None)


def _ct_mal(rec):
    ui = rec.get("userIdentity") or {}
    return ui.get("type") == "AssumedRole" and "BankingWAFRole" in str(ui.get("arn")) and \
        str(rec.get("sourceIPAddress")) != "ec2.amazonaws.com"


OTRF_CLOUD = [
    {"meta": "SDAWS-200914011940", "path": "datasets/atomic/aws/collection/ec2_proxy_s3_exfiltration.zip",
     "kind": "cloudtrail",
     "mal": [
         (lambda r: _ct_mal(r) and r.get("eventName") == "ListBuckets", ["T1078.004"], 1),
         (lambda r: _ct_mal(r) and r.get("eventName") == "ListObjects", ["T1078.004"], 2),
         (lambda r: _ct_mal(r) and r.get("eventName") == "GetObject", ["T1078.004", "T1530"], 2),
     ],
     # console browsing by the account owner and the EC2 service refreshing the role: background
     "benign": lambda r: not _ct_mal(r) and r.get("eventName") != "GetObject"},
    {"meta": "GoldenSAMLADFSMailAccess", "path": "datasets/compound/GoldenSAMLADFSMailAccess/AADAuditEvents.Zip",
     "kind": "aad-audit",
     "mal": [
         (lambda r: "Certificates and secrets" in str(r.get("OperationName")), ["T1098.001"], 1),
         (lambda r: str(r.get("OperationName")).startswith("Add delegated permission grant"), ["T1098.002"], 1),
     ], "benign": None},
    {"meta": "GoldenSAMLADFSMailAccess", "path": "datasets/compound/GoldenSAMLADFSMailAccess/OfficeActivityEvents.Zip",
     "kind": "office-activity",
     "mal": [(lambda r: r.get("Operation") == "MailItemsAccessed", ["T1114.002"], 1)], "benign": None},
    {"meta": "GoldenSAMLADFSMailAccess", "path": "datasets/compound/GoldenSAMLADFSMailAccess/WindowsEvents.Zip",
     "kind": "windows-azure",
     "mal": [(lambda r: str(r.get("EventID")) == "33205" and "wardog" in str(r.get("server_principal_name")),
              ["T1552.004"], 1)], "benign": None},
]

# ---------------------------------------------------------------------------
# benign background selection

BENIGN_TYPES = {
    ("sysmon", 1), ("sysmon", 3), ("sysmon", 7), ("sysmon", 10), ("sysmon", 11), ("sysmon", 12),
    ("sysmon", 13), ("sysmon", 22), ("security", 4624), ("security", 4672), ("security", 4688),
    ("security", 4702), ("security", 4768), ("security", 4769), ("security", 5145), ("security", 5156),
    ("security", 4663), ("system", 7036), ("system", 7040), ("powershell", 4104),
}
# Anything that touches the attackers' tooling, accounts, hosts or typical attack programs is kept
# out of the background sample, even when it may be harmless: a benign line must be background.
TAINT_WORDS = (
    "powershell", "pwsh", "wsmprovhost", "\\\\cmd.exe", "wmic", "wmiprvse", "scrcons", "rundll32", "regsvr32",
    "mshta", "wscript", "cscript", "msbuild", "installutil", "\\\\csc.exe", "cvtres", "\\\\net.exe",
    "\\\\net1.exe", "whoami", "schtasks", "\\\\sc.exe", "\\\\reg.exe", "netsh", "mimikatz", "rubeus",
    "grunt", "empire", "covenant", "launcher", "payload", "purplesharp", "herpaderping", "seatbelt",
    "sharpview", "sharpsc", "sharpwmi", "movewmi", "moveexcel", "python", "java", "tomcat", "procdump",
    "dump", "lsass", ".dmp", "\\\\desktop\\\\", "\\\\downloads\\\\", "\\\\temp\\\\",
    "\\\\tmp\\\\", "dllhost", "mmc.exe", "consent.exe", "seclogon", "appinfo", "dumpcap", "wireshark",
    "powershell_ise", "conhost", "apt-simulator", "aptsimulator", "7z.exe", "b6a1458f396", "pgustavo", "wardog",
    "sbeavers", "nmartha", "it01-pedro", "pedro.gustavo", "pedro-admin", "stevie.marie", "nora.", "nora~", "pupy.godoy", "backdoor",
    "\\\\administrator", "\"administrator\"", "10.10.10.5", "10.0.5.13", "10.0.10.106", "192.168.56.40",
    "192.168.3.5", "unknown process",
)
TAINT_RX = re.compile(r"(\\\\|\")pedro(\\\\|\")|programdata\\\\[^\\\\\"]{1,80}\.(exe|dll)|s-1-5-21-\d+-\d+-\d+-(500|110\d|111\d)(?!\d)")


def tainted(text):
    low = text.lower()
    return any(w in low for w in TAINT_WORDS) or TAINT_RX.search(low) is not None


PS_BENIGN = re.compile(r"^\s*(# Localized|@\{|data localized|#requires -version|&lt;#|<#|\s*\{\s*if\(!\(\[System\.Net)", re.I)


LATERAL_PORTS = {"135", "139", "445", "5985", "5986", "3389"}


def benign_ok(f, taint):
    kind, eid = channel_kind(f), event_id(f)
    if (kind, eid) not in BENIGN_TYPES:
        return False
    text = json.dumps(f)
    if tainted(text) or (taint and taint.search(text)):
        return False
    if kind == "powershell":
        sb = str(f.get("ScriptBlockText") or "")
        if not sb or len(sb) > MAX_VALUE or not PS_BENIGN.search(sb):
            return False
    if (kind, eid) in (("sysmon", 3), ("security", 5156)):
        # remote-administration ports carry the lateral movement in these recordings
        ports = {str(f.get(k)) for k in ("DestinationPort", "SourcePort", "DestPort")}
        if ports & LATERAL_PORTS:
            return False
    if kind == "sysmon" and eid == 1:
        if not re.match(r"NT AUTHORITY\\|Font Driver Host|Window Manager", str(f.get("User") or "")):
            return False
    if kind == "security" and eid in (4624, 4672, 4688, 4768, 4769, 5145, 4663):
        who = str(f.get("TargetUserName") or f.get("SubjectUserName") or "")
        if not (who.endswith("$") or who.split("@")[0].endswith("$")
                or who.upper() in ("SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE")):
            return False
    return True


def signature(f):
    keys = ("EventID", "Image", "TargetObject", "CommandLine", "TargetFilename", "DestinationIp",
            "DestinationPort", "QueryName", "ServiceName", "TargetUserName", "ObjectName", "ImageLoaded",
            "TargetImage", "NewProcessName", "Application", "RelativeTargetName", "TaskName", "param1")
    return json.dumps([str(f.get(k)) for k in keys])


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


BENIGN_ORDER = [
    ("sysmon", 1), ("sysmon", 13), ("security", 4688), ("sysmon", 3), ("sysmon", 11), ("security", 4624),
    ("sysmon", 22), ("sysmon", 10), ("security", 4769), ("sysmon", 7), ("security", 5145), ("sysmon", 12),
    ("powershell", 4104), ("security", 4702), ("security", 4768), ("security", 5156), ("system", 7036),
    ("system", 7040), ("security", 4672), ("security", 4663),
]


def pick_benign(candidates, k, seed, seen):
    """Round-robin over (kind, event id) groups in BENIGN_ORDER, starting at a group chosen from the
    seed so that small samples differ between datasets; each group in sha256 order; signatures already
    used (in any dataset) are skipped."""
    groups = {}
    for idx, f in candidates:
        groups.setdefault((channel_kind(f), event_id(f)), []).append((sha("%s|%d" % (seed, idx)), idx, f))
    order = [g for g in BENIGN_ORDER if g in groups]
    if not order:
        return []
    start = int(sha(seed)[:8], 16) % len(order)
    order = order[start:] + order[:start]
    for g in order:
        groups[g].sort()
    picked = []
    pos = {g: 0 for g in order}
    while len(picked) < k:
        progressed = False
        for g in order:
            lst = groups[g]
            while pos[g] < len(lst):
                _, idx, f = lst[pos[g]]
                pos[g] += 1
                sig = signature(f)
                if sig in seen:
                    continue
                seen.add(sig)
                picked.append((idx, f))
                progressed = True
                break
            if len(picked) >= k:
                break
        if not progressed:
            break
    return sorted(picked, key=lambda x: x[0])


GUID_KEYS = ("ProcessGuid", "ParentProcessGuid", "SourceProcessGUID", "TargetProcessGUID", "SourceProcessGuid",
             "TargetProcessGuid")


def tainted_guids(events, mal_idx, taint):
    """GUIDs of processes that are attack activity or touch it: their other events are not background."""
    guids = set()
    for idx, f in events:
        if channel_kind(f) != "sysmon":
            continue
        text = json.dumps(f)
        if idx in mal_idx or tainted(text) or (taint and taint.search(text)):
            for key in ("ProcessGuid", "SourceProcessGUID", "SourceProcessGuid"):
                if f.get(key):
                    guids.add(f[key])
    return guids


# ---------------------------------------------------------------------------
# alert and line construction

ID_RX = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
ALERT_KEYS = {"id", "source", "time", "rule", "entities", "asset", "fields"}
RULE_KEYS = {"id", "name", "severity", "description"}
ENTITY_KEYS = {"users", "hosts", "ips", "service_accounts", "tokens", "cloud_accounts", "files", "urls",
               "repositories"}


def slug(s, n=48):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s)[:n].strip("-")


def make_line(line_id, alert, techniques, malicious, source, license_, tags):
    gold = {"severity": None if malicious else "informational",
            "techniques": list(techniques) if malicious else [],
            "disposition": "true_positive" if malicious else "benign"}
    return {"id": line_id, "alerts": [alert], "gold": gold,
            "tags": tags + (["attack"] if malicious else ["benign-background"]),
            "source": source, "license": license_}


def windows_alert(alert_id, f):
    src, rule_id, rule_name = windows_source_and_rule(f)
    alert = {"id": alert_id, "source": src, "time": windows_time(f),
             "rule": {"id": rule_id, "name": rule_name},
             "entities": windows_entities(f), "fields": clean_fields(f)}
    return alert


def cloudtrail_alert(alert_id, r):
    ui = r.get("userIdentity") or {}
    ent = {}
    user = ui.get("userName") or (ui.get("arn") or "").split("/")[-1] or ui.get("invokedBy")
    if user:
        ent["users"] = [user]
    ip = clean_ip(r.get("sourceIPAddress"))
    if ip:
        ent["ips"] = [ip]
    acct = r.get("recipientAccountId") or ui.get("accountId")
    if acct:
        ent["cloud_accounts"] = [str(acct)]
    if ui.get("accessKeyId"):
        ent["tokens"] = [ui["accessKeyId"]]
    fields = {k: v for k, v in r.items() if k not in ("@version", "@timestamp", "tags", "port", "host")}
    fields = clean_fields(fields, keep_message=True)
    when = iso_utc(r.get("eventTime")) or iso_utc(r.get("@timestamp"))
    return {"id": alert_id, "source": "aws-cloudtrail", "time": when,
            "rule": {"id": "cloudtrail-api-call", "name": "CloudTrail API call"},
            "entities": ent, "fields": fields}


def aad_alert(alert_id, r):
    ent = {}
    try:
        who = json.loads(r.get("InitiatedBy") or "{}").get("user") or {}
    except ValueError:
        who = {}
    if who.get("userPrincipalName"):
        ent["users"] = [who["userPrincipalName"]]
    fields = clean_fields({k: v for k, v in r.items()}, keep_message=True)
    return {"id": alert_id, "source": "azure-ad-audit", "time": iso_utc(r.get("TimeGenerated")),
            "rule": {"id": "aad-audit-log", "name": "Azure AD audit log entry"},
            "entities": ent, "fields": fields}


def office_alert(alert_id, r):
    ent = {}
    if r.get("UserId"):
        ent["users"] = [r["UserId"]]
    ip = clean_ip(r.get("Client_IPAddress"))
    if ip:
        ent["ips"] = [ip]
    return {"id": alert_id, "source": "office365", "time": iso_utc(r.get("TimeGenerated")),
            "rule": {"id": "office-activity", "name": "Office 365 activity record"},
            "entities": ent, "fields": clean_fields(dict(r), keep_message=True)}


def azure_windows_alert(alert_id, r):
    f = dict(r)
    f["Hostname"] = r.get("Computer")
    eid = str(r.get("EventID"))
    fields = clean_fields({k: v for k, v in f.items() if k not in ("ParameterXml", "EventData_string")},
                          keep_message=True)
    ent = {"hosts": [r["Computer"]]} if r.get("Computer") else {}
    if r.get("server_principal_name"):
        ent["users"] = [r["server_principal_name"]]
    return {"id": alert_id, "source": "windows-application",
            "time": iso_utc(r.get("TimeGenerated")),
            "rule": {"id": "win-application-%s" % eid, "name": "Windows Application event %s" % eid},
            "entities": ent, "fields": fields}


CLOUD_BUILDERS = {"cloudtrail": cloudtrail_alert, "aad-audit": aad_alert, "office-activity": office_alert,
                  "windows-azure": azure_windows_alert}


# ---------------------------------------------------------------------------
# ATT&CK validation


def load_attack(path):
    bundle = json.load(open(path, encoding="utf-8"))
    by_stix, active, revoked = {}, set(), {}
    for o in bundle["objects"]:
        if o.get("type") != "attack-pattern":
            continue
        ext = [r["external_id"] for r in o.get("external_references", [])
               if r.get("source_name") == "mitre-attack" and r.get("external_id")]
        if not ext:
            continue
        by_stix[o["id"]] = ext[0]
        if o.get("revoked"):
            revoked[o["id"]] = None
        elif not o.get("x_mitre_deprecated"):
            active.add(ext[0])
    for o in bundle["objects"]:
        if o.get("type") == "relationship" and o.get("relationship_type") == "revoked-by" \
                and o.get("source_ref") in revoked:
            revoked[o["source_ref"]] = by_stix.get(o.get("target_ref"))
    replaced = {by_stix[k]: v for k, v in revoked.items() if v}
    return active, replaced


def resolve_techniques(techs, active, replaced):
    out = []
    for t in techs:
        t2 = replaced.get(t, t)
        if t2 not in active:
            raise ValueError("technique %s is not an active ATT&CK technique" % t)
        if t2 not in out:
            out.append(t2)
    return out


def validate_line(line, active):
    errs = []
    if set(line) != {"id", "alerts", "gold", "tags", "source", "license"}:
        errs.append("line keys %s" % sorted(line))
    if not ID_RX.match(line["id"]):
        errs.append("bad line id")
    for a in line["alerts"]:
        if not set(a) <= ALERT_KEYS or not {"id", "source", "time", "rule"} <= set(a):
            errs.append("alert keys %s" % sorted(a))
        if not ID_RX.match(str(a.get("id"))):
            errs.append("bad alert id %r" % a.get("id"))
        if not isinstance(a.get("source"), str) or not a["source"]:
            errs.append("alert source")
        if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", str(a.get("time"))):
            errs.append("alert time %r" % a.get("time"))
        rule = a.get("rule") or {}
        if not set(rule) <= RULE_KEYS or not rule.get("name") or "severity" in rule:
            errs.append("rule %r" % rule)
        ent = a.get("entities", {})
        if not set(ent) <= ENTITY_KEYS or any(not isinstance(v, list) for v in ent.values()):
            errs.append("entities %r" % ent)
        if not isinstance(a.get("fields", {}), dict):
            errs.append("fields")
    g = line["gold"]
    if g["disposition"] == "true_positive":
        if g["severity"] is not None or not g["techniques"]:
            errs.append("malicious gold %r" % g)
    elif g["disposition"] == "benign":
        if g["severity"] != "informational" or g["techniques"]:
            errs.append("benign gold %r" % g)
    else:
        errs.append("disposition %r" % g["disposition"])
    for t in g["techniques"]:
        if t not in active:
            errs.append("inactive technique %s" % t)
    return errs


# ---------------------------------------------------------------------------
# builders


def check_license(gitdir, path, needle):
    text = git(gitdir, "show", "HEAD:" + path, text=True)
    if needle not in text:
        raise SystemExit("licence check failed for %s:%s (expected %r)" % (gitdir, path, needle))


CACHE_DIR = None


def load_events(gitdir, path, parse):
    """Parsed records of one archive; optionally cached (pickle keyed by the blob id) to speed up reruns."""
    blob_id = git(gitdir, "rev-parse", "HEAD:" + path, text=True).strip()
    cache = os.path.join(CACHE_DIR, "%s-%s.pickle" % (blob_id, parse.__name__)) if CACHE_DIR else None
    if cache and os.path.exists(cache):
        import pickle
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    members = read_archive_members(git(gitdir, "show", "HEAD:" + path), path)
    recs = []
    for _name, data in members:
        recs.extend((i, parse(r)) for i, r in json_lines(data))
    if cache:
        import pickle
        os.makedirs(CACHE_DIR, exist_ok=True)
        with open(cache, "wb") as fh:
            pickle.dump(recs, fh)
    return recs


def identity(rec):
    return rec


def build_otrf(gitdir, active, replaced, report):
    check_license(gitdir, "LICENSE", "MIT License")
    commit = head_commit(gitdir)
    short = commit[:7]
    lic = "MIT (OTRF Security-Datasets, Copyright (c) 2021 Open Threat Research Forge)"
    lines, unmatched, seen_sigs = [], [], set()
    for ds in OTRF_DATASETS:
        events = load_events(gitdir, ds["path"], normalise_windows)
        taint = re.compile(ds["taint"], re.I) if ds["taint"] else None
        stem = slug(os.path.basename(ds["path"]).split(".")[0], 56)
        mal_idx = {}
        for rule in ds["rules"]:
            got = 0
            for idx, f in events:
                if got >= rule.n:
                    break
                if idx in mal_idx or not rule.matches(f):
                    continue
                mal_idx[idx] = rule.techniques
                got += 1
            if got == 0:
                unmatched.append("%s: %r" % (ds["path"], {k: v.pattern for k, v in rule.conds.items()}))
        by_idx = dict(events)
        guids = tainted_guids(events, mal_idx, taint)
        cands = [(i, f) for i, f in events if i not in mal_idx and benign_ok(f, taint)
                 and not any(f.get(k) in guids for k in GUID_KEYS)]
        benign = pick_benign(cands, 2 * len(mal_idx), ds["path"], seen_sigs)
        report.append((ds["meta"], ds["path"], len(events), len(mal_idx), len(benign)))
        tags = ["real", "otrf", "windows", "otrf:" + ds["meta"]]
        for idx, techs in sorted(mal_idx.items()):
            f = by_idx[idx]
            lid = "otrf-%s-%d" % (stem, idx)
            alert = windows_alert(lid, f)
            src = "github:OTRF/Security-Datasets@%s:%s#event=%d" % (short, ds["path"], idx)
            lines.append(make_line(lid, alert, resolve_techniques(techs, active, replaced), True, src, lic,
                                   tags + [alert["source"]]))
        for idx, f in benign:
            lid = "otrf-%s-%d" % (stem, idx)
            alert = windows_alert(lid, f)
            src = "github:OTRF/Security-Datasets@%s:%s#event=%d" % (short, ds["path"], idx)
            lines.append(make_line(lid, alert, [], False, src, lic, tags + [alert["source"]]))
    if unmatched:
        raise SystemExit("rules that matched nothing:\n  " + "\n  ".join(unmatched))
    for spec in OTRF_CLOUD:
        recs = load_events(gitdir, spec["path"], identity)
        build = CLOUD_BUILDERS[spec["kind"]]
        stem = slug(os.path.basename(spec["path"]).split(".")[0], 56)
        mal = {}
        for pred, techs, n in spec["mal"]:
            got = 0
            for idx, r in recs:
                if got >= n:
                    break
                if idx not in mal and pred(r):
                    mal[idx] = techs
                    got += 1
            if not got:
                raise SystemExit("cloud rule matched nothing in %s" % spec["path"])
        benign = []
        if spec["benign"]:
            cands = [(i, r) for i, r in recs if i not in mal and spec["benign"](r)]
            seen = set()
            for _h, i, r in sorted((sha("%s|%d" % (spec["path"], i)), i, r) for i, r in cands):
                sig = (r.get("eventName"), r.get("eventSource"))
                if sig in seen:
                    continue
                seen.add(sig)
                benign.append((i, r))
                if len(benign) >= 2 * len(mal):
                    break
        report.append((spec["meta"], spec["path"], len(recs), len(mal), len(benign)))
        tags = ["real", "otrf", "cloud", "otrf:" + spec["meta"]]
        rec_by = dict(recs)
        for idx, techs in sorted(mal.items()):
            lid = "otrf-%s-%d" % (stem, idx)
            alert = build(lid, rec_by[idx])
            src = "github:OTRF/Security-Datasets@%s:%s#event=%d" % (short, spec["path"], idx)
            lines.append(make_line(lid, alert, resolve_techniques(techs, active, replaced), True, src, lic,
                                   tags + [alert["source"]]))
        for idx, r in sorted(benign):
            lid = "otrf-%s-%d" % (stem, idx)
            alert = build(lid, r)
            src = "github:OTRF/Security-Datasets@%s:%s#event=%d" % (short, spec["path"], idx)
            lines.append(make_line(lid, alert, [], False, src, lic, tags + [alert["source"]]))
    return lines, commit


# Stratus Red Team: per technique, the detonation-log events that carry the technique:
# (technique name, [(eventName regex, ATT&CK techniques, max events)]).  Techniques come from the
# technique's documented mapping (Threat Technique Catalog for AWS) where it gives one and the event
# shows it; otherwise from the event itself (see evals/README.md).  Techniques whose events fit no
# ATT&CK technique well (Lambda backdoors, IAM Roles Anywhere, EC2 user-data modification) are left out.
STRATUS = [
    ("aws.credential-access.ec2-get-password-data", [(r"^GetPasswordData$", ["T1552"], 2)]),
    ("aws.credential-access.ec2-steal-instance-credentials", [(r"^SendCommand$", ["T1552.005", "T1651"], 1)]),
    ("aws.credential-access.secretsmanager-batch-retrieve-secrets", [(r"^BatchGetSecretValue$", ["T1555.006"], 2)]),
    ("aws.credential-access.secretsmanager-retrieve-secrets", [(r"^GetSecretValue$", ["T1555.006"], 2)]),
    ("aws.credential-access.ssm-retrieve-securestring-parameters", [(r"^GetParameters$", ["T1555.006"], 2)]),
    ("aws.defense-evasion.cloudtrail-delete", [(r"^DeleteTrail$", ["T1562.008"], 1)]),
    ("aws.defense-evasion.cloudtrail-event-selectors", [(r"^PutEventSelectors$", ["T1562.008"], 1)]),
    ("aws.defense-evasion.cloudtrail-stop", [(r"^StopLogging$", ["T1562.008"], 1)]),
    ("aws.defense-evasion.dns-delete-logs", [(r"^DeleteResolverQueryLogConfig$", ["T1562.008"], 1)]),
    ("aws.defense-evasion.organizations-leave", [(r"^LeaveOrganization$", ["T1666"], 1)]),
    ("aws.defense-evasion.vpc-remove-flow-logs", [(r"^DeleteFlowLogs$", ["T1562.008"], 1)]),
    ("aws.discovery.ec2-download-user-data", [(r"^DescribeInstanceAttribute$", ["T1580"], 2)]),
    ("aws.execution.ec2-launch-unusual-instances", [(r"^RunInstances$", ["T1578.002"], 1)]),
    ("aws.execution.ssm-send-command", [(r"^SendCommand$", ["T1651"], 1)]),
    ("aws.execution.ssm-start-session", [(r"^StartSession$", ["T1651"], 2)]),
    ("aws.exfiltration.ec2-security-group-open-port-22-ingress", [(r"^AuthorizeSecurityGroupIngress$", ["T1562.007"], 1)]),
    ("aws.exfiltration.ec2-share-ami", [(r"^ModifyImageAttribute$", ["T1537"], 1)]),
    ("aws.exfiltration.ec2-share-ebs-snapshot", [(r"^ModifySnapshotAttribute$", ["T1537"], 1)]),
    ("aws.exfiltration.rds-share-snapshot", [(r"^ModifyDBSnapshotAttribute$", ["T1537"], 1)]),
    ("aws.impact.bedrock-invoke-model", [(r"^InvokeModel$", ["T1496.004"], 1),
                                         (r"^PutUseCaseForModelAccess$", ["T1496.004"], 1)]),
    ("aws.initial-access.console-login-without-mfa", [(r"^ConsoleLogin$", ["T1078.004"], 1)]),
    ("aws.lateral-movement.ec2-instance-connect", [(r"^SendSSHPublicKey$", ["T1098.004"], 2)]),
    ("aws.lateral-movement.ec2-serial-console-send-ssh-public-key", [
        (r"^EnableSerialConsoleAccess$", ["T1098.004"], 1), (r"^SendSerialConsoleSSHPublicKey$", ["T1098.004"], 1)]),
    ("aws.persistence.iam-backdoor-role", [(r"^UpdateAssumeRolePolicy$", ["T1098.003"], 1)]),
    ("aws.persistence.iam-backdoor-user", [(r"^CreateAccessKey$", ["T1098.001"], 1)]),
    ("aws.persistence.iam-create-admin-user", [(r"^CreateUser$", ["T1136.003"], 1),
                                               (r"^AttachUserPolicy$", ["T1098.003"], 1),
                                               (r"^CreateAccessKey$", ["T1098.001"], 1)]),
    ("aws.persistence.iam-create-backdoor-role", [(r"^CreateRole$", ["T1098.003"], 1),
                                                  (r"^AttachRolePolicy$", ["T1098.003"], 1)]),
    ("aws.persistence.iam-create-user-login-profile", [(r"^CreateLoginProfile$", ["T1098.001"], 1)]),
    ("aws.persistence.sts-federation-token", [(r"^GetFederationToken$", ["T1098.001"], 1)]),
    ("aws.privilege-escalation.iam-update-user-login-profile", [(r"^UpdateLoginProfile$", ["T1098.001"], 1)]),
]


def build_stratus(gitdir, active, replaced, report):
    check_license(gitdir, "LICENSE", "Apache License")
    commit = head_commit(gitdir)
    short = commit[:7]
    lic = "Apache-2.0 (DataDog stratus-red-team)"
    lines = []
    for name, picks in STRATUS:
        path = "docs/detonation-logs/%s.json" % name
        data = json.loads(git(gitdir, "show", "HEAD:" + path, text=True))
        recs = data if isinstance(data, list) else data.get("Records", [])
        total = 0
        for rx, techs, n in picks:
            got = 0
            for idx, r in enumerate(recs):
                if got >= n:
                    break
                if not re.search(rx, str(r.get("eventName"))):
                    continue
                lid = "stratus-%s-%d" % (slug(name, 100), idx)
                alert = cloudtrail_alert(lid, r)
                src = "github:DataDog/stratus-red-team@%s:%s#event=%d" % (short, path, idx)
                lines.append(make_line(lid, alert, resolve_techniques(techs, active, replaced), True, src, lic,
                                       ["real", "stratus-red-team", "cloud", "aws", "stratus:" + name]))
                got += 1
            if not got:
                raise SystemExit("no %s event in %s" % (rx, path))
            total += got
        report.append(("stratus", name, len(recs), total, 0))
    return lines, commit


# ---------------------------------------------------------------------------
# MITRE Caldera stockpile abilities (Apache-2.0): each ability's command, run the way the
# Caldera agent runs it, forwarded as one process-creation event.

CALDERA_LIC = "Apache-2.0"
CALDERA_TIME = "2026-01-15T12:00:00Z"
# Abilities whose text names these were generated from, or written for, content under other
# licences (Atomic Red Team, Sigma, Elastic rules): left out.
CALDERA_FOREIGN = re.compile(r"(?i)atomic|sigma|elastic")
# Commands that deploy or start a Caldera agent, or fetch a file from the Caldera server's
# payload endpoint, are the framework's plumbing, not the technique: left out.
CALDERA_PLUMBING = re.compile(r"(?i)sandcat|s4ndc4t|54ndc47|ragdoll|\bmanx\b|/file/download")
# How the agent starts each executor: (image, original file name, command-line prefix).
CALDERA_SHELLS = {
    ("windows", "psh"): ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "PowerShell.EXE",
                         "powershell.exe -Command "),
    ("windows", "pwsh"): ("C:\\Program Files\\PowerShell\\7\\pwsh.exe", "pwsh.dll", "pwsh.exe -Command "),
    ("windows", "cmd"): ("C:\\Windows\\System32\\cmd.exe", "Cmd.Exe", "cmd.exe /c "),
    ("linux", "sh"): ("/bin/sh", None, "/bin/sh -c "),
    ("darwin", "sh"): ("/bin/sh", None, "/bin/sh -c "),
    ("darwin", "osa"): ("/usr/bin/osascript", None, "osascript -e "),
}
# Executors with no command line (shellcode, the agent's built-in Go functions).
CALDERA_NO_COMMAND = ("shellcode_amd64", "shellcode_386", "native")
CALDERA_HOSTS = {"windows": ("WS01.corp.example.com", "CORP\\jdoe", "C:\\Users\\jdoe"),
                 "linux": ("web01.corp.example.com", "jdoe", "/home/jdoe"),
                 "darwin": ("mac01.corp.example.com", "jdoe", "/Users/jdoe")}
# Plausible values for Caldera's #{fact} placeholders (per platform where paths differ).
CALDERA_FACTS = {
    "server": "http://10.0.2.15:8888", "caldera.server": "10.0.2.15", "app.contact.http": "http://10.0.2.15:8888",
    "app.contact.html": "/weather", "paw": "xqzvbe", "group": "red", "origin_link_id": "1",
    "host.dir.staged": {"windows": "C:\\Users\\Public\\staged", "unix": "/tmp/staged"},
    "host.dir.compress": {"windows": "C:\\Users\\Public\\staged.zip", "unix": "/tmp/staged.tar.gz"},
    "host.dir.git": {"windows": "C:\\Users\\jdoe\\source\\repos\\webapp", "unix": "/home/jdoe/src/webapp"},
    "host.file.path": {"windows": "C:\\Users\\jdoe\\Documents\\budget.xlsx", "unix": "/home/jdoe/Documents/budget.xlsx"},
    "location": {"windows": "C:\\Users\\Public\\svcupdate.exe", "unix": "/tmp/svcupdate"},
    "exe_name": {"windows": "svcupdate.exe", "unix": "svcupdate"},
    "payload": {"windows": "update.exe", "unix": "update"},
    "windows.staging.location": "C:\\Users\\Public\\staged", "linux.staging.location": "/tmp/staged",
    "host.system.path": "C:\\Windows\\System32", "psexec.path": "C:\\Tools\\PsExec.exe",
    "share": "\\\\WS02\\C$\\Users\\Public\\", "sensitive.share.file": "Users\\jdoe\\Documents\\budget.xlsx",
    "host.service.modifiable": "UpdateOrchestratorSvc", "host.process.id": "4312", "host.print.file": "report.pdf",
    "host.user.name": "jdoe", "host.user.password": "EXAMPLE-user-pass", "sudo.password": "EXAMPLE-sudo-pass",
    "host.archive.password": "EXAMPLE-archive-pass", "host.chrome.bookmark_title": "Intranet",
    "domain.user.name": "CORP\\svc_backup", "domain.user.password": "EXAMPLE-domain-pass",
    "domain.broadcast.ip": "10.0.2.255", "local.host.fqdn": "WS01.corp.example.com",
    "remote.host.fqdn": "WS02.corp.example.com", "remote.host.name": "WS02", "remote.host.ip": "10.0.2.20",
    "remote.host.port": "22", "remote.host.socket": "10.0.2.20:8080", "remote.ssh.cmd": "jdoe@10.0.2.20",
    "nonstandard.port.listener": "10.0.2.20", "nonstandard.port.number": "8081",
    "server.malicious.url": "http://203.0.113.50/payload.bin", "backup.admin.ability": "none",
    "file.sensitive.extension": "docx", "file.sensitive.content": "password", "file.last.accessed": "30",
    "file.last.modified": "30", "file.size.chunk": "1000000", "pseudo.data.identifier": "pseudo",
    "safe.mode.enabled": "true",
    "windows.included.extensions": ".txt,.docx,.xlsx,.pdf", "windows.excluded.extensions": ".exe,.dll",
    "windows.included.directories": "C:\\Users", "windows.excluded.directories": "C:\\Windows",
    "linux.included.extensions": ".txt .docx .xlsx .pdf", "linux.included.directories": "/home",
    "linux.excluded.directories": "/proc",
    "target.org.name": "example", "target.org.domain": "example.com",
    "s3.source.name": "example-staging-bucket", "s3.destination.name": "example-archive-bucket",
    "s3.source.region": "us-east-1", "ftp.server.address": "203.0.113.10", "ftp.user.name": "ftpuser",
    "ftp.user.password": "EXAMPLE-ftp-pass", "dropbox.api.key": "EXAMPLE-dropbox-token",
    "dropbox.target.dir": "/backup", "github.user.name": "example-user",
    "github.access.token": "ghp_EXAMPLE000000000000000000000000000000", "github.repository.name": "notes",
    "github.repository.branch": "main",
}
FACT_RX = re.compile(r"#\{([A-Za-z0-9_.-]+)(?:\[[^\]{}]*\])?\}")
PAYLOAD_FACT_RX = re.compile(r"#\{payload:[0-9a-f-]{36}\}")


def caldera_fill(command, platform):
    """Replace #{fact} placeholders with the fixed values above (a fact without one is an error)."""
    def value(m):
        v = CALDERA_FACTS.get(m.group(1))
        if v is None:
            raise SystemExit("caldera: no value for fact #{%s}" % m.group(1))
        if isinstance(v, dict):
            v = v["windows" if platform == "windows" else "unix"]
        return v.replace("/home/jdoe", "/Users/jdoe") if platform == "darwin" else v
    command = PAYLOAD_FACT_RX.sub(lambda m: CALDERA_FACTS["payload"]["windows" if platform == "windows" else "unix"],
                                  command)
    return FACT_RX.sub(value, command)


def caldera_executors(ability):
    """[(platform, executor, command)] of one ability, in file order; comma-joined keys expanded."""
    out = []
    for plats, execs in (ability.get("platforms") or {}).items():
        for plat in plats.split(","):
            for names, spec in (execs or {}).items():
                for name in names.split(","):
                    out.append((plat.strip(), name.strip(), (spec or {}).get("command")))
    for e in ability.get("executors") or []:
        out.append((e.get("platform"), e.get("name"), e.get("command")))
    return out


def caldera_alert(alert_id, platform, executor, command, elevated):
    image, original, prefix = CALDERA_SHELLS[(platform, executor)]
    host, user, cwd = CALDERA_HOSTS[platform]
    if elevated:
        user = "NT AUTHORITY\\SYSTEM" if platform == "windows" else "root"
    pid = 2000 + int(sha(alert_id)[:6], 16) % 8000
    cmdline = prefix + command
    if platform == "darwin":
        fields = {"event": {"action": "exec", "category": "process", "module": "endpoint_security"},
                  "process": {"executable": image, "command_line": cmdline, "pid": pid,
                              "working_directory": cwd},
                  "user": {"name": user}, "host": {"hostname": host}}
        return {"id": alert_id, "source": "macos-endpoint-security", "time": CALDERA_TIME,
                "rule": {"id": "esf-exec", "name": "Endpoint Security process exec"},
                "entities": {"users": [user], "hosts": [host]}, "fields": fields}
    fields = {"EventID": 1,
              "Channel": "Microsoft-Windows-Sysmon/Operational" if platform == "windows" else "Linux-Sysmon/Operational",
              "Hostname": host, "UtcTime": CALDERA_TIME.replace("T", " ").replace("Z", ".000"),
              "ProcessId": pid, "Image": image}
    if original:
        fields["OriginalFileName"] = original
    fields.update({"CommandLine": cmdline, "CurrentDirectory": cwd, "User": user})
    if platform == "windows":
        fields["IntegrityLevel"] = "System" if elevated else "Medium"
    ent = {"hosts": [host]}
    if user not in ("NT AUTHORITY\\SYSTEM", "root"):
        ent["users"] = [user]
    return {"id": alert_id, "source": "sysmon", "time": CALDERA_TIME,
            "rule": {"id": "sysmon-1", "name": "Sysmon process creation"}, "entities": ent, "fields": fields}


def build_caldera(gitdir, active, replaced, report):
    check_license(gitdir, "LICENSE", "Apache License")
    commit = head_commit(gitdir)
    short = commit[:7]
    paths = [p for p in git(gitdir, "ls-tree", "-r", "--name-only", "HEAD", text=True).splitlines()
             if re.match(r"^data/abilities/[^/]+/[^/]+\.ya?ml$", p)]
    lines, counts = [], {"abilities": 0, "foreign": 0, "no-technique": 0, "kept-abilities": 0,
                         "no-command": 0, "plumbing": 0, "lines": 0}
    for path in sorted(paths):
        text = git(gitdir, "show", "HEAD:" + path, text=True)
        for ability in load_yaml(text) or []:
            counts["abilities"] += 1
            if CALDERA_FOREIGN.search(text):
                counts["foreign"] += 1
                continue
            tech = ability.get("technique") or {}
            tid = str(tech.get("attack_id") or ability.get("technique_id") or "").strip()
            tid = replaced.get(tid, tid)
            if tid not in active:
                counts["no-technique"] += 1
                report.append(("caldera", path, 0, 0, 0))
                continue
            kept = 0
            elevated = str(ability.get("privilege") or "").lower() == "elevated"
            for platform, executor, command in caldera_executors(ability):
                if executor in CALDERA_NO_COMMAND or not isinstance(command, str) or not command.strip():
                    counts["no-command"] += 1
                    continue
                if (platform, executor) not in CALDERA_SHELLS:
                    raise SystemExit("caldera: no shell for %s/%s in %s" % (platform, executor, path))
                if CALDERA_PLUMBING.search(command):
                    counts["plumbing"] += 1
                    continue
                command = "\n".join(l.rstrip() for l in command.strip().splitlines())
                lid = "caldera-%s-%s-%s" % (ability["id"], platform, executor)
                alert = caldera_alert(lid, platform, executor, caldera_fill(command, platform), elevated)
                src = "github:mitre/stockpile@%s:%s" % (short, path)
                tags = ["real", "caldera", platform, "executor-" + executor,
                        "tactic-" + slug(str(ability.get("tactic") or "none"))]
                lines.append(make_line(lid, alert, [tid], True, src, CALDERA_LIC, tags))
                kept += 1
            counts["lines"] += kept
            counts["kept-abilities"] += 1 if kept else 0
            report.append(("caldera", path, 0, kept, 0))
    report.append(("caldera", "totals " + json.dumps(counts, sort_keys=True), 0, 0, 0))
    return lines, commit


def write_set(out_dir, name, lines):
    os.makedirs(out_dir, exist_ok=True)
    dev = [l for l in lines if hashlib.sha256(l["id"].encode()).digest()[0] % 2 == 0]
    test = [l for l in lines if hashlib.sha256(l["id"].encode()).digest()[0] % 2 == 1]
    for suffix, subset in ((".dev", dev), (".test", test)):
        with open(os.path.join(out_dir, name + suffix + ".jsonl"), "w", encoding="utf-8") as fh:
            for l in subset:
                fh.write(json.dumps(l, ensure_ascii=False, sort_keys=False) + "\n")
    return len(dev), len(test)


def summarise(name, lines):
    mal = sum(1 for l in lines if l["gold"]["disposition"] == "true_positive")
    techs = sorted({t for l in lines for t in l["gold"]["techniques"]})
    return "%s: %d lines (%d malicious, %d benign), %d techniques" % (name, len(lines), mal, len(lines) - mal,
                                                                          len(techs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otrf", help="git dir of OTRF/Security-Datasets")
    ap.add_argument("--stratus", help="git dir of DataDog/stratus-red-team")
    ap.add_argument("--caldera", help="git dir of mitre/stockpile (Caldera abilities)")
    ap.add_argument("--attack", default="/work/shared/attack/enterprise-attack.json")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "real"))
    ap.add_argument("--report", action="store_true", help="print per-dataset counts")
    ap.add_argument("--cache", help="directory for parsed-archive caches (optional, speeds up reruns)")
    args = ap.parse_args()
    global CACHE_DIR
    CACHE_DIR = args.cache

    active, replaced = load_attack(args.attack)
    report = []
    if not (args.otrf or args.stratus or args.caldera):
        ap.error("give at least one of --otrf, --stratus, --caldera")
    sets = []
    if args.otrf:
        sets.append(("otrf-events",) + build_otrf(args.otrf, active, replaced, report))
    if args.stratus:
        sets.append(("stratus-cloud",) + build_stratus(args.stratus, active, replaced, report))
    if args.caldera:
        sets.append(("caldera-commands",) + build_caldera(args.caldera, active, replaced, report))

    errors = []
    for name, lines, _commit in sets:
        ids = set()
        for l in lines:
            for e in validate_line(l, active):
                errors.append("%s %s: %s" % (name, l["id"], e))
            if l["id"] in ids:
                errors.append("%s: duplicate id %s" % (name, l["id"]))
            ids.add(l["id"])
    if errors:
        for e in errors[:50]:
            print("error:", e, file=sys.stderr)
        raise SystemExit("%d validation errors; nothing written" % len(errors))

    if args.report:
        for meta, path, n, m, b in report:
            print("%-26s %-90s events=%-6d mal=%-2d benign=%d" % (meta, path, n, m, b))
    for name, lines, commit in sets:
        dev, test = write_set(args.out, name, lines)
        print(summarise(name, lines), "| dev %d, test %d | source commit %s" % (dev, test, commit))


if __name__ == "__main__":
    main()
