//! [`FilterError`]: why a filter was refused, and where in it.

use std::fmt;

use crate::path::{Display, Segment};
use crate::{OPERATORS, SECTIONS};

/// What an error points at: the key at the end of its path, or the value there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The key (`bodyy`, `$regex`).
    Key,
    /// The value (`"5"` where a number was expected).
    Value,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The filter is not a JSON object.
    NotAnObject,
    /// A top-level key other than `method`, `headers`, `query` and `body`.
    UnknownSection {
        /// The key as written.
        key: String,
    },
    /// `method` is not an array of HTTP method names.
    Method,
    /// `headers` or `query` is not an object.
    SectionNotObject {
        /// `headers` or `query`.
        section: &'static str,
    },
    /// A field's filter is neither an array nor an object.
    RuleShape,
    /// An object under `headers` or `query`, whose values are text.
    NestedInText {
        /// `headers` or `query`.
        section: &'static str,
    },
    /// An array or object inside an array of values.
    NotAPlainValue,
    /// An array that holds both values and operators.
    Mixed,
    /// An operator used as a key of an object, outside an array.
    OperatorOutsideArray {
        /// The operator.
        operator: String,
    },
    /// An operator object with no key or several.
    OperatorShape,
    /// An operator this filter language does not have.
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// An operator's operand has the wrong type.
    Operand {
        /// The operator.
        operator: &'static str,
        /// What it takes, with an example.
        expected: &'static str,
    },
}

/// Why a filter was refused: what is wrong, and where (a path into the filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    path: Vec<Segment>,
    target: Target,
    kind: ErrorKind,
}

impl FilterError {
    pub(crate) fn new(path: &[Segment], target: Target, kind: ErrorKind) -> Self {
        Self {
            path: path.to_vec(),
            target,
            kind,
        }
    }

    /// Where in the filter: the keys and indexes from its top.
    pub fn path(&self) -> &[Segment] {
        &self.path
    }

    /// Whether the error is about the key at the end of the path or its value.
    pub fn target(&self) -> Target {
        self.target
    }

    /// What is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message without the path: what a compile error shows on the offending token.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::NotAnObject => "a filter is a JSON object with any of the keys `method`, \
                 `headers`, `query` and `body`, like { \"body\": { \"type\": [\"created\"] } }"
                .to_owned(),
            ErrorKind::UnknownSection { key } => unknown("key", key, SECTIONS),
            ErrorKind::Method => {
                "`method` is an array of HTTP methods, like [\"POST\", \"PUT\"]".to_owned()
            }
            ErrorKind::SectionNotObject { section } => format!(
                "`{section}` is an object from names to filters, like {{ \"x-event\": [\"ping\"] }}"
            ),
            ErrorKind::RuleShape => "a field's filter is an array of values (`[\"a\", \"b\"]`), \
                 an array of operators (`[{ \"$gt\": 5 }]`) or an object for nested fields"
                .to_owned(),
            ErrorKind::NestedInText { section } => format!(
                "{section} values are text, so they have no nested fields; write an array of \
                 values or operators, like [\"a\"] or [{{ \"$startsWith\": \"a\" }}]"
            ),
            ErrorKind::NotAPlainValue => "an array of values holds strings, numbers, booleans \
                 and null; to match inside arrays or objects, use an object or `$includes`"
                .to_owned(),
            ErrorKind::Mixed => "an array holds either values or operators, not both; to \
                 match a value among conditions, use [{ \"$anythingBut\": ... }] or split it"
                .to_owned(),
            ErrorKind::OperatorOutsideArray { operator } => {
                format!("operators go inside an array: write [{{ \"{operator}\": ... }}]")
            }
            ErrorKind::OperatorShape => {
                "an operator is an object with one key, like { \"$gt\": 5 }; put several \
                 in the array: [{ \"$gt\": 1 }, { \"$lt\": 9 }]"
                    .to_owned()
            }
            ErrorKind::UnknownOperator { operator } => unknown("operator", operator, OPERATORS),
            ErrorKind::Operand { operator, expected } => {
                format!("`{operator}` takes {expected}")
            }
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message())
        } else {
            write!(
                f,
                "invalid filter at `{}`: {}",
                Display(&self.path),
                self.message()
            )
        }
    }
}

impl std::error::Error for FilterError {}

/// "unknown key `bodyy`; did you mean `body`?", or the whole list when nothing is close.
fn unknown(what: &str, found: &str, expected: &[&str]) -> String {
    match closest(found, expected) {
        Some(near) => format!("unknown {what} `{found}`; did you mean `{near}`?"),
        None => {
            let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
            format!(
                "unknown {what} `{found}`; expected one of {}",
                list.join(", ")
            )
        }
    }
}

/// The expected name closest to `found`, for a "did you mean" hint: within a third of its
/// length in edits (at least one), ignoring case. The macros' other hints use it too.
pub fn closest<'a>(found: &str, expected: &[&'a str]) -> Option<&'a str> {
    let found = found.to_lowercase();
    expected
        .iter()
        .map(|name| (distance(&found, &name.to_lowercase()), *name))
        .filter(|(d, name)| *d <= (name.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, distance};

    #[test]
    fn suggestions() {
        assert_eq!(distance("bodyy", "body"), 1);
        assert_eq!(closest("bodyy", crate::SECTIONS), Some("body"));
        assert_eq!(closest("Headers", crate::SECTIONS), Some("headers"));
        assert_eq!(
            closest("$startswith", crate::OPERATORS),
            Some("$startsWith")
        );
        assert_eq!(closest("$regex", crate::OPERATORS), None);
        assert_eq!(closest("payload", crate::SECTIONS), None);
    }
}
