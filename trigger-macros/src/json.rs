//! JSON written as Rust tokens, as in `#[job(filter = { "body": { "type": ["created"] } })]`:
//! parsed into a [`serde_json::Value`] with the span of every key and value, so that an error
//! about a place in the JSON points at its tokens.
//!
//! Objects are `{}` groups with string keys, `:` and `,`; arrays are `[]` groups; strings are
//! string literals (raw ones too, with Rust's escapes); numbers are unsuffixed decimal literals,
//! after an optional `-`; `true`, `false` and `null` are identifiers. Every mistake is reported,
//! each on its own tokens.

#[cfg(test)]
mod tests;

use std::fmt::Display;

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;
use serde_json::{Map, Number, Value};
use syn::Lit;
use trigger_filter::{Segment, Target};

use crate::diag::Errors;

const EXPECTED_VALUE: &str = "expected a JSON value: a string, a number, `true`, `false`, \
                              `null`, an array or an object";
const EXPECTED_KEY: &str = "expected a key, a string like `\"name\"`";
const EXTRA_COMMA: &str = "unexpected `,`; remove the extra comma";
const TRAILING_COMMA: &str = "trailing comma is not allowed in JSON; remove it";
const MISSING_COMMA_ARRAY: &str = "expected `,` or `]` after a value; separate values with commas";
const MISSING_COMMA_OBJECT: &str =
    "expected `,` or `}` after a value; separate entries with commas";

/// A JSON value parsed from tokens, with the spans of its tokens.
pub(crate) struct Json {
    /// The value's first and last tokens: the same token but for a negative number (`-` and
    /// its digits).
    pub(crate) span: (Span, Span),
    pub(crate) node: Node,
}

/// What a [`Json`] holds.
pub(crate) enum Node {
    /// A string, a number, a boolean or null.
    Scalar(Value),
    Array(Vec<Json>),
    /// The entries in source order, each key once (a duplicate is an error).
    Object(Vec<Entry>),
}

/// One `"key": value` of an object.
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Json,
}

impl Json {
    /// Parses the JSON object (a `{}` group) or array (a `[]` group) written as `group`,
    /// reporting every mistake in it.
    pub(crate) fn parse(group: &Group) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let json = group_value(group, &mut errors);
        errors.finish()?;
        json.ok_or_else(|| syn::Error::new(group.span(), EXPECTED_VALUE))
    }

    /// The value, as `serde_json` holds it.
    pub(crate) fn to_value(&self) -> Value {
        match &self.node {
            Node::Scalar(value) => value.clone(),
            Node::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Node::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The tokens an error about `path` (from the top of this value) is about: the key at its
    /// end for [`Target::Key`], else the value there; this whole value for an empty path.
    pub(crate) fn span_of(&self, path: &[Segment], target: Target) -> (Span, Span) {
        let mut json = self;
        let mut key = None;
        for segment in path {
            let child = match (&json.node, segment) {
                (Node::Object(entries), Segment::Key(name)) => entries
                    .iter()
                    .find(|e| e.key == *name)
                    .map(|e| (Some(e.key_span), &e.value)),
                (Node::Array(items), Segment::Index(i)) => items.get(*i).map(|item| (None, item)),
                _ => None,
            };
            // Not in the JSON (it always is): the deepest part that is.
            let Some((key_span, child)) = child else {
                break;
            };
            key = key_span;
            json = child;
        }
        match (target, key) {
            (Target::Key, Some(span)) => (span, span),
            _ => json.span,
        }
    }
}

/// An error on the tokens from `first` to `last`.
pub(crate) fn error((first, last): (Span, Span), message: impl Display) -> syn::Error {
    let mut start = Punct::new('-', Spacing::Alone);
    start.set_span(first);
    let mut end = Punct::new('-', Spacing::Alone);
    end.set_span(last);
    syn::Error::new_spanned(quote!(#start #end), message)
}

/// The tokens of a group, with `None`-delimited groups (`macro_rules!` fragments) opened.
struct Cursor {
    tokens: Vec<TokenTree>,
    next: usize,
}

impl Cursor {
    fn new(group: &Group) -> Self {
        fn flatten(stream: TokenStream, tokens: &mut Vec<TokenTree>) {
            for token in stream {
                match token {
                    TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
                        flatten(g.stream(), tokens);
                    }
                    other => tokens.push(other),
                }
            }
        }
        let mut tokens = Vec::new();
        flatten(group.stream(), &mut tokens);
        Self { tokens, next: 0 }
    }

    fn peek(&self) -> Option<&TokenTree> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<TokenTree> {
        let token = self.tokens.get(self.next).cloned();
        self.next += usize::from(token.is_some());
        token
    }

    fn at_end(&self) -> bool {
        self.next >= self.tokens.len()
    }

    /// The next token, if it is the punctuation `ch`.
    fn peek_punct(&self, ch: char) -> Option<Span> {
        match self.peek() {
            Some(TokenTree::Punct(p)) if p.as_char() == ch => Some(p.span()),
            _ => None,
        }
    }

    /// Skips what remains of an element, after a mistake in it.
    fn skip_to_comma(&mut self) {
        while !self.at_end() && self.peek_punct(',').is_none() {
            self.next += 1;
        }
    }

    /// A `,` where an element should start: reported and skipped.
    fn extra_comma(&mut self, errors: &mut Errors) -> bool {
        let comma = self.peek_punct(',');
        if let Some(span) = comma {
            errors.at(span, EXTRA_COMMA);
            self.next += 1;
        }
        comma.is_some()
    }

    /// After an element: a `,` and another element, or the end of the group.
    fn separator(&mut self, errors: &mut Errors, missing: &str) {
        if let Some(token) = self.peek().filter(|_| self.peek_punct(',').is_none()) {
            errors.at(token.span(), missing);
            self.skip_to_comma();
        }
        if let Some(comma) = self.bump() {
            if self.at_end() {
                errors.at(comma.span(), TRAILING_COMMA);
            }
        }
    }
}

/// A `{}` object or a `[]` array.
fn group_value(group: &Group, errors: &mut Errors) -> Option<Json> {
    match group.delimiter() {
        Delimiter::Brace => Some(object(group, errors)),
        Delimiter::Bracket => Some(array(group, errors)),
        Delimiter::Parenthesis | Delimiter::None => {
            errors.at(
                group.span(),
                "parentheses are not JSON; write an array as `[...]`, or remove them",
            );
            None
        }
    }
}

fn array(group: &Group, errors: &mut Errors) -> Json {
    let mut cursor = Cursor::new(group);
    let mut items = Vec::new();
    while !cursor.at_end() {
        if cursor.extra_comma(errors) {
            continue;
        }
        match value(&mut cursor, errors) {
            Some(item) => items.push(item),
            None => cursor.skip_to_comma(),
        }
        cursor.separator(errors, MISSING_COMMA_ARRAY);
    }
    Json {
        span: (group.span(), group.span()),
        node: Node::Array(items),
    }
}

fn object(group: &Group, errors: &mut Errors) -> Json {
    let mut cursor = Cursor::new(group);
    let mut entries: Vec<Entry> = Vec::new();
    while !cursor.at_end() {
        if cursor.extra_comma(errors) {
            continue;
        }
        match entry(&mut cursor, errors) {
            Some(entry) if entries.iter().any(|e| e.key == entry.key) => errors.at(
                entry.key_span,
                format_args!(
                    "duplicate key `{}`; merge the two or remove this one",
                    entry.key
                ),
            ),
            Some(entry) => entries.push(entry),
            None => cursor.skip_to_comma(),
        }
        cursor.separator(errors, MISSING_COMMA_OBJECT);
    }
    Json {
        span: (group.span(), group.span()),
        node: Node::Object(entries),
    }
}

/// `"key": value`; `None` (with an error) when there is not enough of it to go on.
fn entry(cursor: &mut Cursor, errors: &mut Errors) -> Option<Entry> {
    let (key, key_span) = key(cursor, errors)?;
    let colon = match cursor.peek() {
        Some(TokenTree::Punct(p)) if p.as_char() == ':' => p.span(),
        Some(TokenTree::Punct(p)) if p.as_char() == '=' => {
            errors.at(
                p.span(),
                "JSON separates a key from its value with `:`; write `:` instead of `=`",
            );
            p.span()
        }
        Some(other) => {
            errors.at(
                other.span(),
                format_args!("expected `:` after the key `{key}`"),
            );
            return None;
        }
        None => {
            errors.at(
                key_span,
                format_args!("expected `:` and a value after the key `{key}`"),
            );
            return None;
        }
    };
    cursor.bump();
    if cursor.at_end() || cursor.peek_punct(',').is_some() {
        errors.at(colon, "expected a value after `:`");
        return None;
    }
    let value = value(cursor, errors)?;
    Some(Entry {
        key,
        key_span,
        value,
    })
}

/// A key: a string literal. A key written otherwise (`body`, `$gt`, `'a'`, `5`) is reported and
/// read as its text, so that the rest of the entry is checked too.
fn key(cursor: &mut Cursor, errors: &mut Errors) -> Option<(String, Span)> {
    let token = cursor.bump()?;
    let mut span = (token.span(), token.span());
    let text = match &token {
        TokenTree::Literal(literal) => match Lit::new(literal.clone()) {
            Lit::Str(s) if s.suffix().is_empty() => return Some((s.value(), literal.span())),
            Lit::Str(s) => s.value(),
            Lit::Char(c) => c.value().to_string(),
            Lit::Int(_) | Lit::Float(_) => literal.to_string(),
            _ => {
                errors.at(literal.span(), EXPECTED_KEY);
                return None;
            }
        },
        TokenTree::Ident(ident) => ident.to_string(),
        TokenTree::Punct(dollar) if dollar.as_char() == '$' => match cursor.peek() {
            Some(TokenTree::Ident(ident)) => {
                span.1 = ident.span();
                let text = format!("${ident}");
                cursor.bump();
                text
            }
            _ => {
                errors.at(dollar.span(), EXPECTED_KEY);
                return None;
            }
        },
        other => {
            errors.at(other.span(), EXPECTED_KEY);
            return None;
        }
    };
    errors.push(error(
        span,
        format_args!("object keys are strings in JSON: write {}", quoted(&text)),
    ));
    Some((text, span.0))
}

/// The value at the cursor; `None` (with an error) when it is not one.
fn value(cursor: &mut Cursor, errors: &mut Errors) -> Option<Json> {
    match cursor.bump()? {
        TokenTree::Group(group) => group_value(&group, errors),
        TokenTree::Literal(literal) => self::literal(&literal, None, errors),
        TokenTree::Ident(ident) => keyword(&ident, errors),
        TokenTree::Punct(minus) if minus.as_char() == '-' => match cursor.peek() {
            Some(TokenTree::Literal(literal)) => {
                let literal = literal.clone();
                cursor.bump();
                self::literal(&literal, Some(minus.span()), errors)
            }
            _ => {
                errors.at(minus.span(), "expected a number after `-`");
                None
            }
        },
        TokenTree::Punct(plus) if plus.as_char() == '+' => {
            errors.at(plus.span(), "JSON numbers have no `+` sign; remove it");
            None
        }
        TokenTree::Punct(punct) => {
            errors.at(punct.span(), EXPECTED_VALUE);
            None
        }
    }
}

/// A string or a number (after `minus`, a `-`).
fn literal(literal: &Literal, minus: Option<Span>, errors: &mut Errors) -> Option<Json> {
    let span = (minus.unwrap_or_else(|| literal.span()), literal.span());
    let negative = minus.is_some();
    let value = match Lit::new(literal.clone()) {
        Lit::Int(int) => number(
            &int.to_string(),
            int.base10_digits(),
            int.suffix(),
            negative,
        ),
        Lit::Float(f) => number(&f.to_string(), f.base10_digits(), f.suffix(), negative),
        _ if negative => Err("expected a number after `-`".to_owned()),
        Lit::Str(s) if s.suffix().is_empty() => Ok(Value::String(s.value())),
        Lit::Str(s) => Err(format!(
            "a JSON string has no suffix; remove `{}`",
            s.suffix()
        )),
        Lit::Char(c) => Err(format!(
            "strings are in double quotes in JSON: write {}",
            quoted(&c.value().to_string())
        )),
        Lit::ByteStr(_) | Lit::CStr(_) | Lit::Byte(_) => {
            Err("byte and C strings are not JSON; write a plain string, like \"text\"".to_owned())
        }
        _ => Err(EXPECTED_VALUE.to_owned()),
    };
    match value {
        Ok(value) => Some(Json {
            span,
            node: Node::Scalar(value),
        }),
        Err(message) => {
            errors.push(error(span, message));
            None
        }
    }
}

/// A JSON number from a literal (`written`, whose value has the decimal `digits`), or what to
/// write instead.
fn number(written: &str, digits: &str, suffix: &str, negative: bool) -> Result<Value, String> {
    let sign = if negative { "-" } else { "" };
    let text = format!("{sign}{digits}");
    if !suffix.is_empty() {
        return Err(format!("JSON numbers have no type suffix; write `{text}`"));
    }
    if ["0x", "0o", "0b"].iter().any(|p| written.starts_with(p)) {
        return Err(format!("JSON numbers are decimal; write `{text}`"));
    }
    match text.parse::<Number>() {
        Ok(number) => Ok(Value::Number(number)),
        Err(_) if text.parse::<f64>().is_ok_and(f64::is_infinite) => {
            Err(format!("`{sign}{written}` is too large for a JSON number"))
        }
        Err(_) => Err(format!(
            "`{sign}{written}` is not a JSON number; write one like `5`, `-2.5` or `1e3`"
        )),
    }
}

/// `true`, `false` or `null`.
fn keyword(ident: &Ident, errors: &mut Errors) -> Option<Json> {
    let name = ident.to_string();
    let value = match name.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            let lower = name.to_ascii_lowercase();
            let message = match lower.as_str() {
                "true" | "false" | "null" => {
                    format!("`true`, `false` and `null` are lowercase in JSON: write `{lower}`")
                }
                "none" | "nil" | "undefined" => format!("JSON has no `{name}`; write `null`"),
                _ => format!("{EXPECTED_VALUE}; for text, write {}", quoted(&name)),
            };
            errors.at(ident.span(), message);
            return None;
        }
    };
    Some(Json {
        span: (ident.span(), ident.span()),
        node: Node::Scalar(value),
    })
}

/// `text` as a JSON string, in backquotes: `"body"`.
fn quoted(text: &str) -> String {
    format!("`{}`", Value::String(text.to_owned()))
}
