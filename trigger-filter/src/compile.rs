//! From JSON to a compiled [`Filter`]: every mistake is an error here, once, so matching never
//! meets one.

use serde_json::{Map, Value};

use crate::error::{ErrorKind, FilterError, Target};
use crate::names::{self, NameId};
use crate::path::{Display, Segment};

type Result<T, E = FilterError> = std::result::Result<T, E>;

/// A compiled request filter: all of its parts must match (a missing part matches anything).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Uppercase method names.
    pub(crate) method: Option<Vec<String>>,
    /// Keyed by lowercase header name.
    pub(crate) headers: Option<Pattern>,
    pub(crate) query: Option<Pattern>,
    pub(crate) body: Option<Pattern>,
}

/// A compiled `EventFilter`: fields, each with a rule, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pattern {
    /// Where the pattern applies (`body.payload`), for reasons; empty at the top.
    pub(crate) path: Box<str>,
    pub(crate) fields: Vec<Field>,
}

/// One field of a pattern, with the text of its path and its rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Field {
    pub(crate) name: String,
    /// The name's number (see [`crate::names`]).
    pub(crate) id: NameId,
    /// `body.payload.length`: written once here, so a mismatch costs one string.
    pub(crate) path: Box<str>,
    pub(crate) rule: Rule,
}

/// What one field must be. Each rule keeps the end of its mismatch reason, written once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rule {
    /// `[]`: anything, even a missing field.
    Any,
    /// `["a", 1]`: equal to one of them, with no type coercion.
    OneOf {
        values: Vec<Value>,
        /// ` is not one of ["a",1]`.
        reason: Box<str>,
    },
    /// `[{ "$gt": 1 }, { "$lt": 9 }]`: every operator holds; each with ` does not satisfy
    /// {"$gt": 1}`.
    All(Vec<(Op, Box<str>)>),
    /// `{ ... }`: the nested fields match (some element does, for an array).
    Nested(Pattern),
}

/// One operator with its operand.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    EndsWith(String),
    StartsWith(String),
    /// The operand, lowercased.
    IgnoreCaseEquals(String),
    Exists(bool),
    IsNull(bool),
    AnythingBut(Vec<Value>),
    Gt(f64),
    Lt(f64),
    Gte(f64),
    Lte(f64),
    Between(f64, f64),
    Includes(Value),
    Not(Value),
}

/// Where a pattern applies: text values (headers, query) have no nested fields.
#[derive(Clone, Copy)]
enum Scope {
    Json,
    Text(&'static str),
}

impl Filter {
    /// Compiles a request filter: an object with any of `method`, `headers`, `query` and
    /// `body`.
    pub fn from_json(filter: &Value) -> Result<Self> {
        let Value::Object(sections) = filter else {
            return Err(FilterError::new(&[], Target::Value, ErrorKind::NotAnObject));
        };
        let mut compiled = Self::default();
        for (key, value) in sections {
            let path = [Segment::Key(key.clone())];
            match key.as_str() {
                "method" => compiled.method = Some(methods(value, &path)?),
                "headers" => compiled.headers = Some(text_section(value, &path, "headers")?),
                "query" => compiled.query = Some(text_section(value, &path, "query")?),
                "body" => compiled.body = Some(Pattern::compile(value, &mut path.to_vec())?),
                _ => {
                    let kind = ErrorKind::UnknownSection { key: key.clone() };
                    return Err(FilterError::new(&path, Target::Key, kind));
                }
            }
        }
        Ok(compiled)
    }

    /// Whether the filter looks into the body (so the body must be read as JSON or a form).
    pub fn reads_body(&self) -> bool {
        self.body.as_ref().is_some_and(|p| !p.fields.is_empty())
    }
}

fn methods(value: &Value, path: &[Segment]) -> Result<Vec<String>> {
    let error = |path: &[Segment]| FilterError::new(path, Target::Value, ErrorKind::Method);
    let Value::Array(items) = value else {
        return Err(error(path));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(name) if is_token(name) => Ok(name.to_ascii_uppercase()),
            _ => Err(error(&[path, &[Segment::Index(i)]].concat())),
        })
        .collect()
}

/// Whether `name` is an HTTP token (what a method name may be).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn text_section(value: &Value, path: &[Segment], section: &'static str) -> Result<Pattern> {
    let Value::Object(fields) = value else {
        let kind = ErrorKind::SectionNotObject { section };
        return Err(FilterError::new(path, Target::Value, kind));
    };
    let mut path = path.to_vec();
    let mut pattern = Pattern::fields(fields, &mut path, Scope::Text(section))?;
    if section == "headers" {
        for field in &mut pattern.fields {
            field.name = field.name.to_ascii_lowercase();
        }
    }
    Ok(pattern)
}

impl Pattern {
    /// Compiles an `EventFilter` (a JSON object) found at `path`.
    fn compile(value: &Value, path: &mut Vec<Segment>) -> Result<Self> {
        match value {
            Value::Object(fields) => Self::fields(fields, path, Scope::Json),
            _ => Err(FilterError::new(path, Target::Value, ErrorKind::RuleShape)),
        }
    }

    /// Compiles a pattern on its own, as for a body: `{"type": ["created"]}`.
    pub fn from_json(value: &Value) -> Result<Self> {
        Self::compile(value, &mut Vec::new())
    }

    fn fields(fields: &Map<String, Value>, path: &mut Vec<Segment>, scope: Scope) -> Result<Self> {
        let mut compiled = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            path.push(Segment::Key(key.clone()));
            compiled.push(Field {
                name: key.clone(),
                id: names::intern(key),
                path: Display(path).to_string().into(),
                rule: rule(value, path, scope)?,
            });
            path.pop();
        }
        Ok(Self {
            path: Display(path).to_string().into(),
            fields: compiled,
        })
    }
}

fn rule(value: &Value, path: &mut Vec<Segment>, scope: Scope) -> Result<Rule> {
    match (value, scope) {
        (Value::Array(items), _) => array_rule(items, path),
        (Value::Object(_), Scope::Text(section)) => {
            let kind = ErrorKind::NestedInText { section };
            Err(FilterError::new(path, Target::Value, kind))
        }
        (Value::Object(fields), Scope::Json) => {
            if let Some(operator) = fields
                .keys()
                .find(|k| crate::OPERATORS.contains(&k.as_str()))
            {
                path.push(Segment::Key(operator.clone()));
                let kind = ErrorKind::OperatorOutsideArray {
                    operator: operator.clone(),
                };
                return Err(FilterError::new(path, Target::Key, kind));
            }
            Pattern::fields(fields, path, scope).map(Rule::Nested)
        }
        _ => Err(FilterError::new(path, Target::Value, ErrorKind::RuleShape)),
    }
}

fn array_rule(items: &[Value], path: &mut Vec<Segment>) -> Result<Rule> {
    if items.is_empty() {
        return Ok(Rule::Any);
    }
    let operators = items.iter().filter(|item| item.is_object()).count();
    if operators == 0 {
        return match items.iter().position(Value::is_array) {
            Some(i) => {
                path.push(Segment::Index(i));
                Err(FilterError::new(
                    path,
                    Target::Value,
                    ErrorKind::NotAPlainValue,
                ))
            }
            None => Ok(Rule::OneOf {
                reason: format!(" is not one of {}", Value::Array(items.to_vec())).into(),
                values: items.to_vec(),
            }),
        };
    }
    if operators < items.len() {
        let i = items.iter().position(|item| !item.is_object()).unwrap_or(0);
        path.push(Segment::Index(i));
        return Err(FilterError::new(path, Target::Value, ErrorKind::Mixed));
    }
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.push(Segment::Index(i));
        let reason = format!(" does not satisfy {item}").into();
        ops.push((operator(item, path)?, reason));
        path.pop();
    }
    Ok(Rule::All(ops))
}

/// Compiles `{ "$op": operand }` found at `path`.
fn operator(item: &Value, path: &mut Vec<Segment>) -> Result<Op> {
    let fields = item.as_object().filter(|f| f.len() == 1);
    let Some((name, operand)) = fields.and_then(|f| f.iter().next()) else {
        return Err(FilterError::new(
            path,
            Target::Value,
            ErrorKind::OperatorShape,
        ));
    };
    path.push(Segment::Key(name.clone()));
    let wrong = |path: &[Segment], operator, expected| {
        let kind = ErrorKind::Operand { operator, expected };
        FilterError::new(path, Target::Value, kind)
    };
    let text = |operator| {
        operand
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(path, operator, "a string, like \"abc\""))
    };
    let flag = |operator| {
        operand
            .as_bool()
            .ok_or_else(|| wrong(path, operator, "true or false"))
    };
    let number = |operator| {
        operand
            .as_f64()
            .ok_or_else(|| wrong(path, operator, "a number, like 5"))
    };
    let primitive = |operator| {
        plain(operand)
            .then(|| operand.clone())
            .ok_or_else(|| wrong(path, operator, "a string, a number, a boolean or null"))
    };
    let op = match name.as_str() {
        "$endsWith" => Op::EndsWith(text("$endsWith")?),
        "$startsWith" => Op::StartsWith(text("$startsWith")?),
        "$ignoreCaseEquals" => Op::IgnoreCaseEquals(text("$ignoreCaseEquals")?.to_lowercase()),
        "$exists" => Op::Exists(flag("$exists")?),
        "$isNull" => Op::IsNull(flag("$isNull")?),
        "$anythingBut" => Op::AnythingBut(anything_but(operand).ok_or_else(|| {
            wrong(
                path,
                "$anythingBut",
                "a value or an array of values, like \"a\" or [\"a\", \"b\"]",
            )
        })?),
        "$gt" => Op::Gt(number("$gt")?),
        "$lt" => Op::Lt(number("$lt")?),
        "$gte" => Op::Gte(number("$gte")?),
        "$lte" => Op::Lte(number("$lte")?),
        "$between" => between(operand).ok_or_else(|| {
            wrong(
                path,
                "$between",
                "two numbers, the lower first, like [1, 10]",
            )
        })?,
        "$includes" => Op::Includes(primitive("$includes")?),
        "$not" => Op::Not(primitive("$not")?),
        _ => {
            let kind = ErrorKind::UnknownOperator {
                operator: name.clone(),
            };
            return Err(FilterError::new(path, Target::Key, kind));
        }
    };
    path.pop();
    Ok(op)
}

/// A string, number, boolean or null.
fn plain(value: &Value) -> bool {
    !value.is_array() && !value.is_object()
}

fn anything_but(operand: &Value) -> Option<Vec<Value>> {
    match operand {
        Value::Array(items) if items.iter().all(plain) => Some(items.clone()),
        value if plain(value) => Some(vec![value.clone()]),
        _ => None,
    }
}

fn between(operand: &Value) -> Option<Op> {
    match operand.as_array()?.as_slice() {
        [low, high] => {
            let (low, high) = (low.as_f64()?, high.as_f64()?);
            (low <= high).then_some(Op::Between(low, high))
        }
        _ => None,
    }
}
