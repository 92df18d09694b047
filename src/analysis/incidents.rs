//! Registrations grouped by person, and one person's registrations merged into
//! incidents.
//!
//! The same incident is often registered by several agencies (police, care,
//! victim support) within days of each other; counting each registration as an
//! incident would make every such victim a "repeat victim" at once. An
//! incident is therefore the registrations of one person with the same event
//! type and role whose dates are at most `window` days after the first of
//! them — start-anchored, not chained (`docs/ANALYSIS.md`, "Incident").
//!
//! Grouping is a counting sort on the dense person index (O(n), no
//! per-person allocation); each person's few registrations are then sorted by
//! (event type, role, date, agency, record order) in place.

use chrono::{Days, NaiveDate};

use super::Registration;
use crate::vocab::{EventType, Role};

/// Registration indices grouped by person, each person's group sorted by
/// (event type, role, date, agency, record order).
pub(crate) struct ByPerson {
    /// Registration indices (into the input slice), grouped by person.
    order: Vec<u32>,
    /// `order[bounds[p]..bounds[p + 1]]` are the registrations of the p-th
    /// person present (empty groups included for dense ids).
    bounds: Vec<u32>,
}

impl ByPerson {
    /// Groups `regs` by person.
    ///
    /// Person ids are expected dense (`0..persons`); sparse ids are first
    /// mapped onto dense ones, so any `u32` works, only slower.
    pub(crate) fn new(regs: &[Registration]) -> Self {
        let max_person = regs.iter().map(|r| r.person).max().unwrap_or(0) as usize;
        let dense: Option<Vec<u32>> = if max_person > 2 * regs.len() + (1 << 20) {
            let mut ids: Vec<u32> = regs.iter().map(|r| r.person).collect();
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        } else {
            None
        };
        let slot = |r: &Registration| -> usize {
            match &dense {
                // The id is in the list by construction.
                Some(ids) => ids.binary_search(&r.person).unwrap_or(0),
                None => r.person as usize,
            }
        };
        let groups = dense.as_ref().map_or(max_person + 1, Vec::len);
        let mut bounds = vec![0_u32; groups + 1];
        for r in regs {
            bounds[slot(r) + 1] += 1;
        }
        for p in 0..groups {
            bounds[p + 1] += bounds[p];
        }
        let mut next = bounds.clone();
        let mut order = vec![0_u32; regs.len()];
        for (i, r) in regs.iter().enumerate() {
            let s = slot(r);
            order[next[s] as usize] = i as u32;
            next[s] += 1;
        }
        for p in 0..groups {
            let group = &mut order[bounds[p] as usize..bounds[p + 1] as usize];
            if group.len() > 1 {
                group.sort_unstable_by_key(|&i| {
                    let r = &regs[i as usize];
                    (r.event_type, r.role, r.date, r.agency, r.order)
                });
            }
        }
        ByPerson { order, bounds }
    }

    /// Each person's registration indices (skipping ids with none).
    pub(crate) fn groups(&self) -> impl Iterator<Item = &[u32]> + '_ {
        self.bounds
            .windows(2)
            .map(|w| &self.order[w[0] as usize..w[1] as usize])
            .filter(|g| !g.is_empty())
    }
}

/// One incident of one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incident {
    /// The event type shared by its registrations.
    pub event_type: EventType,
    /// The role shared by its registrations.
    pub role: Role,
    /// Start date: the date of its first registration.
    pub start: NaiveDate,
    /// Its registrations are `group[begin..end]` of the person's sorted group;
    /// `group[begin]` is the earliest (ties: agency, then record order).
    pub begin: usize,
    /// End (exclusive) of its registrations in the person's group.
    pub end: usize,
}

/// Merges one person's sorted registrations (`group`, as from
/// [`ByPerson::groups`]) into incidents, appended to `out` in group order.
pub(crate) fn form_incidents(
    regs: &[Registration],
    group: &[u32],
    window_days: u64,
    out: &mut Vec<Incident>,
) {
    let mut i = 0;
    while i < group.len() {
        let first = &regs[group[i] as usize];
        // Last day of the incident (window days after its start).
        let last_day = first
            .date
            .checked_add_days(Days::new(window_days))
            .unwrap_or(NaiveDate::MAX);
        let mut end = i + 1;
        while end < group.len() {
            let r = &regs[group[end] as usize];
            let same_kind = r.event_type == first.event_type && r.role == first.role;
            if !same_kind || r.date > last_day {
                break;
            }
            end += 1;
        }
        out.push(Incident {
            event_type: first.event_type,
            role: first.role,
            start: first.date,
            begin: i,
            end,
        });
        i = end;
    }
}
