//! Linkage configuration: the match-key rule table, the deterministic
//! weights, the guards and the blocking parameters.
//!
//! Everything that decides whether two records join is here or in the
//! [`LinkModel`](super::LinkModel); the partition is a deterministic function
//! of (record set, model, configuration). The defaults are the values
//! documented in `docs/LINKAGE.md`, for match-key rule set 2 of the encoder.

use serde::{Deserialize, Serialize};

use super::LinkError;

/// How much a rule's agreement says about two records being one person.
///
/// The class sets the default deterministic weight and penalty of a rule and
/// drives the weak-rule guard (a pair agreeing only on weak rules never
/// passes the deterministic stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleClass {
    /// A register identifier: the checked national id (rule 1, BSN) or
    /// another register's unchecked id (rule 13).
    Identifier,
    /// Name and full date of birth (plus more): rarely shared by two people.
    Strong,
    /// Partial name or date: shared by a few people in a large population.
    Medium,
    /// Known to collide (households, twins, namesakes in one town).
    Weak,
}

/// One match-key rule as the linkage sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Rule id on the wire (1..=255; 0 is reserved for Bloom LSH band keys).
    pub id: u16,
    /// The encoder's rule name, for `--explain` and the quarantine listing.
    pub name: String,
    /// Strength class (guards, defaults).
    pub class: RuleClass,
    /// Deterministic stage: added to a pair's score when both records share a
    /// token of this rule.
    pub weight: f64,
    /// Deterministic stage: subtracted when both records have tokens of this
    /// rule and share none (evidence against, e.g. twins' given names).
    pub penalty: f64,
}

/// A group of dependent rules that the Fellegi–Sunter model treats as one
/// comparison with ordered levels (see `docs/LINKAGE.md`, "Dependence").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonSpec {
    /// Name printed by `--explain`.
    pub name: String,
    /// Rules from most to least specific; the comparison's level is the first
    /// rule both records agree on.
    pub rules: Vec<u16>,
    /// Whether the Dice bin of the Bloom encodings is crossed with the rule
    /// level (at most one comparison should carry it).
    pub with_dice: bool,
}

/// The three linkage settings used for sensitivity analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Deterministic stage only.
    Strict,
    /// Deterministic stage or Fellegi–Sunter above the default threshold.
    Default,
    /// Deterministic stage or Fellegi–Sunter above the loose threshold.
    Loose,
}

impl Setting {
    /// All settings, strictest first.
    pub const ALL: [Setting; 3] = [Setting::Strict, Setting::Default, Setting::Loose];

    /// Lower-case name (`strict`, `default`, `loose`).
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Strict => "strict",
            Setting::Default => "default",
            Setting::Loose => "loose",
        }
    }
}

/// Locality-sensitive hashing over Bloom encodings (bit sampling for the
/// Hamming distance, Indyk & Motwani 1998): `bands` keys per record, each the
/// values of `bits_per_band` bit positions drawn from a fixed seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LshSpec {
    /// Number of band keys per record (0 disables LSH blocking).
    pub bands: u8,
    /// Bits sampled per band (1..=48); more bits give fewer, closer candidates.
    pub bits_per_band: u8,
    /// Seed of the bit positions (public: positions are not a secret, the
    /// encodings are keyed).
    pub seed: u64,
}

/// The complete linkage configuration. Deserialising fills absent fields
/// from [`LinkConfig::default`], so a config file names only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkConfig {
    /// Every rule the encoder may send; a token of any other rule is refused.
    pub rules: Vec<RuleSpec>,
    /// The rule whose tokens are checked national ids (guard: two clusters
    /// whose national ids differ are never joined). Unchecked register ids
    /// (rule 13) are evidence only: no guard, no non-match anchor.
    pub national_id_rule: u16,
    /// Comparison groups of the Fellegi–Sunter model.
    pub comparisons: Vec<ComparisonSpec>,
    /// Lower bounds of the Dice bins, descending (a Dice below the last bound
    /// falls in the last bin).
    pub dice_bins: Vec<f64>,
    /// Deterministic stage: a pair passes when its score reaches this.
    pub deterministic_threshold: f64,
    /// Posterior match probability at which the default setting's threshold
    /// is placed (0.5: the Bayes decision that minimises expected errors).
    pub default_posterior: f64,
    /// Posterior match probability of the loose setting's threshold.
    pub loose_posterior: f64,
    /// Floor (bits) of the prior term `log2((1-λ)/λ)` of both thresholds.
    /// λ is the share of matches among *candidate* pairs, which says how
    /// tight the blocking is, not how alike a pair is: with tight blocking
    /// (λ = 0.995 on FEBRL 4, a prior term of −7.6 bits) pairs whose own
    /// evidence is against a match would link. With the floor at 0 the
    /// default setting links only pairs whose match weight is at least 0
    /// (a likelihood ratio of at least 1).
    pub prior_term_floor: f64,
    /// EM: strength of the Dirichlet prior (the prior model), in pseudo-pairs
    /// per comparison.
    pub em_prior_pairs: f64,
    /// EM: treat pairs the deterministic stage links as labelled matches.
    pub em_anchor_deterministic: bool,
    /// EM: treat pairs sharing a national id or a register id as matches,
    /// and pairs whose (checked) national ids differ as non-matches.
    pub em_anchor_identifier: bool,
    /// EM: estimate u-probabilities only from known non-matches (pairs
    /// whose checked national ids differ) and the prior, m-probabilities and
    /// λ by EM. Without checked ids u stays the prior's.
    pub em_u_from_conflicts: bool,
    /// Guard: a blocking key shared by more than this many distinct records
    /// is quarantined (creates no candidates, counts as missing).
    pub quarantine_limit: u32,
    /// Guard: no person grows beyond this many records.
    pub max_cluster_size: u32,
    /// Bloom LSH blocking.
    pub lsh: LshSpec,
}

/// Most tokens plus LSH keys one record may carry (the per-record quarantine
/// mask is a `u64`).
pub const MAX_KEYS_PER_RECORD: usize = 64;

impl Default for LinkConfig {
    /// Match-key rule set 2 with the weights of `docs/LINKAGE.md`.
    fn default() -> Self {
        use RuleClass::*;
        let rule = |id: u16, name: &str, class: RuleClass| {
            let (weight, penalty) = match class {
                Identifier => (12.0, 12.0),
                Strong => (6.0, 4.0),
                Medium => (3.0, 2.0),
                Weak => (1.0, 0.0),
            };
            RuleSpec {
                id,
                name: name.to_string(),
                class,
                weight,
                penalty,
            }
        };
        let comparison = |name: &str, rules: &[u16], with_dice: bool| ComparisonSpec {
            name: name.to_string(),
            rules: rules.to_vec(),
            with_dice,
        };
        LinkConfig {
            rules: vec![
                rule(1, "national_id", Identifier),
                rule(2, "name_dob", Strong),
                rule(3, "surname_dob_postcode", Strong),
                rule(4, "given_dob_postcode", Strong),
                rule(5, "phonetic_name_dob", Strong),
                rule(6, "given_surname_part_dob", Strong),
                rule(7, "name_dob_daymonth", Medium),
                rule(8, "initial_surname_dob", Medium),
                rule(9, "surname_address", Weak),
                rule(10, "name_yob_pob", Medium),
                rule(11, "phonetic_surname_dob_sex", Weak),
                rule(12, "given_surname_residence", Weak),
                // Another register's id carries no check digit, so a typo
                // gives two ids for one person: agreement is as decisive as a
                // BSN's, a difference only evidence (penalty of a strong rule).
                RuleSpec {
                    penalty: 4.0,
                    ..rule(13, "register_id", Identifier)
                },
                rule(14, "name_pair_dob", Strong),
                // People move: a different address is no evidence against.
                RuleSpec {
                    penalty: 0.0,
                    ..rule(15, "dob_address", Medium)
                },
            ],
            national_id_rule: 1,
            comparisons: vec![
                comparison("national_id", &[1], false),
                comparison("register_id", &[13], false),
                comparison("name_dob", &[2, 6, 5, 14, 3, 4, 15, 7, 8, 11], true),
                comparison("residence", &[9, 12], false),
                comparison("birth_place", &[10], false),
            ],
            dice_bins: vec![0.95, 0.9, 0.85, 0.8, 0.7, 0.6],
            deterministic_threshold: 8.0,
            default_posterior: 0.5,
            loose_posterior: 0.1,
            prior_term_floor: 0.0,
            em_prior_pairs: 50.0,
            em_anchor_deterministic: true,
            em_anchor_identifier: true,
            em_u_from_conflicts: true,
            quarantine_limit: 50,
            max_cluster_size: 200,
            lsh: LshSpec {
                bands: 8,
                bits_per_band: 40,
                seed: 0x7665_696c_696e_6b31,
            },
        }
    }
}

/// The configuration checked and turned into lookup tables.
#[derive(Debug, Clone)]
pub(crate) struct RuleTable {
    /// Rule id -> index into `rules` (or `NONE`).
    index_of: [u8; 256],
    /// Per rule index: class.
    pub classes: Vec<RuleClass>,
    /// Per rule index: rule id.
    pub ids: Vec<u16>,
    /// Per rule index: deterministic weight and penalty.
    pub weights: Vec<(f64, f64)>,
    /// Rule index of the national id rule.
    pub national_id: u8,
}

/// Marker in `RuleTable::index_of` for an unknown rule id.
const NONE: u8 = u8::MAX;

impl RuleTable {
    /// Checks the configuration: rule ids 1..=255, unique, at most 32 rules,
    /// comparisons naming known rules, Dice bins descending in `(0, 1]`,
    /// probabilities in `(0, 1)`, LSH bits 1..=48.
    ///
    /// # Errors
    /// [`LinkError::Config`] naming the first problem.
    pub fn new(config: &LinkConfig) -> Result<Self, LinkError> {
        let bad = |msg: String| Err(LinkError::Config(msg));
        if config.rules.len() > 32 {
            return bad(format!(
                "{} rules configured, at most 32",
                config.rules.len()
            ));
        }
        let mut index_of = [NONE; 256];
        for (i, rule) in config.rules.iter().enumerate() {
            if rule.id == 0 || rule.id > 255 {
                return bad(format!("rule id {} outside 1..=255", rule.id));
            }
            if index_of[rule.id as usize] != NONE {
                return bad(format!("rule id {} configured twice", rule.id));
            }
            index_of[rule.id as usize] = i as u8;
        }
        let national_id = match index_of.get(config.national_id_rule as usize) {
            Some(&i) if i != NONE => i,
            _ => {
                return bad(format!(
                    "national id rule {} is not configured",
                    config.national_id_rule
                ));
            }
        };
        for comparison in &config.comparisons {
            for &r in &comparison.rules {
                if r == 0 || r > 255 || index_of[r as usize] == NONE {
                    return bad(format!(
                        "comparison {} names unknown rule {r}",
                        comparison.name
                    ));
                }
            }
        }
        if config.comparisons.iter().filter(|c| c.with_dice).count() > 1 {
            return bad("more than one comparison carries the Dice bins".into());
        }
        if config.dice_bins.windows(2).any(|w| w[0] <= w[1])
            || config.dice_bins.iter().any(|&b| !(b > 0.0 && b <= 1.0))
        {
            return bad("dice bins must be descending values in (0, 1]".into());
        }
        for p in [config.default_posterior, config.loose_posterior] {
            if !(p > 0.0 && p < 1.0) {
                return bad(format!("posterior threshold {p} outside (0, 1)"));
            }
        }
        if config.prior_term_floor.is_nan() || config.prior_term_floor == f64::INFINITY {
            return bad("prior term floor must be a number or -inf (no floor)".into());
        }
        if config.loose_posterior > config.default_posterior {
            return bad("the loose posterior must not exceed the default posterior".into());
        }
        if config.lsh.bands > 0 && !(1..=48).contains(&config.lsh.bits_per_band) {
            return bad(format!(
                "lsh bits per band {} outside 1..=48",
                config.lsh.bits_per_band
            ));
        }
        if config.quarantine_limit < 2 || config.max_cluster_size < 1 {
            return bad("quarantine limit must be at least 2 and cluster size at least 1".into());
        }
        Ok(RuleTable {
            index_of,
            classes: config.rules.iter().map(|r| r.class).collect(),
            ids: config.rules.iter().map(|r| r.id).collect(),
            weights: config.rules.iter().map(|r| (r.weight, r.penalty)).collect(),
            national_id,
        })
    }

    /// Index of a rule id, if configured.
    pub fn index(&self, rule: u16) -> Option<u8> {
        match self.index_of.get(rule as usize) {
            Some(&i) if i != NONE => Some(i),
            _ => None,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults pass the configuration check and configure every rule
    /// of the encoder's rule set, under its name, and no other.
    #[test]
    fn default_config_is_valid() {
        let config = LinkConfig::default();
        let table = RuleTable::new(&config).unwrap();
        assert_eq!(table.len(), crate::encode::RULES.len());
        for (spec, rule) in config.rules.iter().zip(crate::encode::RULES) {
            assert_eq!((spec.id, spec.name.as_str()), (rule.id.0, rule.name));
            assert_eq!(
                format!("{:?}", spec.class),
                format!("{:?}", rule.class),
                "class of rule {}",
                spec.id
            );
        }
        assert_eq!(table.index(1), Some(0));
        assert_eq!(table.index(16), None);
    }

    /// A configuration file names only what it changes; the rest is default.
    #[test]
    fn partial_config_takes_defaults() {
        let config: LinkConfig = serde_json::from_str(r#"{"quarantine_limit": 20}"#).unwrap();
        assert_eq!(config.quarantine_limit, 20);
        assert_eq!(config.rules, LinkConfig::default().rules);
    }

    /// A duplicate rule id is refused.
    #[test]
    fn duplicate_rule_is_refused() {
        let mut config = LinkConfig::default();
        config.rules[1].id = 1;
        assert!(matches!(RuleTable::new(&config), Err(LinkError::Config(_))));
    }
}
