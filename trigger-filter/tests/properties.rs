//! Properties over generated JSON: a filter built from a payload's own values matches it,
//! neither compiling nor matching ever panics, whatever the JSON, and bodies are read as JSON
//! exactly as serde_json reads them.

use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use trigger_filter::{Filter, Pattern, Reads, RequestParts};

/// xorshift64*: deterministic, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const KEYS: &[&str] = &["a", "b", "type", "$gt", "x.y", "", "Ünï", "items", "k\"ey"];

fn string(rng: &mut Rng) -> String {
    let pool = [
        "",
        "a",
        "BOOKING_CREATED",
        "é",
        "a.png",
        "img/a",
        "0",
        "null",
        "\u{1F600}",
        "q\"uote",
        "tab\there",
        "back\\slash/and\u{1}control",
    ];
    let mut s = pool[rng.below(pool.len())].to_owned();
    if rng.chance(30) {
        s.push_str(pool[rng.below(pool.len())]);
    }
    s
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => json!(0),
        1 => json!(u64::MAX),
        2 => json!(i64::MIN),
        3 => json!(1e308),
        4 => json!(-0.5),
        _ => json!(rng.below(100)),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth == 0 || rng.chance(40);
    match rng.below(if leaf { 4 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => number(rng),
        3 => Value::String(string(rng)),
        4 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(5) {
                map.insert(
                    KEYS[rng.below(KEYS.len())].to_owned(),
                    value(rng, depth - 1),
                );
            }
            Value::Object(map)
        }
    }
}

/// A rule that `v` satisfies, built from `v` itself.
fn rule_for(rng: &mut Rng, v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(pattern_for(rng, map)),
        Value::Array(items) => {
            let plain: Vec<&Value> = items
                .iter()
                .filter(|i| !i.is_array() && !i.is_object())
                .collect();
            let objects: Vec<&Map<String, Value>> =
                items.iter().filter_map(Value::as_object).collect();
            if !plain.is_empty() && rng.chance(60) {
                json!([{ "$includes": plain[rng.below(plain.len())] }])
            } else if !objects.is_empty() {
                let object = objects[rng.below(objects.len())];
                Value::Object(pattern_for(rng, object))
            } else {
                json!([{ "$exists": true }])
            }
        }
        Value::String(s) => match rng.below(6) {
            0 => json!([{ "$startsWith": s.chars().take(rng.below(3)).collect::<String>() }]),
            1 => json!([{ "$endsWith": "" }]),
            2 => json!([{ "$ignoreCaseEquals": s.to_uppercase() }]),
            3 => json!([{ "$not": format!("{s}-other") }]),
            4 => json!([{ "$anythingBut": [format!("{s}!"), 1] }]),
            _ => json!(["zzz", s]),
        },
        Value::Number(_) => match rng.below(5) {
            0 => json!([{ "$gte": v }, { "$lte": v }]),
            1 => json!([{ "$between": [v, v] }]),
            2 => json!([{ "$not": "a number is not this text" }]),
            3 => json!([{ "$exists": true }, { "$isNull": false }]),
            _ => json!([v]),
        },
        Value::Bool(b) => json!([b]),
        Value::Null => match rng.below(3) {
            0 => json!([{ "$isNull": true }]),
            1 => json!([{ "$exists": true }]),
            _ => json!([null]),
        },
    }
}

fn pattern_for(rng: &mut Rng, map: &Map<String, Value>) -> Map<String, Value> {
    let mut filter = Map::new();
    for (key, v) in map {
        // Operator names as field names are refused by design: skip them.
        if key.starts_with('$') || !rng.chance(70) {
            continue;
        }
        filter.insert(key.clone(), rule_for(rng, v));
    }
    if rng.chance(20) {
        filter.insert("never-a-field".to_owned(), json!([{ "$exists": false }]));
    }
    filter
}

#[test]
fn a_filter_built_from_a_payload_matches_it() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let Value::Object(payload) = value(&mut rng, 4) else {
            continue;
        };
        let filter = Value::Object(pattern_for(&mut rng, &payload));
        let pattern = Pattern::from_json(&filter)
            .unwrap_or_else(|e| panic!("seed {seed}: {filter} does not compile: {e}"));
        let payload = Value::Object(payload);
        if let Err(reason) = pattern.check(&payload) {
            panic!("seed {seed}: {filter} does not match {payload}: {reason}");
        }
    }
}

#[test]
fn compiling_and_matching_never_panic() {
    let headers = json!({"x-a": "1"});
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        // Random JSON as a filter: most of it is refused, with an error, never a panic.
        let filter = value(&mut rng, 4);
        let _ = Filter::from_json(&json!({ "body": filter.clone() }));
        let _ = Pattern::from_json(&filter);
        // A valid filter against random payloads, nested deeply.
        let mut deep = value(&mut rng, 3);
        for _ in 0..rng.below(64) {
            deep = json!({ "a": [deep] });
        }
        let shape = value(&mut rng, 3);
        let source = match &shape {
            Value::Object(map) => Value::Object(pattern_for(&mut rng, map)),
            _ => json!({ "a": { "a": [{ "$exists": true }] } }),
        };
        let compiled = Filter::from_json(&json!({ "headers": {}, "body": source })).unwrap();
        for body in [&deep, &shape, &Value::Null] {
            let _ = compiled.check(&RequestParts::new("POST", &headers, &headers, Ok(body)));
        }
    }
}

#[test]
fn reading_only_what_filters_need_decides_like_the_whole_body() {
    let empty = json!({});
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x94d0_49bb_1331_11eb) | 1);
        let Value::Object(payload) = value(&mut rng, 4) else {
            continue;
        };
        let mut filters = vec![pattern_for(&mut rng, &payload)];
        for _ in 0..2 {
            if let Value::Object(other) = value(&mut rng, 3) {
                filters.push(pattern_for(&mut rng, &other));
            }
        }
        let filters: Vec<Filter> = filters
            .into_iter()
            .map(|p| Filter::from_json(&json!({ "body": p })).unwrap())
            .collect();
        let reads = Reads::of(&filters);
        let whole = Value::Object(payload);
        let text = whole.to_string();
        let sparse = reads
            .parse_body(text.as_bytes())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for filter in &filters {
            let on_whole = filter.check(&RequestParts::new("POST", &empty, &empty, Ok(&whole)));
            let on_sparse = filter.check(&RequestParts::with_parsed_body(
                "POST",
                &empty,
                &empty,
                Ok(&sparse),
            ));
            // The same decision, and the same reason, word for word.
            assert_eq!(
                on_whole, on_sparse,
                "seed {seed}: {filter:?} on {whole} and on {sparse:?}"
            );
        }
        assert!(
            reads.parse_body(b"{\"a\": [1, }").is_err(),
            "invalid JSON is refused"
        );
    }
}

#[test]
fn a_deeply_nested_body_is_an_error_not_a_stack_overflow() {
    let filter =
        Filter::from_json(&json!({ "body": { "a": { "a": [{ "$exists": true }] } } })).unwrap();
    let reads = Reads::of([&filter]);
    for open in ["[", "{\"a\":"] {
        let body = open.repeat(100_000);
        assert!(reads.parse_body(body.as_bytes()).is_err());
    }
    let body = format!("{}1{}", "{\"a\":".repeat(100), "}".repeat(100));
    let parsed = reads.parse_body(body.as_bytes()).unwrap();
    let empty = json!({});
    let _ = filter.check(&RequestParts::with_parsed_body(
        "POST",
        &empty,
        &empty,
        Ok(&parsed),
    ));
}

/// A body read with no filter (so all of it is kept) is the value serde_json wrote, in any
/// layout.
#[test]
fn a_body_reads_back_as_the_json_it_is() {
    let reads = Reads::default();
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1);
        let original = value(&mut rng, 5);
        for text in [
            original.to_string(),
            serde_json::to_string_pretty(&original).unwrap(),
        ] {
            let parsed = reads
                .parse_body(text.as_bytes())
                .unwrap_or_else(|e| panic!("seed {seed}: {text}: {e}"));
            let read = serde_json::to_value(&parsed).unwrap();
            assert_eq!(read, original, "seed {seed}: {text}");
        }
    }
}

/// Bytes that JSON-ish edits of a valid body give: some still JSON, most not.
fn mutated(rng: &mut Rng, text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"{}[]:,\"\\ \t\n0123456789.-+eEtrufalsn/u\x01";
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        let byte = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(4) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes[at] = byte,
            2 => bytes.truncate(at),
            _ => bytes.insert(at, byte),
        }
    }
    bytes
}

/// Whatever the bytes, a body is JSON for filters exactly when serde_json accepts it, and
/// reading it never panics.
#[test]
fn a_body_is_json_exactly_when_serde_json_says_so() {
    let filter = Filter::from_json(&json!({ "body": { "a": { "b": [1] }, "type": [] } })).unwrap();
    for reads in [Reads::default(), Reads::of([&filter])] {
        let mut disagreements = Vec::new();
        for seed in 1..=20_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x94d0_49bb_1331_11eb) | 1);
            let text = value(&mut rng, 4).to_string();
            let bytes = mutated(&mut rng, &text);
            let ours = reads.parse_body(&bytes).is_ok();
            // Not UTF-8 is not JSON (serde_json checks only the strings it keeps).
            let theirs = std::str::from_utf8(&bytes).is_ok()
                && serde_json::from_slice::<IgnoredAny>(&bytes).is_ok();
            if ours != theirs {
                disagreements.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        assert!(disagreements.is_empty(), "{reads:?}: {disagreements:#?}");
    }
}

#[test]
fn random_bytes_are_refused_without_a_panic() {
    let reads = Reads::default();
    for seed in 1..=5000u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd6e8_feb8_6659_fd93) | 1);
        let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let ours = reads.parse_body(&bytes).is_ok();
        let theirs = serde_json::from_slice::<Value>(&bytes).is_ok();
        assert_eq!(ours, theirs, "seed {seed}: {bytes:?}");
    }
}

#[test]
fn nesting_is_limited_as_in_serde_json() {
    let reads = Reads::default();
    for depth in 120..=135 {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let ours = reads.parse_body(body.as_bytes()).is_ok();
            // As deep as serde_json reads into a `Value` (what a job's `request.json()` does).
            let theirs = serde_json::from_str::<Value>(&body).is_ok();
            assert_eq!(ours, theirs, "{depth} levels of {open}");
        }
    }
}

#[test]
fn a_body_error_says_what_and_where() {
    let reads = Reads::default();
    let cases: &[(&[u8], &str)] = &[
        (b"", "EOF while parsing a value at line 1 column 1"),
        (b"{\"a\": tru}", "expected value at line 1 column 7"),
        (b"{\"a\": 1,\n \"b\" 2}", "expected `:` at line 2 column 6"),
        (b"[1, 2", "EOF while parsing a value at line 1 column 6"),
        (b"\"\\x\"", "invalid escape at line 1 column 3"),
        (
            b"\"a\tb\"",
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3",
        ),
        (b"01", "trailing characters at line 1 column 2"),
        (b"-", "invalid number at line 1 column 2"),
        (b"{} x", "trailing characters at line 1 column 4"),
        (b"{1: 2}", "key must be a string at line 1 column 2"),
        (b"[\"\xff\"]", "invalid UTF-8 at line 1 column 3"),
    ];
    for (body, expected) in cases {
        let error = reads.parse_body(body).unwrap_err();
        assert_eq!(
            error.to_string(),
            *expected,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

/// A repeated key keeps its last value, as in `JSON.parse` and serde_json, whether the object
/// is read for some of its fields or kept whole.
#[test]
fn a_repeated_key_keeps_its_last_value() {
    let body = br#"{"a": 1, "b": {"c": "x", "c": "y"}, "a": 2, "l": [{"c": 1, "c": 3}], "a": 3}"#;
    let empty = json!({});
    let filters = [
        json!({ "body": { "a": [3], "b": { "c": ["y"] }, "l": { "c": [3] } } }),
        json!({ "body": { "a": [{ "$gt": 2 }], "b": [{ "$exists": true }] } }),
        json!({ "body": { "b": { "c": [{ "$endsWith": "y" }] }, "l": [{ "$exists": true }] } }),
    ];
    let filters: Vec<Filter> = filters
        .iter()
        .map(|f| Filter::from_json(f).unwrap())
        .collect();
    let whole: Value = serde_json::from_slice(body).unwrap();
    for reads in [
        Reads::default(),
        Reads::of(&filters),
        Reads::of(&filters[..1]),
    ] {
        let parsed = reads.parse_body(body).unwrap();
        for filter in &filters {
            let on_parsed = RequestParts::with_parsed_body("POST", &empty, &empty, Ok(&parsed));
            let on_whole = RequestParts::new("POST", &empty, &empty, Ok(&whole));
            assert_eq!(filter.check(&on_whole), Ok(()), "{filter:?} on {whole}");
            assert_eq!(filter.check(&on_parsed), Ok(()), "{filter:?} on {parsed:?}");
        }
    }
    let kept = serde_json::to_value(Reads::default().parse_body(body).unwrap()).unwrap();
    assert_eq!(kept, whole);
}

#[test]
fn long_values_are_cut_alike_in_a_body_and_in_a_value() {
    let empty = json!({});
    let pieces = ["a", "é", "😀", "\n", "\"", "\\", "\u{1}"];
    let nested = Filter::from_json(&json!({ "body": { "v": { "x": ["no"] } } })).unwrap();
    let one_of = Filter::from_json(&json!({ "body": { "v": ["no"] } })).unwrap();
    let reads = Reads::of([&nested, &one_of]);
    for piece in pieces {
        for repeat in (60..100).chain(300..340) {
            let long = piece.repeat(repeat);
            for payload in [
                json!({ "v": long }),
                json!({ "v": [long, long] }),
                json!({ "v": ["ab", piece.repeat(repeat / 4), 12, null] }),
            ] {
                let text = payload.to_string();
                let sparse = reads.parse_body(text.as_bytes()).unwrap();
                for filter in [&nested, &one_of] {
                    let whole =
                        filter.check(&RequestParts::new("POST", &empty, &empty, Ok(&payload)));
                    let read = filter.check(&RequestParts::with_parsed_body(
                        "POST",
                        &empty,
                        &empty,
                        Ok(&sparse),
                    ));
                    assert_eq!(whole, read, "{piece:?} x {repeat}");
                    let reason = whole.unwrap_err().to_string();
                    assert!(reason.chars().count() < 160, "{reason}");
                }
            }
        }
    }
}
