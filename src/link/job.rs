//! The full linkage job and the rebuild at startup.
//!
//! A full job re-estimates the model by EM over every candidate pair, scores
//! every pair again, recomputes the components and persons from scratch and
//! gives the result stable ids relative to the incremental state it replaces.
//! The rebuild at startup ([`LinkIndex::restore`]) is the same computation
//! without EM, with the stored persons as the previous state: when the
//! records, model and configuration are unchanged, so are the persons and
//! their ids.
//!
//! Both passes over the candidate pairs run on two threads (the machine this
//! is sized for has two cores) in 100 slices, reporting progress between
//! slices. Memory stays linear in the records: pairs are scored in the block
//! of their first shared key and only the links (pairs passing the loose
//! setting) are kept.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::LinkError;
use super::blocking::for_each_candidate;
use super::config::{LinkConfig, Setting};
use super::ids::LinkDelta;
use super::index::{IdSource, LinkIndex, NONE, Person, StoredPerson, in_two};
use super::model::{LinkModel, PatternHistogram, Scorer, fit};
use super::record::{CompactRecord, LinkRecord};

/// Options of a full job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOptions {
    /// Re-estimate the model by EM before re-scoring (the normal full job);
    /// `false` re-links with the current model (a consistency check: the
    /// result must equal the incremental state).
    pub reestimate: bool,
}

/// Wall-clock seconds per phase of a full job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobTimings {
    /// Enumerating candidate pairs and counting their patterns.
    pub histogram_seconds: f64,
    /// EM on the histogram.
    pub em_seconds: f64,
    /// Enumerating and scoring candidate pairs with the new model.
    pub scoring_seconds: f64,
    /// Components, clustering and person ids.
    pub clustering_seconds: f64,
    /// Whole job.
    pub total_seconds: f64,
}

/// What a full job did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    /// Records linked.
    pub records: usize,
    /// Candidate pairs scored (each pair once).
    pub candidate_pairs: u64,
    /// Pairs passing the loose setting.
    pub links: usize,
    /// Persons in the incremental state before the job.
    pub persons_before: usize,
    /// Persons after the job.
    pub persons_after: usize,
    /// Persons of the full result that were not exactly a person of the
    /// incremental state (0 when the model did not change).
    pub persons_differ: usize,
    /// The model the job linked with (re-estimated unless disabled).
    pub model: LinkModel,
    /// Per-person changes with stable ids.
    pub delta: LinkDelta,
    /// Timings.
    pub timings: JobTimings,
}

/// Number of progress slices per pass.
const SLICES: usize = 100;

impl LinkIndex {
    /// Runs a full job (see the module documentation). `progress` receives
    /// the completed fraction in `[0, 1]`.
    ///
    /// # Errors
    /// [`LinkError::Config`] if the fitted model cannot be compiled (not
    /// expected: it has the shape of the current one).
    pub fn run_full_job(
        &mut self,
        options: JobOptions,
        progress: &mut dyn FnMut(f64),
    ) -> Result<JobReport, LinkError> {
        let start = Instant::now();
        let mut timings = JobTimings::default();
        let persons_before = self.persons.len();
        let (scoring_from, scoring_to) = if options.reestimate {
            let histogram = self.histogram(&mut |f| progress(0.45 * f));
            timings.histogram_seconds = start.elapsed().as_secs_f64();
            let em = Instant::now();
            let model = fit(&self.config, &self.model, &histogram)?;
            self.scorer = Scorer::new(&self.config, &model)?;
            self.model = model;
            timings.em_seconds = em.elapsed().as_secs_f64();
            (0.5, 0.9)
        } else {
            (0.0, 0.9)
        };
        let scoring = Instant::now();
        let candidate_pairs =
            self.rescore_all(&mut |f| progress(scoring_from + (scoring_to - scoring_from) * f));
        timings.scoring_seconds = scoring.elapsed().as_secs_f64();
        let clustering = Instant::now();
        let delta = self.recluster_all();
        progress(1.0);
        timings.clustering_seconds = clustering.elapsed().as_secs_f64();
        timings.total_seconds = start.elapsed().as_secs_f64();
        let persons_differ = delta
            .changes
            .iter()
            .filter(|c| !c.records.is_empty())
            .count();
        Ok(JobReport {
            records: self.len(),
            candidate_pairs,
            links: self.links.iter().map(Vec::len).sum::<usize>() / 2,
            persons_before,
            persons_after: self.persons.len(),
            persons_differ,
            model: self.model.clone(),
            delta,
            timings,
        })
    }

    /// Builds an index from stored records, the stored model (or `None` for
    /// the prior) and the stored persons, and returns it with the delta
    /// against those persons (empty when nothing changed). With no stored
    /// persons this is a full linkage of `records` with `model`.
    ///
    /// # Errors
    /// Those of [`LinkIndex::new`] and [`LinkIndex::insert`], and
    /// [`LinkError::StoredPersons`] when a stored person names an unknown
    /// record or a record belongs to two persons.
    pub fn restore(
        config: LinkConfig,
        model: Option<LinkModel>,
        records: Vec<LinkRecord>,
        persons: Vec<StoredPerson>,
        id_source: IdSource,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(Self, LinkDelta), LinkError> {
        let mut index = LinkIndex::new(config, model, id_source)?;
        let compiled = index.compile(&records)?;
        drop(records);
        let keys: usize = compiled.iter().map(|r| r.keys.len()).sum();
        index.postings.reserve(keys);
        index.records.reserve(compiled.len());
        let mut changed = BTreeSet::new();
        for record in compiled {
            index.store(record, &mut changed);
        }
        index.refresh_masks(0..index.records.len() as u32);
        index.install_persons(persons)?;
        index.rescore_all(progress);
        let delta = index.recluster_all();
        progress(1.0);
        Ok((index, delta))
    }

    /// Puts stored persons in place as the "previous state" of a rebuild.
    fn install_persons(&mut self, persons: Vec<StoredPerson>) -> Result<(), LinkError> {
        for stored in persons {
            let mut members = Vec::with_capacity(stored.records.len());
            for key in &stored.records {
                let idx = *self.by_key.get(key).ok_or_else(|| {
                    LinkError::StoredPersons(format!(
                        "person {} names unknown record {key}",
                        stored.id
                    ))
                })?;
                if self.person[idx as usize] != NONE || members.contains(&idx) {
                    return Err(LinkError::StoredPersons(format!(
                        "record {key} belongs to two persons"
                    )));
                }
                members.push(idx);
            }
            if self.person_by_id.contains_key(&stored.id) {
                return Err(LinkError::StoredPersons(format!(
                    "person id {} stored twice",
                    stored.id
                )));
            }
            self.next_created = self.next_created.max(stored.created + 1);
            let handle = self.persons.insert(Person {
                id: stored.id,
                created: stored.created,
                records: members,
            });
            self.person_by_id.insert(stored.id, handle);
            for &r in self
                .persons
                .get(handle)
                .map(|p| p.records.as_slice())
                .unwrap_or(&[])
            {
                self.person[r as usize] = handle;
            }
        }
        Ok(())
    }

    /// All live record indexes, in slices for progress reporting.
    fn slices(&self) -> Vec<Vec<u32>> {
        let live: Vec<u32> = (0..self.records.len() as u32)
            .filter(|&r| self.records[r as usize].is_some())
            .collect();
        let size = live.len().div_ceil(SLICES).max(1);
        live.chunks(size).map(<[u32]>::to_vec).collect()
    }

    /// Calls `f(a, b, record a, record b)` once for every candidate pair
    /// whose first record is in `part` (each pair once: `a < b`).
    fn for_each_pair<'s>(
        &'s self,
        part: &[u32],
        mut f: impl FnMut(u32, u32, &'s CompactRecord, &'s CompactRecord),
    ) {
        for &a in part {
            let Some(rec_a) = self.records[a as usize].as_ref() else {
                continue;
            };
            for_each_candidate(&self.records, &self.postings, a, |b| {
                if let (true, Some(rec_b)) = (b > a, self.records[b as usize].as_ref()) {
                    f(a, b, rec_a, rec_b);
                }
            });
        }
    }

    /// Pattern histogram of every candidate pair under the current model.
    fn histogram(&self, progress: &mut dyn FnMut(f64)) -> PatternHistogram {
        let judge = self.judge();
        let slices = self.slices();
        let mut total = PatternHistogram::default();
        for (i, slice) in slices.iter().enumerate() {
            let parts = in_two(slice, |part| {
                let mut histogram = PatternHistogram::default();
                self.for_each_pair(part, |_, _, rec_a, rec_b| {
                    let (_, _, pattern, det) = judge.judge(rec_a, rec_b);
                    histogram.add(pattern, det);
                });
                vec![histogram]
            });
            parts.into_iter().for_each(|h| total.merge(h));
            progress((i + 1) as f64 / slices.len() as f64);
        }
        total
    }

    /// Replaces every link by a fresh scoring of every candidate pair;
    /// returns the number of candidate pairs.
    fn rescore_all(&mut self, progress: &mut dyn FnMut(f64)) -> u64 {
        for links in &mut self.links {
            *links = Vec::new();
        }
        let slices = self.slices();
        let mut pairs = 0u64;
        let mut found: Vec<(u32, u32, f32, bool)> = Vec::new();
        for (i, slice) in slices.iter().enumerate() {
            let judge = self.judge();
            let parts = in_two(slice, |part| {
                let mut out = Vec::new();
                let mut count = 0u64;
                self.for_each_pair(part, |a, b, rec_a, rec_b| {
                    count += 1;
                    if let Some((weight, det)) = judge.link(rec_a, rec_b) {
                        out.push((a, b, weight, det));
                    }
                });
                vec![(count, out)]
            });
            for (count, links) in parts {
                pairs += count;
                found.extend(links);
            }
            for (a, b, weight, deterministic) in found.drain(..) {
                self.add_link(a, b, weight, deterministic);
            }
            progress((i + 1) as f64 / slices.len() as f64);
        }
        pairs
    }

    /// Recomputes all components from the default links (union-find) and
    /// re-clusters every one of them against the current persons.
    fn recluster_all(&mut self) -> LinkDelta {
        let components = self.components_under(Setting::Default);
        self.components = Default::default();
        self.component.iter_mut().for_each(|c| *c = NONE);
        self.recluster(components, HashSet::new())
    }
}
