//! Incidents, index incident, outcome and censoring on hand-made registrations,
//! each case following one rule of `docs/ANALYSIS.md` ("Definitions").

use chrono::NaiveDate;
use veilink::analysis::{
    AnalysisError, CohortMember, DisclosureRules, Registration, ReportParams, cohort_survival,
    repeat_victimisation,
};
use veilink::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

use EventType::{Assault, Threat, TraffickingLabour, TraffickingSexual};
use Role::{Suspect, Victim};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn agencies() -> Vec<String> {
    ["police", "care", "victim-support"]
        .map(String::from)
        .to_vec()
}

/// Registrations in the order written (record order = position).
#[derive(Default)]
struct Data {
    regs: Vec<Registration>,
}

impl Data {
    fn add(
        &mut self,
        person: u32,
        date: &str,
        event_type: EventType,
        role: Role,
        agency: u16,
    ) -> &mut Self {
        let order = self.regs.len() as u32;
        self.regs.push(Registration {
            person,
            date: day(date),
            event_type,
            role,
            agency,
            age_band: AgeBand::Age23To29,
            sex: Sex::Female,
            region: Region::Utrecht,
            residence_status: ResidenceStatus::Dutch,
            order,
        });
        self
    }

    /// Sets the attributes of the last registration added.
    fn attributes(&mut self, age_band: AgeBand, sex: Sex) -> &mut Self {
        let last = self.regs.last_mut().unwrap();
        last.age_band = age_band;
        last.sex = sex;
        self
    }

    /// A registration of an unrelated person that fixes the follow-up end
    /// (the latest event date) at `end`.
    fn ends(&mut self, end: &str) -> &mut Self {
        self.add(9_999, end, EventType::Other, Victim, 0)
    }

    fn members(&self, params: &ReportParams) -> Vec<CohortMember> {
        cohort_survival(&self.regs, &agencies(), params)
            .unwrap()
            .members
    }

    fn only_member(&self) -> CohortMember {
        let members = self.members(&ReportParams::default());
        assert_eq!(members.len(), 1, "{members:?}");
        members[0]
    }
}

/// The same incident registered by three agencies within the window counts
/// once: no repeat, and the index names all three agencies in agency order.
#[test]
fn same_incident_at_three_agencies_counts_once() {
    let mut data = Data::default();
    data.add(1, "2018-03-01", TraffickingSexual, Victim, 2)
        .add(1, "2018-03-04", TraffickingSexual, Victim, 0)
        .add(1, "2018-03-11", TraffickingSexual, Victim, 1)
        .ends("2021-01-01");
    let cohort = cohort_survival(&data.regs, &agencies(), &ReportParams::default()).unwrap();
    let m = cohort.members[0];
    assert!(!m.repeat);
    assert_eq!(m.index_date, day("2018-03-01"));
    assert_eq!(
        m.time_days,
        (day("2021-01-01") - day("2018-03-01")).num_days() as u32
    );
    assert_eq!(
        cohort.agency_sets[m.index_agencies as usize],
        "police+care+victim-support"
    );
}

/// Two incidents a month apart count twice: the second is the repeat, at 31 days.
#[test]
fn incidents_a_month_apart_count_twice() {
    let mut data = Data::default();
    data.add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-04-01", TraffickingSexual, Victim, 1)
        .ends("2021-01-01");
    let m = data.only_member();
    assert!(m.repeat);
    assert_eq!(m.time_days, 31);
    assert_eq!(m.repeat_type, Some(TraffickingSexual));
}

/// The window is inclusive and start-anchored: day 14 joins the incident,
/// day 15 starts a new one, and a registration 10 days after one that was
/// itself 10 days after the start is not chained in.
#[test]
fn window_is_inclusive_and_start_anchored() {
    let mut on_edge = Data::default();
    on_edge
        .add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-03-15", TraffickingSexual, Victim, 1)
        .ends("2021-01-01");
    assert!(!on_edge.only_member().repeat);

    let mut past_edge = Data::default();
    past_edge
        .add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-03-16", TraffickingSexual, Victim, 1)
        .ends("2021-01-01");
    assert_eq!(past_edge.only_member().time_days, 15);

    let mut chain = Data::default();
    chain
        .add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-03-11", TraffickingSexual, Victim, 1)
        .add(1, "2018-03-21", TraffickingSexual, Victim, 2)
        .ends("2021-01-01");
    let m = chain.only_member();
    assert!(m.repeat, "a chained window would have merged all three");
    assert_eq!(m.time_days, 20);

    let wide = ReportParams {
        incident_window_days: 30,
        ..Default::default()
    };
    let members = chain.members(&wide);
    assert!(
        !members[0].repeat,
        "with a 30-day window all three are one incident"
    );
}

/// An incident of another type that starts within the index window is not a
/// repeat, even when its own registrations run past the window; a later one is.
#[test]
fn other_types_within_the_index_window_are_not_repeats() {
    let mut data = Data::default();
    data.add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-03-11", Assault, Victim, 0)
        .add(1, "2018-03-21", Assault, Victim, 1)
        .ends("2021-01-01");
    assert!(!data.only_member().repeat);

    data.add(1, "2018-03-26", Assault, Victim, 1);
    let m = data.only_member();
    assert_eq!(
        (m.repeat, m.time_days, m.repeat_type),
        (true, 25, Some(Assault))
    );
}

/// Suspect registrations are never repeats but mark victim–offender overlap,
/// before or after the index.
#[test]
fn suspect_registrations_mark_overlap_only() {
    let mut after = Data::default();
    after
        .add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2019-03-01", Assault, Suspect, 0)
        .ends("2021-01-01");
    let m = after.only_member();
    assert!(!m.repeat);
    assert!(m.overlap);

    let mut before = Data::default();
    before
        .add(1, "2015-03-01", Threat, Suspect, 0)
        .add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .ends("2021-01-01");
    assert!(before.only_member().overlap);

    let mut none = Data::default();
    none.add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .ends("2021-01-01");
    assert!(!none.only_member().overlap);
}

/// A chosen outcome set ignores other types; the first repeat of an outcome
/// type is the outcome.
#[test]
fn outcome_types_restrict_the_outcome() {
    let mut data = Data::default();
    data.add(1, "2018-03-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-06-01", TraffickingLabour, Victim, 0)
        .add(1, "2019-03-01", Assault, Victim, 0)
        .ends("2021-01-01");
    assert_eq!(data.only_member().repeat_type, Some(TraffickingLabour));
    let assault_only = ReportParams {
        outcome_types: vec![Assault],
        ..Default::default()
    };
    let m = data.members(&assault_only)[0];
    assert_eq!(m.repeat_type, Some(Assault));
    assert_eq!(m.time_days, 365);
}

/// The index is the earliest qualifying incident *starting* in the period:
/// an incident that started before `from` does not qualify, and its later
/// registrations do not start a new one. Same-day index types tie by
/// vocabulary order, and the attributes come from the earliest registration
/// (ties: agency order).
#[test]
fn index_incident_rules() {
    let mut data = Data::default();
    data.add(1, "2015-12-25", TraffickingSexual, Victim, 0)
        .add(1, "2016-01-05", TraffickingSexual, Victim, 1)
        .add(1, "2016-06-01", TraffickingLabour, Victim, 0)
        .ends("2021-01-01");
    let from_2016 = ReportParams {
        from: Some(day("2016-01-01")),
        ..Default::default()
    };
    let members = data.members(&from_2016);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].index_date, day("2016-06-01"));
    assert_eq!(members[0].index_type, TraffickingLabour);

    let mut tie = Data::default();
    tie.add(2, "2018-01-01", TraffickingLabour, Victim, 1)
        .attributes(AgeBand::Age30To39, Sex::Male)
        .add(2, "2018-01-01", TraffickingSexual, Victim, 1)
        .attributes(AgeBand::Age18To22, Sex::Male)
        .add(2, "2018-01-01", TraffickingSexual, Victim, 0)
        .attributes(AgeBand::Age12To17, Sex::Female)
        .ends("2021-01-01");
    let m = tie.only_member();
    assert_eq!(m.index_type, TraffickingSexual);
    assert_eq!((m.age_band, m.sex), (AgeBand::Age12To17, Sex::Female));
    assert!(
        !m.repeat,
        "the labour incident starts within the index window"
    );

    let mut suspect_only = Data::default();
    suspect_only
        .add(3, "2018-01-01", TraffickingSexual, Suspect, 0)
        .ends("2021-01-01");
    assert!(suspect_only.members(&ReportParams::default()).is_empty());
}

/// Follow-up ends at E: an outcome after E is ignored (censored at E), an
/// outcome on E counts, an index on E gives T = 0, an index after E leaves
/// the person out.
#[test]
fn censoring_at_the_follow_up_end() {
    let mut data = Data::default();
    data.add(1, "2018-01-01", TraffickingSexual, Victim, 0)
        .add(1, "2020-06-01", Assault, Victim, 0)
        .add(2, "2018-01-01", TraffickingSexual, Victim, 0)
        .add(2, "2020-01-01", Assault, Victim, 0)
        .add(3, "2020-01-01", TraffickingSexual, Victim, 0)
        .add(4, "2020-03-01", TraffickingSexual, Victim, 0);
    let params = ReportParams {
        follow_up_end: Some(day("2020-01-01")),
        ..Default::default()
    };
    let members = data.members(&params);
    let by_person = |p: u32| *members.iter().find(|m| m.person == p).unwrap();
    let censored = by_person(1);
    assert!(!censored.repeat);
    assert_eq!(censored.time_days, 730);
    assert_eq!(censored.follow_up_days, 730);
    let on_end = by_person(2);
    assert!(on_end.repeat);
    assert_eq!(on_end.time_days, 730);
    let index_on_end = by_person(3);
    assert_eq!((index_on_end.time_days, index_on_end.repeat), (0, false));
    assert!(members.iter().all(|m| m.person != 4));
}

/// Horizon figures follow the definitions: at risk is #{T ≥ τ}, the crude
/// proportion counts only members with complete potential follow-up, and a
/// year is 365.25 days.
#[test]
fn horizon_figures_follow_the_definitions() {
    let mut data = Data::default();
    // Person 1: repeat at 300 days. Person 2: repeat at 366 days.
    // Person 3: no repeat, follow-up ~3 years. Person 4: index 200 days before E.
    data.add(1, "2018-01-01", TraffickingSexual, Victim, 0)
        .add(1, "2018-10-28", Assault, Victim, 0)
        .add(2, "2018-01-01", TraffickingSexual, Victim, 0)
        .add(2, "2019-01-02", Assault, Victim, 0)
        .add(3, "2018-01-01", TraffickingSexual, Victim, 0)
        .add(4, "2020-06-15", TraffickingSexual, Victim, 0)
        .add(5, "2021-01-01", EventType::Other, Victim, 0);
    let params = ReportParams {
        horizons_years: vec![1, 2],
        ..Default::default()
    };
    let cohort = cohort_survival(&data.regs, &agencies(), &params).unwrap();
    let times: Vec<(u32, u32, bool)> = cohort
        .members
        .iter()
        .map(|m| (m.person, m.time_days, m.repeat))
        .collect();
    assert_eq!(
        times,
        vec![
            (1, 300, true),
            (2, 366, true),
            (3, 1096, false),
            (4, 200, false)
        ]
    );
    let one = cohort.horizons[0];
    // τ = 365.25: T ≥ τ holds for 366 and 1096 only.
    assert_eq!(one.at_risk, 2);
    assert_eq!(one.events, 1);
    // Complete follow-up to 1 year: persons 1, 2, 3 (person 4 has 200 days).
    assert_eq!(
        (one.complete_follow_up, one.complete_follow_up_repeats),
        (3, 1)
    );
    // KM: at 200 nobody has the event; at 300, 3 at risk, 1 event.
    assert!((one.estimate.survival - 2.0 / 3.0).abs() < 1e-12);
    let two = cohort.horizons[1];
    assert_eq!((two.events, two.at_risk), (2, 1));
    assert!((two.estimate.survival - (2.0 / 3.0) * 0.5).abs() < 1e-12);
}

/// Person ids need not be dense: a sparse numbering gives the same cohort.
#[test]
fn sparse_person_ids_give_the_same_cohort() {
    let mut dense = Data::default();
    let mut sparse = Data::default();
    for p in 0..20_u32 {
        for (data, id) in [(&mut dense, p), (&mut sparse, p * 200_000_000)] {
            data.add(id, "2018-01-01", TraffickingSexual, Victim, 0);
            if p % 3 == 0 {
                data.add(id, "2018-05-01", Assault, Victim, 1);
            }
        }
    }
    dense.ends("2021-01-01");
    sparse.ends("2021-01-01");
    let key = |ms: Vec<CohortMember>| -> Vec<(u32, bool)> {
        ms.iter().map(|m| (m.time_days, m.repeat)).collect()
    };
    let params = ReportParams::default();
    assert_eq!(key(dense.members(&params)), key(sparse.members(&params)));
}

/// Below the cohort minimum no report is released, and the error does not
/// state the cohort size; bad input is named.
#[test]
fn small_cohorts_and_bad_input_are_refused() {
    let mut data = Data::default();
    for p in 0..49 {
        data.add(p, "2018-01-01", TraffickingSexual, Victim, 0);
    }
    data.ends("2021-01-01");
    let rules = DisclosureRules::default();
    let err = repeat_victimisation(&data.regs, &agencies(), &ReportParams::default(), &rules)
        .unwrap_err();
    assert_eq!(err, AnalysisError::CohortTooSmall { minimum: 50 });
    assert!(!err.to_string().contains("49"), "{err}");
    data.add(49, "2018-01-01", TraffickingSexual, Victim, 0);
    assert!(
        repeat_victimisation(&data.regs, &agencies(), &ReportParams::default(), &rules).is_ok()
    );

    let empty = repeat_victimisation(&[], &agencies(), &ReportParams::default(), &rules);
    assert_eq!(
        empty.unwrap_err(),
        AnalysisError::CohortTooSmall { minimum: 50 }
    );
    let bad = ReportParams {
        confidence: 1.5,
        ..Default::default()
    };
    assert!(matches!(
        repeat_victimisation(&data.regs, &agencies(), &bad, &rules),
        Err(AnalysisError::InvalidOption {
            option: "confidence",
            ..
        })
    ));
    data.add(1, "2019-01-01", Assault, Victim, 7);
    assert!(matches!(
        cohort_survival(&data.regs, &agencies(), &ReportParams::default()),
        Err(AnalysisError::UnknownAgency { agency: 7, .. })
    ));
}
