//! Tokens to JSON: values, and the tokens each error and each path points at.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use serde_json::{Value, json};
use trigger_filter::{Segment, Target};

use super::Json;

/// The group that `source` is, with spans into `source`.
fn group(source: &str) -> Group {
    let tokens: TokenStream = source.parse().expect("valid tokens");
    match tokens.into_iter().next() {
        Some(TokenTree::Group(group)) => group,
        _ => panic!("not a group: {source}"),
    }
}

fn value(source: &str) -> Value {
    Json::parse(&group(source))
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .to_value()
}

/// The text of `source` from the start of `first` to the end of `last` (one line).
fn text(source: &str, (first, last): (Span, Span)) -> String {
    let (start, end) = (first.start(), last.end());
    assert_eq!((start.line, end.line), (1, 1), "one line");
    source
        .chars()
        .skip(start.column)
        .take(end.column - start.column)
        .collect()
}

/// Every error in `source`, in order: its message, and the text it underlines.
fn errors(source: &str) -> Vec<(String, String)> {
    let Err(error) = Json::parse(&group(source)) else {
        panic!("no error in {source}");
    };
    error
        .into_iter()
        .map(|e| (e.to_string(), text(source, (e.span(), e.span()))))
        .collect()
}

fn one_error(source: &str) -> (String, String) {
    let mut errors = errors(source);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[test]
fn numbers() {
    let parsed =
        value("[0, 5, -5, 2.5, -0.25, 1e3, 1_000, 18446744073709551615, -9223372036854775808]");
    assert_eq!(
        parsed,
        json!([0, 5, -5, 2.5, -0.25, 1000.0, 1000, u64::MAX, i64::MIN])
    );
    let Value::Array(items) = parsed else {
        unreachable!()
    };
    assert!(items[1].is_u64());
    assert!(items[2].is_i64() && !items[2].is_u64());
    assert!(items[3].is_f64());
    assert!(items[5].is_f64(), "an exponent makes a float, as in JSON");
    // Beyond `u64`, as JSON parsers do: a float.
    assert_eq!(value("[100000000000000000000]"), json!([1e20]));
}

#[test]
fn strings_and_escapes() {
    let source = r####"["a\"b", "tab\t", "\u{e9}", "\\", r#"raw "quoted""#, "line
break"]"####;
    assert_eq!(
        value(source),
        json!(["a\"b", "tab\t", "é", "\\", "raw \"quoted\"", "line\nbreak"])
    );
}

#[test]
fn nested_values() {
    let source =
        r#"{ "body": { "a": [1, { "b": null }], "t": true, "f": false, "e": [], "o": {} } }"#;
    assert_eq!(
        value(source),
        json!({ "body": { "a": [1, { "b": null }], "t": true, "f": false, "e": [], "o": {} } })
    );
    assert_eq!(value("{}"), json!({}));
    assert_eq!(value("[]"), json!([]));
}

#[test]
fn spans_of_paths() {
    let source = r#"{ "body": { "n": [{ "$gt": "5" }], "m": [-5] } }"#;
    let json = Json::parse(&group(source)).expect("valid");
    let key = |k: &str| Segment::Key(k.to_owned());
    let gt = [key("body"), key("n"), Segment::Index(0), key("$gt")];
    assert_eq!(text(source, json.span_of(&gt, Target::Value)), r#""5""#);
    assert_eq!(text(source, json.span_of(&gt, Target::Key)), r#""$gt""#);
    assert_eq!(
        text(source, json.span_of(&gt[..3], Target::Value)),
        r#"{ "$gt": "5" }"#
    );
    // An index has no key: the error goes on the element.
    assert_eq!(
        text(source, json.span_of(&gt[..3], Target::Key)),
        r#"{ "$gt": "5" }"#
    );
    let m = [key("body"), key("m"), Segment::Index(0)];
    assert_eq!(text(source, json.span_of(&m, Target::Value)), "-5");
    assert_eq!(text(source, json.span_of(&[], Target::Value)), source);
    assert_eq!(text(source, json.span_of(&[], Target::Key)), source);
}

/// Sources with one mistake: the message, and the tokens it underlines.
const MISTAKES: &[(&str, &str, &str)] = &[
    (
        "{ body: [] }",
        "object keys are strings in JSON: write `\"body\"`",
        "body",
    ),
    (
        "{ $gt: 1 }",
        "object keys are strings in JSON: write `\"$gt\"`",
        "$gt",
    ),
    (
        r#"{ "a": [1, 2,] }"#,
        "trailing comma is not allowed in JSON; remove it",
        ",",
    ),
    (r#"{ "a" [1] }"#, "expected `:` after the key `a`", "[1]"),
    (
        r#"{ "a" }"#,
        "expected `:` and a value after the key `a`",
        r#""a""#,
    ),
    (r#"{ "a": }"#, "expected a value after `:`", ":"),
    (
        r#"{ "a" = 1 }"#,
        "JSON separates a key from its value with `:`; write `:` instead of `=`",
        "=",
    ),
    (
        r#"{ "a": 'x' }"#,
        "strings are in double quotes in JSON: write `\"x\"`",
        "'x'",
    ),
    (
        r#"{ "a": nope }"#,
        "expected a JSON value: a string, a number, `true`, `false`, `null`, an array or \
         an object; for text, write `\"nope\"`",
        "nope",
    ),
    (
        r#"{ "a": ; }"#,
        "expected a JSON value: a string, a number, `true`, `false`, `null`, an array or \
         an object",
        ";",
    ),
    (
        r#"{ "a": True }"#,
        "`true`, `false` and `null` are lowercase in JSON: write `true`",
        "True",
    ),
    (
        r#"{ "a": None }"#,
        "JSON has no `None`; write `null`",
        "None",
    ),
    (
        r#"{ "a": 5u8 }"#,
        "JSON numbers have no type suffix; write `5`",
        "5u8",
    ),
    (
        r#"{ "a": -2.5f32 }"#,
        "JSON numbers have no type suffix; write `-2.5`",
        "-2.5f32",
    ),
    (
        r#"{ "a": 0x10 }"#,
        "JSON numbers are decimal; write `16`",
        "0x10",
    ),
    (
        r#"{ "a": 1e400 }"#,
        "`1e400` is too large for a JSON number",
        "1e400",
    ),
    (
        r#"{ "a": 1. }"#,
        "`1.` is not a JSON number; write one like `5`, `-2.5` or `1e3`",
        "1.",
    ),
    (r#"{ "a": -"x" }"#, "expected a number after `-`", r#"-"x""#),
    (r#"{ "a": - }"#, "expected a number after `-`", "-"),
    (
        r#"{ "a": +1 }"#,
        "JSON numbers have no `+` sign; remove it",
        "+",
    ),
    (
        r#"{ "a": 1 "b": 2 }"#,
        "expected `,` or `}` after a value; separate entries with commas",
        r#""b""#,
    ),
    (
        "[1 2]",
        "expected `,` or `]` after a value; separate values with commas",
        "2",
    ),
    ("[1,, 2]", "unexpected `,`; remove the extra comma", ","),
    (
        r#"{ "a": 1, "a": 2 }"#,
        "duplicate key `a`; merge the two or remove this one",
        r#""a""#,
    ),
    (
        r#"{ "a": (1) }"#,
        "parentheses are not JSON; write an array as `[...]`, or remove them",
        "(1)",
    ),
    (
        r#"{ "a": b"x" }"#,
        "byte and C strings are not JSON; write a plain string, like \"text\"",
        r#"b"x""#,
    ),
    (
        r#"{ "a": "x"suffix }"#,
        "a JSON string has no suffix; remove `suffix`",
        r#""x"suffix"#,
    ),
    (
        r#"{ [1]: 2 }"#,
        "expected a key, a string like `\"name\"`",
        "[1]",
    ),
];

#[test]
fn syntax_errors_are_on_their_token() {
    for (source, message, token) in MISTAKES {
        assert_eq!(
            one_error(source),
            ((*message).to_owned(), (*token).to_owned()),
            "{source}"
        );
    }
}

#[test]
fn every_syntax_error_is_reported() {
    let source = r#"{ body: { "a": [1, 2,], "b": 'x', "c": 3 "e": 4 }, "d": nope, }"#;
    let found: Vec<String> = errors(source).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["body", ",", "'x'", r#""e""#, "nope", ","]);
}
