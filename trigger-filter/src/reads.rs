//! What a set of filters reads of a request, so that a request is turned into JSON only as far
//! as some filter looks: the headers and query names they name, and the body fields they reach.
//! A 2 KiB webhook parses about eight times faster when the fields no filter reads are skipped.

use std::collections::BTreeMap;

use crate::compile::{Filter, Pattern, Rule};
use crate::names::{self, NameId, UNNAMED};
use crate::node::ParsedBody;
use crate::scan::{self, BodyError};

/// The union of what some filters read: built once (for an endpoint's jobs), used for every
/// request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reads {
    headers: Vec<String>,
    query: Vec<String>,
    body: Option<Shape>,
}

/// The part of a JSON value that filters look at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// All of it (a rule compares or inspects the value itself).
    Whole,
    /// These fields of an object, or of each object in an array.
    Fields(Fields),
}

/// The fields filters read of an object: a short list, faster than a map for the few fields
/// filters name, with the lengths of their names as bits, so that most keys of a body are
/// ruled out by one test.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fields {
    list: Vec<(String, Shape)>,
    /// The numbers of the names, in the order of `list`.
    ids: Vec<NameId>,
    /// Bit `n` for each name of `n` bytes (bit 63 for 63 bytes and more).
    lengths: u64,
}

impl Fields {
    fn new(list: Vec<(String, Shape)>) -> Self {
        let lengths = list
            .iter()
            .fold(0, |bits, (name, _)| bits | length_bit(name.len()));
        let ids = list.iter().map(|(name, _)| names::intern(name)).collect();
        Self { list, ids, lengths }
    }

    /// The index, name number and shape of field `key`, if filters read it.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<(usize, NameId, &Shape)> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        let found = self.list.iter().position(|(name, _)| {
            // The first byte rules out most names of the same length without a call.
            let name = name.as_bytes();
            name.len() == key.len() && name.first() == key.first() && name == key
        })?;
        let id = self.ids.get(found).copied().unwrap_or(UNNAMED);
        Some((found, id, &self.list[found].1))
    }
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Reads {
    /// What `filters` read, together.
    pub fn of<'a>(filters: impl IntoIterator<Item = &'a Filter>) -> Self {
        let mut reads = Self::default();
        for filter in filters {
            for (names, pattern) in [
                (&mut reads.headers, &filter.headers),
                (&mut reads.query, &filter.query),
            ] {
                let fields = pattern.iter().flat_map(|p| &p.fields);
                names.extend(fields.map(|field| field.name.clone()));
                names.sort();
                names.dedup();
            }
            if let Some(body) = filter.body.as_ref().filter(|b| !b.fields.is_empty()) {
                let shape = Shape::of(body);
                reads.body = Some(match reads.body.take() {
                    Some(other) => other.union(shape),
                    None => shape,
                });
            }
        }
        reads
    }

    /// The header names read (lowercase).
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The query names read.
    pub fn query(&self) -> &[String] {
        &self.query
    }

    /// Whether some filter looks into the body.
    pub fn reads_body(&self) -> bool {
        self.body.is_some()
    }

    /// Parses a JSON body, keeping only what the filters read (all of it if none looks into
    /// the body). Invalid JSON is an error all the same: skipped parts are still checked.
    pub fn parse_body<'a>(&self, body: &'a [u8]) -> Result<ParsedBody<'a>, BodyError> {
        let shape = self.body.as_ref().unwrap_or(&Shape::Whole);
        scan::read(body, shape)
    }
}

impl Shape {
    fn of(pattern: &Pattern) -> Self {
        let fields = pattern.fields.iter().map(|field| {
            let shape = match &field.rule {
                Rule::Nested(inner) => Self::of(inner),
                Rule::Any | Rule::OneOf { .. } | Rule::All(_) => Self::Whole,
            };
            (field.name.clone(), shape)
        });
        let mut map = BTreeMap::new();
        for (name, shape) in fields {
            merge(&mut map, name, shape);
        }
        Self::Fields(Fields::new(map.into_iter().collect()))
    }

    fn union(self, other: Self) -> Self {
        match (self, other) {
            (Self::Fields(a), Self::Fields(b)) => {
                let mut map: BTreeMap<String, Self> = a.list.into_iter().collect();
                for (name, shape) in b.list {
                    merge(&mut map, name, shape);
                }
                Self::Fields(Fields::new(map.into_iter().collect()))
            }
            _ => Self::Whole,
        }
    }
}

/// Adds field `name` with `shape` to `map`, uniting it with what is there.
fn merge(map: &mut BTreeMap<String, Shape>, name: String, shape: Shape) {
    let merged = match map.remove(&name) {
        Some(existing) => existing.union(shape),
        None => shape,
    };
    map.insert(name, merged);
}
