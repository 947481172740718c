//! A job whose `example` file does not fit its first parameter: the registry refuses to start,
//! naming the job and the field (alone in this test binary, since it fails every registry).

use serde::Deserialize;
use trigger_runtime::prelude::*;
use trigger_runtime::registry::{Registry, RegistryError};

#[derive(Deserialize)]
#[allow(dead_code)] // read by serde only
struct Booking {
    payload: Payload,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Payload {
    attendees: Vec<Attendee>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Attendee {
    email: String,
}

#[http_endpoint(id = "misfit", header = "X-Sig")]
fn misfit();

#[job(id = "misfit-job", trigger = misfit, example = "tests/payloads/no_email.json")]
async fn misfit_job(Json(_booking): Json<Booking>, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[test]
fn an_example_that_does_not_fit_stops_the_start_with_the_field() {
    let error = Registry::from_inventory().unwrap_err();
    assert!(
        matches!(error, RegistryError::Example { ref job, .. } if job == "misfit-job"),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with("the example of job \"misfit-job\" (")
            && text.contains(
                "does not fit its first parameter: the body does not fit the job's type: \
                 payload.attendees[0]: missing field `email`"
            ),
        "{text}"
    );
}
