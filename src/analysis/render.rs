//! Renders a released report as a terminal table or as tidy CSV.
//!
//! The terminal table is for a person reading at a glance: the cohort in one
//! sentence, the headline per horizon, then each breakdown and the linkage
//! sensitivity, with `*` for a suppressed figure and the disclosure notes at
//! the end. The CSV is for software: one figure per line
//! (`section,group,label,years,measure,value`), an empty value meaning
//! "not released".

use std::io::{self, Write};

use super::breakdown::BreakdownTable;
use super::report::{HorizonFigure, Incidence, Report, SensitivityTable};

/// Shown in place of a suppressed figure.
const SUPPRESSED: &str = "*";

/// Heading of the per-group Kaplan-Meier rows under a breakdown.
const CURVES_HEADING: &str = "Repeat % by year";

fn count(value: Option<u64>) -> String {
    value.map_or_else(|| SUPPRESSED.to_string(), group_thousands)
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| SUPPRESSED.to_string(), |v| format!("{v:.1}"))
}

fn interval(i: &Incidence) -> String {
    match (i.ci_low, i.ci_high) {
        (Some(lo), Some(hi)) => format!("{lo:.1}-{hi:.1}"),
        _ => SUPPRESSED.to_string(),
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn type_list<T: std::fmt::Display>(types: &[T], all: &str) -> String {
    if types.is_empty() {
        return all.to_string();
    }
    types
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The terminal table.
pub(crate) fn table(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let p = &report.params;
    let confidence = format!("{}%", round_confidence(p.confidence));
    writeln!(out, "Repeat victimisation")?;
    writeln!(
        out,
        "  Cohort     {}s of {}",
        p.index_role,
        type_list(&p.index_types, "any type")
    )?;
    writeln!(
        out,
        "             first such incident between {} and {} (incident window {} days)",
        report.period_from, report.period_to, p.incident_window_days
    )?;
    writeln!(
        out,
        "  Outcome    first later victim incident of {}",
        type_list(&p.outcome_types, "any type")
    )?;
    writeln!(out, "  Follow-up  to {}", report.follow_up_end)?;
    writeln!(
        out,
        "  Persons    {}   (repeats observed: {})",
        count(report.cohort_size),
        count(report.repeats)
    )?;
    writeln!(out)?;
    headline_rows(&report.horizons, &confidence, out)?;
    for t in &report.breakdowns {
        writeln!(out)?;
        breakdown(t, &report.horizons, out)?;
    }
    if let Some(s) = &report.sensitivity {
        writeln!(out)?;
        sensitivity(s, out)?;
    }
    writeln!(out)?;
    writeln!(out, "Notes")?;
    for note in &report.disclosure.notes {
        writeln!(out, "  - {note}")?;
    }
    writeln!(
        out,
        "  - Repeat %: Kaplan-Meier cumulative incidence with a {confidence} log-log confidence interval; crude %: among persons whose follow-up reaches the horizon."
    )
}

fn round_confidence(c: f64) -> String {
    let text = format!("{:.2}", 100.0 * c);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn headline_rows(
    horizons: &[HorizonFigure],
    confidence: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let ci = format!("{confidence} CI");
    writeln!(
        out,
        "  {:>5}  {:>8}  {:>11}  {:>9}  {:>9}  {:>8}  {:>12}",
        "Years", "Repeat %", ci, "At risk", "Repeats", "Crude %", "of persons"
    )?;
    for h in horizons {
        writeln!(
            out,
            "  {:>5}  {:>8}  {:>11}  {:>9}  {:>9}  {:>8}  {:>12}",
            h.years,
            pct(h.cumulative_incidence.percent),
            interval(&h.cumulative_incidence),
            count(h.at_risk),
            count(h.repeats),
            pct(h.crude.percent),
            count(h.crude.persons)
        )?;
    }
    Ok(())
}

fn breakdown(
    t: &BreakdownTable,
    horizons: &[HorizonFigure],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{}", t.title)?;
    if t.withheld {
        return writeln!(
            out,
            "  withheld: no suppression pattern protects this table"
        );
    }
    let width = t
        .rows
        .iter()
        .map(|r| r.label.len())
        .chain(t.curves.iter().map(|c| c.label.len()))
        .chain([CURVES_HEADING.len()])
        .max()
        .unwrap_or(CURVES_HEADING.len());
    write!(out, "  {:<width$}", "")?;
    for c in &t.columns {
        write!(out, "  {c:>10}")?;
    }
    writeln!(out, "  {:>12}", t.percent_label)?;
    for row in t.rows.iter().chain(std::iter::once(&t.total)) {
        write!(out, "  {:<width$}", row.label)?;
        for c in &row.counts {
            write!(out, "  {:>10}", count(*c))?;
        }
        writeln!(out, "  {:>12}", pct(row.percent))?;
    }
    if t.curves.is_empty() {
        return Ok(());
    }
    write!(out, "  {CURVES_HEADING:<width$}")?;
    for h in horizons {
        write!(out, "  {:>6}", h.years)?;
    }
    writeln!(out)?;
    for c in &t.curves {
        write!(out, "  {:<width$}", c.label)?;
        for i in &c.cumulative_incidence {
            write!(out, "  {:>6}", pct(i.percent))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn sensitivity(s: &SensitivityTable, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Linkage sensitivity (repeat %, Kaplan-Meier)")?;
    write!(out, "  {:<10}", "")?;
    for c in &s.linkages {
        write!(out, "  {:>17}", c.linkage)?;
    }
    writeln!(out)?;
    write!(out, "  {:<10}", "Persons")?;
    for c in &s.linkages {
        let persons = if c.withheld {
            "cohort too small".to_string()
        } else {
            count(c.cohort_size)
        };
        write!(out, "  {persons:>17}")?;
    }
    writeln!(out)?;
    let years: Vec<u32> = s
        .linkages
        .iter()
        .find(|c| !c.withheld)
        .map(|c| c.horizons.iter().map(|h| h.years).collect())
        .unwrap_or_default();
    for (i, y) in years.iter().enumerate() {
        write!(out, "  {:<10}", format!("{y} years"))?;
        for c in &s.linkages {
            let cell = c.horizons.get(i).map_or_else(
                || SUPPRESSED.to_string(),
                |h| {
                    let f = &h.cumulative_incidence;
                    match f.percent {
                        Some(_) => format!("{} ({})", pct(f.percent), interval(f)),
                        None => SUPPRESSED.to_string(),
                    }
                },
            );
            write!(out, "  {cell:>17}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// One CSV line: `section,group,label,years,measure,value`.
struct Line<'a> {
    section: &'a str,
    group: &'a str,
    label: &'a str,
    years: Option<u32>,
}

impl Line<'_> {
    fn write<W: Write>(
        &self,
        w: &mut csv::Writer<W>,
        measure: &str,
        value: Option<String>,
    ) -> csv::Result<()> {
        let years = self.years.map(|y| y.to_string()).unwrap_or_default();
        w.write_record([
            self.section,
            self.group,
            self.label,
            years.as_str(),
            measure,
            value.unwrap_or_default().as_str(),
        ])
    }

    fn counts<W: Write>(&self, w: &mut csv::Writer<W>, m: &str, v: Option<u64>) -> csv::Result<()> {
        self.write(w, m, v.map(|v| v.to_string()))
    }

    fn pct<W: Write>(&self, w: &mut csv::Writer<W>, m: &str, v: Option<f64>) -> csv::Result<()> {
        self.write(w, m, v.map(|v| format!("{v:.1}")))
    }

    fn incidence<W: Write>(&self, w: &mut csv::Writer<W>, i: &Incidence) -> csv::Result<()> {
        self.pct(w, "cumulative_incidence_percent", i.percent)?;
        self.pct(w, "ci_low_percent", i.ci_low)?;
        self.pct(w, "ci_high_percent", i.ci_high)
    }

    fn horizon<W: Write>(&self, w: &mut csv::Writer<W>, h: &HorizonFigure) -> csv::Result<()> {
        let line = Line {
            years: Some(h.years),
            ..*self
        };
        line.incidence(w, &h.cumulative_incidence)?;
        line.counts(w, "at_risk", h.at_risk)?;
        line.counts(w, "repeats", h.repeats)?;
        line.counts(w, "crude_persons", h.crude.persons)?;
        line.counts(w, "crude_repeats", h.crude.repeats)?;
        line.pct(w, "crude_percent", h.crude.percent)
    }
}

/// The tidy CSV.
pub(crate) fn csv(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    write_csv(report, &mut w).map_err(io::Error::other)?;
    w.flush()
}

fn write_csv<W: Write>(report: &Report, w: &mut csv::Writer<W>) -> csv::Result<()> {
    w.write_record(["section", "group", "label", "years", "measure", "value"])?;
    let summary = Line {
        section: "summary",
        group: "",
        label: "",
        years: None,
    };
    summary.counts(w, "cohort_size", report.cohort_size)?;
    summary.counts(w, "repeats", report.repeats)?;
    let headline = Line {
        section: "headline",
        ..summary
    };
    for h in &report.horizons {
        headline.horizon(w, h)?;
    }
    for p in &report.curve {
        let months = p.months.to_string();
        let line = Line {
            section: "curve",
            label: &months,
            ..summary
        };
        line.pct(w, "cumulative_incidence_percent", Some(p.percent))?;
        line.pct(w, "ci_low_percent", p.ci_low)?;
        line.pct(w, "ci_high_percent", p.ci_high)?;
    }
    for t in &report.breakdowns {
        let section = t.breakdown.as_str();
        for row in t.rows.iter().chain(std::iter::once(&t.total)) {
            let line = Line {
                section,
                label: &row.label,
                ..summary
            };
            for (column, value) in t.columns.iter().zip(&row.counts) {
                line.counts(w, column, *value)?;
            }
            line.pct(w, &t.percent_label, row.percent)?;
        }
        for c in &t.curves {
            for (h, i) in report.horizons.iter().zip(&c.cumulative_incidence) {
                let line = Line {
                    section,
                    group: "curve",
                    label: &c.label,
                    years: Some(h.years),
                };
                line.incidence(w, i)?;
            }
        }
    }
    if let Some(s) = &report.sensitivity {
        for c in &s.linkages {
            let line = Line {
                section: "sensitivity",
                group: &c.linkage,
                ..summary
            };
            line.counts(w, "cohort_size", c.cohort_size)?;
            line.counts(w, "repeats", c.repeats)?;
            for h in &c.horizons {
                line.horizon(w, h)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thousands are grouped and suppressed figures shown as `*`.
    #[test]
    fn formats_counts() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(1234), "1,234");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(count(None), "*");
        assert_eq!(pct(Some(45.0)), "45.0");
        assert_eq!(round_confidence(0.95), "95");
        assert_eq!(round_confidence(0.975), "97.5");
    }
}

#[cfg(test)]
mod report_tests {
    use super::super::release::tests::sample_report;

    /// The table names the cohort, the horizons and the notes; the CSV is
    /// tidy (six fields per line) and carries the same figures.
    #[test]
    fn table_and_csv_carry_the_report() {
        let report = sample_report();
        let mut table = Vec::new();
        report.render_table(&mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        for needle in [
            "Repeat victimisation",
            "Persons    600",
            "95% CI",
            "Sex",
            "Notes",
        ] {
            assert!(table.contains(needle), "missing {needle:?} in\n{table}");
        }
        let mut csv = Vec::new();
        report.render_csv(&mut csv).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert!(rows.iter().all(|r| r.len() == 6));
        let five_years = report.horizons[4].cumulative_incidence.percent.unwrap();
        assert!(rows.iter().any(|r| {
            &r[0] == "headline"
                && &r[3] == "5"
                && &r[4] == "cumulative_incidence_percent"
                && r[5].parse::<f64>().unwrap() == five_years
        }));
    }
}
