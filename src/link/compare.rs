//! Comparing two records: the agreement vector and the deterministic stage.
//!
//! For every configured rule a pair either *agrees* (both records hold a
//! common non-quarantined token of the rule), *disagrees* (both hold tokens of
//! the rule, none in common) or is *missing* (at least one record has no
//! usable token of the rule). Together with the Dice coefficient of the Bloom
//! encodings this is all the evidence the linkage has about a pair; the
//! deterministic stage below and the Fellegi–Sunter model
//! ([`super::model`]) both read it.

use super::config::{RuleClass, RuleTable};
use super::dice::dice;
use super::record::{CompactRecord, LSH_RULE, key_rule};

/// The evidence about one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Comparison {
    /// Bit `i` set when the pair agrees on rule index `i`.
    pub agree: u32,
    /// Bit `i` set when both records hold usable tokens of rule index `i`
    /// (so `both & !agree` is the disagreement set).
    pub both: u32,
    /// Dice coefficient of the Bloom encodings, when both have one.
    pub dice: Option<f32>,
}

/// Compares two records (one merge walk over the sorted key lists, one Dice).
pub(crate) fn compare(a: &CompactRecord, b: &CompactRecord, rules: &RuleTable) -> Comparison {
    let (mut present_a, mut present_b, mut agree) = (0u32, 0u32, 0u32);
    let bit = |key: u64| -> u32 {
        match key_rule(key) {
            LSH_RULE => 0,
            rule => rules.index(u16::from(rule)).map_or(0, |i| 1 << i),
        }
    };
    let (na, nb) = (a.keys.len(), b.keys.len());
    let (mut i, mut j) = (0, 0);
    while i < na || j < nb {
        if j == nb || (i < na && a.keys[i] < b.keys[j]) {
            if !a.is_quarantined(i) {
                present_a |= bit(a.keys[i]);
            }
            i += 1;
        } else if i == na || b.keys[j] < a.keys[i] {
            if !b.is_quarantined(j) {
                present_b |= bit(b.keys[j]);
            }
            j += 1;
        } else {
            // Equal keys: quarantine is a property of the key, so both masks agree.
            if !a.is_quarantined(i) {
                let m = bit(a.keys[i]);
                present_a |= m;
                present_b |= m;
                agree |= m;
            }
            i += 1;
            j += 1;
        }
    }
    let dice = match (&a.bloom, &b.bloom) {
        (Some(x), Some(y)) => Some(dice(x, y)),
        _ => None,
    };
    Comparison {
        agree,
        both: present_a & present_b,
        dice,
    }
}

/// The deterministic stage's score: the weights of agreeing rules minus the
/// penalties of disagreeing ones.
pub(crate) fn deterministic_score(c: &Comparison, rules: &RuleTable) -> f64 {
    let mut score = 0.0;
    for (i, &(weight, penalty)) in rules.weights.iter().enumerate() {
        if c.agree >> i & 1 == 1 {
            score += weight;
        } else if c.both >> i & 1 == 1 {
            score -= penalty;
        }
    }
    score
}

/// Whether the pair passes the deterministic stage: its score reaches the
/// threshold and it agrees on at least one rule that is not weak (the
/// weak-rule guard holds whatever the configured weights).
pub(crate) fn deterministic_pass(c: &Comparison, rules: &RuleTable, threshold: f64) -> bool {
    let strong_agreement =
        (0..rules.len()).any(|i| c.agree >> i & 1 == 1 && rules.classes[i] != RuleClass::Weak);
    strong_agreement && deterministic_score(c, rules) >= threshold
}
