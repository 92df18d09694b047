//! The Fellegi–Sunter model: comparison levels, m- and u-probabilities, EM
//! estimation without labels, the thresholds and the model's own estimate of
//! its precision and recall.
//!
//! Fellegi & Sunter (1969, "A theory for record linkage", JASA 64) score a
//! pair by the log-likelihood ratio of its agreement pattern under matches
//! (m-probabilities) and non-matches (u-probabilities). The match-key rules
//! are strongly dependent (rules 2, 5, 6, 7 and 8 all hash name and date of
//! birth), so summing one weight per rule would count the same evidence many
//! times. The model therefore groups dependent rules into a few
//! *comparisons* with ordered levels — the level of a comparison is the most
//! specific rule the pair agrees on, as in Splink's comparison levels — and
//! crosses the name/date comparison with the Dice bin of the Bloom encodings,
//! which encode the same fields. Conditional independence is assumed only
//! between comparisons (national id, register id, name and date, residence,
//! place of birth).
//!
//! The m- and u-probabilities are estimated by EM (Winkler 1988; Jaro 1989)
//! over a histogram of the candidate pairs' patterns, so a fit costs time in
//! the number of distinct patterns, not pairs. A Dirichlet prior (the prior
//! model, weight `LinkConfig::em_prior_pairs`) keeps rare levels away from 0
//! and 1, and the pairs the deterministic stage links anchor the match class.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::LinkError;
use super::compare::Comparison;
use super::config::{ComparisonSpec, LinkConfig, RuleClass, RuleTable, Setting};

/// Most EM iterations.
const MAX_ITERATIONS: usize = 500;

/// EM stops when no parameter moves more than this.
const TOLERANCE: f64 = 1e-8;

/// Probabilities are kept inside `[FLOOR, 1 - FLOOR]`.
const FLOOR: f64 = 1e-9;

/// Where a model's parameters came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOrigin {
    /// The documented prior (`docs/LINKAGE.md`), before any full job.
    Prior,
    /// Estimated by EM.
    Fitted {
        /// Candidate pairs in the histogram.
        pairs: u64,
        /// Distinct agreement patterns.
        patterns: usize,
        /// EM iterations until convergence.
        iterations: usize,
        /// Whether the tolerance was reached before the iteration cap.
        converged: bool,
    },
}

/// One level of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelModel {
    /// Human-readable level, e.g. `agree name_dob / dice >= 0.95`.
    pub label: String,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match).
    pub u: f64,
}

/// The levels of one comparison (missing is not a level: it adds weight 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonModel {
    /// The comparison's configured name.
    pub name: String,
    /// Levels, by level index (as the model's `level` method numbers them).
    pub levels: Vec<LevelModel>,
}

/// Expected pair-level quality of one setting, from the fitted mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedQuality {
    /// Setting.
    pub setting: Setting,
    /// Expected true matches among the linked candidate pairs.
    pub true_links: f64,
    /// Expected non-matches among the linked pairs.
    pub false_links: f64,
    /// Expected matches among candidate pairs left unlinked.
    pub missed_links: f64,
    /// `true / (true + false)`.
    pub precision: f64,
    /// `true / (true + missed)` — among candidate pairs only.
    pub recall: f64,
}

/// A Fellegi–Sunter model for one configuration (serialisable: the server
/// stores it, `veilink link --explain` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkModel {
    /// Prior or fitted.
    pub origin: ModelOrigin,
    /// Proportion of matches among candidate pairs.
    pub lambda: f64,
    /// One entry per configured comparison, same order.
    pub comparisons: Vec<ComparisonModel>,
    /// Match weight (bits) from which a pair links in the default setting.
    pub default_threshold: f64,
    /// Match weight (bits) from which a pair links in the loose setting.
    pub loose_threshold: f64,
    /// Expected precision and recall per setting (fitted models only).
    pub quality: Vec<ExpectedQuality>,
}

/// Prior (m, u) of "the pair agrees on this rule" as the level of rank
/// `rank` in its comparison, by the rule's class (`docs/LINKAGE.md`, "Prior").
fn rule_prior(class: RuleClass, rank: usize) -> (f64, f64) {
    match (class, rank) {
        (RuleClass::Identifier, 0) => (0.9, 0.001),
        (RuleClass::Strong, 0) => (0.6, 0.005),
        (RuleClass::Medium, 0) => (0.4, 0.02),
        (RuleClass::Weak, 0) => (0.5, 0.3),
        (RuleClass::Identifier, _) => (0.05, 0.001),
        (RuleClass::Strong, _) => (0.05, 0.01),
        (RuleClass::Medium, _) => (0.03, 0.02),
        (RuleClass::Weak, _) => (0.05, 0.05),
    }
}

/// Prior shape of the Dice distribution over the bins (lower bounds `bins`,
/// then "below the last"), normalised to sum to `mass`. Under a match the
/// Dice is high whatever the tokens say; under a non-match it is centred
/// on 0.7 when the pair agrees on a name rule (relatives, twins) and low
/// otherwise.
fn dice_prior(bins: &[f64], agree: bool, is_match: bool, mass: f64) -> Vec<f64> {
    let lowest = bins.last().copied().unwrap_or(1.0) - 0.1;
    let shape = |b: f64| match (is_match, agree) {
        (true, true) => (20.0 * (b - 1.0)).exp(),
        (true, false) => (8.0 * (b - 1.0)).exp(),
        (false, true) => (-((b - 0.7) / 0.15).powi(2)).exp(),
        (false, false) => (-12.0 * (b - lowest)).exp(),
    };
    let raw: Vec<f64> = bins.iter().copied().chain([lowest]).map(shape).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|x| mass * x / total).collect()
}

/// The labels and prior (m, u) of a comparison's levels, in level order.
fn prior_levels(spec: &ComparisonSpec, config: &LinkConfig) -> Vec<LevelModel> {
    let rule = |id: u16| config.rules.iter().find(|r| r.id == id);
    // Token levels: agreement on the rule of each rank, then "disagree"
    // (and "no tokens" when crossed with Dice).
    let mut tokens: Vec<(String, f64, f64, bool)> = spec
        .rules
        .iter()
        .enumerate()
        .map(|(rank, &id)| {
            let (name, class) = rule(id).map_or((id.to_string(), RuleClass::Weak), |r| {
                (r.name.clone(), r.class)
            });
            let (m, u) = rule_prior(class, rank);
            (format!("agree {name}"), m, u, true)
        })
        .collect();
    let (m_agree, u_agree): (f64, f64) = tokens
        .iter()
        .fold((0.0, 0.0), |(m, u), t| (m + t.1, u + t.2));
    tokens.push((
        "disagree".into(),
        (1.0 - m_agree).max(0.05),
        (1.0 - u_agree).max(0.05),
        false,
    ));
    if !spec.with_dice {
        let mut levels: Vec<LevelModel> = tokens
            .into_iter()
            .map(|(label, m, u, _)| LevelModel { label, m, u })
            .collect();
        normalise(&mut levels);
        return levels;
    }
    // Missingness is assumed uninformative: the same share under m and u.
    tokens.iter_mut().for_each(|t| {
        t.1 *= 0.9;
        t.2 *= 0.9;
    });
    tokens.push(("no tokens".into(), 0.1, 0.1, false));
    let bins = &config.dice_bins;
    let mut labels: Vec<String> = bins.iter().map(|b| format!("dice >= {b}")).collect();
    labels.push(format!("dice < {}", bins.last().copied().unwrap_or(1.0)));
    labels.push("no bloom".into());
    let mut levels = Vec::new();
    for (ti, (token_label, tm, tu, agree)) in tokens.iter().enumerate() {
        let mut dm = dice_prior(bins, *agree, true, 0.9);
        let mut du = dice_prior(bins, *agree, false, 0.9);
        dm.push(0.1);
        du.push(0.1);
        for (di, label) in labels.iter().enumerate() {
            if ti == tokens.len() - 1 && di == labels.len() - 1 {
                continue; // both missing: the comparison is missing
            }
            levels.push(LevelModel {
                label: format!("{token_label} / {label}"),
                m: tm * dm[di],
                u: tu * du[di],
            });
        }
    }
    normalise(&mut levels);
    levels
}

/// Scales m and u of the levels to sum to 1.
fn normalise(levels: &mut [LevelModel]) {
    let (sm, su) = levels
        .iter()
        .fold((0.0, 0.0), |(m, u), l| (m + l.m, u + l.u));
    for l in levels {
        l.m = (l.m / sm).clamp(FLOOR, 1.0 - FLOOR);
        l.u = (l.u / su).clamp(FLOOR, 1.0 - FLOOR);
    }
}

/// The silver label of an agreement pattern for EM (`docs/LINKAGE.md`,
/// "EM"): 0 (a known non-match) when a checked national id differs, which
/// wins over everything, as in the national-id guard; else 1 (a known match)
/// when an identifier agrees or the deterministic stage links the pair; else
/// none. `identifiers` lists (comparison index, whether it is the checked
/// national id); level 0 of an identifier comparison is its agreement.
fn silver_label(
    levels: &[Option<u32>],
    identifiers: &[(usize, bool)],
    deterministic: bool,
) -> Option<f64> {
    let level = |g: usize| levels.get(g).copied().flatten();
    if identifiers
        .iter()
        .any(|&(g, checked)| checked && matches!(level(g), Some(l) if l > 0))
    {
        Some(0.0)
    } else if deterministic || identifiers.iter().any(|&(g, _)| level(g) == Some(0)) {
        Some(1.0)
    } else {
        None
    }
}

/// Match weight threshold (bits) at which the posterior match probability is
/// `posterior`, given the match proportion `lambda`:
/// `log2((1-λ)/λ) + log2(p/(1-p))`, with the prior term no lower than
/// `floor` ([`LinkConfig::prior_term_floor`]).
fn threshold_for(lambda: f64, posterior: f64, floor: f64) -> f64 {
    ((1.0 - lambda) / lambda).log2().max(floor) + (posterior / (1.0 - posterior)).log2()
}

impl LinkModel {
    /// A model saved by an earlier run, made ready for `config`: `None` when
    /// its comparisons do not have the shape `config` implies (a model of
    /// another rule set or configuration, which the caller replaces by the
    /// prior until the next full job), otherwise the model with both
    /// thresholds recomputed from its λ under `config`'s posteriors and
    /// [`LinkConfig::prior_term_floor`] (a saved model keeps the thresholds
    /// of the configuration it was fitted under).
    pub fn for_config(mut self, config: &LinkConfig) -> Option<LinkModel> {
        Scorer::new(config, &self).ok()?;
        self.default_threshold = threshold_for(
            self.lambda,
            config.default_posterior,
            config.prior_term_floor,
        );
        self.loose_threshold =
            threshold_for(self.lambda, config.loose_posterior, config.prior_term_floor);
        Some(self)
    }

    /// The documented prior model for a configuration (used before any full
    /// job has run): λ = 0.3 and the level priors of `docs/LINKAGE.md`.
    ///
    /// # Errors
    /// [`LinkError::Config`] if the configuration is invalid.
    pub fn prior(config: &LinkConfig) -> Result<Self, LinkError> {
        RuleTable::new(config)?;
        let lambda = 0.3;
        let comparisons = config
            .comparisons
            .iter()
            .map(|spec| ComparisonModel {
                name: spec.name.clone(),
                levels: prior_levels(spec, config),
            })
            .collect();
        Ok(LinkModel {
            origin: ModelOrigin::Prior,
            lambda,
            comparisons,
            default_threshold: threshold_for(
                lambda,
                config.default_posterior,
                config.prior_term_floor,
            ),
            loose_threshold: threshold_for(lambda, config.loose_posterior, config.prior_term_floor),
            quality: Vec::new(),
        })
    }

    /// The model with weights per level, for `veilink link --explain`.
    pub fn explain(&self) -> ModelExplanation {
        ModelExplanation {
            origin: self.origin.clone(),
            lambda: self.lambda,
            default_threshold: self.default_threshold,
            loose_threshold: self.loose_threshold,
            comparisons: self
                .comparisons
                .iter()
                .map(|c| ExplainedComparison {
                    name: c.name.clone(),
                    levels: c
                        .levels
                        .iter()
                        .map(|l| ExplainedLevel {
                            label: l.label.clone(),
                            m: l.m,
                            u: l.u,
                            weight: (l.m / l.u).log2(),
                        })
                        .collect(),
                })
                .collect(),
            quality: self.quality.clone(),
        }
    }
}

/// `--explain` view of a model: m, u and the match weight log2(m/u) per
/// level, the thresholds and the expected quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelExplanation {
    /// Prior or fitted (with pair and pattern counts).
    pub origin: ModelOrigin,
    /// Proportion of matches among candidate pairs.
    pub lambda: f64,
    /// Threshold (bits) of the default setting.
    pub default_threshold: f64,
    /// Threshold (bits) of the loose setting.
    pub loose_threshold: f64,
    /// Per comparison, its levels.
    pub comparisons: Vec<ExplainedComparison>,
    /// Expected precision and recall per setting.
    pub quality: Vec<ExpectedQuality>,
}

/// One comparison in a [`ModelExplanation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedComparison {
    /// Comparison name.
    pub name: String,
    /// Its levels.
    pub levels: Vec<ExplainedLevel>,
}

/// One level in a [`ModelExplanation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedLevel {
    /// Level label.
    pub label: String,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match).
    pub u: f64,
    /// Match weight in bits, log2(m/u).
    pub weight: f64,
}

/// A comparison compiled for scoring.
#[derive(Debug, Clone)]
struct CompiledComparison {
    /// Rule indexes, most specific first.
    rules: Vec<u8>,
    /// Mask of those rules.
    mask: u32,
    /// Whether the Dice bin is crossed in.
    with_dice: bool,
    /// Number of levels; `levels` is the missing value in patterns.
    levels: u32,
    /// Pattern stride.
    stride: u32,
}

/// A model compiled against a configuration: levels, weight tables and
/// thresholds, for scoring millions of pairs.
#[derive(Debug, Clone)]
pub(crate) struct Scorer {
    comparisons: Vec<CompiledComparison>,
    /// Dice bin lower bounds, descending.
    dice_bins: Vec<f32>,
    /// Per comparison, per level: log2(m/u) as f32.
    weights: Vec<Vec<f32>>,
    /// Default-setting threshold (bits).
    pub default_threshold: f32,
    /// Loose-setting threshold (bits).
    pub loose_threshold: f32,
}

/// What the model says about one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairScore {
    /// Fellegi–Sunter match weight in bits.
    pub weight: f32,
    /// Agreement pattern (mixed-radix level index, see [`Scorer::pattern`]).
    pub pattern: u32,
}

impl Scorer {
    /// Compiles `model` for `config`.
    ///
    /// # Errors
    /// [`LinkError::Config`] if the configuration is invalid or the model's
    /// comparisons do not have the shape the configuration implies.
    pub fn new(config: &LinkConfig, model: &LinkModel) -> Result<Self, LinkError> {
        let table = RuleTable::new(config)?;
        let nbins = config.dice_bins.len() as u32 + 1;
        let mut comparisons = Vec::new();
        let mut stride = 1u32;
        for spec in &config.comparisons {
            let rules: Vec<u8> = spec.rules.iter().filter_map(|&r| table.index(r)).collect();
            let k = rules.len() as u32;
            let levels = if spec.with_dice {
                (k + 2) * (nbins + 1) - 1
            } else {
                k + 1
            };
            let mask = rules.iter().fold(0, |m, &i| m | 1 << i);
            comparisons.push(CompiledComparison {
                rules,
                mask,
                with_dice: spec.with_dice,
                levels,
                stride,
            });
            stride = stride
                .checked_mul(levels + 1)
                .ok_or_else(|| LinkError::Config("too many comparison levels".into()))?;
        }
        if model.comparisons.len() != comparisons.len()
            || model
                .comparisons
                .iter()
                .zip(&comparisons)
                .any(|(m, c)| m.levels.len() != c.levels as usize)
        {
            return Err(LinkError::Config(
                "the model does not fit the configured comparisons".into(),
            ));
        }
        let weights = model
            .comparisons
            .iter()
            .map(|c| c.levels.iter().map(|l| (l.m / l.u).log2() as f32).collect())
            .collect();
        Ok(Scorer {
            comparisons,
            dice_bins: config.dice_bins.iter().map(|&b| b as f32).collect(),
            weights,
            default_threshold: model.default_threshold as f32,
            loose_threshold: model.loose_threshold as f32,
        })
    }

    /// Level of comparison `c` for a pair, or `None` when missing.
    fn level(&self, c: &CompiledComparison, cmp: &Comparison) -> Option<u32> {
        let k = c.rules.len() as u32;
        let token = c
            .rules
            .iter()
            .position(|&i| cmp.agree >> i & 1 == 1)
            .map(|p| p as u32)
            .unwrap_or(if cmp.both & c.mask != 0 { k } else { k + 1 });
        if !c.with_dice {
            return (token <= k).then_some(token);
        }
        let nbins = self.dice_bins.len() as u32 + 1;
        let dice = match cmp.dice {
            Some(d) => self
                .dice_bins
                .iter()
                .position(|&b| d >= b)
                .unwrap_or(self.dice_bins.len()) as u32,
            None => nbins,
        };
        let level = token * (nbins + 1) + dice;
        (level < c.levels).then_some(level)
    }

    /// Match weight and pattern of a pair.
    pub fn score(&self, cmp: &Comparison) -> PairScore {
        let mut weight = 0.0;
        let mut pattern = 0;
        for (c, table) in self.comparisons.iter().zip(&self.weights) {
            let level = self.level(c, cmp);
            if let Some(l) = level {
                weight += table[l as usize];
            }
            pattern += level.unwrap_or(c.levels) * c.stride;
        }
        PairScore { weight, pattern }
    }

    /// The levels (or `None` for missing) of a pattern.
    fn decode(&self, pattern: u32) -> Vec<Option<u32>> {
        self.comparisons
            .iter()
            .map(|c| {
                let v = pattern / c.stride % (c.levels + 1);
                (v < c.levels).then_some(v)
            })
            .collect()
    }

    /// Whether a pair with this weight and deterministic verdict links in `setting`.
    pub fn links(&self, setting: Setting, weight: f32, deterministic: bool) -> bool {
        deterministic
            || match setting {
                Setting::Strict => false,
                Setting::Default => weight >= self.default_threshold,
                Setting::Loose => weight >= self.loose_threshold,
            }
    }
}

/// Counts of candidate pairs per (pattern, deterministic verdict): all EM needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternHistogram {
    /// Key: pattern * 2 + deterministic.
    counts: HashMap<u32, u64>,
}

impl PatternHistogram {
    /// Counts one pair.
    pub fn add(&mut self, pattern: u32, deterministic: bool) {
        *self
            .counts
            .entry(pattern * 2 + u32::from(deterministic))
            .or_default() += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: PatternHistogram) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
    }

    /// Number of pairs counted.
    pub fn pairs(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Fits m, u and λ by EM on the histogram, starting from (and regularised
/// towards) `start`, then places the thresholds and computes the expected
/// quality. With no pairs the start model is returned unchanged.
///
/// # Errors
/// [`LinkError::Config`] if `start` does not fit `config`.
pub(crate) fn fit(
    config: &LinkConfig,
    start: &LinkModel,
    histogram: &PatternHistogram,
) -> Result<LinkModel, LinkError> {
    let scorer = Scorer::new(config, start)?;
    let pairs = histogram.pairs();
    if pairs == 0 {
        return Ok(start.clone());
    }
    // Silver labels anchor the two classes (docs/LINKAGE.md, "EM"): pairs the
    // deterministic stage links, and pairs that share a national or register
    // id, are treated as matches; pairs whose checked national ids differ as
    // non-matches.
    // Without anchors EM tends to split clean from erroneous matches, since
    // true non-matches are scarce among candidate pairs.
    // (comparison, whether it is the checked national id): the checked id
    // anchors both ways, an unchecked register id only when it agrees.
    let identifiers: Vec<(usize, bool)> = if config.em_anchor_identifier {
        config
            .comparisons
            .iter()
            .enumerate()
            .filter_map(|(g, c)| match c.rules[..] {
                [rule] if !c.with_dice => {
                    let class = config.rules.iter().find(|r| r.id == rule)?.class;
                    (class == RuleClass::Identifier).then_some((g, rule == config.national_id_rule))
                }
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    let patterns: Vec<(Vec<Option<u32>>, f64, Option<f64>)> = histogram
        .counts
        .iter()
        .map(|(&key, &n)| {
            let levels = scorer.decode(key / 2);
            let deterministic = key & 1 == 1 && config.em_anchor_deterministic;
            let anchor = silver_label(&levels, &identifiers, deterministic);
            (levels, n as f64, anchor)
        })
        .collect();
    let prior: Vec<Vec<(f64, f64)>> = start
        .comparisons
        .iter()
        .map(|c| c.levels.iter().map(|l| (l.m, l.u)).collect())
        .collect();
    let mut m: Vec<Vec<f64>> = prior
        .iter()
        .map(|c| c.iter().map(|p| p.0).collect())
        .collect();
    let mut u: Vec<Vec<f64>> = prior
        .iter()
        .map(|c| c.iter().map(|p| p.1).collect())
        .collect();
    let mut lambda = start.lambda.clamp(0.01, 0.99);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let mut cm: Vec<Vec<f64>> = m.iter().map(|c| vec![0.0; c.len()]).collect();
        let mut cu = cm.clone();
        let mut total_m = 0.0;
        for (levels, n, anchor) in &patterns {
            let post = anchor.unwrap_or_else(|| posterior(lambda, &m, &u, levels));
            total_m += n * post;
            // With `em_u_from_conflicts`, only known non-matches inform u
            // (none without checked ids: u then stays the prior's, which
            // measured better than EM's u on FEBRL, docs/LINKAGE.md).
            let u_weight = match (config.em_u_from_conflicts, anchor) {
                (false, _) => n * (1.0 - post),
                (true, Some(a)) if *a == 0.0 => *n,
                (true, _) => 0.0,
            };
            for (g, level) in levels.iter().enumerate() {
                if let Some(l) = level {
                    cm[g][*l as usize] += n * post;
                    cu[g][*l as usize] += u_weight;
                }
            }
        }
        let new_lambda = (total_m / pairs as f64).clamp(FLOOR, 1.0 - FLOOR);
        let mut delta = (new_lambda - lambda).abs();
        lambda = new_lambda;
        for g in 0..m.len() {
            for (target, counts, side) in [(&mut m[g], &cm[g], 0), (&mut u[g], &cu[g], 1)] {
                let total: f64 = counts.iter().sum::<f64>() + config.em_prior_pairs;
                for (l, value) in target.iter_mut().enumerate() {
                    let p = if side == 0 {
                        prior[g][l].0
                    } else {
                        prior[g][l].1
                    };
                    let new =
                        ((counts[l] + config.em_prior_pairs * p) / total).clamp(FLOOR, 1.0 - FLOOR);
                    delta = delta.max((new - *value).abs());
                    *value = new;
                }
            }
        }
        if delta < TOLERANCE {
            converged = true;
            break;
        }
    }
    // EM's class labels are arbitrary in principle: "match" is the class that
    // agrees more often on the most specific level of the comparisons.
    let separation: f64 = m.iter().zip(&u).map(|(mg, ug)| mg[0] - ug[0]).sum();
    if separation < 0.0 {
        std::mem::swap(&mut m, &mut u);
        lambda = 1.0 - lambda;
    }
    let comparisons = start
        .comparisons
        .iter()
        .enumerate()
        .map(|(g, c)| ComparisonModel {
            name: c.name.clone(),
            levels: c
                .levels
                .iter()
                .enumerate()
                .map(|(l, level)| LevelModel {
                    label: level.label.clone(),
                    m: m[g][l],
                    u: u[g][l],
                })
                .collect(),
        })
        .collect();
    let mut model = LinkModel {
        origin: ModelOrigin::Fitted {
            pairs,
            patterns: patterns.len(),
            iterations,
            converged,
        },
        lambda,
        comparisons,
        default_threshold: threshold_for(lambda, config.default_posterior, config.prior_term_floor),
        loose_threshold: threshold_for(lambda, config.loose_posterior, config.prior_term_floor),
        quality: Vec::new(),
    };
    model.quality = expected_quality(config, &model, histogram)?;
    Ok(model)
}

/// Posterior match probability of a pattern.
fn posterior(lambda: f64, m: &[Vec<f64>], u: &[Vec<f64>], levels: &[Option<u32>]) -> f64 {
    let mut log_ratio = (lambda / (1.0 - lambda)).ln();
    for (g, level) in levels.iter().enumerate() {
        if let Some(l) = level {
            log_ratio += (m[g][*l as usize] / u[g][*l as usize]).ln();
        }
    }
    1.0 / (1.0 + (-log_ratio).exp())
}

/// Expected true, false and missed links per setting under the fitted
/// mixture: a pair with posterior p counts p towards matches.
fn expected_quality(
    config: &LinkConfig,
    model: &LinkModel,
    histogram: &PatternHistogram,
) -> Result<Vec<ExpectedQuality>, LinkError> {
    let scorer = Scorer::new(config, model)?;
    let m: Vec<Vec<f64>> = model
        .comparisons
        .iter()
        .map(|c| c.levels.iter().map(|l| l.m).collect())
        .collect();
    let u: Vec<Vec<f64>> = model
        .comparisons
        .iter()
        .map(|c| c.levels.iter().map(|l| l.u).collect())
        .collect();
    let mut out = Vec::new();
    for setting in Setting::ALL {
        let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
        for (&key, &n) in &histogram.counts {
            let levels = scorer.decode(key / 2);
            let post = posterior(model.lambda, &m, &u, &levels);
            let weight: f64 = levels
                .iter()
                .enumerate()
                .filter_map(|(g, l)| l.map(|l| (m[g][l as usize] / u[g][l as usize]).log2()))
                .sum();
            let n = n as f64;
            if scorer.links(setting, weight as f32, key & 1 == 1) {
                tp += n * post;
                fp += n * (1.0 - post);
            } else {
                fn_ += n * post;
            }
        }
        let ratio = |a: f64, b: f64| if a + b > 0.0 { a / (a + b) } else { 1.0 };
        out.push(ExpectedQuality {
            setting,
            true_links: tp,
            false_links: fp,
            missed_links: fn_,
            precision: ratio(tp, fp),
            recall: ratio(tp, fn_),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Silver labels: a differing checked id is a non-match whatever else
    /// agrees; a differing register id (unchecked) labels nothing; any
    /// agreeing identifier or a deterministic link is a match.
    #[test]
    fn silver_labels_follow_the_guard() {
        // Comparison 0: the checked national id; 1: the register id.
        let ids = [(0, true), (1, false)];
        let label = |national, register, deterministic| {
            silver_label(&[national, register, Some(3)], &ids, deterministic)
        };
        assert_eq!(label(Some(1), None, true), Some(0.0));
        assert_eq!(label(Some(1), Some(0), false), Some(0.0));
        assert_eq!(label(None, Some(1), false), None);
        assert_eq!(label(None, Some(1), true), Some(1.0));
        assert_eq!(label(None, Some(0), false), Some(1.0));
        assert_eq!(label(Some(0), None, false), Some(1.0));
        assert_eq!(label(None, None, false), None);
        // The order of the comparisons does not matter.
        let swapped = [(1, false), (0, true)];
        assert_eq!(
            silver_label(&[Some(1), Some(0)], &swapped, false),
            Some(0.0)
        );
    }

    /// A saved model of another configuration's shape is refused (the
    /// server then starts from the prior); one of the same shape gets the
    /// current floor.
    #[test]
    fn a_saved_model_is_refitted_to_the_configuration() {
        let config = LinkConfig::default();
        let mut saved = LinkModel::prior(&config).unwrap();
        saved.lambda = 0.995;
        saved.default_threshold = (0.005f64 / 0.995).log2();
        let ready = saved.clone().for_config(&config).unwrap();
        assert_eq!(ready.default_threshold, 0.0);
        assert!((ready.loose_threshold + 9f64.log2()).abs() < 1e-9);
        let mut other_rule_set = config.clone();
        other_rule_set.comparisons.remove(1);
        assert!(saved.for_config(&other_rule_set).is_none());
    }

    /// The prior term of the thresholds is floored: with nearly every
    /// candidate pair a match (λ = 0.995) the default threshold is 0 bits,
    /// not −7.6, and the loose one 3.17 bits below it; where the prior term
    /// is above the floor (λ = 0.3) nothing changes.
    #[test]
    fn thresholds_never_link_evidence_against_a_match() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(threshold_for(0.995, 0.5, 0.0), 0.0));
        assert!(close(threshold_for(0.995, 0.1, 0.0), -(9f64.log2())));
        assert!(close(
            threshold_for(0.995, 0.5, f64::NEG_INFINITY),
            (0.005f64 / 0.995).log2()
        ));
        assert!(close(threshold_for(0.3, 0.5, 0.0), (0.7f64 / 0.3).log2()));
    }

    /// The prior model fits the default configuration and gives agreement on
    /// the most specific name/date rule a positive weight and disagreement a
    /// negative one.
    #[test]
    fn prior_weights_have_the_expected_signs() {
        let config = LinkConfig::default();
        let model = LinkModel::prior(&config).unwrap();
        let scorer = Scorer::new(&config, &model).unwrap();
        let table = RuleTable::new(&config).unwrap();
        let name_dob = 1 << table.index(2).unwrap();
        let agree = Comparison {
            agree: name_dob,
            both: name_dob,
            dice: Some(0.97),
        };
        let disagree = Comparison {
            agree: 0,
            both: name_dob,
            dice: Some(0.3),
        };
        assert!(scorer.score(&agree).weight > scorer.default_threshold);
        assert!(scorer.score(&disagree).weight < 0.0);
        let missing = Comparison {
            agree: 0,
            both: 0,
            dice: None,
        };
        assert_eq!(scorer.score(&missing).weight, 0.0);
    }

    /// EM recovers m, u and λ of a simulated two-class mixture with known
    /// parameters (one comparison per independent field).
    #[test]
    fn em_recovers_a_known_mixture() {
        use rand::{Rng, SeedableRng};
        // Plain EM: no anchors, u estimated by EM as well.
        let config = LinkConfig {
            comparisons: ["a", "b", "c"]
                .iter()
                .zip([1u16, 2, 3])
                .map(|(name, rule)| ComparisonSpec {
                    name: (*name).into(),
                    rules: vec![rule],
                    with_dice: false,
                })
                .collect(),
            em_anchor_deterministic: false,
            em_anchor_identifier: false,
            em_u_from_conflicts: false,
            em_prior_pairs: 10.0,
            ..LinkConfig::default()
        };
        let start = LinkModel::prior(&config).unwrap();
        let scorer = Scorer::new(&config, &start).unwrap();
        let table = RuleTable::new(&config).unwrap();
        let (true_m, true_u, true_lambda) = ([0.95, 0.9, 0.8], [0.05, 0.1, 0.2], 0.25);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut histogram = PatternHistogram::default();
        for _ in 0..200_000 {
            let is_match = rng.random_bool(true_lambda);
            let mut agree = 0;
            let mut both = 0;
            for (f, rule) in [1u16, 2, 3].iter().enumerate() {
                let bit = 1 << table.index(*rule).unwrap();
                both |= bit;
                let p = if is_match { true_m[f] } else { true_u[f] };
                if rng.random_bool(p) {
                    agree |= bit;
                }
            }
            histogram.add(
                scorer
                    .score(&Comparison {
                        agree,
                        both,
                        dice: None,
                    })
                    .pattern,
                false,
            );
        }
        let fitted = fit(&config, &start, &histogram).unwrap();
        assert!(
            (fitted.lambda - true_lambda).abs() < 0.01,
            "lambda {}",
            fitted.lambda
        );
        for f in 0..3 {
            let level = &fitted.comparisons[f].levels[0];
            assert!((level.m - true_m[f]).abs() < 0.01, "m[{f}] = {}", level.m);
            assert!((level.u - true_u[f]).abs() < 0.01, "u[{f}] = {}", level.u);
        }
        let default = &fitted.quality[1];
        assert!(
            default.precision > 0.9 && default.recall > 0.9,
            "{default:?}"
        );
    }
}
