//! [`SkippedJobs`]: the jobs an event did not start, each with the first reason its filter did
//! not match, as stored with the event and shown by the API.

use std::fmt;

use serde::Serialize;

/// The enabled jobs an event did not start, because their filters did not match, each with
/// the first reason: kept in one text, so that any number of them costs two allocations.
///
/// ```
/// use trigger_runtime::store::{SkippedJob, SkippedJobs};
///
/// let mut skipped = SkippedJobs::new();
/// skipped.push("booking-created", r#"body.triggerEvent: "PING" is not one of ["BOOKING_CREATED"]"#);
/// // A writer that finds no reason (the job matched) adds nothing.
/// assert!(!skipped.push_with("http-caldotcom", |_| false));
/// let jobs: Vec<SkippedJob<'_>> = skipped.iter().collect();
/// assert_eq!(jobs.len(), 1);
/// assert_eq!(jobs[0].job, "booking-created");
/// assert_eq!(skipped.get(0), Some(jobs[0]));
/// assert_eq!(
///     serde_json::to_string(&skipped).unwrap(),
///     r#"[{"job":"booking-created","reason":"body.triggerEvent: \"PING\" is not one of [\"BOOKING_CREATED\"]"}]"#
/// );
/// skipped.push("tenant-acme", "query.tenant: missing is not one of [\"acme\"]");
/// let second = skipped.get(1).unwrap();
/// assert_eq!((second.job, second.reason), ("tenant-acme", "query.tenant: missing is not one of [\"acme\"]"));
/// assert_eq!(skipped.get(2), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SkippedJobs {
    text: String,
    /// For each job, where its id and then its reason end in `text`.
    ends: Vec<(usize, usize)>,
}

/// One of [`SkippedJobs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SkippedJob<'a> {
    /// The job's id.
    pub job: &'a str,
    /// The first reason its filter did not match: `body.triggerEvent: "X" is not one of ["Y"]`.
    pub reason: &'a str,
}

impl SkippedJobs {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for `jobs` jobs with `bytes` of ids and reasons in all.
    pub fn reserve(&mut self, jobs: usize, bytes: usize) {
        self.ends.reserve(jobs);
        self.text.reserve(bytes);
    }

    /// Adds `job`, whose reason `write` appends to the text it is given; it returns `false`
    /// when there is none (the job matched), and then nothing is added.
    pub fn push_with(&mut self, job: &str, write: impl FnOnce(&mut String) -> bool) -> bool {
        let start = self.text.len();
        self.text.push_str(job);
        let job_end = self.text.len();
        if write(&mut self.text) {
            self.ends.push((job_end, self.text.len()));
            true
        } else {
            self.text.truncate(start);
            false
        }
    }

    /// Adds `job`, skipped for `reason`.
    pub fn push(&mut self, job: &str, reason: &str) {
        self.push_with(job, |text| {
            text.push_str(reason);
            true
        });
    }

    /// How many jobs were skipped.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no job was skipped.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `index`th skipped job.
    pub fn get(&self, index: usize) -> Option<SkippedJob<'_>> {
        let &(job_end, end) = self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before].1);
        Some(SkippedJob {
            job: &self.text[start..job_end],
            reason: &self.text[job_end..end],
        })
    }

    /// The skipped jobs, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = SkippedJob<'_>> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(job_end, end)| {
            let job = SkippedJob {
                job: &self.text[start..job_end],
                reason: &self.text[job_end..end],
            };
            start = end;
            job
        })
    }
}

impl fmt::Debug for SkippedJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a JSON array of `{"job", "reason"}`, as stored and shown.
impl Serialize for SkippedJobs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for SkippedJobs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Owned {
            job: String,
            reason: String,
        }
        let jobs = Vec::<Owned>::deserialize(deserializer)?;
        let mut skipped = Self::new();
        for job in &jobs {
            skipped.push(&job.job, &job.reason);
        }
        Ok(skipped)
    }
}
