//! [`ParsedBody`]: a request body as filters see it. Only the parts some filter reads are kept,
//! and strings borrow from the body's bytes where JSON did not escape them, so reading a 2 KiB
//! webhook allocates for a handful of objects and arrays, not for every string.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

use crate::reads::Shape;

/// A JSON body read for filters (see [`crate::Reads::parse_body`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedBody<'a>(pub(crate) Node<'a>);

/// A JSON value whose strings may borrow from the input.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Fields in the order read; few, so a scan finds them.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// What matching needs of a JSON value: implemented by `serde_json::Value` (headers, query,
/// forms, and values given by callers) and by [`Node`] (bodies).
pub(crate) trait Json: Sized {
    fn field(&self, name: &str) -> Option<&Self>;
    fn elements(&self) -> Option<&[Self]>;
    fn as_str(&self) -> Option<&str>;
    fn as_number(&self) -> Option<&Number>;
    fn as_bool(&self) -> Option<bool>;
    fn is_null(&self) -> bool;
    /// The value as JSON text, for reasons: at most about `max` bytes of it (a large value is
    /// not written whole only to be cut).
    fn to_json(&self, max: usize) -> String;
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

impl Json for Value {
    fn field(&self, name: &str) -> Option<&Self> {
        self.as_object()?.get(name)
    }

    fn elements(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn to_json(&self, max: usize) -> String {
        json_prefix(self, max)
    }
}

impl Json for Node<'_> {
    fn field(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Object(fields) => fields
                .iter()
                .find(|(key, _)| key.len() == name.len() && key == name)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    fn elements(&self) -> Option<&[Self]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    fn to_json(&self, max: usize) -> String {
        json_prefix(self, max)
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key.as_ref(), value)?;
                }
                map.end()
            }
        }
    }
}

/// Reads a value of `shape`: all of it ([`Shape::Whole`]), or only the named fields of objects
/// (recursively) and every element of arrays.
impl<'de> DeserializeSeed<'de> for &Shape {
    type Value = Node<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(Build(self))
    }
}

struct Build<'s>(&'s Shape);

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut kept = Vec::new();
        while let Some(found) = map.next_key_seed(Key(self.0))? {
            match found {
                Some((name, shape)) => kept.push((name, map.next_value_seed(shape)?)),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Node::Object(kept))
    }
}

/// An object key, and the shape of its value when a filter reads it; no copy for keys
/// skipped, nor for kept keys that JSON did not escape.
struct Key<'s>(&'s Shape);

impl<'de, 's> DeserializeSeed<'de> for Key<'s> {
    type Value = Option<(Cow<'de, str>, &'s Shape)>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // As bytes: a key no filter reads is compared, not checked as UTF-8 nor copied.
        deserializer.deserialize_bytes(self)
    }
}

impl<'s> Key<'s> {
    fn shape(&self, key: &str) -> Option<&'s Shape> {
        self.shape_of(key.as_bytes())
    }

    fn shape_of(&self, key: &[u8]) -> Option<&'s Shape> {
        match self.0 {
            Shape::Whole => Some(self.0),
            Shape::Fields(fields) => fields
                .iter()
                .find(|(name, _)| name.as_bytes() == key)
                .map(|(_, shape)| shape),
        }
    }
}

impl<'de, 's> Visitor<'de> for Key<'s> {
    type Value = Option<(Cow<'de, str>, &'s Shape)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, key: &'de [u8]) -> Result<Self::Value, E> {
        let Some(shape) = self.shape_of(key) else {
            return Ok(None);
        };
        let key = std::str::from_utf8(key).map_err(E::custom)?;
        Ok(Some((Cow::Borrowed(key), shape)))
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Self::Value, E> {
        let Some(shape) = self.shape_of(key) else {
            return Ok(None);
        };
        let key = std::str::from_utf8(key).map_err(E::custom)?;
        Ok(Some((Cow::Owned(key.to_owned()), shape)))
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(self.shape(key).map(|shape| (Cow::Borrowed(key), shape)))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .shape(key)
            .map(|shape| (Cow::Owned(key.to_owned()), shape)))
    }
}
