//! Which jobs an event starts: every enabled job of its endpoint whose filter matches.

use crate::filter::RequestView;
use crate::registry::Registry;
use crate::request::Request;
use crate::store::{NewRun, SkippedJob};

/// The runs to create for a request, and the jobs whose filter did not match it.
#[derive(Debug, Default)]
pub(super) struct Dispatch {
    pub(super) runs: Vec<NewRun>,
    pub(super) skipped: Vec<SkippedJob>,
}

/// Evaluates the filters of `endpoint_id`'s enabled jobs against `request`. The request is
/// turned into what filters see only if some job has a filter, and its body parsed only if
/// some filter looks into it.
pub(super) fn dispatch(registry: &Registry, endpoint_id: &str, request: &Request) -> Dispatch {
    let mut dispatch = Dispatch::default();
    let mut view: Option<RequestView> = None;
    let jobs = registry
        .jobs_for(endpoint_id)
        .filter(|job| job.is_enabled());
    for job in jobs {
        let Some(filter) = job.trigger().request_filter() else {
            dispatch.runs.push(job.new_run());
            continue;
        };
        let view = view.get_or_insert_with(|| {
            let reads_body = registry
                .jobs_for(endpoint_id)
                .filter_map(|j| j.trigger().request_filter())
                .any(crate::filter::Filter::reads_body);
            RequestView::new(request, reads_body)
        });
        match filter.check(&view.parts()) {
            Ok(()) => dispatch.runs.push(job.new_run()),
            Err(mismatch) => dispatch.skipped.push(SkippedJob {
                job: job.id().to_owned(),
                reason: mismatch.to_string(),
            }),
        }
    }
    dispatch
}
