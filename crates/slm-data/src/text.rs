//! Canonical text and stable hashing, shared by deduplication and splitting.
//!
//! The hashes here are fixed algorithms (FNV-1a folded through SplitMix64), not `std`'s `DefaultHasher`,
//! whose algorithm may change between Rust releases: split outputs must be byte-identical on any machine.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The form in which two texts count as the same: Unicode NFC, lowercased, runs of whitespace folded
/// to one space, no leading or trailing space. ASCII and already-NFC text skip normalization.
pub fn canonical(text: &str) -> String {
    let nfc: Cow<'_, str> = if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    };
    let mut out = String::with_capacity(nfc.len());
    for word in nfc.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            out.push_str(&word.to_lowercase());
        }
    }
    out
}

/// SplitMix64's finaliser: a fast, well-mixing bijection on `u64`.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of `bytes` started from `seed`, then mixed.
pub fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ mix64(seed);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

/// A 128-bit fingerprint of `bytes`, for exact-duplicate detection (collisions need ~2^64 texts).
pub fn fingerprint(bytes: &[u8]) -> u128 {
    (u128::from(hash64(bytes, 1)) << 64) | u128::from(hash64(bytes, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_folds_case_space_and_normal_form() {
        // "é" precomposed vs e + combining acute accent
        assert_eq!(canonical("  Caf\u{e9}\t\n  AU  lait "), canonical("cafe\u{301} au lait"));
        assert_eq!(canonical("A  b\r\nC"), "a b c");
    }

    #[test]
    fn hashes_are_pinned() {
        // Pinned so that a change of algorithm, which would change every split, is noticed.
        assert_eq!(hash64(b"", 0), 0x5b21_f68f_fa77_f14c);
        assert_ne!(hash64(b"abc", 0), hash64(b"abc", 1));
        assert_ne!(fingerprint(b"abc"), fingerprint(b"abd"));
    }
}
