//! Matching a compiled filter against a request, with the first reason it does not match.

use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::compile::{Filter, Op, Pattern, Rule};

/// The four parts of a request a filter looks at, as JSON.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    method: &'a str,
    headers: &'a Value,
    query: &'a Value,
    body: Result<&'a Value, &'a str>,
}

impl<'a> RequestParts<'a> {
    /// `headers` is an object from lowercase names to text, `query` an object from names to
    /// text, and `body` the parsed body, or why it could not be read as JSON or a form.
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
            body,
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
    /// `path: ` then what `value` is, then `reason`: one allocation.
    fn new(path: &str, value: Option<&Value>, reason: &str) -> Self {
        let mut text = String::with_capacity(path.len() + reason.len() + 32);
        text.push_str(path);
        if !path.is_empty() {
            text.push_str(": ");
        }
        show(&mut text, value);
        text.push_str(reason);
        Self {
            text,
            path_len: path.len(),
        }
    }

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

type Checked = Result<(), Mismatch>;

impl Filter {
    /// `Ok` when every part of the filter matches, else the first reason it does not.
    pub fn check(&self, request: &RequestParts<'_>) -> Checked {
        if let Some(methods) = &self.method {
            if !methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(request.method))
            {
                let method = Value::String(request.method.to_owned());
                let methods = serde_json::to_string(methods).unwrap_or_default();
                let reason = format!(" is not one of {methods}");
                return Err(Mismatch::new("method", Some(&method), &reason));
            }
        }
        let parts = [
            (&self.headers, Ok(request.headers)),
            (&self.query, Ok(request.query)),
            (&self.body, request.body),
        ];
        for (pattern, value) in parts {
            let Some(pattern) = pattern else { continue };
            match value {
                Ok(value) => pattern.check_at(Some(value))?,
                Err(why) if !pattern.fields.is_empty() => {
                    let mut text = format!("{}: {why}", pattern.path);
                    text.shrink_to_fit();
                    return Err(Mismatch {
                        path_len: pattern.path.len(),
                        text,
                    });
                }
                Err(_) => {}
            }
        }
        Ok(())
    }
}

impl Pattern {
    /// `Ok` when `payload` matches, else the first reason it does not (paths start at the
    /// payload's fields).
    pub fn check(&self, payload: &Value) -> Checked {
        self.check_at(Some(payload))
    }

    /// Whether `payload` matches.
    pub fn matches(&self, payload: &Value) -> bool {
        self.check(payload).is_ok()
    }

    /// Checks `payload` (`None`: missing), a value found at this pattern's path.
    fn check_at(&self, payload: Option<&Value>) -> Checked {
        if matches!(payload, None | Some(Value::Null)) && !self.fields.is_empty() {
            return Err(Mismatch::new(&self.path, payload, ", expected an object"));
        }
        let object = payload.and_then(Value::as_object);
        for field in &self.fields {
            let value = object.and_then(|o| o.get(&field.name));
            field.rule.check(value, &field.path)?;
        }
        Ok(())
    }
}

impl Rule {
    fn check(&self, value: Option<&Value>, path: &str) -> Checked {
        match self {
            Self::Any => Ok(()),
            Self::OneOf { values, reason } => {
                if value.is_some_and(|v| values.iter().any(|x| same(x, v))) {
                    Ok(())
                } else {
                    Err(Mismatch::new(path, value, reason))
                }
            }
            Self::All(ops) => match ops.iter().find(|(op, _)| !op.holds(value)) {
                None => Ok(()),
                Some((_, reason)) => Err(Mismatch::new(path, value, reason)),
            },
            Self::Nested(pattern) => match value {
                Some(Value::Array(items)) => {
                    if items
                        .iter()
                        .any(|item| pattern.check_at(Some(item)).is_ok())
                    {
                        Ok(())
                    } else {
                        Err(Mismatch::new(path, value, " has no element that matches"))
                    }
                }
                _ => pattern.check_at(value),
            },
        }
    }
}

impl Op {
    /// Whether the operator holds for `value` (`None`: the field is missing), with v2's edge
    /// cases: a missing field exists for nothing but `$anythingBut` and `$isNull: false`.
    fn holds(&self, value: Option<&Value>) -> bool {
        let text = value.and_then(Value::as_str);
        let number = value.and_then(Value::as_f64);
        match self {
            Self::EndsWith(suffix) => text.is_some_and(|t| t.ends_with(suffix.as_str())),
            Self::StartsWith(prefix) => text.is_some_and(|t| t.starts_with(prefix.as_str())),
            Self::IgnoreCaseEquals(lower) => text.is_some_and(|t| t.to_lowercase() == *lower),
            Self::Exists(exists) => value.is_some() == *exists,
            Self::IsNull(null) => value.is_some_and(Value::is_null) == *null,
            Self::AnythingBut(values) => !value.is_some_and(|v| values.iter().any(|x| same(x, v))),
            Self::Gt(n) => number.is_some_and(|x| x > *n),
            Self::Lt(n) => number.is_some_and(|x| x < *n),
            Self::Gte(n) => number.is_some_and(|x| x >= *n),
            Self::Lte(n) => number.is_some_and(|x| x <= *n),
            Self::Between(low, high) => number.is_some_and(|x| *low <= x && x <= *high),
            Self::Includes(x) => {
                matches!(value, Some(Value::Array(items)) if items.iter().any(|i| same(x, i)))
            }
            Self::Not(x) => match value {
                Some(Value::Array(items)) => !items.iter().any(|i| same(x, i)),
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => !same(x, v),
                _ => false,
            },
        }
    }
}

/// JavaScript's `===` on JSON: numbers by value (`1` is `1.0`), no coercion between types,
/// and arrays and objects never equal (a filter's values are never arrays or objects).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

/// The most of a value a reason shows, in characters.
const SHOWN: usize = 80;

/// Writes a value for a reason: `missing`, or its JSON, cut to [`SHOWN`] characters.
fn show(out: &mut String, value: Option<&Value>) {
    match value {
        None => out.push_str("missing"),
        // The common case, a short plain string, without going through the serializer.
        Some(Value::String(s))
            if s.len() <= SHOWN && !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) =>
        {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Some(Value::Number(n)) => {
            let _ = write!(out, "{n}");
        }
        Some(value) => {
            let text = value.to_string();
            match text.char_indices().nth(SHOWN - 3) {
                Some((cut, _)) => {
                    out.push_str(&text[..cut]);
                    out.push_str("...");
                }
                None => out.push_str(&text),
            }
        }
    }
}
