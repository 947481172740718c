//! [`ParsedBody`]: a request body as filters see it, one flat tape of the parts some filter
//! reads (see [`crate::scan`]), and [`Json`], what matching needs of a value, implemented by
//! the tape and by `serde_json::Value`.

use std::fmt;

mod bounded;

use self::bounded::Bounded;
use crate::names::{NameId, UNNAMED};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A JSON body read for filters (see [`crate::Reads::parse_body`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedBody<'a> {
    /// The body.
    pub(crate) text: &'a str,
    pub(crate) tape: Vec<Node>,
    /// The strings that had escapes, decoded.
    pub(crate) escaped: Vec<String>,
}

impl<'a> ParsedBody<'a> {
    /// The body's top value.
    pub(crate) fn root(&self) -> At<'_, 'a> {
        At {
            body: self,
            index: 0,
        }
    }

    fn text(&self, text: Text) -> &str {
        text_of(self.text, &self.escaped, text)
    }
}

/// The text of a string of `body` whose decoded strings are `escaped`.
pub(crate) fn text_of<'s>(body: &'s str, escaped: &'s [String], text: Text) -> &'s str {
    let found = match text {
        Text::Raw { start, len } => {
            let start = start as usize;
            body.get(start..start + len as usize)
        }
        Text::Escaped(i) => escaped.get(i as usize).map(String::as_str),
    };
    found.unwrap_or_default()
}

impl Serialize for ParsedBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.root().serialize(serializer)
    }
}

/// One entry of the tape: a value, or the key of the value that follows it. A container is
/// followed by its contents, up to `end` (the index after them). Sixteen bytes: offsets into
/// the body, not pointers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(Text),
    /// Its elements follow.
    Array {
        end: u32,
    },
    /// Its fields follow, each a [`Node::Key`] (or [`Node::Shadowed`]) then the value.
    Object {
        end: u32,
        /// Whether no key is there twice: an object read for the fields filters name, where
        /// a repeated name shadows the ones before it. Else (an object kept whole) the last
        /// of a repeated name wins when it is looked up.
        unique: bool,
    },
    /// A key, with the number of its name when it was kept for a filter that names it
    /// ([`UNNAMED`] in an object kept whole).
    Key(Text, NameId),
    /// A key whose name comes again later in its object: `JSON.parse` keeps the later one.
    Shadowed,
}

// Sixteen bytes, as said above: the tape of a 2 KiB webhook stays in a few cache lines.
const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// A string of the body: where it is, or which decoded string it is when it had escapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Text {
    Raw { start: u32, len: u32 },
    Escaped(u32),
}

/// A JSON number as `JSON.parse` sees it: any size (`1e400` is infinite), integers exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Num {
    pub(crate) fn of(number: &Number) -> Self {
        match (number.as_i64(), number.as_u64()) {
            (Some(i), _) => Self::Int(i),
            (None, Some(u)) => Self::UInt(u),
            _ => Self::Float(number.as_f64().unwrap_or(f64::NAN)),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Self::Int(i) => i as f64,
            #[allow(clippy::cast_precision_loss)]
            Self::UInt(u) => u as f64,
            Self::Float(f) => f,
        }
    }

    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(i),
            Self::UInt(u) => i64::try_from(u).ok(),
            Self::Float(_) => None,
        }
    }
}

/// As JSON writes it (`1.5`, `1e20`), and `Infinity` as JavaScript does for what JSON cannot.
impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Int(i) => write!(f, "{i}"),
            Self::UInt(u) => write!(f, "{u}"),
            Self::Float(x) => match Number::from_f64(x) {
                Some(n) => write!(f, "{n}"),
                None if x.is_nan() => f.write_str("NaN"),
                None if x > 0.0 => f.write_str("Infinity"),
                None => f.write_str("-Infinity"),
            },
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Int(i) => serializer.serialize_i64(i),
            Self::UInt(u) => serializer.serialize_u64(u),
            // serde_json writes a number it cannot represent as `null`.
            Self::Float(x) => serializer.serialize_f64(x),
        }
    }
}

/// What matching needs of a JSON value: implemented by `&serde_json::Value` (headers, query,
/// forms, and values given by callers) and by [`At`] (bodies).
pub(crate) trait Json: Copy {
    /// The value of field `name` (whose number is `id`) of an object (the last one, if the
    /// name is repeated, as `JSON.parse` keeps it).
    fn field(self, name: &str, id: NameId) -> Option<Self>;
    fn elements(self) -> Option<impl Iterator<Item = Self>>;
    fn as_str(&self) -> Option<&str>;
    /// A string that JSON writes as it is, without escapes.
    fn as_plain_str(&self) -> Option<&str>;
    fn as_num(self) -> Option<Num>;
    fn as_bool(self) -> Option<bool>;
    fn is_null(self) -> bool;
    /// Writes the value as JSON, for reasons; one longer than `max` characters is cut to its
    /// first `max - 3` and `...` (and not written whole only to be cut).
    fn write_json(self, out: &mut String, max: usize);
}

/// Writes `value` as JSON, stopping once `max` bytes are written.
fn json_prefix(value: &impl Serialize, max: usize) -> String {
    struct Bounded(Vec<u8>, usize);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.1.saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("enough of the value was written"));
            }
            let taken = buf.len().min(room);
            self.0.extend_from_slice(&buf[..taken]);
            Ok(taken)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded(Vec::with_capacity(max.min(256)), max);
    let _ = serde_json::to_writer(&mut out, value);
    match String::from_utf8(out.0) {
        Ok(text) => text,
        // Cut inside a character: drop its first bytes.
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let mut bytes = error.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

impl Json for &Value {
    fn field(self, name: &str, _: NameId) -> Option<Self> {
        self.as_object()?.get(name)
    }

    fn elements(self) -> Option<impl Iterator<Item = Self>> {
        self.as_array().map(|items| items.iter())
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_plain_str(&self) -> Option<&str> {
        Value::as_str(self).filter(|s| crate::scan::plain_len(s.as_bytes()) == s.len())
    }

    fn as_num(self) -> Option<Num> {
        match self {
            Value::Number(n) => Some(Num::of(n)),
            _ => None,
        }
    }

    fn as_bool(self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn is_null(self) -> bool {
        Value::is_null(self)
    }

    fn write_json(self, out: &mut String, max: usize) {
        let start = out.len();
        out.push_str(&json_prefix(self, max.saturating_mul(4) + 4));
        cut(out, start, max);
    }
}

/// Cuts the text `out` has from `start` to its first `max - 3` characters and `...` when it
/// has more than `max`: how a reason shows a long value.
pub(super) fn cut(out: &mut String, start: usize, max: usize) {
    let written = &out[start..];
    // Fewer bytes than `max` are fewer characters; in ASCII a byte is a character.
    let end = if written.len() <= max {
        return;
    } else if written.is_ascii() {
        max.saturating_sub(3)
    } else {
        if written.char_indices().nth(max).is_none() {
            return;
        }
        let keep = written.char_indices().nth(max.saturating_sub(3));
        keep.map_or(0, |(i, _)| i)
    };
    out.truncate(start + end);
    out.push_str("...");
}

/// A value in a [`ParsedBody`]'s tape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'t, 'a> {
    body: &'t ParsedBody<'a>,
    index: u32,
}

impl<'t> At<'t, '_> {
    fn node(self) -> Node {
        let found = self.body.tape.get(self.index as usize);
        found.copied().unwrap_or(Node::Null)
    }

    fn at(self, index: u32) -> Self {
        Self {
            body: self.body,
            index,
        }
    }

    /// The index after this value and its contents.
    fn after(self) -> u32 {
        match self.node() {
            Node::Array { end } | Node::Object { end, .. } => end,
            _ => self.index + 1,
        }
    }

    /// The elements of an array that ends at `end`.
    fn children(self, end: u32) -> impl Iterator<Item = Self> {
        let mut next = self.index + 1;
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let child = self.at(next);
                next = child.after();
                child
            })
        })
    }

    /// The fields of an object: each key with its value.
    fn fields(self) -> Option<impl Iterator<Item = (&'t str, Self)>> {
        let Node::Object { end, .. } = self.node() else {
            return None;
        };
        let mut next = self.index + 1;
        Some(std::iter::from_fn(move || {
            while next < end {
                let key = self.at(next).node();
                let value = self.at(next + 1);
                next = value.after();
                match key {
                    Node::Key(key, _) => return Some((self.body.text(key), value)),
                    Node::Shadowed => {}
                    _ => return None,
                }
            }
            None
        }))
    }
}

impl Json for At<'_, '_> {
    #[inline]
    fn field(self, name: &str, id: NameId) -> Option<Self> {
        let Node::Object { end, unique } = self.node() else {
            return None;
        };
        let tape = self.body.tape.get(..end as usize)?;
        let mut next = self.index as usize + 1;
        if unique && id != UNNAMED {
            // Read for filters: every kept key has the number of its name, so one integer
            // test per key, and the first found is the only one.
            while let Some(&node) = tape.get(next) {
                match node {
                    Node::Key(_, key_id) if key_id == id => return Some(self.at(next as u32 + 1)),
                    Node::Key(..) | Node::Shadowed => {}
                    _ => return None,
                }
                next = match tape.get(next + 1) {
                    Some(Node::Array { end } | Node::Object { end, .. }) => *end as usize,
                    _ => next + 2,
                };
            }
            return None;
        }
        let (body, name) = (self.body.text.as_bytes(), name.as_bytes());
        let mut found = None;
        while let Some(&node @ (Node::Key(..) | Node::Shadowed)) = tape.get(next) {
            let same = match node {
                Node::Key(key, _) => match key {
                    // Length and first byte rule out most keys without a call to compare.
                    Text::Raw { start, len } => {
                        let start = start as usize;
                        len as usize == name.len()
                            && name
                                .first()
                                .is_none_or(|first| body.get(start) == Some(first))
                            && body.get(start..start + name.len()) == Some(name)
                    }
                    Text::Escaped(_) => self.body.text(key).as_bytes() == name,
                },
                _ => false,
            };
            let value = next + 1;
            if same {
                found = Some(value);
                // The last of a repeated name wins, as in `JSON.parse`; in a unique object
                // the first is the last.
                if unique {
                    break;
                }
            }
            next = match tape.get(value) {
                Some(Node::Array { end } | Node::Object { end, .. }) => *end as usize,
                _ => value + 1,
            };
        }
        // Indexes into the tape fit in u32: see `Node`.
        found.map(|value| self.at(value as u32))
    }

    fn elements(self) -> Option<impl Iterator<Item = Self>> {
        match self.node() {
            Node::Array { end } => Some(self.children(end)),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self.node() {
            Node::String(text) => Some(self.body.text(text)),
            _ => None,
        }
    }

    fn as_plain_str(&self) -> Option<&str> {
        // A string of the body without escapes has nothing to escape.
        match self.node() {
            Node::String(text @ Text::Raw { .. }) => Some(self.body.text(text)),
            _ => None,
        }
    }

    fn as_num(self) -> Option<Num> {
        match self.node() {
            Node::Int(i) => Some(Num::Int(i)),
            Node::UInt(u) => Some(Num::UInt(u)),
            Node::Float(f) => Some(Num::Float(f)),
            _ => None,
        }
    }

    fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn is_null(self) -> bool {
        matches!(self.node(), Node::Null)
    }

    fn write_json(self, out: &mut String, max: usize) {
        let mut bounded = Bounded::new(out, max);
        let _ = bounded.value(self);
        bounded.finish();
    }
}

impl Serialize for At<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.node() {
            Node::Null | Node::Key(..) | Node::Shadowed => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(b),
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => match self.as_num() {
                Some(n) => n.serialize(serializer),
                None => serializer.serialize_unit(),
            },
            Node::String(text) => serializer.serialize_str(self.body.text(text)),
            Node::Array { end } => {
                let mut seq = serializer.serialize_seq(None)?;
                for item in self.children(end) {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Node::Object { .. } => {
                let mut map = serializer.serialize_map(None)?;
                for (key, value) in self.fields().into_iter().flatten() {
                    map.serialize_entry(key, &value)?;
                }
                map.end()
            }
        }
    }
}
