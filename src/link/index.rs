//! The incremental linkage index.
//!
//! [`LinkIndex`] holds every stored record in compact form, the blocking
//! postings, the *links* (scored candidate pairs that pass the loose setting,
//! kept per record), the connected components of the links that pass the
//! default setting, and the persons (clusters under the default setting)
//! with their stable ids.
//!
//! Why incremental equals full: the partition is a deterministic function of
//! (record set, model, configuration). The links are a function of the record
//! set (a pair's verdict reads only the two records, the model and the
//! quarantine set, itself a function of the record set); components are a
//! function of the links; and clustering a component sorts its links into a
//! canonical order first. An insertion or withdrawal re-scores the records it
//! touched (new records, and every holder of a key that crossed the
//! quarantine limit), then re-clusters exactly the components those records
//! belong or belonged to. Everything else is unchanged by construction.
//!
//! The components are those of the *default* links, not of all stored
//! links: a person can only be formed along default links, so that is all a
//! re-clustering needs, and loose links (posterior 0.1) chain unrelated
//! people into components that grow faster than the store (3,105 records at
//! 1.5 million records, against 71 for the default links). The loose
//! partition computes its own components when it is asked for.
//!
//! Memory grows with the records: about 8 bytes per blocking key, 12 bytes
//! per (record, key) posting slot at 70 % load, the Bloom encoding, and 12
//! bytes per link end; [`LinkIndex::stats`] reports the total.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::LinkError;
use super::blocking::{Lsh, Postings, Transition, first_shared_key, for_each_candidate};
use super::cluster::{ClusterInput, Clustering, Edge, cluster, find};
use super::compare::{Comparison, compare, deterministic_pass, deterministic_score};
use super::config::{LinkConfig, RuleTable, Setting};
use super::ids::{LinkDelta, NewPerson, OldPerson, PairEvidence, assign};
use super::model::{LinkModel, Scorer};
use super::record::{CompactRecord, LinkRecord, PersonId, RecordKey};

/// Marker for "no component / no person".
pub(crate) const NONE: u32 = u32::MAX;

/// One end of a link: the partner and the verdicts the settings need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Link {
    /// Partner record (dense index).
    pub other: u32,
    /// Fellegi–Sunter match weight (bits).
    pub weight: f32,
    /// Deterministic stage verdict.
    pub deterministic: bool,
}

/// A person as the server stores it between restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPerson {
    /// The stable id.
    pub id: PersonId,
    /// Creation sequence (lower = older; decides which id survives a merge).
    pub created: u64,
    /// The person's records, ascending.
    pub records: Vec<RecordKey>,
}

/// A quarantined blocking key, as listed for `Admin.Status`: its rule and how
/// many records hold it — never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedKey {
    /// Rule id (0 for a Bloom LSH band key).
    pub rule: u16,
    /// Distinct records holding the key.
    pub records: usize,
}

/// The evidence about one pair ([`LinkIndex::explain_pair`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairExplanation {
    /// Whether the pair shares a non-quarantined blocking key (is scored at all).
    pub candidate: bool,
    /// Rule ids both records agree on.
    pub agreed: Vec<u16>,
    /// Rule ids both records have but disagree on.
    pub disagreed: Vec<u16>,
    /// Dice coefficient of the Bloom encodings.
    pub dice: Option<f32>,
    /// Deterministic score (weights minus penalties).
    pub deterministic_score: f64,
    /// Deterministic verdict.
    pub deterministic: bool,
    /// Fellegi–Sunter match weight (bits).
    pub match_weight: f32,
    /// Whether the pair links in each setting (if it is a candidate).
    pub links: Vec<(Setting, bool)>,
}

/// Size figures of an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Records in the index.
    pub records: usize,
    /// Persons (default setting).
    pub persons: usize,
    /// Connected components of the graph of default-setting links.
    pub components: usize,
    /// Records in the largest component (bounds the cost of one insertion).
    pub largest_component: usize,
    /// Links (candidate pairs passing the loose setting).
    pub links: usize,
    /// Quarantined keys.
    pub quarantined_keys: usize,
    /// Approximate bytes held by the index.
    pub bytes: usize,
}

/// A person in the index.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// Stable id.
    pub id: PersonId,
    /// Creation sequence (the lowest survives a merge).
    pub created: u64,
    /// Record indexes (order irrelevant).
    pub records: Vec<u32>,
}

/// Vec with a free list: stable `u32` handles.
#[derive(Debug, Clone)]
pub(crate) struct Slab<T> {
    /// Values by handle; `None` for freed handles.
    slots: Vec<Option<T>>,
    /// Freed handles, reused first.
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value`, reusing a freed handle if any.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(value);
                i
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Takes the value out and frees the handle.
    pub fn remove(&mut self, i: u32) -> Option<T> {
        let value = self.slots.get_mut(i as usize)?.take();
        if value.is_some() {
            self.free.push(i);
        }
        value
    }

    /// The value behind a handle.
    pub fn get(&self, i: u32) -> Option<&T> {
        self.slots.get(i as usize)?.as_ref()
    }

    /// The value behind a handle, mutably.
    pub fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.slots.get_mut(i as usize)?.as_mut()
    }

    /// All stored values.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// The pair verdict: one comparison, the deterministic stage and the model.
pub(crate) struct Judge<'a> {
    /// Rule table (deterministic weights, classes).
    pub rules: &'a RuleTable,
    /// The compiled model.
    pub scorer: &'a Scorer,
    /// Deterministic threshold.
    pub threshold: f64,
}

impl Judge<'_> {
    /// Compares two records: (comparison, match weight, pattern, deterministic verdict).
    pub fn judge(&self, a: &CompactRecord, b: &CompactRecord) -> (Comparison, f32, u32, bool) {
        let cmp = compare(a, b, self.rules);
        let score = self.scorer.score(&cmp);
        let det = deterministic_pass(&cmp, self.rules, self.threshold);
        (cmp, score.weight, score.pattern, det)
    }

    /// The link between two records if the pair passes the loose setting.
    pub fn link(&self, a: &CompactRecord, b: &CompactRecord) -> Option<(f32, bool)> {
        let (_, weight, _, det) = self.judge(a, b);
        self.scorer
            .links(Setting::Loose, weight, det)
            .then_some((weight, det))
    }
}

/// Records seen by the clustering.
pub(crate) struct View<'a> {
    /// Records by dense index.
    pub records: &'a [Option<CompactRecord>],
    /// Rule byte of national-id tokens.
    pub national_id: u8,
}

impl ClusterInput for View<'_> {
    fn seq(&self, rec: u32) -> RecordKey {
        self.records[rec as usize]
            .as_ref()
            .map_or(RecordKey::MAX, |r| r.seq)
    }

    fn national_ids(&self, rec: u32) -> Vec<u64> {
        self.records[rec as usize]
            .as_ref()
            .map_or_else(Vec::new, |r| r.national_ids(self.national_id).collect())
    }
}

/// The source of fresh person ids (the server: ring's CSPRNG; tests: seeded).
pub type IdSource = Box<dyn FnMut() -> PersonId + Send + Sync>;

/// The incremental linkage index (see the module documentation).
pub struct LinkIndex {
    /// Rules, guards, settings.
    pub(crate) config: LinkConfig,
    /// The configuration as lookup tables.
    pub(crate) rules: RuleTable,
    /// Bloom LSH bit positions.
    pub(crate) lsh: Lsh,
    /// The model every link was scored with.
    pub(crate) model: LinkModel,
    /// The model compiled for scoring.
    pub(crate) scorer: Scorer,
    /// Records by dense index; `None` for freed slots.
    pub(crate) records: Vec<Option<CompactRecord>>,
    /// Freed dense indexes, reused by insertions.
    pub(crate) free: Vec<u32>,
    /// Caller key -> dense index.
    pub(crate) by_key: HashMap<RecordKey, u32>,
    /// Blocking key -> records, and the quarantine.
    pub(crate) postings: Postings,
    /// Per record, its links (both ends of every link are stored).
    pub(crate) links: Vec<Vec<Link>>,
    /// Per record, its component handle.
    pub(crate) component: Vec<u32>,
    /// Members of each connected component of the default links.
    pub(crate) components: Slab<Vec<u32>>,
    /// Per record, its person handle.
    pub(crate) person: Vec<u32>,
    /// Persons (clusters under the default setting).
    pub(crate) persons: Slab<Person>,
    /// Person id -> handle.
    pub(crate) person_by_id: HashMap<PersonId, u32>,
    /// Creation sequence of the next new person.
    pub(crate) next_created: u64,
    /// Draws fresh person ids.
    pub(crate) id_source: IdSource,
}

impl std::fmt::Debug for LinkIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkIndex")
            .field("records", &self.by_key.len())
            .field("persons", &self.persons.len())
            .finish()
    }
}

impl LinkIndex {
    /// An empty index. `model` is the stored model, or `None` for the prior
    /// ([`LinkModel::prior`]); `id_source` draws fresh person ids.
    ///
    /// # Errors
    /// [`LinkError::Config`] if the configuration is invalid or the model
    /// does not fit it.
    pub fn new(
        config: LinkConfig,
        model: Option<LinkModel>,
        id_source: IdSource,
    ) -> Result<Self, LinkError> {
        let rules = RuleTable::new(&config)?;
        let model = match model {
            Some(m) => m,
            None => LinkModel::prior(&config)?,
        };
        let scorer = Scorer::new(&config, &model)?;
        Ok(LinkIndex {
            lsh: Lsh::new(&config.lsh),
            postings: Postings::new(config.quarantine_limit),
            config,
            rules,
            model,
            scorer,
            records: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            links: Vec::new(),
            component: Vec::new(),
            components: Slab::default(),
            person: Vec::new(),
            persons: Slab::default(),
            person_by_id: HashMap::new(),
            next_created: 0,
            id_source,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The model in use.
    pub fn model(&self) -> &LinkModel {
        &self.model
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the index holds no records.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Number of persons (clusters under the default setting); O(1).
    pub fn person_count(&self) -> usize {
        self.persons.len()
    }

    /// The person id of a record, if the record is in the index.
    pub fn person_of(&self, key: RecordKey) -> Option<PersonId> {
        let idx = *self.by_key.get(&key)?;
        self.persons.get(self.person[idx as usize]).map(|p| p.id)
    }

    /// The records of a person, ascending, if the id exists.
    pub fn records_of(&self, id: &PersonId) -> Option<Vec<RecordKey>> {
        self.stored_person(id).map(|p| p.records)
    }

    /// Every person with its records: what the server persists.
    pub fn persons(&self) -> Vec<StoredPerson> {
        let mut out: Vec<StoredPerson> = self.persons.iter().map(|p| self.stored(p)).collect();
        out.sort_unstable_by_key(|p| p.records[0]);
        out
    }

    /// Quarantined keys as (rule id, record count), never the key.
    pub fn quarantined(&self) -> Vec<QuarantinedKey> {
        self.postings
            .quarantine_counts()
            .into_iter()
            .map(|(rule, records)| QuarantinedKey {
                rule: u16::from(rule),
                records,
            })
            .collect()
    }

    /// Size figures (records, persons, components, links, bytes).
    pub fn stats(&self) -> IndexStats {
        let records: usize = self
            .records
            .iter()
            .flatten()
            .map(CompactRecord::bytes)
            .sum();
        let link_ends: usize = self.links.iter().map(Vec::len).sum();
        let links_bytes: usize = self.links.iter().map(|l| 24 + l.capacity() * 12).sum();
        let components: usize = self.components.iter().map(|c| 24 + c.capacity() * 4).sum();
        let persons: usize = self
            .persons
            .iter()
            .map(|p| 64 + p.records.capacity() * 4)
            .sum();
        IndexStats {
            records: self.len(),
            persons: self.person_count(),
            components: self.components.len(),
            largest_component: self.components.iter().map(Vec::len).max().unwrap_or(0),
            links: link_ends / 2,
            quarantined_keys: self.postings.quarantine_counts().len(),
            bytes: records
                + self.postings.bytes()
                + links_bytes
                + components
                + persons
                + self.records.capacity() * (std::mem::size_of::<Option<CompactRecord>>() + 8)
                + self.by_key.capacity() * 16
                + self.person_by_id.capacity() * 24,
        }
    }

    /// The partition under `setting`, as (record, lowest record key of its
    /// cluster), ascending by record. Computed from the stored links, so all
    /// three settings are available at any time (the default one equals the
    /// persons).
    pub fn partition(&self, setting: Setting) -> Vec<(RecordKey, RecordKey)> {
        // Strict links are default links, so the stored components serve
        // both; loose ones can join default components.
        let loose;
        let components: Vec<&Vec<u32>> = match setting {
            Setting::Strict | Setting::Default => self.components.iter().collect(),
            Setting::Loose => {
                loose = self.components_under(Setting::Loose);
                loose.iter().collect()
            }
        };
        let run = |part: &[&Vec<u32>]| -> Vec<(RecordKey, RecordKey)> {
            let mut out = Vec::new();
            for members in part {
                for c in self.cluster_component(members, setting).clusters {
                    let label = self.seq(c[0]);
                    out.extend(c.iter().map(|&r| (self.seq(r), label)));
                }
            }
            out
        };
        let mut out = in_two(&components, run);
        out.sort_unstable();
        out
    }

    /// Everything the linkage knows about one pair of records, whether or
    /// not they are candidates: for `--explain` and for inspecting errors.
    /// `None` when a key is not in the index.
    pub fn explain_pair(&self, a: RecordKey, b: RecordKey) -> Option<PairExplanation> {
        let rec_a = self.records[*self.by_key.get(&a)? as usize].as_ref()?;
        let rec_b = self.records[*self.by_key.get(&b)? as usize].as_ref()?;
        let (cmp, weight, _, deterministic) = self.judge().judge(rec_a, rec_b);
        let rules = |mask: u32| -> Vec<u16> {
            (0..self.rules.len())
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| self.rules.ids[i])
                .collect()
        };
        Some(PairExplanation {
            candidate: first_shared_key(rec_a, rec_b).is_some(),
            agreed: rules(cmp.agree),
            disagreed: rules(cmp.both & !cmp.agree),
            dice: cmp.dice,
            deterministic_score: deterministic_score(&cmp, &self.rules),
            deterministic,
            match_weight: weight,
            links: Setting::ALL
                .map(|s| (s, self.scorer.links(s, weight, deterministic)))
                .to_vec(),
        })
    }

    /// Dense index -> key.
    pub(crate) fn seq(&self, idx: u32) -> RecordKey {
        self.records[idx as usize]
            .as_ref()
            .map_or(RecordKey::MAX, |r| r.seq)
    }

    /// The pair verdict with the current model.
    pub(crate) fn judge(&self) -> Judge<'_> {
        Judge {
            rules: &self.rules,
            scorer: &self.scorer,
            threshold: self.config.deterministic_threshold,
        }
    }

    /// The records as the clustering sees them.
    pub(crate) fn view(&self) -> View<'_> {
        View {
            records: &self.records,
            national_id: self.rules.ids[self.rules.national_id as usize] as u8,
        }
    }

    /// Clusters one component under `setting`.
    pub(crate) fn cluster_component(&self, members: &[u32], setting: Setting) -> Clustering {
        let mut edges = Vec::new();
        for &r in members {
            for l in &self.links[r as usize] {
                if r < l.other && self.scorer.links(setting, l.weight, l.deterministic) {
                    edges.push(Edge {
                        a: r,
                        b: l.other,
                        weight: l.weight,
                        deterministic: l.deterministic,
                    });
                }
            }
        }
        cluster(members, edges, &self.view(), self.config.max_cluster_size)
    }

    /// Compiles records and checks them against the index and each other
    /// (nothing changes on error).
    pub(crate) fn compile(&self, records: &[LinkRecord]) -> Result<Vec<CompactRecord>, LinkError> {
        let mut seen = HashSet::with_capacity(records.len());
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            if self.by_key.contains_key(&record.seq) || !seen.insert(record.seq) {
                return Err(LinkError::DuplicateRecord(record.seq));
            }
            out.push(CompactRecord::compile(record, &self.rules, &self.lsh)?);
        }
        if self.records.len() + out.len() >= NONE as usize {
            return Err(LinkError::Full);
        }
        Ok(out)
    }

    /// Stores a compiled record and its postings; returns its index and the
    /// holders of keys whose quarantine status changed.
    pub(crate) fn store(&mut self, record: CompactRecord, changed: &mut BTreeSet<u32>) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.records.push(None);
                self.links.push(Vec::new());
                self.component.push(NONE);
                self.person.push(NONE);
                (self.records.len() - 1) as u32
            }
        };
        for &key in record.keys.iter() {
            if let Transition::Quarantined(holders) = self.postings.insert(key, idx) {
                changed.extend(holders);
            }
        }
        self.by_key.insert(record.seq, idx);
        self.records[idx as usize] = Some(record);
        idx
    }

    /// Records the link between records `a` and `b` (dense indexes) on both
    /// sides, with its match weight (bits) and deterministic verdict.
    pub(crate) fn add_link(&mut self, a: u32, b: u32, weight: f32, deterministic: bool) {
        self.links[a as usize].push(Link {
            other: b,
            weight,
            deterministic,
        });
        self.links[b as usize].push(Link {
            other: a,
            weight,
            deterministic,
        });
    }

    /// Recomputes the quarantine masks of `records` from the postings.
    pub(crate) fn refresh_masks(&mut self, records: impl IntoIterator<Item = u32>) {
        for r in records {
            let postings = &self.postings;
            if let Some(rec) = self.records[r as usize].as_mut() {
                rec.quarantined = rec
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| postings.is_quarantined(**k))
                    .fold(0, |m, (i, _)| m | 1 << i);
            }
        }
    }

    /// Adds a batch of records and links them. All records are checked
    /// first; on error nothing changes.
    ///
    /// # Errors
    /// [`LinkError::DuplicateRecord`], [`LinkError::UnknownRule`],
    /// [`LinkError::TooManyKeys`], [`LinkError::Full`].
    pub fn insert(&mut self, records: Vec<LinkRecord>) -> Result<LinkDelta, LinkError> {
        let compiled = self.compile(&records)?;
        let mut rescore = BTreeSet::new();
        for record in compiled {
            let idx = self.store(record, &mut rescore);
            rescore.insert(idx);
        }
        self.refresh_masks(rescore.iter().copied());
        Ok(self.relink(rescore, BTreeSet::new(), HashSet::new()))
    }

    /// Withdraws records: they leave their persons, which are re-linked from
    /// what remains. All keys are checked first; on error nothing changes.
    ///
    /// # Errors
    /// [`LinkError::UnknownRecord`] for a key not in the index (or given twice).
    pub fn remove(&mut self, keys: &[RecordKey]) -> Result<LinkDelta, LinkError> {
        let mut seen = HashSet::new();
        for key in keys {
            if !self.by_key.contains_key(key) || !seen.insert(*key) {
                return Err(LinkError::UnknownRecord(*key));
            }
        }
        let mut rescore = BTreeSet::new();
        let mut old_components = BTreeSet::new();
        let mut lost = HashSet::new();
        for key in keys {
            let Some(idx) = self.by_key.remove(key) else {
                continue;
            };
            let Some(record) = self.records[idx as usize].take() else {
                continue;
            };
            // Former partners keep their other links (a verdict reads only its
            // two records). Default partners are re-clustered through the old
            // component; a partner joined by a loose link only is in another
            // default component, which does not change.
            for link in std::mem::take(&mut self.links[idx as usize]) {
                self.links[link.other as usize].retain(|l| l.other != idx);
            }
            for &k in record.keys.iter() {
                if let Transition::Released(holders) = self.postings.remove(k, idx) {
                    rescore.extend(holders);
                }
            }
            old_components.insert(std::mem::replace(&mut self.component[idx as usize], NONE));
            let person = std::mem::replace(&mut self.person[idx as usize], NONE);
            if let Some(p) = self.persons.get_mut(person) {
                p.records.retain(|&r| r != idx);
                lost.insert(person);
            }
            self.free.push(idx);
        }
        // Holders of released keys are re-scored: the key counts again.
        rescore.retain(|&r| self.records[r as usize].is_some());
        self.refresh_masks(rescore.iter().copied());
        Ok(self.relink(rescore, old_components, lost))
    }

    /// Re-scores `rescore`, then re-clusters every component those records
    /// (and their old and new partners) belong to, plus `old_components`.
    fn relink(
        &mut self,
        rescore: BTreeSet<u32>,
        old_components: BTreeSet<u32>,
        lost: HashSet<u32>,
    ) -> LinkDelta {
        let mut touched: BTreeSet<u32> = rescore.clone();
        for &r in &rescore {
            for link in std::mem::take(&mut self.links[r as usize]) {
                self.links[link.other as usize].retain(|l| l.other != r);
                touched.insert(link.other);
            }
        }
        let mut new_links = Vec::new();
        {
            let judge = self.judge();
            for &a in &rescore {
                let Some(rec_a) = self.records[a as usize].as_ref() else {
                    continue;
                };
                for_each_candidate(&self.records, &self.postings, a, |b| {
                    if b < a && rescore.contains(&b) {
                        return;
                    }
                    if let Some(rec_b) = self.records[b as usize].as_ref()
                        && let Some((weight, det)) = judge.link(rec_a, rec_b)
                    {
                        new_links.push((a, b, weight, det));
                    }
                });
            }
        }
        for (a, b, weight, deterministic) in new_links {
            self.add_link(a, b, weight, deterministic);
            touched.insert(b);
        }
        // The region: the old components of everything touched.
        let mut components = old_components;
        components.extend(touched.iter().map(|&r| self.component[r as usize]));
        components.remove(&NONE);
        let mut region: BTreeSet<u32> = touched;
        for c in components {
            if let Some(members) = self.components.remove(c) {
                region.extend(members);
            }
        }
        region.retain(|&r| self.records[r as usize].is_some());
        let new_components = self.components_of(&region);
        self.recluster(new_components, lost)
    }

    /// Whether a stored link is an edge of the component graph (passes the
    /// default setting).
    fn joins_component(&self, link: &Link) -> bool {
        self.scorer
            .links(Setting::Default, link.weight, link.deterministic)
    }

    /// Connected components of the links that pass `setting`, over every
    /// record (union-find with path halving, Tarjan 1975), each ascending,
    /// ordered by their first record. Near-linear in records + links.
    pub(crate) fn components_under(&self, setting: Setting) -> Vec<Vec<u32>> {
        let n = self.records.len();
        let mut parent: Vec<usize> = (0..n).collect();
        for a in 0..n {
            for l in &self.links[a] {
                if !self.scorer.links(setting, l.weight, l.deterministic) {
                    continue;
                }
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, l.other as usize));
                if ra != rb {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut by_root: HashMap<usize, Vec<u32>> = HashMap::new();
        for r in 0..n {
            if self.records[r].is_some() {
                by_root
                    .entry(find(&mut parent, r))
                    .or_default()
                    .push(r as u32);
            }
        }
        let mut components: Vec<Vec<u32>> = by_root.into_values().collect();
        components.sort_unstable_by_key(|c| c[0]);
        components
    }

    /// Connected components of the default links restricted to `region`
    /// (which is closed under them by construction).
    fn components_of(&self, region: &BTreeSet<u32>) -> Vec<Vec<u32>> {
        let mut seen: HashSet<u32> = HashSet::with_capacity(region.len());
        let mut out = Vec::new();
        for &start in region {
            if !seen.insert(start) {
                continue;
            }
            let mut members = vec![start];
            let mut i = 0;
            while i < members.len() {
                for l in &self.links[members[i] as usize] {
                    if self.joins_component(l) && seen.insert(l.other) {
                        debug_assert!(
                            region.contains(&l.other),
                            "the re-clustered region is not closed under default links"
                        );
                        members.push(l.other);
                    }
                }
                i += 1;
            }
            out.push(members);
        }
        out
    }

    /// Registers `components`, clusters each under the default setting and
    /// gives the clusters stable ids relative to the persons that held their
    /// records (plus the persons in `lost`, which lost withdrawn records).
    pub(crate) fn recluster(&mut self, components: Vec<Vec<u32>>, lost: HashSet<u32>) -> LinkDelta {
        let mut old_slots: BTreeSet<u32> = lost.iter().copied().collect();
        for members in &components {
            old_slots.extend(members.iter().map(|&r| self.person[r as usize]));
        }
        old_slots.remove(&NONE);
        let refs: Vec<&Vec<u32>> = components.iter().collect();
        let results: Vec<Clustering> = in_two(&refs, |part| {
            part.iter()
                .map(|m| self.cluster_component(m, Setting::Default))
                .collect()
        });
        for members in components {
            let handle = self.components.insert(members);
            for &r in self.components.get(handle).into_iter().flatten() {
                self.component[r as usize] = handle;
            }
        }
        let old: Vec<OldPerson> = old_slots
            .iter()
            .filter_map(|&s| self.persons.get(s).map(|p| (s, p)))
            .map(|(s, p)| {
                let mut records: Vec<RecordKey> = p.records.iter().map(|&r| self.seq(r)).collect();
                records.sort_unstable();
                OldPerson {
                    id: p.id,
                    created: p.created,
                    records,
                    lost_records: lost.contains(&s),
                }
            })
            .collect();
        let mut clusters: Vec<Vec<u32>> = Vec::new();
        let mut merges: Vec<Edge> = Vec::new();
        let mut refusals = Vec::new();
        for result in results {
            clusters.extend(result.clusters);
            merges.extend(result.merges);
            refusals.extend(result.refusals);
        }
        clusters.sort_unstable_by_key(|c| self.seq(c[0]));
        let keyed: Vec<Vec<RecordKey>> = clusters
            .iter()
            .map(|c| c.iter().map(|&r| self.seq(r)).collect())
            .collect();
        let (new, removed) = {
            let (source, by_id, next) = (
                &mut self.id_source,
                &self.person_by_id,
                &mut self.next_created,
            );
            let mut fresh = || {
                let mut id = source();
                while by_id.contains_key(&id) {
                    id = source();
                }
                *next += 1;
                (id, *next - 1)
            };
            assign(&old, keyed, &mut fresh)
        };
        for &s in &old_slots {
            if let Some(p) = self.persons.remove(s) {
                self.person_by_id.remove(&p.id);
            }
        }
        let mut cluster_of: HashMap<u32, usize> = HashMap::new();
        for (c, members) in clusters.iter().enumerate() {
            for &r in members {
                cluster_of.insert(r, c);
            }
        }
        let mut evidence: Vec<Vec<Edge>> = vec![Vec::new(); clusters.len()];
        for edge in merges {
            if let Some(&c) = cluster_of.get(&edge.a) {
                evidence[c].push(edge);
            }
        }
        let mut changes = Vec::new();
        for ((person, members), edges) in new.into_iter().zip(clusters).zip(evidence) {
            let NewPerson {
                id,
                created,
                change,
            } = person;
            let handle = self.persons.insert(Person {
                id,
                created,
                records: members,
            });
            self.person_by_id.insert(id, handle);
            for &r in self
                .persons
                .get(handle)
                .map(|p| p.records.as_slice())
                .unwrap_or(&[])
            {
                self.person[r as usize] = handle;
            }
            if let Some(mut change) = change {
                change.evidence = edges.iter().map(|e| self.evidence(e)).collect();
                changes.push(change);
            }
        }
        changes.extend(removed);
        LinkDelta { changes, refusals }
    }

    /// The evidence of an accepted merge.
    pub(crate) fn evidence(&self, edge: &Edge) -> PairEvidence {
        let (a, b) = (
            &self.records[edge.a as usize],
            &self.records[edge.b as usize],
        );
        let cmp = match (a, b) {
            (Some(a), Some(b)) => compare(a, b, &self.rules),
            _ => Comparison {
                agree: 0,
                both: 0,
                dice: None,
            },
        };
        let rules = (0..self.rules.len())
            .filter(|i| cmp.agree >> i & 1 == 1)
            .map(|i| self.rules.ids[i])
            .collect();
        let (x, y) = (self.seq(edge.a), self.seq(edge.b));
        PairEvidence {
            a: x.min(y),
            b: x.max(y),
            rules,
            dice: cmp.dice,
            match_weight: edge.weight,
            deterministic: edge.deterministic,
        }
    }
}

/// Runs `f` over two halves of `items` on two threads (one when small) and
/// concatenates the results in order.
pub(crate) fn in_two<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    if items.len() < 256 {
        return f(items);
    }
    let (left, right) = items.split_at(items.len() / 2);
    std::thread::scope(|s| {
        let handle = s.spawn(|| f(right));
        let mut out = f(left);
        out.extend(
            handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        out
    })
}

impl LinkIndex {
    /// One person as the server stores it (id, creation sequence, records
    /// ascending), or `None` when the id does not exist (merged away or
    /// removed).
    pub fn stored_person(&self, id: &PersonId) -> Option<StoredPerson> {
        let person = self.persons.get(*self.person_by_id.get(id)?)?;
        Some(self.stored(person))
    }

    /// A person in its stored form (records ascending).
    fn stored(&self, person: &Person) -> StoredPerson {
        let mut records: Vec<RecordKey> = person.records.iter().map(|&r| self.seq(r)).collect();
        records.sort_unstable();
        StoredPerson {
            id: person.id,
            created: person.created,
            records,
        }
    }
}
