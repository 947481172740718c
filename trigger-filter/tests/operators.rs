//! Every rule and operator, positive and negative, against Trigger.dev v2's semantics.

use serde_json::{Value, json};
use trigger_filter::{ErrorKind, Filter, Pattern, RequestParts, Segment, Target};

fn pattern(filter: Value) -> Pattern {
    Pattern::from_json(&filter).unwrap_or_else(|e| panic!("{filter} does not compile: {e}"))
}

/// `(filter, payload, matches)` rows, each checked and reported with its row.
fn table(rows: &[(Value, Value, bool)]) {
    for (i, (filter, payload, expected)) in rows.iter().enumerate() {
        let result = pattern(filter.clone()).check(payload);
        assert_eq!(
            result.is_ok(),
            *expected,
            "row {i}: {filter} against {payload}: {result:?}"
        );
    }
}

#[test]
fn plain_values_are_one_of_without_coercion() {
    table(&[
        (json!({"a": ["x", "y"]}), json!({"a": "y"}), true),
        (json!({"a": ["x"]}), json!({"a": "z"}), false),
        (json!({"a": ["1"]}), json!({"a": 1}), false),
        (json!({"a": [1]}), json!({"a": "1"}), false),
        (json!({"a": [1]}), json!({"a": 1.0}), true),
        (json!({"a": [true]}), json!({"a": true}), true),
        (json!({"a": [true]}), json!({"a": "true"}), false),
        (json!({"a": [false]}), json!({"a": 0}), false),
        (json!({"a": [null]}), json!({"a": null}), true),
        (json!({"a": ["x"]}), json!({}), false),
        (json!({"a": ["x"]}), json!({"a": ["x"]}), false),
        (json!({"a": ["x", 2]}), json!({"a": 2}), true),
    ]);
}

#[test]
fn an_empty_array_matches_anything_even_a_missing_field() {
    table(&[
        (json!({"a": []}), json!({"a": 5}), true),
        (json!({"a": []}), json!({}), true),
        (json!({"a": []}), json!({"a": null}), true),
        (json!({}), json!({"anything": 1}), true),
    ]);
}

#[test]
fn keys_are_anded() {
    table(&[
        (
            json!({"a": ["x"], "b": [1]}),
            json!({"a": "x", "b": 1}),
            true,
        ),
        (
            json!({"a": ["x"], "b": [1]}),
            json!({"a": "x", "b": 2}),
            false,
        ),
        (
            json!({"a": ["x"], "b": [1]}),
            json!({"a": "y", "b": 1}),
            false,
        ),
    ]);
}

#[test]
fn nested_objects_recurse_and_match_some_element_of_an_array() {
    table(&[
        (json!({"p": {"q": ["x"]}}), json!({"p": {"q": "x"}}), true),
        (json!({"p": {"q": ["x"]}}), json!({"p": {"q": "y"}}), false),
        (
            json!({"p": {"q": ["x"]}}),
            json!({"p": [{"q": "y"}, {"q": "x"}]}),
            true,
        ),
        (
            json!({"p": {"q": ["x"]}}),
            json!({"p": [{"q": "y"}]}),
            false,
        ),
        (json!({"p": {"q": ["x"]}}), json!({"p": []}), false),
        (json!({"p": {"q": ["x"]}}), json!({}), false),
        (json!({"p": {"q": ["x"]}}), json!({"p": null}), false),
        (json!({"p": {"q": ["x"]}}), json!({"p": "text"}), false),
        (
            json!({"p": {"q": [{"$exists": false}]}}),
            json!({"p": "text"}),
            true,
        ),
        (json!({"p": {}}), json!({}), true),
        (
            json!({"p": {"q": {"r": [1]}}}),
            json!({"p": {"q": {"r": 1}}}),
            true,
        ),
    ]);
}

#[test]
fn string_operators() {
    table(&[
        (
            json!({"f": [{"$endsWith": ".png"}]}),
            json!({"f": "a.png"}),
            true,
        ),
        (
            json!({"f": [{"$endsWith": ".png"}]}),
            json!({"f": "a.jpg"}),
            false,
        ),
        (json!({"f": [{"$endsWith": "1"}]}), json!({"f": 1}), false),
        (
            json!({"f": [{"$startsWith": "img/"}]}),
            json!({"f": "img/a"}),
            true,
        ),
        (
            json!({"f": [{"$startsWith": "img/"}]}),
            json!({"f": "doc/a"}),
            false,
        ),
        (json!({"f": [{"$startsWith": "img/"}]}), json!({}), false),
        (
            json!({"f": [{"$ignoreCaseEquals": "Hello"}]}),
            json!({"f": "hELLO"}),
            true,
        ),
        (
            json!({"f": [{"$ignoreCaseEquals": "Straße"}]}),
            json!({"f": "STRASSE"}),
            false,
        ),
        (
            json!({"f": [{"$ignoreCaseEquals": "Éclair"}]}),
            json!({"f": "éCLAIR"}),
            true,
        ),
        (
            json!({"f": [{"$ignoreCaseEquals": "Éclair"}]}),
            json!({"f": "eclair"}),
            false,
        ),
        (
            json!({"f": [{"$ignoreCaseEquals": "a"}]}),
            json!({"f": ["a"]}),
            false,
        ),
    ]);
}

#[test]
fn exists_and_is_null_tell_missing_from_null() {
    table(&[
        (json!({"f": [{"$exists": true}]}), json!({"f": 0}), true),
        (json!({"f": [{"$exists": true}]}), json!({"f": null}), true),
        (json!({"f": [{"$exists": true}]}), json!({}), false),
        (json!({"f": [{"$exists": false}]}), json!({}), true),
        (
            json!({"f": [{"$exists": false}]}),
            json!({"f": null}),
            false,
        ),
        (json!({"f": [{"$isNull": true}]}), json!({"f": null}), true),
        (json!({"f": [{"$isNull": true}]}), json!({}), false),
        (json!({"f": [{"$isNull": true}]}), json!({"f": 0}), false),
        (json!({"f": [{"$isNull": false}]}), json!({"f": 0}), true),
        (json!({"f": [{"$isNull": false}]}), json!({}), true),
        (
            json!({"f": [{"$isNull": false}]}),
            json!({"f": null}),
            false,
        ),
    ]);
}

#[test]
fn anything_but_holds_on_a_missing_field() {
    table(&[
        (
            json!({"f": [{"$anythingBut": "x"}]}),
            json!({"f": "y"}),
            true,
        ),
        (
            json!({"f": [{"$anythingBut": "x"}]}),
            json!({"f": "x"}),
            false,
        ),
        (json!({"f": [{"$anythingBut": "x"}]}), json!({}), true),
        (
            json!({"f": [{"$anythingBut": ["x", "y"]}]}),
            json!({"f": "y"}),
            false,
        ),
        (
            json!({"f": [{"$anythingBut": ["x", "y"]}]}),
            json!({"f": "z"}),
            true,
        ),
        (json!({"f": [{"$anythingBut": 1}]}), json!({"f": "1"}), true),
        (
            json!({"f": [{"$anythingBut": null}]}),
            json!({"f": null}),
            false,
        ),
    ]);
}

#[test]
fn comparisons_need_numbers() {
    table(&[
        (json!({"n": [{"$gt": 5}]}), json!({"n": 6}), true),
        (json!({"n": [{"$gt": 5}]}), json!({"n": 5}), false),
        (json!({"n": [{"$gt": 5}]}), json!({"n": "6"}), false),
        (json!({"n": [{"$gt": 5}]}), json!({}), false),
        (json!({"n": [{"$gte": 5}]}), json!({"n": 5}), true),
        (json!({"n": [{"$gte": 5}]}), json!({"n": 4.9}), false),
        (json!({"n": [{"$lt": 5}]}), json!({"n": -1}), true),
        (json!({"n": [{"$lt": 5}]}), json!({"n": 5}), false),
        (json!({"n": [{"$lte": 5}]}), json!({"n": 5}), true),
        (json!({"n": [{"$lte": 5}]}), json!({"n": null}), false),
        (json!({"n": [{"$between": [1, 10]}]}), json!({"n": 1}), true),
        (
            json!({"n": [{"$between": [1, 10]}]}),
            json!({"n": 10}),
            true,
        ),
        (
            json!({"n": [{"$between": [1, 10]}]}),
            json!({"n": 10.5}),
            false,
        ),
        (
            json!({"n": [{"$between": [1, 10]}]}),
            json!({"n": "5"}),
            false,
        ),
        (
            json!({"n": [{"$gt": 1}, {"$lt": 3}]}),
            json!({"n": 2}),
            true,
        ),
        (
            json!({"n": [{"$gt": 1}, {"$lt": 3}]}),
            json!({"n": 3}),
            false,
        ),
        (
            json!({"n": [{"$gt": 1e300}]}),
            json!({"n": 18446744073709551615u64}),
            false,
        ),
    ]);
}

#[test]
fn includes_and_not() {
    table(&[
        (
            json!({"t": [{"$includes": "a"}]}),
            json!({"t": ["b", "a"]}),
            true,
        ),
        (
            json!({"t": [{"$includes": "a"}]}),
            json!({"t": ["b"]}),
            false,
        ),
        (json!({"t": [{"$includes": "a"}]}), json!({"t": "a"}), false),
        (json!({"t": [{"$includes": 1}]}), json!({"t": ["1"]}), false),
        (json!({"t": [{"$not": "a"}]}), json!({"t": "b"}), true),
        (json!({"t": [{"$not": "a"}]}), json!({"t": "a"}), false),
        (json!({"t": [{"$not": "a"}]}), json!({}), false),
        (json!({"t": [{"$not": "a"}]}), json!({"t": null}), false),
        (json!({"t": [{"$not": "a"}]}), json!({"t": {"x": 1}}), false),
        (json!({"t": [{"$not": "a"}]}), json!({"t": ["b"]}), true),
        (
            json!({"t": [{"$not": "a"}]}),
            json!({"t": ["a", "b"]}),
            false,
        ),
        (json!({"t": [{"$not": 1}]}), json!({"t": "1"}), true),
    ]);
}

#[test]
fn a_reason_shows_a_large_value_cut() {
    let big: Vec<String> = (0..100_000).map(|i| format!("élément {i}")).collect();
    let reason = pattern(json!({"tags": {"name": ["x"]}}))
        .check(&json!({"tags": big}))
        .unwrap_err()
        .to_string();
    assert!(
        reason.starts_with(r#"tags: ["élément 0","élément 1""#),
        "{reason}"
    );
    assert!(
        reason.ends_with("... has no element that matches"),
        "{reason}"
    );
    assert!(
        reason.chars().count() < 130,
        "{} chars",
        reason.chars().count()
    );
}

#[test]
fn a_long_value_shows_its_first_77_characters_and_dots() {
    for piece in ["a", "é", "😀"] {
        let long = piece.repeat(200);
        let reason = pattern(json!({"v": ["x"]}))
            .check(&json!({ "v": long }))
            .unwrap_err()
            .to_string();
        // The quote and 76 characters of the string: 77, then `...`, 80 in all.
        let shown = format!("v: \"{}... is not one of [\"x\"]", piece.repeat(76));
        assert_eq!(reason, shown);
    }
    let short = "a".repeat(78);
    let reason = pattern(json!({"v": ["x"]}))
        .check(&json!({ "v": short }))
        .unwrap_err()
        .to_string();
    assert_eq!(reason, format!("v: \"{short}\" is not one of [\"x\"]"));
}

#[test]
fn reasons_name_the_field_and_the_value() {
    let reason =
        |filter: Value, payload: Value| pattern(filter).check(&payload).unwrap_err().to_string();
    assert_eq!(
        reason(
            json!({"triggerEvent": ["BOOKING_CREATED"]}),
            json!({"triggerEvent": "BOOKING_CANCELLED"})
        ),
        r#"triggerEvent: "BOOKING_CANCELLED" is not one of ["BOOKING_CREATED"]"#
    );
    assert_eq!(
        reason(json!({"a": {"b": ["x"]}}), json!({"a": {}})),
        r#"a.b: missing is not one of ["x"]"#
    );
    assert_eq!(
        reason(json!({"n": [{"$gt": 1}, {"$lt": 3}]}), json!({"n": 7})),
        r#"n: 7 does not satisfy {"$lt":3}"#
    );
    assert_eq!(
        reason(
            json!({"items": {"sku": ["a"]}}),
            json!({"items": [{"sku": "b"}]})
        ),
        r#"items: [{"sku":"b"}] has no element that matches"#
    );
    assert_eq!(
        reason(json!({"a": {"b": ["x"]}}), json!({"a": null})),
        "a: null, expected an object"
    );
}

fn parts<'a>(
    method: &'a str,
    headers: &'a Value,
    query: &'a Value,
    body: Result<&'a Value, &'a str>,
) -> RequestParts<'a> {
    RequestParts::new(method, headers, query, body)
}

#[test]
fn method_headers_query_and_body() {
    let filter = Filter::from_json(&json!({
        "method": ["post"],
        "headers": {"X-Event": ["ping"]},
        "query": {"tenant": [{"$startsWith": "acme"}]},
        "body": {"type": ["created"]}
    }))
    .unwrap();
    let headers = json!({"x-event": "ping"});
    let query = json!({"tenant": "acme-eu"});
    let body = json!({"type": "created"});
    assert_eq!(
        filter.check(&parts("POST", &headers, &query, Ok(&body))),
        Ok(())
    );
    let get = filter.check(&parts("GET", &headers, &query, Ok(&body)));
    assert_eq!(
        get.unwrap_err().to_string(),
        r#"method: "GET" is not one of ["POST"]"#
    );
    let other = json!({"tenant": "globex"});
    let query_reason = filter.check(&parts("POST", &headers, &other, Ok(&body)));
    assert_eq!(
        query_reason.unwrap_err().to_string(),
        r#"query.tenant: "globex" does not satisfy {"$startsWith":"acme"}"#
    );
    let unreadable = filter.check(&parts("POST", &headers, &query, Err("not JSON")));
    assert_eq!(unreadable.unwrap_err().to_string(), "body: not JSON");
}

#[test]
fn an_unreadable_body_fails_only_filters_that_look_into_it() {
    let headers = json!({"x-event": "ping"});
    let query = json!({});
    let no_body = Filter::from_json(&json!({"headers": {"x-event": ["ping"]}})).unwrap();
    assert!(!no_body.reads_body());
    assert_eq!(
        no_body.check(&parts("POST", &headers, &query, Err("not JSON"))),
        Ok(())
    );
    let empty_body = Filter::from_json(&json!({"body": {}})).unwrap();
    assert_eq!(
        empty_body.check(&parts("POST", &headers, &query, Err("not JSON"))),
        Ok(())
    );
    let body = Filter::from_json(&json!({"body": {"a": []}})).unwrap();
    assert!(body.reads_body());
    assert!(
        body.check(&parts("POST", &headers, &query, Err("not JSON")))
            .is_err()
    );
}

/// The error for `filter`: its path, target and message.
fn error(filter: Value) -> (Vec<Segment>, Target, String) {
    let e = Filter::from_json(&filter).expect_err("refused");
    (e.path().to_vec(), e.target(), e.message())
}

fn path(keys: &[&str]) -> Vec<Segment> {
    keys.iter()
        .map(|k| match k.parse() {
            Ok(i) => Segment::Index(i),
            Err(_) => Segment::Key((*k).to_owned()),
        })
        .collect()
}

#[test]
fn mistakes_are_errors_at_the_offending_key_or_value() {
    assert_eq!(
        error(json!({"bodyy": {}})),
        (
            path(&["bodyy"]),
            Target::Key,
            "unknown key `bodyy`; did you mean `body`?".to_owned()
        )
    );
    let (p, t, m) = error(json!({"body": {"a": [{"$regex": "x"}]}}));
    assert_eq!((p, t), (path(&["body", "a", "0", "$regex"]), Target::Key));
    assert!(
        m.starts_with("unknown operator `$regex`; expected one of `$endsWith`"),
        "{m}"
    );
    let (p, t, m) = error(json!({"body": {"a": [{"$gt": "5"}]}}));
    assert_eq!(
        (p, t, m.as_str()),
        (
            path(&["body", "a", "0", "$gt"]),
            Target::Value,
            "`$gt` takes a number, like 5"
        )
    );
    for bad in [
        json!([1]),
        json!([1, 2, 3]),
        json!([5, 1]),
        json!(["1", "5"]),
    ] {
        let (p, _, m) = error(json!({"body": {"a": [{"$between": bad}]}}));
        assert_eq!(p, path(&["body", "a", "0", "$between"]));
        assert_eq!(
            m,
            "`$between` takes two numbers, the lower first, like [1, 10]"
        );
    }
    let (p, t, _) = error(json!({"body": {"a": {"$gt": 5}}}));
    assert_eq!((p, t), (path(&["body", "a", "$gt"]), Target::Key));
    assert_eq!(error(json!({"body": {"a": "x"}})).0, path(&["body", "a"]));
    assert_eq!(
        error(json!({"body": {"a": ["x", {"$gt": 1}]}})).0,
        path(&["body", "a", "0"])
    );
    assert_eq!(
        error(json!({"body": {"a": [[1]]}})).0,
        path(&["body", "a", "0"])
    );
    assert_eq!(
        error(json!({"body": {"a": [{"$gt": 1, "$lt": 2}]}})).0,
        path(&["body", "a", "0"])
    );
    assert_eq!(error(json!({"method": "POST"})).0, path(&["method"]));
    assert_eq!(
        error(json!({"method": ["PO ST"]})).0,
        path(&["method", "0"])
    );
    assert_eq!(
        error(json!({"headers": {"x": {"y": ["z"]}}})).0,
        path(&["headers", "x"])
    );
    assert_eq!(error(json!({"query": ["x"]})).0, path(&["query"]));
    assert_eq!(error(json!("body")).0, path(&[]));
    assert!(matches!(
        Filter::from_json(&json!({"body": {"a": [{"$nope": 1}]}}))
            .unwrap_err()
            .kind(),
        ErrorKind::UnknownOperator { .. }
    ));
    let shown = Filter::from_json(&json!({"body": {"a": [{"$gt": "5"}]}})).unwrap_err();
    assert_eq!(
        shown.to_string(),
        "invalid filter at `body.a[0].$gt`: `$gt` takes a number, like 5"
    );
}

#[test]
fn header_names_match_in_any_case() {
    let filter = Filter::from_json(&json!({"headers": {"X-GitHub-Event": ["push"]}})).unwrap();
    let headers = json!({"x-github-event": "push"});
    let query = json!({});
    assert_eq!(
        filter.check(&parts("POST", &headers, &query, Err("-"))),
        Ok(())
    );
}

#[test]
fn reasons_of_many_filters_share_one_text() {
    let filters: Vec<Filter> = [
        json!({ "body": { "type": ["a"] } }),
        json!({ "body": { "type": ["b"] } }),
        json!({ "method": ["GET"] }),
    ]
    .iter()
    .map(|f| Filter::from_json(f).unwrap())
    .collect();
    let (empty, body) = (json!({}), json!({ "type": "b" }));
    let request = RequestParts::new("POST", &empty, &empty, Ok(&body));
    let mut reasons = String::new();
    let matched: Vec<bool> = filters
        .iter()
        .map(|f| f.check_into(&request, &mut reasons))
        .collect();
    assert_eq!(matched, [false, true, false]);
    assert_eq!(
        reasons,
        r#"body.type: "b" is not one of ["a"]method: "POST" is not one of ["GET"]"#
    );
    assert_eq!(
        filters[0].check(&request).unwrap_err().path(),
        "body.type",
        "check gives the same reason, on its own"
    );
}
