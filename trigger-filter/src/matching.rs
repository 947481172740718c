//! Matching a compiled filter against a request, with the first reason it does not match.

use std::fmt;

use serde_json::Value;

use crate::compile::{Filter, Op, Pattern, Rule};
use crate::path::{Display, Segment};

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

/// Why a request does not match a filter: where, and what was found there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    path: Vec<Segment>,
    reason: String,
}

impl Mismatch {
    fn new(path: &[Segment], reason: String) -> Self {
        Self {
            path: path.to_vec(),
            reason,
        }
    }

    /// Where: `body.triggerEvent`.
    pub fn path(&self) -> &[Segment] {
        &self.path
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Display(&self.path), self.reason)
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
                let reason = format!("{} is not one of {}", request.method, list(methods));
                return Err(Mismatch::new(&[key("method")], reason));
            }
        }
        let parts = [
            ("headers", &self.headers, Ok(request.headers)),
            ("query", &self.query, Ok(request.query)),
            ("body", &self.body, request.body),
        ];
        for (name, pattern, value) in parts {
            let Some(pattern) = pattern else { continue };
            let mut path = vec![key(name)];
            match value {
                Ok(value) => pattern.check_at(Some(value), &mut path)?,
                Err(why) if !pattern.fields.is_empty() => {
                    return Err(Mismatch::new(&path, why.to_owned()));
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
        self.check_at(Some(payload), &mut Vec::new())
    }

    /// Whether `payload` matches.
    pub fn matches(&self, payload: &Value) -> bool {
        self.check(payload).is_ok()
    }

    /// Checks `payload` (`None`: missing) with `path` pointing at it; `path` is as it was when
    /// this returns.
    fn check_at(&self, payload: Option<&Value>, path: &mut Vec<Segment>) -> Checked {
        if matches!(payload, None | Some(Value::Null)) && !self.fields.is_empty() {
            let reason = format!("{}, expected an object", show(payload));
            return Err(Mismatch::new(path, reason));
        }
        let depth = path.len();
        let object = payload.and_then(Value::as_object);
        for (name, rule) in &self.fields {
            path.push(Segment::Key(name.clone()));
            let checked = rule.check(object.and_then(|o| o.get(name)), path);
            path.truncate(depth);
            checked?;
        }
        Ok(())
    }
}

impl Rule {
    fn check(&self, value: Option<&Value>, path: &mut Vec<Segment>) -> Checked {
        match self {
            Self::Any => Ok(()),
            Self::OneOf(values) => {
                if value.is_some_and(|v| values.iter().any(|x| same(x, v))) {
                    Ok(())
                } else {
                    let reason = format!("{} is not one of {}", show(value), list(values));
                    Err(Mismatch::new(path, reason))
                }
            }
            Self::All(ops) => match ops.iter().find(|op| !op.holds(value)) {
                None => Ok(()),
                Some(op) => {
                    let reason = format!("{} does not satisfy {op}", show(value));
                    Err(Mismatch::new(path, reason))
                }
            },
            Self::Nested(pattern) => match value {
                Some(Value::Array(items)) => {
                    if items
                        .iter()
                        .any(|item| pattern.check_at(Some(item), path).is_ok())
                    {
                        Ok(())
                    } else {
                        let reason = format!("no element of {} matches", show(value));
                        Err(Mismatch::new(path, reason))
                    }
                }
                _ => pattern.check_at(value, path),
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

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = |n: &f64| serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number);
        let (name, operand) = match self {
            Self::EndsWith(s) => ("$endsWith", Value::from(s.as_str())),
            Self::StartsWith(s) => ("$startsWith", Value::from(s.as_str())),
            Self::IgnoreCaseEquals(s) => ("$ignoreCaseEquals", Value::from(s.as_str())),
            Self::Exists(b) => ("$exists", Value::Bool(*b)),
            Self::IsNull(b) => ("$isNull", Value::Bool(*b)),
            Self::AnythingBut(values) => ("$anythingBut", Value::Array(values.clone())),
            Self::Gt(n) => ("$gt", number(n)),
            Self::Lt(n) => ("$lt", number(n)),
            Self::Gte(n) => ("$gte", number(n)),
            Self::Lte(n) => ("$lte", number(n)),
            Self::Between(low, high) => ("$between", Value::Array(vec![number(low), number(high)])),
            Self::Includes(x) => ("$includes", x.clone()),
            Self::Not(x) => ("$not", x.clone()),
        };
        write!(f, "{{\"{name}\": {operand}}}")
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

fn key(name: &str) -> Segment {
    Segment::Key(name.to_owned())
}

/// A value for a reason: `missing`, or its JSON, cut to 80 characters.
fn show(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "missing".to_owned();
    };
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(77).collect();
    format!("{cut}...")
}

fn list<T: Clone + Into<Value>>(values: &[T]) -> String {
    Value::Array(values.iter().cloned().map(Into::into).collect()).to_string()
}
