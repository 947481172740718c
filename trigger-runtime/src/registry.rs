//! [`Registry`]: every endpoint and job, collected at link time and checked at start-up.

use std::collections::HashMap;
use std::fmt;

use crate::endpoint::registration::EndpointRegistration;
use crate::endpoint::{HttpEndpoint, Location};
use crate::filter::{Reads, RequestView};
use crate::job::Job;
use crate::job::registration::JobRegistration;
use crate::request::Request;
use crate::store::SkippedJobs;

/// A problem with the registered endpoints and jobs, found at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two endpoints share an id.
    #[error("duplicate endpoint id {id:?}: declared at {first} and at {second}")]
    DuplicateEndpoint {
        /// The id.
        id: String,
        /// The first declaration.
        first: Location,
        /// The second declaration.
        second: Location,
    },
    /// A job's `example` file does not fit its first parameter.
    #[error("the example of job {job:?} ({location}) does not fit its first parameter: {source}")]
    Example {
        /// The job.
        job: String,
        /// Where the job was declared.
        location: Location,
        /// Why it does not fit.
        source: crate::job::ExtractError,
    },
    /// Two jobs share an id.
    #[error("duplicate job id {id:?}: declared at {first} and at {second}")]
    DuplicateJob {
        /// The id.
        id: String,
        /// The first declaration.
        first: Location,
        /// The second declaration.
        second: Location,
    },
    /// An enabled job is triggered by a disabled endpoint, so it could never run.
    #[error(
        "job {job:?} ({location}) is triggered by endpoint {endpoint:?}, which is disabled; \
         enable the endpoint or add `enabled = false` to the job"
    )]
    DisabledEndpoint {
        /// The job.
        job: String,
        /// The endpoint.
        endpoint: String,
        /// Where the job was declared.
        location: Location,
    },
    /// A job is triggered by an endpoint that is not registered.
    #[error(
        "job {job:?} ({location}) is triggered by endpoint {endpoint:?}, which is not registered"
    )]
    UnknownEndpoint {
        /// The job.
        job: String,
        /// The endpoint.
        endpoint: String,
        /// Where the job was declared.
        location: Location,
    },
    /// A job's filter does not compile.
    #[error("job {job:?} ({location}) has an invalid filter")]
    Filter {
        /// The job.
        job: String,
        /// Where the job was declared.
        location: Location,
        /// What is wrong.
        #[source]
        source: crate::filter::FilterError,
    },
    /// Nothing is registered.
    #[error(
        "no endpoints or jobs are registered; declare them with #[http_endpoint] and #[job], and \
         if they live in another crate, link it from main.rs with `use my_jobs_crate as _;`"
    )]
    Empty,
    /// Several problems at once.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<RegistryError>),
}

/// The endpoints and jobs a server runs, validated.
#[derive(Clone)]
pub struct Registry {
    endpoints: Vec<&'static HttpEndpoint>,
    jobs: Vec<Job>,
    endpoint_index: HashMap<&'static str, usize>,
    jobs_by_endpoint: HashMap<&'static str, EndpointJobs>,
}

/// An endpoint's jobs, and what their filters read of a request.
#[derive(Clone, Default)]
struct EndpointJobs {
    /// Indexes into `Registry::jobs`.
    jobs: Vec<usize>,
    /// What the enabled jobs' filters read, together.
    reads: Reads,
}

impl Registry {
    /// Everything declared with `#[http_endpoint]` and `#[job]` in the linked crates.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        let mut errors = Vec::new();
        let mut jobs = Vec::new();
        for registration in inventory::iter::<JobRegistration>() {
            match Job::from_registration(registration) {
                Ok(job) => {
                    if let Err(source) = job.check_example() {
                        errors.push(RegistryError::Example {
                            job: registration.id.to_owned(),
                            location: registration.location,
                            source,
                        });
                    }
                    jobs.push(job);
                }
                Err(source) => errors.push(RegistryError::Filter {
                    job: registration.id.to_owned(),
                    location: registration.location,
                    source,
                }),
            }
        }
        let endpoints =
            inventory::iter::<EndpointRegistration>().map(EndpointRegistration::endpoint);
        match (Self::from_parts(endpoints, jobs), errors.len()) {
            (built, 0) => built,
            (Ok(_), 1) => Err(errors.remove(0)),
            (Ok(_), _) => Err(RegistryError::Many(errors)),
            (Err(RegistryError::Many(more)), _) => {
                errors.extend(more);
                Err(RegistryError::Many(errors))
            }
            (Err(other), _) => {
                errors.push(other);
                Err(RegistryError::Many(errors))
            }
        }
    }

    /// A registry of exactly these endpoints and jobs (for tests, or to mount a subset).
    pub fn from_parts(
        endpoints: impl IntoIterator<Item = &'static HttpEndpoint>,
        jobs: impl IntoIterator<Item = Job>,
    ) -> Result<Self, RegistryError> {
        let mut errors = Vec::new();
        let mut registry = Self {
            endpoints: Vec::new(),
            jobs: Vec::new(),
            endpoint_index: HashMap::new(),
            jobs_by_endpoint: HashMap::new(),
        };
        let mut endpoints: Vec<_> = endpoints.into_iter().collect();
        endpoints.sort_by_key(|e| (e.id(), e.location().file, e.location().line));
        for endpoint in endpoints {
            if let Some(&i) = registry.endpoint_index.get(endpoint.id()) {
                errors.push(RegistryError::DuplicateEndpoint {
                    id: endpoint.id().to_owned(),
                    first: registry.endpoints[i].location(),
                    second: endpoint.location(),
                });
                continue;
            }
            registry
                .endpoint_index
                .insert(endpoint.id(), registry.endpoints.len());
            registry.endpoints.push(endpoint);
        }
        let mut jobs: Vec<Job> = jobs.into_iter().collect();
        jobs.sort_by_key(|j| (j.id(), j.location().file, j.location().line));
        let mut job_index: HashMap<&'static str, Location> = HashMap::new();
        for job in jobs {
            if let Some(first) = job_index.get(job.id()) {
                errors.push(RegistryError::DuplicateJob {
                    id: job.id().to_owned(),
                    first: *first,
                    second: job.location(),
                });
                continue;
            }
            let endpoint = job.trigger().endpoint();
            match registry.endpoint_index.get(endpoint.id()) {
                None => errors.push(RegistryError::UnknownEndpoint {
                    job: job.id().to_owned(),
                    endpoint: endpoint.id().to_owned(),
                    location: job.location(),
                }),
                Some(_) if job.is_enabled() && !endpoint.is_enabled() => {
                    errors.push(RegistryError::DisabledEndpoint {
                        job: job.id().to_owned(),
                        endpoint: endpoint.id().to_owned(),
                        location: job.location(),
                    });
                }
                Some(_) => {}
            }
            job_index.insert(job.id(), job.location());
            registry
                .jobs_by_endpoint
                .entry(endpoint.id())
                .or_default()
                .jobs
                .push(registry.jobs.len());
            registry.jobs.push(job);
        }
        if registry.endpoints.is_empty() && registry.jobs.is_empty() {
            errors.push(RegistryError::Empty);
        }
        for endpoint in registry.jobs_by_endpoint.values_mut() {
            let filters = endpoint
                .jobs
                .iter()
                .map(|&i| &registry.jobs[i])
                .filter(|job| job.is_enabled())
                .filter_map(|job| job.trigger().request_filter());
            endpoint.reads = Reads::of(filters);
        }
        match errors.len() {
            0 => Ok(registry),
            1 => Err(errors.remove(0)),
            _ => Err(RegistryError::Many(errors)),
        }
    }

    /// Every endpoint, by id.
    pub fn endpoints(&self) -> impl Iterator<Item = &'static HttpEndpoint> + '_ {
        self.endpoints.iter().copied()
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: &str) -> Option<&'static HttpEndpoint> {
        self.endpoint_index.get(id).map(|&i| self.endpoints[i])
    }

    /// Every job, by id.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> + '_ {
        self.jobs.iter()
    }

    /// The job with this id.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id() == id)
    }

    /// The jobs triggered by the endpoint with this id, enabled or not.
    pub fn jobs_for<'a>(&'a self, endpoint_id: &str) -> impl Iterator<Item = &'a Job> + 'a {
        self.jobs_by_endpoint
            .get(endpoint_id)
            .into_iter()
            .flat_map(|endpoint| &endpoint.jobs)
            .map(|&i| &self.jobs[i])
    }

    /// Which enabled jobs of `endpoint_id` a request starts: those whose filter matches it (a
    /// job without one always does); the others come back with the first reason their filter
    /// did not match. This is what ingest and event replays do, so a test can check its
    /// filters with it.
    pub fn route<'a>(&'a self, endpoint_id: &str, request: &Request) -> Route<'a> {
        let Some(endpoint) = self.jobs_by_endpoint.get(endpoint_id) else {
            return Route::default();
        };
        let mut route = Route {
            matched: Vec::with_capacity(endpoint.jobs.len()),
            skipped: SkippedJobs::new(),
        };
        let mut view: Option<RequestView<'_>> = None;
        let jobs = endpoint.jobs.iter().map(|&i| &self.jobs[i]);
        for job in jobs.filter(|job| job.is_enabled()) {
            let Some(filter) = job.trigger().request_filter() else {
                route.matched.push(job);
                continue;
            };
            let parts = view
                .get_or_insert_with(|| {
                    // Room for a typical reason per job (one allocation, not one per doubling).
                    let jobs = endpoint.jobs.len();
                    route.skipped.reserve(jobs, jobs * 96);
                    RequestView::new(request, &endpoint.reads)
                })
                .parts();
            let skipped = route
                .skipped
                .push_with(job.id(), |reasons| !filter.check_into(&parts, reasons));
            if !skipped {
                route.matched.push(job);
            }
        }
        route
    }
}

/// What a request to an endpoint starts: see [`Registry::route`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Route<'a> {
    /// The jobs it starts.
    pub matched: Vec<&'a Job>,
    /// The enabled jobs it does not start, each with why.
    pub skipped: SkippedJobs,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field(
                "endpoints",
                &self.endpoints.iter().map(|e| e.id()).collect::<Vec<_>>(),
            )
            .field("jobs", &self.jobs.iter().map(Job::id).collect::<Vec<_>>())
            .finish()
    }
}
