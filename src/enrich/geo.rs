//! Where an IP address is: private and reserved ranges by rule, public ones from an
//! offline MaxMind-format database (`--geoip-db`) read in process. The service makes no
//! network call for this; without a database it says geo is unavailable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {path}: {message}")]
pub struct GeoError {
    pub path: PathBuf,
    pub message: String,
}

/// An opened MaxMind-format database.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
    pub path: PathBuf,
    pub database_type: String,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("path", &self.path).field("database_type", &self.database_type).finish()
    }
}

/// What a database says about an address. GeoLite2/GeoIP2 databases carry
/// `country.iso_code` and `country.names.en`; the `ip-location-db` builds carry
/// `country_code`. Both are read.
#[derive(Debug, Default, Deserialize)]
struct Record {
    #[serde(default)]
    country: Option<CountryRecord>,
    #[serde(default)]
    country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CountryRecord {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: Option<std::collections::BTreeMap<String, String>>,
}

impl GeoDb {
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| GeoError { path: path.to_path_buf(), message: e.to_string() })?;
        let database_type = reader.metadata().database_type.clone();
        Ok(GeoDb { reader, path: path.to_path_buf(), database_type })
    }

    /// The country of a public address: `(ISO code, English name)`, when the database has it.
    fn country(&self, ip: IpAddr) -> Result<Option<(String, Option<String>)>, String> {
        let found = self.reader.lookup(ip).map_err(|e| e.to_string())?;
        let Some(r) = found.decode::<Record>().map_err(|e| e.to_string())? else { return Ok(None) };
        let name = r.country.as_ref().and_then(|c| c.names.as_ref()).and_then(|n| n.get("en").cloned());
        let code = r.country.and_then(|c| c.iso_code).or(r.country_code);
        Ok(code.map(|c| (c, name)))
    }
}

/// What is known of one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoLabel {
    pub ip: String,
    /// `private`, `loopback`, `link_local`, `shared` (CGNAT), `documentation`,
    /// `multicast`, `reserved`, `unspecified`, or `public`.
    pub range: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// Why there is no country for a public address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The special-purpose range an address belongs to, or `public`.
pub fn range_of(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => range_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => range_v4(v4),
            None => range_v6(v6),
        },
    }
}

fn range_v4(ip: Ipv4Addr) -> &'static str {
    let o = ip.octets();
    if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link_local"
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        "shared"
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) {
        // Documentation ranges and the benchmarking range (198.18.0.0/15).
        "documentation"
    } else if ip.is_multicast() {
        "multicast"
    } else if o[0] >= 240 || o[0] == 0 || (o[0] == 192 && o[1] == 0 && o[2] == 0) {
        "reserved"
    } else {
        "public"
    }
}

fn range_v6(ip: Ipv6Addr) -> &'static str {
    let s = ip.segments();
    if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "private"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link_local"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if ip.is_multicast() {
        "multicast"
    } else if (s[0] & 0xe000) != 0x2000 {
        // Outside 2000::/3, the global unicast space.
        "reserved"
    } else {
        "public"
    }
}

/// Labels an address; public ones are looked up in `db` when there is one.
pub fn label(ip: IpAddr, db: Option<&GeoDb>) -> GeoLabel {
    let range = range_of(ip);
    let mut out = GeoLabel { ip: ip.to_string(), range: range.to_string(), country: None, country_name: None, note: None };
    if range != "public" {
        return out;
    }
    match db {
        None => out.note = Some("geo unavailable: no GeoIP database is configured".into()),
        Some(db) => match db.country(ip) {
            Ok(Some((code, name))) => {
                out.country = Some(code);
                out.country_name = name;
            }
            Ok(None) => out.note = Some("not in the GeoIP database".into()),
            Err(e) => {
                tracing::warn!(error = %e, "GeoIP lookup failed");
                out.note = Some("GeoIP lookup failed".into());
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_labelled_and_public_ones_say_geo_is_unavailable() {
        let l = |s: &str| label(s.parse().unwrap(), None);
        assert_eq!(l("10.1.2.3").range, "private");
        assert_eq!(l("192.168.0.1").range, "private");
        assert_eq!(l("127.0.0.1").range, "loopback");
        assert_eq!(l("169.254.1.1").range, "link_local");
        assert_eq!(l("100.64.0.1").range, "shared");
        assert_eq!(l("203.0.113.7").range, "documentation");
        assert_eq!(l("fd00::1").range, "private");
        assert_eq!(l("::ffff:10.0.0.1").range, "private");
        let public = l("8.8.8.8");
        assert_eq!(public.range, "public");
        assert!(public.note.unwrap().contains("geo unavailable"));
        assert_eq!(l("2606:4700::1111").range, "public");
    }
}
