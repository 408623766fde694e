//! Name-based UUIDs (version 5, RFC 9562 §5.5), so the same benign pattern always drafts a
//! rule with the same `id`: a re-drafted filter is recognisably the same rule, not a new one.
//! The crate's `uuid` dependency is built without its `v5` feature (and so without SHA-1);
//! the few lines of SHA-1 below stand in, checked against the RFC's published vectors.

use uuid::Uuid;

/// The namespace of every rule id drafted here: `v5(NAMESPACE_URL, "urn:triage:learning:sigma-filter")`.
pub(crate) fn namespace() -> Uuid {
    v5(&Uuid::NAMESPACE_URL, "urn:triage:learning:sigma-filter")
}

pub(crate) fn v5(namespace: &Uuid, name: &str) -> Uuid {
    let mut data = namespace.as_bytes().to_vec();
    data.extend_from_slice(name.as_bytes());
    let digest = sha1(&data);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// SHA-1 (FIPS 180-4). Used only to derive ids, never for integrity.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (slot, word) in w.iter_mut().zip(block.chunks_exact(4)) {
            *slot = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (acc, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *acc = acc.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_published_vectors() {
        assert_eq!(hex::encode(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex::encode(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex::encode(sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        assert_eq!(hex::encode(sha1(&[b'a'; 1000])), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn v5_matches_the_rfc_example() {
        // RFC 9562 appendix A.4: v5 of "www.example.com" in the DNS namespace.
        assert_eq!(v5(&Uuid::NAMESPACE_DNS, "www.example.com").to_string(), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        assert_eq!(namespace().get_version_num(), 5);
    }
}
