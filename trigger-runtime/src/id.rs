//! Sortable random ids (`evt_…`, `run_…`) and random secrets.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Timestamp;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

thread_local! {
    /// Per-thread generator state, seeded once from the operating system's random source.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    static FALLBACK: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        // No OS randomness: ids only need to be unique, so mix time and a counter.
        Err(_) => {
            let time = Timestamp::now().as_unix_millis().unsigned_abs();
            time ^ FALLBACK.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        }
    }
}

/// wyrand: fast, well-distributed, not cryptographic. Ids need uniqueness, not secrecy, and a
/// syscall per id showed in ingest profiles; secrets use [`secret_hex`], which asks the OS.
fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        #[allow(clippy::cast_possible_truncation)]
        let folded = (t >> 64) as u64 ^ t as u64;
        folded
    })
}

/// A new id: `prefix_` then 26 Crockford base32 characters (48 bits of milliseconds, then 80
/// random bits), so ids sort by creation time like ULIDs.
pub(crate) fn new_id(prefix: &str) -> String {
    let millis = u128::try_from(Timestamp::now().as_unix_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let random = (u128::from(next_u64()) << 16 | u128::from(next_u64() & 0xffff)) & ((1 << 80) - 1);
    let value = millis << 80 | random;
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
