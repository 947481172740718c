//! Properties over generated JSON: a filter built from a payload's own values matches it, and
//! neither compiling nor matching ever panics, whatever the JSON.

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
            assert_eq!(
                on_whole.is_ok(),
                on_sparse.is_ok(),
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
