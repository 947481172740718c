//! Field names as small numbers, so that looking a field up in a body read for filters
//! compares two integers instead of two strings: a filter's fields and the keys the reader
//! keeps for them get the same number for the same name.
//!
//! The numbers are process-wide, so a filter compiled on its own and the reads of an endpoint
//! built later agree without being bound to each other. Only names written in filters are
//! numbered, at most [`NameId::MAX`] of them; past that, names stay [`UNNAMED`] and are
//! compared as text, which gives the same answers more slowly.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The number of a field name.
pub(crate) type NameId = u16;

/// No number: the name is compared as text.
pub(crate) const UNNAMED: NameId = NameId::MAX;

static NAMES: Mutex<Option<HashMap<Box<str>, NameId>>> = Mutex::new(None);

/// The number of `name`, the same for every call with the same name.
pub(crate) fn intern(name: &str) -> NameId {
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashMap::new);
    if let Some(&id) = names.get(name) {
        return id;
    }
    let Ok(id) = NameId::try_from(names.len()) else {
        return UNNAMED;
    };
    if id == UNNAMED {
        return UNNAMED;
    }
    names.insert(name.into(), id);
    id
}

#[cfg(test)]
mod tests {
    use super::{UNNAMED, intern};

    #[test]
    fn a_name_has_one_number() {
        let a = intern("triggerEvent");
        assert_ne!(a, UNNAMED);
        assert_eq!(intern("triggerEvent"), a);
        assert_ne!(intern("payload"), a);
    }
}
