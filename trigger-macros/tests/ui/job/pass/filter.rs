use serde_json::json;
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::testing::TestRequest;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

/// Every operator, every part of a request, nested objects, negative and float numbers, and an
/// empty array (which matches anything).
#[job(
    id = "booking-created",
    trigger = caldotcom,
    filter = {
        "method": ["POST", "put"],
        "headers": {
            "X-Cal-Event": [{ "$startsWith": "BOOKING_" }, { "$endsWith": "_CREATED" }]
        },
        "query": {
            "source": [{ "$ignoreCaseEquals": "cal.com" }],
            "debug": [{ "$exists": false }]
        },
        "body": {
            "triggerEvent": ["BOOKING_CREATED"],
            "payload": {
                "length": [{ "$gte": 15 }, { "$lte": 120.5 }],
                "price": [{ "$gt": -1 }, { "$lt": 1e6 }],
                "offset": [{ "$between": [-10, 10.5] }],
                "cancellationReason": [{ "$isNull": true }],
                "status": [{ "$anythingBut": "REJECTED" }],
                "location": [{ "$anythingBut": ["phone", "in-person", null] }],
                "attendees": { "email": [{ "$endsWith": "@example.com" }] },
                "tags": [{ "$includes": "vip" }],
                "team": [{ "$not": null }],
                "metadata": [],
                "score": [-2.5, 0, 3, r#"a "raw" string"#, "tab\t"]
            }
        }
    }
)]
async fn booking_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {
    // The runtime compiles the filter the macro checked, and applies it.
    let registry = Registry::from_inventory().expect("the filter compiles at start-up");
    let body = |event: &str| {
        json!({
            "triggerEvent": event,
            "payload": {
                "length": 30,
                "price": 0,
                "offset": 10.5,
                "cancellationReason": null,
                "status": "ACCEPTED",
                "location": "video",
                "attendees": [{ "email": "ada@example.com" }],
                "tags": ["new", "vip"],
                "team": "core",
                "score": -2.5
            }
        })
    };
    let request = |event: &str| {
        TestRequest::post()
            .url("/endpoints/caldotcom?source=CAL.COM")
            .header("X-Cal-Event", "BOOKING_CREATED")
            .json(&body(event))
            .build()
    };

    let route = registry.route("caldotcom", &request("BOOKING_CREATED"));
    assert_eq!(route.matched.len(), 1, "{:?}", route.skipped);

    let route = registry.route("caldotcom", &request("BOOKING_CANCELLED"));
    assert!(route.matched.is_empty());
    assert_eq!(
        route.skipped.get(0).unwrap().reason,
        r#"body.triggerEvent: "BOOKING_CANCELLED" is not one of ["BOOKING_CREATED"]"#
    );
}
