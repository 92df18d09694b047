//! Draws the released cumulative-incidence curve (SVG or PNG, plotters).
//!
//! The picture a reader expects from a Kaplan–Meier analysis: the cumulative
//! incidence in percent against years since the index incident as a step
//! curve, its confidence band shaded, the horizon estimates marked and
//! labelled, and the number at risk in a row under the x axis. Only released
//! figures are drawn, so the picture discloses nothing the table does not.
//!
//! Text in PNGs is rendered with the bundled DejaVu Sans
//! (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera licence), registered with
//! plotters' `ab_glyph` backend once per process.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::AnalysisError;
use super::render::group_thousands;
use super::report::{CurvePoint, Report};

/// Picture size in pixels (SVG user units).
const SIZE: (u32, u32) = (1200, 800);
/// Height of the chart; the rows below it hold the number at risk and notes.
const CHART_HEIGHT: u32 = 660;
/// Font family name under which the bundled font is registered.
const FAMILY: &str = "sans-serif";
/// The curve's colour (a dark blue that prints well in grey).
const CURVE: RGBColor = RGBColor(31, 86, 150);

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

fn register_bundled_font() -> Result<(), String> {
    FONT.get_or_init(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| "the bundled font could not be loaded".to_string())
    })
    .clone()
}

/// Draws `report` to `path`, choosing SVG or PNG by the extension.
pub(crate) fn draw(report: &Report, path: &Path) -> Result<(), AnalysisError> {
    let fail = |reason: String| AnalysisError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    register_bundled_font().map_err(fail)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("svg") => draw_on(SVGBackend::new(path, SIZE).into_drawing_area(), report),
        Some("png") => draw_on(BitMapBackend::new(path, SIZE).into_drawing_area(), report),
        _ => Err("the file name must end in .svg or .png".to_string()),
    }
    .map_err(fail)
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (upper, lower) = root.split_vertically(CHART_HEIGHT);
    let max_years = report.horizons.iter().map(|h| h.years).max().unwrap_or(1);
    let y_max = y_axis_max(report);
    let mut chart = ChartBuilder::on(&upper)
        .caption(
            "Repeat victimisation: share registered as a victim again",
            (FAMILY, 30),
        )
        .margin(20)
        .margin_right(40)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..f64::from(max_years), 0.0..y_max)
        .map_err(err)?;
    let x_labels = |x: &f64| format!("{x:.0}");
    let y_labels = |y: &f64| format!("{y:.0}%");
    chart
        .configure_mesh()
        .x_labels(max_years as usize + 1)
        .y_labels(11)
        .x_label_formatter(&x_labels)
        .y_label_formatter(&y_labels)
        .x_desc("Years since the index incident")
        .y_desc("Cumulative incidence of a repeat (%)")
        .axis_desc_style((FAMILY, 20))
        .label_style((FAMILY, 17))
        .x_max_light_lines(1)
        .y_max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(err)?;

    let band_colour = CURVE.mix(0.18);
    for run in confidence_runs(&report.curve) {
        chart
            .draw_series(std::iter::once(Polygon::new(run, band_colour.filled())))
            .map_err(err)?;
    }
    let line: Vec<(f64, f64)> = step_path(report.curve.iter().map(|p| (years(p), p.percent)));
    let confidence = (100.0 * report.params.confidence).round();
    chart
        .draw_series(LineSeries::new(line, CURVE.stroke_width(3)))
        .map_err(err)?
        .label(format!(
            "Kaplan-Meier estimate ({confidence:.0}% confidence band shaded)"
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], CURVE.stroke_width(3)));
    let markers: Vec<(f64, f64)> = report
        .horizons
        .iter()
        .filter_map(|h| {
            h.cumulative_incidence
                .percent
                .map(|p| (f64::from(h.years), p))
        })
        .collect();
    // Each horizon estimate: a dot with its value above and to the left, so
    // the label neither covers the curve nor runs off the right edge.
    let label_style = TextStyle::from((FAMILY, 17).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Bottom));
    chart
        .draw_series(markers.iter().map(|&(x, y)| {
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 6, CURVE.filled())
                + Text::new(format!("{y:.1}%"), (-6, -8), label_style.clone())
        }))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 17))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)?;

    // The number-at-risk row, aligned with the x axis of the chart.
    let row_y = 22;
    let text = |size: i32| TextStyle::from((FAMILY, size).into_font()).color(&BLACK);
    let centred = text(17).pos(Pos::new(HPos::Center, VPos::Top));
    let lower_offset = lower.get_base_pixel();
    lower
        .draw(&Text::new("Number at risk", (20, row_y - 2), text(17)))
        .map_err(err)?;
    let at_risk = std::iter::once((0, report.cohort_size))
        .chain(report.horizons.iter().map(|h| (h.years, h.at_risk)));
    for (year, count) in at_risk {
        let (x, _) = chart.backend_coord(&(f64::from(year), 0.0));
        let label = count.map_or_else(|| "*".to_string(), group_thousands);
        lower
            .draw(&Text::new(
                label,
                (x - lower_offset.0, row_y + 20),
                centred.clone(),
            ))
            .map_err(err)?;
    }
    let note = format!(
        "Counts rounded to multiples of {}; * = suppressed (fewer than {}). Index period {} to {}, follow-up to {}.",
        report.rules.rounding_base,
        report.rules.min_cell,
        report.period_from,
        report.period_to,
        report.follow_up_end
    );
    lower
        .draw(&Text::new(
            note,
            (20, row_y + 62),
            text(15).color(&RGBColor(90, 90, 90)),
        ))
        .map_err(err)?;
    root.present().map_err(err)
}

fn years(p: &CurvePoint) -> f64 {
    f64::from(p.months) / 12.0
}

/// The largest value to show on the y axis: the highest released upper
/// limit or estimate, rounded up to a multiple of 10 (at least 10, at most 100).
fn y_axis_max(report: &Report) -> f64 {
    let curve = report.curve.iter().map(|p| p.ci_high.unwrap_or(p.percent));
    let horizons = report.horizons.iter().filter_map(|h| {
        let i = &h.cumulative_incidence;
        i.ci_high.or(i.percent)
    });
    let highest = curve.chain(horizons).fold(0.0_f64, f64::max);
    ((highest / 10.0).ceil() * 10.0).clamp(10.0, 100.0)
}

/// The vertices of a right-continuous step function through `points`.
fn step_path(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut path: Vec<(f64, f64)> = Vec::new();
    for (x, y) in points {
        if let Some(&(_, previous)) = path.last() {
            path.push((x, previous));
        }
        path.push((x, y));
    }
    path
}

/// Polygons of the confidence band: one per run of consecutive points that
/// have an interval (the lower step path, then the upper one backwards).
fn confidence_runs(curve: &[CurvePoint]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < curve.len() {
        let start = i;
        while i < curve.len() && curve[i].ci_low.is_some() && curve[i].ci_high.is_some() {
            i += 1;
        }
        if i - start >= 2 {
            let run = &curve[start..i];
            let lower = step_path(
                run.iter()
                    .map(|p| (years(p), p.ci_low.unwrap_or(p.percent))),
            );
            let mut upper = step_path(
                run.iter()
                    .map(|p| (years(p), p.ci_high.unwrap_or(p.percent))),
            );
            upper.reverse();
            runs.push(lower.into_iter().chain(upper).collect());
        }
        i = i.max(start + 1);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::super::release::tests::sample_report;
    use super::*;

    /// The plot is written as SVG and as PNG; another extension is refused.
    #[test]
    fn writes_svg_and_png() {
        let report = sample_report();
        let dir = tempfile::tempdir().unwrap();
        for name in ["curve.svg", "curve.png"] {
            let path = dir.path().join(name);
            draw(&report, &path).unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() > 10_000, "{name}");
        }
        let svg = std::fs::read_to_string(dir.path().join("curve.svg")).unwrap();
        assert!(svg.contains("Number at risk"));
        assert!(svg.contains("Years since the index incident"));
        let err = draw(&report, &dir.path().join("curve.pdf")).unwrap_err();
        assert!(matches!(err, AnalysisError::Plot { .. }));
    }
}
