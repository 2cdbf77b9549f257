//! Redis Cluster hash slots: which of the 16384 slots a key belongs to.
//!
//! A key's slot is CRC16-XMODEM of its hash tag (the text between the first `{` and the next
//! `}`, when that is not empty) or of the whole key, modulo 16384. Keys of one slot live on one
//! node and can be used together in one script.

use std::sync::LazyLock;

use crate::error::{Error, Result};

/// The number of hash slots of a Redis Cluster.
pub(crate) const SLOTS: u16 = 16384;

/// The part of `key` that decides its slot.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The CRC16-XMODEM of `bytes`, as Redis Cluster computes it.
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(bytes)
}

/// The hash slot of `key`.
pub(crate) fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// The characters of hash tags, in the order tags are tried.
const TAG_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// For every slot, the first text (shortest first, then in alphabet order) whose CRC16 falls in
/// it: the hash tag that puts a key in that slot. Part of the storage layout: never change it.
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut tags: Vec<Option<String>> = vec![None; usize::from(SLOTS)];
    let mut missing = tags.len();
    let mut len = 1;
    while missing > 0 {
        let mut digits = vec![0usize; len];
        'texts: loop {
            let text: Vec<u8> = digits.iter().map(|&d| TAG_ALPHABET[d]).collect();
            let entry = &mut tags[usize::from(crc16(&text) % SLOTS)];
            if entry.is_none() {
                *entry = Some(String::from_utf8(text).unwrap_or_default());
                missing -= 1;
            }
            // The next text of this length, as an odometer.
            for d in digits.iter_mut().rev() {
                *d += 1;
                if *d < TAG_ALPHABET.len() {
                    continue 'texts;
                }
                *d = 0;
            }
            break;
        }
        len += 1;
    }
    tags.into_iter().map(Option::unwrap_or_default).collect()
});

/// The hash tag of `slot`: `{<tag>}` in a key puts the key in that slot.
pub(crate) fn tag(slot: u16) -> &'static str {
    &TAGS[usize::from(slot % SLOTS)]
}

/// Refuses keys of several slots with [`Error::CrossSlot`] (they cannot be used in one script
/// on a cluster).
pub(crate) fn check_one_slot<'k>(keys: impl IntoIterator<Item = &'k str>) -> Result<()> {
    let mut slots: Vec<u16> = keys.into_iter().map(|k| slot(k.as_bytes())).collect();
    slots.sort_unstable();
    slots.dedup();
    if slots.len() > 1 {
        return Err(Error::CrossSlot { slots });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // The reference value of the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        // `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(slot(b"player:{alice}"), 749);
        assert_eq!(slot(b"p:{a}:x"), 15495);
        assert_eq!(slot(b"{a}"), slot(b"a"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(slot(b"x{}y"), crc16(b"x{}y") % SLOTS);
        assert_eq!(slot(b"{}{a}"), crc16(b"{}{a}") % SLOTS);
        // Only the first tag counts.
        assert_eq!(slot(b"p:{a}:{b}"), slot(b"a"));
        assert_eq!(slot(b"p:{a"), crc16(b"p:{a") % SLOTS);
    }

    #[test]
    fn every_slot_has_a_short_tag_and_the_table_never_changes() {
        for s in 0..SLOTS {
            let t = tag(s);
            assert!(!t.is_empty() && t.len() <= 4, "{s}: {t:?}");
            assert_eq!(slot(format!("x:{{{t}}}:y").as_bytes()), s);
        }
        // Stored keys depend on these: they may never change.
        assert_eq!(tag(crc16(b"0") % SLOTS), "0");
        let sample: Vec<&str> = [0, 1, 749, 8191, 16383].into_iter().map(tag).collect();
        assert_eq!(sample, ["06S", "Qi", "6nk", "6xN", "6ZJ"]);
    }
}
