//! Matching a compiled filter against a request, with the first reason it does not match.

use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::compile::{Filter, Op, Pattern, Rule};
use crate::node::{At, Json, Num, ParsedBody};

/// The four parts of a request a filter looks at, as JSON.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    method: &'a str,
    headers: &'a Value,
    query: &'a Value,
    body: Result<Body<'a>, &'a str>,
}

/// A body: a `serde_json::Value` (a form, or a caller's value), or one read for filters.
#[derive(Clone, Copy, Debug)]
enum Body<'a> {
    Value(&'a Value),
    Parsed(At<'a, 'a>),
}

impl<'a> RequestParts<'a> {
    /// `headers` is an object from lowercase names to text, `query` an object from names to
    /// text, and `body` the body as JSON, or why it could not be read as JSON or a form.
    pub fn new(
        method: &'a str,
        headers: &'a Value,
        query: &'a Value,
        body: Result<&'a Value, &'a str>,
    ) -> Self {
        Self {
            method,
            headers,
            query,
            body: body.map(Body::Value),
        }
    }

    /// As [`new`](Self::new), with a body read by [`crate::Reads::parse_body`].
    pub fn with_parsed_body(
        method: &'a str,
        headers: &'a Value,
        query: &'a Value,
        body: Result<&'a ParsedBody<'a>, &'a str>,
    ) -> Self {
        Self {
            method,
            headers,
            query,
            body: body.map(|parsed| Body::Parsed(parsed.root())),
        }
    }
}

/// Why a request does not match a filter: where, and what was found there, in words:
/// `body.triggerEvent: "BOOKING_CANCELLED" is not one of ["BOOKING_CREATED"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    text: String,
    path_len: usize,
}

impl Mismatch {
    /// Where, as text: `body.triggerEvent`.
    pub fn path(&self) -> &str {
        &self.text[..self.path_len]
    }

    /// The whole reason, path first.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Mismatch {}

/// Why a value does not match, not yet written: `path: ` then what `value` is, then
/// `reason`, all but the value borrowed from the compiled filter.
struct Miss<'f, J> {
    path: &'f str,
    value: Option<J>,
    reason: &'f str,
}

impl<J: Json> Miss<'_, J> {
    /// Appends the reason to `out`; the length of its path.
    fn write(self, out: &mut String) -> usize {
        // Room for a short value; a long one is shown cut, at most `SHOWN` characters.
        out.reserve(self.path.len() + self.reason.len() + 40);
        out.push_str(self.path);
        if !self.path.is_empty() {
            out.push_str(": ");
        }
        show(out, self.value);
        out.push_str(self.reason);
        self.path.len()
    }
}

type Checked<'f, J> = Result<(), Miss<'f, J>>;

impl Filter {
    /// `Ok` when every part of the filter matches, else the first reason it does not.
    pub fn check(&self, request: &RequestParts<'_>) -> Result<(), Mismatch> {
        let mut text = String::new();
        match self.explain(request, &mut text) {
            None => Ok(()),
            Some(path_len) => Err(Mismatch { text, path_len }),
        }
    }

    /// Whether every part of the filter matches; if not, the first reason it does not is
    /// appended to `reasons` (so that the reasons of many filters share one allocation).
    pub fn check_into(&self, request: &RequestParts<'_>, reasons: &mut String) -> bool {
        self.explain(request, reasons).is_none()
    }

    /// `None` when every part matches, else the length of the path of the first reason it
    /// does not, which is appended to `out`.
    fn explain(&self, request: &RequestParts<'_>, out: &mut String) -> Option<usize> {
        if let Some(methods) = &self.method {
            if !methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(request.method))
            {
                let method = Value::String(request.method.to_owned());
                let methods = serde_json::to_string(methods).unwrap_or_default();
                let reason = format!(" is not one of {methods}");
                let miss = Miss {
                    path: "method",
                    value: Some(&method),
                    reason: &reason,
                };
                return Some(miss.write(out));
            }
        }
        for (pattern, value) in [
            (&self.headers, request.headers),
            (&self.query, request.query),
        ] {
            if let Some(Err(miss)) = pattern.as_ref().map(|p| p.check_at(Some(value))) {
                return Some(miss.write(out));
            }
        }
        let pattern = self.body.as_ref()?;
        let missed = match request.body {
            Ok(Body::Value(value)) => pattern.check_at(Some(value)).err()?.write(out),
            Ok(Body::Parsed(node)) => pattern.check_at(Some(node)).err()?.write(out),
            Err(_) if pattern.fields.is_empty() => return None,
            Err(why) => {
                out.push_str(&pattern.path);
                out.push_str(": ");
                out.push_str(why);
                pattern.path.len()
            }
        };
        Some(missed)
    }
}

impl Pattern {
    /// `Ok` when `payload` matches, else the first reason it does not (paths start at the
    /// payload's fields).
    pub fn check(&self, payload: &Value) -> Result<(), Mismatch> {
        self.check_at(Some(payload)).map_err(|miss| {
            let mut text = String::new();
            let path_len = miss.write(&mut text);
            Mismatch { text, path_len }
        })
    }

    /// Whether `payload` matches.
    pub fn matches(&self, payload: &Value) -> bool {
        self.check_at(Some(payload)).is_ok()
    }

    /// Checks `payload` (`None`: missing), a value found at this pattern's path.
    fn check_at<J: Json>(&self, payload: Option<J>) -> Checked<'_, J> {
        if payload.is_none_or(Json::is_null) && !self.fields.is_empty() {
            return Err(Miss {
                path: &self.path,
                value: payload,
                reason: ", expected an object",
            });
        }
        for field in &self.fields {
            let value = payload.and_then(|p| p.field(&field.name, field.id));
            field.rule.check(value, &field.path)?;
        }
        Ok(())
    }
}

impl Rule {
    fn check<'f, J: Json>(&'f self, value: Option<J>, path: &'f str) -> Checked<'f, J> {
        let miss = |reason| Miss {
            path,
            value,
            reason,
        };
        match self {
            Self::Any => Ok(()),
            Self::OneOf { values, reason } => {
                if value.is_some_and(|v| values.iter().any(|x| same(x, v))) {
                    Ok(())
                } else {
                    Err(miss(reason))
                }
            }
            Self::All(ops) => match ops.iter().find(|(op, _)| !op.holds(value)) {
                None => Ok(()),
                Some((_, reason)) => Err(miss(reason)),
            },
            Self::Nested(pattern) => match value.and_then(Json::elements) {
                Some(mut items) => {
                    if items.any(|item| pattern.check_at(Some(item)).is_ok()) {
                        Ok(())
                    } else {
                        Err(miss(" has no element that matches"))
                    }
                }
                None => pattern.check_at(value),
            },
        }
    }
}

impl Op {
    /// Whether the operator holds for `value` (`None`: the field is missing), with v2's edge
    /// cases: a missing field exists for nothing but `$anythingBut` and `$isNull: false`.
    fn holds<J: Json>(&self, value: Option<J>) -> bool {
        let text = value.as_ref().and_then(Json::as_str);
        let number = value.and_then(Json::as_num).map(Num::as_f64);
        match self {
            Self::EndsWith(suffix) => text.is_some_and(|t| t.ends_with(suffix.as_str())),
            Self::StartsWith(prefix) => text.is_some_and(|t| t.starts_with(prefix.as_str())),
            Self::IgnoreCaseEquals(lower) => text.is_some_and(|t| lowercase_is(t, lower)),
            Self::Exists(exists) => value.is_some() == *exists,
            Self::IsNull(null) => value.is_some_and(Json::is_null) == *null,
            Self::AnythingBut(values) => !value.is_some_and(|v| values.iter().any(|x| same(x, v))),
            Self::Gt(n) => number.is_some_and(|x| x > *n),
            Self::Lt(n) => number.is_some_and(|x| x < *n),
            Self::Gte(n) => number.is_some_and(|x| x >= *n),
            Self::Lte(n) => number.is_some_and(|x| x <= *n),
            Self::Between(low, high) => number.is_some_and(|x| *low <= x && x <= *high),
            Self::Includes(x) => value
                .and_then(Json::elements)
                .is_some_and(|mut items| items.any(|i| same(x, i))),
            Self::Not(x) => match value {
                Some(v) => match v.elements() {
                    Some(mut items) => !items.any(|i| same(x, i)),
                    None if is_scalar(v) => !same(x, v),
                    None => false,
                },
                None => false,
            },
        }
    }
}

/// Whether JavaScript's `text.toLowerCase()` is `lower`, without a copy when `text` is ASCII.
fn lowercase_is(text: &str, lower: &str) -> bool {
    if text.is_ascii() {
        text.len() == lower.len()
            && text
                .bytes()
                .zip(lower.bytes())
                .all(|(t, l)| t.to_ascii_lowercase() == l)
    } else {
        text.to_lowercase() == lower
    }
}

/// A string, a number or a boolean.
fn is_scalar<J: Json>(value: J) -> bool {
    value.as_str().is_some() || value.as_num().is_some() || value.as_bool().is_some()
}

/// JavaScript's `===` between a filter's value `a` and a request's `b`: numbers by value (`1`
/// is `1.0`), no coercion between types, and arrays and objects never equal (a filter's values
/// are never arrays or objects).
fn same<J: Json>(a: &Value, b: J) -> bool {
    match a {
        Value::Number(x) => b.as_num().is_some_and(|y| {
            let x = Num::of(x);
            match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }),
        Value::String(x) => b.as_str() == Some(x.as_str()),
        Value::Bool(x) => b.as_bool() == Some(*x),
        Value::Null => b.is_null(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// The most of a value a reason shows, in characters.
const SHOWN: usize = 80;

/// Writes a value for a reason: `missing`, or its JSON, cut to [`SHOWN`] characters.
fn show<J: Json>(out: &mut String, value: Option<J>) {
    let Some(value) = value else {
        out.push_str("missing");
        return;
    };
    // The common case, a short plain string, without escaping.
    if let Some(s) = value.as_plain_str().filter(|s| s.len() <= SHOWN) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else if let Some(n) = value.as_num() {
        let _ = write!(out, "{n}");
    } else {
        value.write_json(out, SHOWN);
    }
}
