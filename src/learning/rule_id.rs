//! Name-based rule ids, so the same benign pattern always drafts a rule with the same `id`:
//! a re-drafted filter is recognisably the same rule, not a new one. The id is a UUIDv8
//! (RFC 9562 §5.8, whose own example is name-based with SHA-256): the first 16 bytes of
//! SHA-256 over a fixed namespace and the name, with the version and variant bits set.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Keeps ids drafted here apart from any other name-based id over the same text.
const NAMESPACE: &str = "urn:triage:learning:sigma-filter";

pub(crate) fn for_pattern(name: &str) -> Uuid {
    let digest = Sha256::digest(format!("{NAMESPACE}\n{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_gives_the_same_version_8_id() {
        let a = for_pattern("sysmon\nr-1\nImage=x");
        assert_eq!(a, for_pattern("sysmon\nr-1\nImage=x"));
        assert_ne!(a, for_pattern("sysmon\nr-1\nImage=y"));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
