//! Start-up checks of the registry: typed errors, never panics.

use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::Job;
use trigger_runtime::registry::{Registry, RegistryError};
use trigger_runtime::verify::HmacScheme;

static A: HttpEndpoint = HttpEndpoint::new("a").with_hmac(HmacScheme::new("X-Sig"));
static A_AGAIN: HttpEndpoint = HttpEndpoint::new("a").with_hmac(HmacScheme::new("X-Other"));
static OFF: HttpEndpoint = HttpEndpoint::new("off").with_enabled(false);
static STRAY: HttpEndpoint = HttpEndpoint::new("stray");

fn noop(id: &'static str, endpoint: &'static HttpEndpoint) -> Job {
    Job::new(id, endpoint.on_request(), |_req, _io, _ctx| async {
        Ok::<_, trigger_runtime::job::BoxError>(())
    })
}

#[test]
fn duplicate_ids_are_errors_naming_both_locations() {
    let error = Registry::from_parts([&A, &A_AGAIN], []).unwrap_err();
    assert!(
        matches!(&error, RegistryError::DuplicateEndpoint { id, .. } if id == "a"),
        "{error}"
    );
    let error = Registry::from_parts([&A], [noop("j", &A), noop("j", &A)]).unwrap_err();
    assert!(matches!(&error, RegistryError::DuplicateJob { id, .. } if id == "j"));
    assert!(
        error
            .to_string()
            .starts_with("duplicate job id \"j\": declared at "),
        "{error}"
    );
}

#[test]
fn an_enabled_job_on_a_disabled_endpoint_is_an_error() {
    let error = Registry::from_parts([&A, &OFF], [noop("j", &OFF)]).unwrap_err();
    assert!(matches!(error, RegistryError::DisabledEndpoint { .. }));
    assert!(
        error
            .to_string()
            .contains("add `enabled = false` to the job"),
        "{error}"
    );
    Registry::from_parts([&A, &OFF], [noop("j", &OFF).with_enabled(false)]).unwrap();
}

#[test]
fn a_job_on_an_unregistered_endpoint_is_an_error() {
    let error = Registry::from_parts([&A], [noop("j", &STRAY)]).unwrap_err();
    assert!(
        matches!(error, RegistryError::UnknownEndpoint { .. }),
        "{error}"
    );
}

#[test]
fn an_empty_registry_hints_at_linking_the_jobs_crate() {
    let error = Registry::from_parts([], []).unwrap_err();
    assert!(matches!(error, RegistryError::Empty));
    assert!(error.to_string().contains("use my_jobs_crate as _;"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = Registry::from_parts([&A, &A_AGAIN, &OFF], [noop("j", &OFF), noop("k", &STRAY)])
        .unwrap_err();
    let RegistryError::Many(errors) = &error else {
        panic!("expected several errors, got {error}")
    };
    assert_eq!(errors.len(), 3, "{error}");
}
