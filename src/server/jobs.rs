//! Linkage jobs: the job board (history, the one running job, progress), and
//! the schedules — periodic full jobs (`serve --link-every`) and retention
//! (`serve --retention-years`).
//!
//! A job's record is stored in tree `jobs` (JSON) when it starts and when it
//! ends, in the same commits as its log entries. A job that was running when
//! the server died is marked failed at the next start; the linkage state it
//! would have replaced was never touched (a job commits its result in one
//! transaction at its end).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ServiceError;
use crate::audit::entry::JobTrigger;
use crate::link::JobReport;
use crate::pb::v1 as pb;
use crate::store::{Store, StoreError, TreeName, WriteSet};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Running now.
    Running,
    /// Finished and stored.
    Succeeded,
    /// Failed; nothing it computed was stored.
    Failed,
}

/// A job as stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Job id (1, 2, ...).
    pub job_id: u64,
    /// Current state.
    pub state: JobState,
    /// `manual` or `periodic`.
    pub trigger: String,
    /// Start, Unix milliseconds.
    pub started_ms: i64,
    /// End, Unix milliseconds (0 while running).
    pub finished_ms: i64,
    /// Progress in [0, 1].
    pub progress: f64,
    /// Records linked.
    pub records: u64,
    /// Persons after the job.
    pub persons: u64,
    /// Persons merged away.
    pub merges: u64,
    /// Persons split.
    pub splits: u64,
    /// Persons differing from the incremental state.
    pub persons_differing: u64,
    /// Candidate pairs scored.
    pub candidate_pairs: u64,
    /// Error message of a failed job.
    pub error: String,
    /// Milliseconds per phase.
    pub phase_millis: BTreeMap<String, u64>,
    /// The model's own precision estimate (absent until a job has fitted one).
    pub estimated_precision: Option<f64>,
    /// The model's own recall estimate (absent until a job has fitted one).
    pub estimated_recall: Option<f64>,
}

impl JobStatus {
    /// The status of a finished job from its report.
    pub(crate) fn finished(
        job_id: u64,
        trigger: &str,
        started_ms: i64,
        report: &JobReport,
        counts: crate::audit::entry::JobCounts,
    ) -> JobStatus {
        let ms = |s: f64| (s * 1000.0).round() as u64;
        let t = &report.timings;
        let quality = report
            .model
            .quality
            .iter()
            .find(|q| q.setting == crate::link::Setting::Default);
        JobStatus {
            job_id,
            state: JobState::Succeeded,
            trigger: trigger.to_string(),
            started_ms,
            finished_ms: chrono::Utc::now().timestamp_millis(),
            progress: 1.0,
            records: counts.records,
            persons: counts.persons,
            merges: counts.merges,
            splits: counts.splits,
            persons_differing: counts.differing_from_incremental,
            candidate_pairs: report.candidate_pairs,
            error: String::new(),
            phase_millis: [
                ("blocking_and_patterns", ms(t.histogram_seconds)),
                ("em", ms(t.em_seconds)),
                ("scoring", ms(t.scoring_seconds)),
                ("clustering", ms(t.clustering_seconds)),
                ("total", ms(t.total_seconds)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            estimated_precision: quality.map(|q| q.precision),
            estimated_recall: quality.map(|q| q.recall),
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Job {
        let ts = |ms: i64| prost_types::Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        };
        pb::Job {
            job_id: self.job_id,
            state: match self.state {
                JobState::Running => pb::JobState::Running,
                JobState::Succeeded => pb::JobState::Succeeded,
                JobState::Failed => pb::JobState::Failed,
            } as i32,
            trigger: match self.trigger.as_str() {
                "periodic" => pb::JobTrigger::Periodic,
                _ => pb::JobTrigger::Manual,
            } as i32,
            started_at: Some(ts(self.started_ms)),
            finished_at: (self.finished_ms > 0).then(|| ts(self.finished_ms)),
            progress: self.progress,
            records: self.records,
            persons: self.persons,
            merges: self.merges,
            splits: self.splits,
            persons_differing: self.persons_differing,
            candidate_pairs: self.candidate_pairs,
            error: self.error.clone(),
            phase_millis: self.phase_millis.clone().into_iter().collect(),
            estimated_precision: self.estimated_precision.unwrap_or(f64::NAN),
            estimated_recall: self.estimated_recall.unwrap_or(f64::NAN),
        }
    }
}

/// The job history and the one running job.
pub(crate) struct JobBoard {
    jobs: Mutex<BTreeMap<u64, JobStatus>>,
}

/// The name of a trigger in job records.
pub(crate) fn trigger_name(trigger: JobTrigger) -> &'static str {
    match trigger {
        JobTrigger::Manual => "manual",
        JobTrigger::Periodic => "periodic",
    }
}

impl JobBoard {
    /// Loads the history; jobs that were running when the server stopped are
    /// returned separately, to be marked failed.
    pub(crate) fn load(store: &Store) -> Result<(JobBoard, Vec<JobStatus>), StoreError> {
        let mut jobs = BTreeMap::new();
        let mut interrupted = Vec::new();
        for item in store.tree(TreeName::Jobs).iter() {
            let (_, value) = item?;
            let mut job: JobStatus =
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                    tree: "jobs",
                    message: e.to_string(),
                })?;
            if job.state == JobState::Running {
                job.state = JobState::Failed;
                job.error = "interrupted: the server stopped during the job".into();
                job.finished_ms = chrono::Utc::now().timestamp_millis();
                interrupted.push(job.clone());
            }
            jobs.insert(job.job_id, job);
        }
        Ok((
            JobBoard {
                jobs: Mutex::new(jobs),
            },
            interrupted,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, JobStatus>> {
        // A panic while holding this lock cannot leave a job half-written
        // (every update replaces one value), so a poisoned lock is usable.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new running job, or refuses when one is running.
    ///
    /// # Errors
    /// `FAILED_PRECONDITION` while another job runs.
    pub(crate) fn start(&self, trigger: JobTrigger) -> Result<u64, ServiceError> {
        let mut jobs = self.lock();
        if let Some(running) = jobs.values().find(|j| j.state == JobState::Running) {
            return Err(ServiceError::FailedPrecondition(format!(
                "job {} is still running",
                running.job_id
            )));
        }
        let job_id = jobs.keys().next_back().copied().unwrap_or(0) + 1;
        jobs.insert(
            job_id,
            JobStatus {
                job_id,
                state: JobState::Running,
                trigger: trigger_name(trigger).to_string(),
                started_ms: chrono::Utc::now().timestamp_millis(),
                finished_ms: 0,
                progress: 0.0,
                records: 0,
                persons: 0,
                merges: 0,
                splits: 0,
                persons_differing: 0,
                candidate_pairs: 0,
                error: String::new(),
                phase_millis: BTreeMap::new(),
                estimated_precision: None,
                estimated_recall: None,
            },
        );
        Ok(job_id)
    }

    /// Updates a running job's progress.
    pub(crate) fn progress(&self, job_id: u64, fraction: f64) {
        if let Some(job) = self.lock().get_mut(&job_id) {
            job.progress = fraction.clamp(0.0, 1.0);
        }
    }

    /// Replaces a job's status (when it finished).
    pub(crate) fn set(&self, status: JobStatus) {
        self.lock().insert(status.job_id, status);
    }

    /// Marks a job failed.
    pub(crate) fn fail(&self, job_id: u64, error: String) {
        if let Some(job) = self.lock().get_mut(&job_id) {
            job.state = JobState::Failed;
            job.error = error;
            job.finished_ms = chrono::Utc::now().timestamp_millis();
        }
    }

    /// One job.
    pub(crate) fn get(&self, job_id: u64) -> Option<JobStatus> {
        self.lock().get(&job_id).cloned()
    }

    /// Jobs, newest first.
    pub(crate) fn list(&self, limit: usize) -> Vec<JobStatus> {
        self.lock().values().rev().take(limit).cloned().collect()
    }

    /// How many jobs exist.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    /// The stored form of a job's current status, added to `writes`.
    pub(crate) fn write_into(&self, job_id: u64, writes: &mut WriteSet) {
        if let Some(job) = self.get(job_id)
            && let Ok(json) = serde_json::to_vec(&job)
        {
            writes.put(TreeName::Jobs, job_id.to_be_bytes().to_vec(), json);
        }
    }
}

/// How often the retention task runs.
pub const RETENTION_PERIOD: Duration = Duration::from_secs(3600);
