//! Sortable random ids (`evt_…`, `run_…`) and random secrets.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Timestamp;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Fills `buf` from the operating system's random source, or from a process-local mix as a
/// last resort (ids stay unique either way; secrets use [`secret_bytes`], which never falls back).
fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        for chunk in buf.chunks_mut(8) {
            let mut x = COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// A new id: `prefix_` then 26 Crockford base32 characters (48 bits of milliseconds, then 80
/// random bits), so ids sort by creation time like ULIDs.
pub(crate) fn new_id(prefix: &str) -> String {
    let millis = u128::try_from(Timestamp::now().as_unix_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let mut random = [0u8; 10];
    fill_random(&mut random);
    let mut value = millis << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - i));
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        let index = usize::try_from((value >> (5 * i)) & 31).unwrap_or(0);
        out.push(char::from(CROCKFORD[index]));
    }
    out
}

/// 32 bytes from the operating system's random source, hex-encoded, for generated secrets.
pub(crate) fn secret_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = new_id("run");
        let b = new_id("run");
        assert_ne!(a, b);
        assert!(a.starts_with("run_"));
        assert_eq!(a.len(), 30);
    }
}
