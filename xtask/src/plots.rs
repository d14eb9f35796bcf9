//! The plots of `cargo xtask reproduce`: line charts (e.g. training loss against step, one
//! line per run) and grouped bar charts (e.g. evaluation metrics per method, with the spread
//! over seeds as error bars).
//!
//! Everything is drawn with plotters' SVG backend only: no bitmap backend and no font
//! libraries, so text is laid out with a pessimistic width estimate and rendered by whatever
//! views the SVG.
//!
//! Conventions shared by both charts:
//! - 800x480 pixels; SVG font sizes: title 20 px, axis descriptions 16 px, tick labels,
//!   group names and legend entries 14 px;
//! - colours cycle through the Okabe–Ito colour-blind-safe palette (line series past the
//!   seventh are dashed so that lines sharing a colour stay distinguishable);
//! - the legend has a white background and never covers data: line charts put it in a
//!   panel right of the plot (one row per run), bar charts in rows between the title and
//!   the plot (few series, so the groups keep the full width); labels too long for it are
//!   shortened with an ellipsis, entries that do not fit are summarised as "+N more";
//! - non-finite values are skipped (never drawn, never a panic);
//! - no data at all (no series, no groups, or only non-finite values) gives a chart with
//!   the title, empty axes and a "no data" note rather than an error, so a report still
//!   renders;
//! - output is deterministic (same input, same bytes) and written atomically.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every chart, in pixels.
const WIDTH: u32 = 800;
/// Height of every chart, in pixels.
const HEIGHT: u32 = 480;
/// Font family of every text; the SVG viewer picks the actual face.
const FONT: &str = "sans-serif";
/// plotters' SVG backend writes `font-size` = requested size / 1.24; requests are scaled by
/// this so that the sizes below are the sizes in the SVG.
const FONT_SCALE: f64 = 1.24;
/// Font size of the title (shrunk down to [`LABEL_SIZE`] for very long titles).
const TITLE_SIZE: f64 = 20.0;
/// Font size of the axis descriptions.
const DESC_SIZE: f64 = 16.0;
/// Font size of tick labels, group names and legend entries.
const LABEL_SIZE: f64 = 14.0;
/// Font size of "n/a" notes on bars.
const NOTE_SIZE: f64 = 12.0;
/// Pessimistic average glyph width of a sans-serif face, in ems, for layout estimates.
const GLYPH_EM: f64 = 0.6;
/// Height of one line of label text, in pixels.
const LINE_HEIGHT: i32 = 18;
/// Height of one legend row, in pixels.
const LEGEND_ROW: i32 = 22;
/// Length of a legend swatch, in pixels.
const SWATCH: i32 = 26;
/// Gap between a legend swatch and its label, in pixels.
const SWATCH_GAP: i32 = 8;
/// Gap between two legend entries on one row, in pixels.
const ENTRY_GAP: i32 = 24;
/// Space around the legend box, in pixels.
const LEGEND_MARGIN: i32 = 8;
/// Space inside the legend box, in pixels.
const LEGEND_PAD: i32 = 8;
/// Most rows of a legend above the plot.
const MAX_TOP_ROWS: usize = 3;
/// Most lines of a group name under the bar chart.
const MAX_GROUP_LINES: usize = 2;
/// Plot margins inside the chart area (top, right, bottom, left), in pixels.
const PLOT_MARGIN: (i32, i32, i32, i32) = (12, 24, 8, 8);

/// The Okabe–Ito palette (without its black), ordered so that the first colours contrast
/// most on white; yellow comes last because thin yellow lines are hard to see.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];
/// Grid lines and the legend border.
const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
/// Text, axes, error bars and the zero line.
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Notes such as "no data", "n/a" and "+N more".
const MUTED: RGBColor = RGBColor(0x77, 0x77, 0x77);

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Legend label of the line (e.g. the run name).
    pub label: String,
    /// `(x, y)` points in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// One bar series of a grouped bar chart: one value per group, with an optional spread
/// (drawn as an error bar of +-spread, e.g. the standard deviation over seeds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarSeries {
    /// Legend label of the series (e.g. "linear probe top-1").
    pub label: String,
    /// `(value, spread)` per group, in the order of the groups. A non-finite value draws no
    /// bar (a small "n/a" instead); a missing or non-finite spread draws no error bar; a
    /// negative spread counts as its absolute value.
    pub values: Vec<(f64, Option<f64>)>,
}

/// Line chart (e.g. training loss vs step, one line per run), written as SVG to `path`.
///
/// Non-finite points are skipped and the line joins their neighbours; a series with a
/// single finite point is drawn as a dot. `log_y`: logarithmic y axis (all finite y must
/// be positive then; otherwise the chart silently falls back to a linear axis); the y
/// description then ends in "(log scale)". No series, or no finite point at all, gives empty axes with
/// a "no data" note, not an error. The parent directory is created if missing.
pub(crate) fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let svg = render_line_chart(title, x_label, y_label, series, log_y)
        .with_context(|| format!("cannot draw line chart {}", path.display()))?;
    write_atomically(path, &svg)
}

/// Grouped bar chart, written as SVG to `path`: x axis = `groups` (e.g. method names),
/// inside each group one bar per series (e.g. "linear probe top-1", "kNN top-1"), each
/// series its own colour with a legend, and +-spread error bars where a spread is given.
///
/// The y range goes from min(0, lowest - spread) to max(0, highest + spread) with a 5 %
/// margin. Group names too wide for their group wrap onto two lines, then are shortened
/// with an ellipsis. Errors when a series' length differs from `groups.len()` (naming the
/// series). No groups, no series or only non-finite values give empty axes with a
/// "no data" note, not an error. The parent directory is created if missing.
pub(crate) fn grouped_bars(
    path: &Path,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[BarSeries],
) -> Result<()> {
    for s in series {
        if s.values.len() != groups.len() {
            bail!(
                "cannot draw bar chart {}: series {:?} has {} values but there are {} groups",
                path.display(),
                s.label,
                s.values.len(),
                groups.len()
            );
        }
    }
    let svg = render_grouped_bars(title, y_label, groups, series)
        .with_context(|| format!("cannot draw bar chart {}", path.display()))?;
    write_atomically(path, &svg)
}

/// Writes `contents` to `path` through `path.with_extension("svg.tmp")`: write, fsync,
/// rename. Creates the parent directory if missing.
fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create directory {} for {}",
                dir.display(),
                path.display()
            )
        })?;
    }
    let tmp = path.with_extension("svg.tmp");
    let written = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    fs::rename(&tmp, path).with_context(|| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), path.display())
    })
}

// ---------------------------------------------------------------------------------------
// text

/// Text style of `size` px (as written in the SVG) in `colour`, anchored at `pos`.
fn text_style(size: f64, colour: &RGBColor, pos: Pos) -> TextStyle<'static> {
    (FONT, size * FONT_SCALE).into_font().color(colour).pos(pos)
}

/// Font of `size` px (as written in the SVG), for plotters' mesh and title.
fn font(size: f64) -> FontDesc<'static> {
    (FONT, size * FONT_SCALE).into_font()
}

/// Estimated rendered width of `text` at `size` px (pessimistic).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * GLYPH_EM
}

/// `text` shortened with an ellipsis to at most `max_width` px at `size` px.
fn fit_text(text: &str, size: f64, max_width: f64) -> String {
    if text_width(text, size) <= max_width {
        return text.to_string();
    }
    let keep = ((max_width / (size * GLYPH_EM)).floor() as usize).saturating_sub(1);
    let mut out: String = text.chars().take(keep.max(1)).collect();
    out.push('…');
    out
}

/// `text` wrapped at spaces into at most `max_lines` lines of at most `max_width` px at
/// `size` px; what does not fit is shortened with an ellipsis.
fn wrap_text(text: &str, size: f64, max_width: f64, max_lines: usize) -> Vec<String> {
    if text_width(text, size) <= max_width || max_lines <= 1 {
        return vec![fit_text(text, size, max_width)];
    }
    let mut lines: Vec<String> = Vec::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if lines.len() == max_lines - 1 {
            // last line: everything left, shortened
            let mut rest = word.to_string();
            for w in words.by_ref() {
                rest.push(' ');
                rest.push_str(w);
            }
            lines.push(fit_text(&rest, size, max_width));
            break;
        }
        let mut line = word.to_string();
        while let Some(next) = words.peek() {
            let candidate = format!("{line} {next}");
            if text_width(&candidate, size) > max_width {
                break;
            }
            line = candidate;
            words.next();
        }
        lines.push(fit_text(&line, size, max_width));
    }
    lines
}

/// Tick labels of one axis: as many decimals as the tick spacing needs (trailing zeros
/// trimmed), scientific notation for very large or very small magnitudes, and values within
/// rounding noise of zero shown as "0".
#[derive(Debug, Clone, Copy)]
struct TickFmt {
    /// Decimals of plain labels.
    decimals: usize,
    /// Magnitudes below this are zero.
    zero: f64,
}

impl TickFmt {
    /// The format for an axis with these tick positions.
    fn new(ticks: &[f64]) -> Self {
        let mut sorted: Vec<f64> = ticks.iter().copied().filter(|t| t.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let step = sorted
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|d| *d > 0.0)
            .fold(f64::INFINITY, f64::min);
        if !step.is_finite() {
            return TickFmt {
                decimals: 4,
                zero: 0.0,
            };
        }
        TickFmt {
            decimals: (-step.log10() - 1e-9).ceil().clamp(0.0, 6.0) as usize,
            zero: step * 1e-6,
        }
    }

    /// The label of tick `v`.
    fn fmt(&self, v: f64) -> String {
        if !v.is_finite() {
            return String::new();
        }
        let a = v.abs();
        if a <= self.zero {
            return "0".to_string();
        }
        if a >= 1e6 || a < 0.5 * 10f64.powi(-(self.decimals as i32)) {
            let s = format!("{v:.2e}");
            let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            return format!("{mantissa}e{exponent}");
        }
        let s = format!("{v:.*}", self.decimals);
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    }
}

/// Width of the y label area: axis description, the widest tick label and the tick.
fn y_label_area(ticks: &[f64], fmt: TickFmt) -> i32 {
    let widest = ticks
        .iter()
        .map(|&t| text_width(&fmt.fmt(t), LABEL_SIZE))
        .fold(text_width("0", LABEL_SIZE), f64::max);
    (widest + DESC_SIZE * 1.5 + 24.0).ceil() as i32
}

// ---------------------------------------------------------------------------------------
// legend and layout

/// Which mark a legend entry shows.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    /// A short line, dashed or solid.
    Line {
        /// Dashed, as for series past the palette.
        dashed: bool,
    },
    /// A filled square.
    Block,
}

/// One legend entry.
struct LegendEntry<'a> {
    /// Label text, shortened when drawn if too long.
    label: &'a str,
    /// Colour of the swatch.
    colour: RGBColor,
    /// Kind of swatch.
    swatch: Swatch,
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// A column in a panel right of the plot.
    Right,
    /// Rows between the title and the plot, centred.
    Top,
}

/// One placed legend item: an entry (`Some(index)`) or the muted "+N more" note (`None`),
/// with its shown text and its left edge relative to the box's inner left edge.
struct LegendItem {
    entry: Option<usize>,
    text: String,
    x: i32,
}

/// A legend laid out in rows, with the size of its box.
struct LegendLayout {
    rows: Vec<Vec<LegendItem>>,
    box_w: i32,
    box_h: i32,
}

/// Colour of series `i`.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Width of a legend item with `text` (swatch included unless it is the "+N more" note).
fn item_width(text: &str, swatch: bool) -> i32 {
    let text = text_width(text, LABEL_SIZE).ceil() as i32;
    if swatch {
        SWATCH + SWATCH_GAP + text
    } else {
        text
    }
}

/// Lays out `entries` for `placement` in a box at most `max_w` wide and `max_h` high
/// (both outer sizes, margins excluded).
fn layout_legend(
    entries: &[LegendEntry<'_>],
    placement: Placement,
    max_w: i32,
    max_h: i32,
) -> LegendLayout {
    let inner_w = max_w - 2 * LEGEND_PAD;
    let text_room = f64::from(inner_w - SWATCH - SWATCH_GAP);
    let labels: Vec<String> = entries
        .iter()
        .map(|e| fit_text(e.label, LABEL_SIZE, text_room))
        .collect();
    let max_rows = match placement {
        Placement::Right => (((max_h - 2 * LEGEND_PAD) / LEGEND_ROW).max(1)) as usize,
        Placement::Top => MAX_TOP_ROWS,
    };
    // flow: one entry per row on the right, as many as fit on top
    let mut rows: Vec<Vec<(usize, i32)>> = Vec::new();
    let mut cursor = 0;
    for (i, label) in labels.iter().enumerate() {
        let w = item_width(label, true);
        let new_row = match placement {
            Placement::Right => true,
            Placement::Top => rows.is_empty() || cursor + ENTRY_GAP + w > inner_w,
        };
        if new_row {
            rows.push(vec![(i, 0)]);
            cursor = w;
        } else {
            if let Some(row) = rows.last_mut() {
                row.push((i, cursor + ENTRY_GAP));
            }
            cursor += ENTRY_GAP + w;
        }
    }
    let mut out: Vec<Vec<LegendItem>> = Vec::new();
    let mut more = 0;
    if rows.len() > max_rows {
        more = rows[max_rows..].iter().map(Vec::len).sum::<usize>();
        rows.truncate(max_rows);
        // make room for the note: on its own row on the right, at the end of the last row
        // on top
        loop {
            let note_w = item_width(&format!("+{more} more"), false);
            let Some(last) = rows.last_mut() else { break };
            let fits = match placement {
                Placement::Right => false,
                Placement::Top => {
                    let end = last
                        .last()
                        .map_or(0, |&(i, x)| x + item_width(&labels[i], true));
                    end + ENTRY_GAP + note_w <= inner_w
                }
            };
            if fits {
                break;
            }
            last.pop();
            more += 1;
            if last.is_empty() {
                rows.pop();
                break;
            }
        }
    }
    for row in rows {
        out.push(
            row.into_iter()
                .map(|(i, x)| LegendItem {
                    entry: Some(i),
                    text: labels[i].clone(),
                    x,
                })
                .collect(),
        );
    }
    if more > 0 {
        let text = format!("+{more} more");
        let x = match (placement, out.last()) {
            (Placement::Top, Some(last)) => last.last().map_or(0, |it| {
                it.x + item_width(&it.text, it.entry.is_some()) + ENTRY_GAP
            }),
            _ => SWATCH + SWATCH_GAP,
        };
        let item = LegendItem {
            entry: None,
            text,
            x,
        };
        match (placement, out.last_mut()) {
            (Placement::Top, Some(last)) => last.push(item),
            _ => out.push(vec![item]),
        }
    }
    let widest = out
        .iter()
        .filter_map(|row| row.last())
        .map(|it| it.x + item_width(&it.text, it.entry.is_some()))
        .max()
        .unwrap_or(0);
    LegendLayout {
        box_w: widest + 2 * LEGEND_PAD,
        box_h: out.len() as i32 * LEGEND_ROW + 2 * LEGEND_PAD - 4,
        rows: out,
    }
}

/// Draws a laid-out legend with its box's top-left corner at `origin` in `area`.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[LegendEntry<'_>],
    legend: &LegendLayout,
    origin: (i32, i32),
) -> Result<()> {
    let (x0, y0) = origin;
    let corners = [(x0, y0), (x0 + legend.box_w, y0 + legend.box_h)];
    area.draw(&Rectangle::new(corners, WHITE.filled()))?;
    area.draw(&Rectangle::new(corners, GRID.stroke_width(1)))?;
    let left = text_style(LABEL_SIZE, &INK, Pos::new(HPos::Left, VPos::Center));
    for (r, row) in legend.rows.iter().enumerate() {
        let cy = y0 + LEGEND_PAD + r as i32 * LEGEND_ROW + LEGEND_ROW / 2 - 2;
        for item in row {
            let x = x0 + LEGEND_PAD + item.x;
            let Some(e) = item.entry.and_then(|i| entries.get(i)) else {
                let muted = text_style(LABEL_SIZE, &MUTED, Pos::new(HPos::Left, VPos::Center));
                area.draw(&Text::new(item.text.clone(), (x, cy), muted))?;
                continue;
            };
            match e.swatch {
                Swatch::Line { dashed: false } => {
                    area.draw(&PathElement::new(
                        vec![(x, cy), (x + SWATCH, cy)],
                        e.colour.stroke_width(3),
                    ))?;
                }
                Swatch::Line { dashed: true } => {
                    for s in (0..SWATCH).step_by(9) {
                        area.draw(&PathElement::new(
                            vec![(x + s, cy), (x + (s + 5).min(SWATCH), cy)],
                            e.colour.stroke_width(3),
                        ))?;
                    }
                }
                Swatch::Block => {
                    area.draw(&Rectangle::new(
                        [(x + 5, cy - 8), (x + SWATCH - 5, cy + 8)],
                        e.colour.filled(),
                    ))?;
                }
            }
            area.draw(&Text::new(
                item.text.clone(),
                (x + SWATCH + SWATCH_GAP, cy),
                left.clone(),
            ))?;
        }
    }
    Ok(())
}

/// Title font size that makes `title` fit the chart width (down to [`LABEL_SIZE`]).
fn title_size(title: &str) -> f64 {
    let fit = (f64::from(WIDTH) - 40.0) / (title.chars().count().max(1) as f64 * GLYPH_EM);
    fit.clamp(LABEL_SIZE, TITLE_SIZE)
}

/// Fills the canvas white, draws the title and the legend (if any entries) where
/// `placement` says; returns the area left for the chart.
fn layout<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    title: &str,
    legend: &[LegendEntry<'_>],
    placement: Placement,
) -> Result<DrawingArea<SVGBackend<'a>, Shift>> {
    root.fill(&WHITE)?;
    let body = root.titled(title, font(title_size(title)).color(&INK))?;
    if legend.is_empty() {
        return Ok(body);
    }
    let (body_w, body_h) = body.dim_in_pixel();
    let (body_w, body_h) = (body_w as i32, body_h as i32);
    match placement {
        Placement::Right => {
            // at most a third of the width
            let max_box = body_w / 3 - 2 * LEGEND_MARGIN;
            let wanted = legend
                .iter()
                .map(|e| item_width(e.label, true) + 2 * LEGEND_PAD)
                .max()
                .unwrap_or(0);
            let box_w = wanted.clamp(100, max_box);
            let laid = layout_legend(legend, placement, box_w, body_h - 2 * LEGEND_MARGIN);
            let panel = laid.box_w + 2 * LEGEND_MARGIN;
            let (plot, side) = body.split_horizontally(body_w - panel);
            // top aligned with the top of the plot
            draw_legend(&side, legend, &laid, (LEGEND_MARGIN, PLOT_MARGIN.0))?;
            Ok(plot)
        }
        Placement::Top => {
            let laid = layout_legend(legend, placement, body_w - 2 * LEGEND_MARGIN, body_h);
            let (top, plot) = body.split_vertically(laid.box_h + 2 * 4);
            draw_legend(&top, legend, &laid, ((body_w - laid.box_w) / 2, 4))?;
            Ok(plot)
        }
    }
}

/// Draws a muted "no data" note in the middle of a chart's plotting area.
fn draw_no_data(area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let style = text_style(DESC_SIZE, &MUTED, Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new("no data", (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// line chart

/// Linear axis range covering `lo..=hi` with `margin` (a fraction of the span) on each
/// side; an empty span is padded, non-finite bounds give `0..1`.
fn linear_range(lo: f64, hi: f64, margin: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    (lo - span * margin, hi + span * margin)
}

/// Logarithmic axis range covering `lo..=hi` (both > 0) with a small multiplicative margin;
/// an empty span is padded to a factor of 2 each way.
fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let ratio = hi / lo;
    let f = if ratio <= 1.0 + 1e-9 {
        2.0
    } else {
        ratio.powf(0.05)
    };
    (lo / f, hi * f)
}

/// Tick positions of a logarithmic axis over `lo..hi` (both > 0): powers of ten, then
/// 1-2-5, then every digit, whichever first gives at least 4 ticks (at most about 10);
/// linear ticks when even every digit gives fewer than 2.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let ticks_of = |mantissas: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let decades = ticks_of(&[1.0]);
    if decades.len() >= 4 {
        let step = decades.len().div_ceil(10);
        return decades.into_iter().step_by(step).collect();
    }
    let sets: [&[f64]; 3] = [
        &[1.0, 2.0, 5.0],
        &[1.0, 2.0, 3.0, 5.0],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ];
    let mut best = decades;
    for set in sets {
        let ticks = ticks_of(set);
        if ticks.len() > 12 {
            break;
        }
        best = ticks;
        if best.len() >= 4 {
            break;
        }
    }
    if best.len() >= 2 {
        best
    } else {
        RangedCoordf64::from(lo..hi).key_points(5usize)
    }
}

/// Renders the line chart to an SVG string.
fn render_line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<String> {
    let clean: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let all = || clean.iter().flatten();
    let has_data = all().next().is_some();
    let log = log_y && has_data && all().all(|&(_, y)| y > 0.0);
    let bounds = |f: fn(&(f64, f64)) -> f64| {
        all()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x_lo, x_hi) = linear_range(bounds(|p| p.0).0, bounds(|p| p.0).1, 0.0);
    let (y_min, y_max) = bounds(|p| p.1);
    let y_desc = if log {
        format!("{y_label} (log scale)")
    } else {
        y_label.to_string()
    };
    let legend: Vec<LegendEntry<'_>> = series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            label: &s.label,
            colour: colour(i),
            swatch: Swatch::Line {
                dashed: i >= PALETTE.len(),
            },
        })
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let plot = layout(&root, title, &legend, Placement::Right)?;
        let x_tick = TickFmt::new(&RangedCoordf64::from(x_lo..x_hi).key_points(8usize));
        let x_fmt = |v: &f64| x_tick.fmt(*v);
        if log {
            let (lo, hi) = log_range(y_min, y_max);
            let ticks = log_ticks(lo, hi);
            let y_tick = TickFmt::new(&ticks);
            let y_fmt = |v: &f64| y_tick.fmt(*v);
            let mut chart = chart_builder(&plot, 52, y_label_area(&ticks, y_tick))
                .build_cartesian_2d(x_lo..x_hi, (lo..hi).log_scale().with_key_points(ticks))?;
            style_mesh(
                &mut chart.configure_mesh(),
                x_label,
                &y_desc,
                &x_fmt,
                &y_fmt,
            )?;
            draw_lines(&mut chart, &clean)?;
        } else {
            let (lo, hi) = linear_range(y_min, y_max, 0.05);
            let ticks = RangedCoordf64::from(lo..hi).key_points(8usize);
            let y_tick = TickFmt::new(&ticks);
            let y_fmt = |v: &f64| y_tick.fmt(*v);
            let mut chart = chart_builder(&plot, 52, y_label_area(&ticks, y_tick))
                .build_cartesian_2d(x_lo..x_hi, lo..hi)?;
            style_mesh(
                &mut chart.configure_mesh(),
                x_label,
                &y_desc,
                &x_fmt,
                &y_fmt,
            )?;
            draw_lines(&mut chart, &clean)?;
            if !has_data {
                draw_no_data(&chart.plotting_area().strip_coord_spec())?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// A chart builder on `area` with the shared margins and the given label area sizes.
fn chart_builder<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    x_area: i32,
    y_area: i32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    let (top, right, bottom, left) = PLOT_MARGIN;
    builder
        .margin_top(top)
        .margin_right(right)
        .margin_bottom(bottom)
        .margin_left(left)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area);
    builder
}

/// Applies the shared mesh style (light grid, 14 px tick labels, 16 px axis descriptions)
/// and draws it.
fn style_mesh<'a, 'b, X, Y>(
    mesh: &mut plotters::chart::MeshStyle<'a, 'b, X, Y, SVGBackend<'a>>,
    x_desc: &str,
    y_desc: &str,
    x_fmt: &'b dyn Fn(&f64) -> String,
    y_fmt: &'b dyn Fn(&f64) -> String,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    mesh.bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(INK)
        .x_labels(8)
        .y_labels(8)
        .label_style(font(LABEL_SIZE).color(&INK))
        .axis_desc_style(font(DESC_SIZE).color(&INK))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(x_fmt)
        .y_label_formatter(y_fmt)
        .draw()?;
    Ok(())
}

/// Draws every cleaned series: a line through two or more points (dashed past the
/// palette), a dot for a single point.
fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    clean: &[Vec<(f64, f64)>],
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, points) in clean.iter().enumerate() {
        let style = colour(i).stroke_width(2);
        match points.as_slice() {
            [] => {}
            [single] => {
                chart.draw_series(std::iter::once(Circle::new(*single, 4, colour(i).filled())))?;
            }
            _ if i >= PALETTE.len() => {
                chart.draw_series(DashedLineSeries::new(points.iter().copied(), 8, 5, style))?;
            }
            _ => {
                chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// grouped bars

/// Categorical x axis of the bar chart: group `g` spans `g..g + 1`, tick marks sit at the
/// group centres `g + 0.5`; the group names are drawn separately (they may wrap).
struct GroupAxis {
    /// Number of groups (at least 1), the end of the axis.
    n: f64,
    /// Tick positions: the group centres.
    centres: Vec<f64>,
}

impl Ranged for GroupAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let frac = value / self.n;
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.centres.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.n
    }
}

/// Renders the grouped bar chart to an SVG string; series lengths are already checked.
fn render_grouped_bars(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[BarSeries],
) -> Result<String> {
    let n_groups = groups.len();
    let n_series = series.len();
    // y range: always includes 0, every bar and every error bar
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    let mut has_data = false;
    for s in series {
        for &(v, spread) in &s.values {
            if !v.is_finite() {
                continue;
            }
            has_data = true;
            let sp = spread.filter(|s| s.is_finite()).map_or(0.0, f64::abs);
            lo = lo.min(v - sp);
            hi = hi.max(v + sp);
        }
    }
    let span = hi - lo;
    let (y_lo, y_hi) = if span > 0.0 && span.is_finite() {
        (
            if lo < 0.0 { lo - 0.05 * span } else { 0.0 },
            if hi > 0.0 { hi + 0.05 * span } else { 0.0 },
        )
    } else {
        (0.0, 1.0)
    };

    let legend: Vec<LegendEntry<'_>> = series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            label: &s.label,
            colour: colour(i),
            swatch: Swatch::Block,
        })
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let plot = layout(&root, title, &legend, Placement::Top)?;
        let x_max = n_groups.max(1) as f64;
        let y_ticks = RangedCoordf64::from(y_lo..y_hi).key_points(8usize);
        let y_tick = TickFmt::new(&y_ticks);
        let y_area = y_label_area(&y_ticks, y_tick);
        // group names: wrapped to the width of a group
        let plot_w = plot.dim_in_pixel().0 as i32 - PLOT_MARGIN.1 - PLOT_MARGIN.3 - y_area;
        let group_px = f64::from(plot_w) / x_max - 8.0;
        let names: Vec<Vec<String>> = groups
            .iter()
            .map(|g| wrap_text(g, LABEL_SIZE, group_px, MAX_GROUP_LINES))
            .collect();
        let lines = names.iter().map(Vec::len).max().unwrap_or(1) as i32;
        let mut chart = chart_builder(&plot, 12 + lines * LINE_HEIGHT, y_area).build_cartesian_2d(
            GroupAxis {
                n: x_max,
                centres: (0..n_groups).map(|g| g as f64 + 0.5).collect(),
            },
            y_lo..y_hi,
        )?;
        let no_label = |_: &f64| String::new();
        let y_fmt = |v: &f64| y_tick.fmt(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .y_labels(8)
            .label_style(font(LABEL_SIZE).color(&INK))
            .axis_desc_style(font(DESC_SIZE).color(&INK))
            .y_desc(y_label)
            .x_label_formatter(&no_label)
            .y_label_formatter(&y_fmt)
            .draw()?;
        let name_style = text_style(LABEL_SIZE, &INK, Pos::new(HPos::Center, VPos::Top));
        for (g, name) in names.iter().enumerate() {
            let (cx, bottom) = chart.backend_coord(&(g as f64 + 0.5, y_lo));
            for (l, line) in name.iter().enumerate() {
                root.draw(&Text::new(
                    line.clone(),
                    (cx, bottom + 10 + l as i32 * LINE_HEIGHT),
                    name_style.clone(),
                ))?;
            }
        }

        if y_lo < 0.0 {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (x_max, 0.0)],
                INK.stroke_width(1),
            )))?;
        }
        // each group: bars fill the middle 80 %, each bar 84 % of its slot
        let slot = 0.8 / n_series.max(1) as f64;
        let bar_half = slot * 0.42;
        let cap_half = slot * 0.15;
        let na_style = text_style(NOTE_SIZE, &MUTED, Pos::new(HPos::Center, VPos::Bottom));
        for (j, s) in series.iter().enumerate() {
            for (g, &(v, spread)) in s.values.iter().enumerate() {
                let xc = g as f64 + 0.1 + slot * (j as f64 + 0.5);
                if !v.is_finite() {
                    chart.draw_series(std::iter::once(Text::new(
                        "n/a",
                        (xc, 0.0),
                        na_style.clone(),
                    )))?;
                    continue;
                }
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(xc - bar_half, v), (xc + bar_half, 0.0)],
                    colour(j).filled(),
                )))?;
                if let Some(sp) = spread.filter(|s| s.is_finite() && *s != 0.0) {
                    let (sp, line) = (sp.abs(), INK.stroke_width(2));
                    chart.draw_series([
                        PathElement::new(vec![(xc, v - sp), (xc, v + sp)], line),
                        PathElement::new(
                            vec![(xc - cap_half, v + sp), (xc + cap_half, v + sp)],
                            line,
                        ),
                        PathElement::new(
                            vec![(xc - cap_half, v - sp), (xc + cap_half, v - sp)],
                            line,
                        ),
                    ])?;
                }
            }
        }
        if !has_data {
            draw_no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        fs::read_to_string(path).expect("read svg")
    }

    /// Loss-like curves: `n` runs over `steps` steps.
    fn curves(n: usize, steps: usize) -> Vec<Series> {
        (0..n)
            .map(|r| Series {
                label: format!("run-{r} (seed {r})"),
                points: (0..steps)
                    .map(|t| {
                        let t = t as f64;
                        let base = 0.4 + 0.1 * r as f64;
                        let y = base
                            + 6.0 * (-t / (15.0 + 5.0 * r as f64)).exp()
                            + 0.05 * (t * (0.7 + 0.1 * r as f64)).sin();
                        (t, y)
                    })
                    .collect(),
            })
            .collect()
    }

    fn methods() -> (Vec<String>, Vec<BarSeries>) {
        let groups: Vec<String> = ["SimCLR", "VICReg", "SIE", "EquiMod", "noether (ours)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let series = vec![
            BarSeries {
                label: "linear probe top-1".into(),
                values: vec![
                    (0.48, Some(0.02)),
                    (0.51, Some(0.015)),
                    (0.55, Some(0.03)),
                    (0.53, Some(0.01)),
                    (0.59, Some(0.02)),
                ],
            },
            BarSeries {
                label: "kNN top-1".into(),
                values: vec![
                    (0.34, Some(0.03)),
                    (0.38, None),
                    (0.44, Some(0.02)),
                    (0.41, Some(0.025)),
                    (0.47, Some(0.015)),
                ],
            },
        ];
        (groups, series)
    }

    /// Checks that `text` is one well-formed `<svg>` element: tags balance, no raw `<`
    /// or `&` in text or attributes (a small XML check, enough for plotters' output).
    fn assert_svg(text: &str) {
        assert!(text.trim_start().starts_with("<svg"), "not an SVG");
        assert!(text.trim_end().ends_with("</svg>"), "SVG not closed");
        let mut open: Vec<&str> = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            let between = &rest[..start];
            assert!(!between.contains('>'), "stray '>' in {between:?}");
            for (i, _) in between.match_indices('&') {
                let entity = &between[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "raw '&' in {between:?}"
                );
            }
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "'<' inside tag {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.trim()), "mismatched </{name}>");
            } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
                open.push(tag.split_whitespace().next().expect("tag name"));
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed elements {open:?}");
    }

    #[test]
    fn line_chart_has_title_and_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/loss.svg");
        let series = curves(5, 120);
        line_chart(&path, "Training loss", "step", "loss", &series, true).expect("chart");
        let svg = read(&path);
        assert_svg(&svg);
        assert!(svg.contains("Training loss"));
        assert!(svg.contains("(log scale)"));
        for s in &series {
            assert!(svg.contains(&s.label), "missing {}", s.label);
        }
        assert!(!path.with_extension("svg.tmp").exists());
    }

    #[test]
    fn grouped_bars_has_title_groups_and_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("eval.svg");
        let (groups, series) = methods();
        grouped_bars(
            &path,
            "Evaluation & <ablation>",
            "top-1 accuracy",
            &groups,
            &series,
        )
        .expect("chart");
        let svg = read(&path);
        assert_svg(&svg);
        assert!(svg.contains("Evaluation &amp; &lt;ablation&gt;"));
        for g in &groups {
            assert!(svg.contains(g.as_str()), "missing group {g}");
        }
        for s in &series {
            assert!(svg.contains(&s.label), "missing {}", s.label);
        }
    }

    #[test]
    fn mismatched_series_length_names_the_series() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.svg");
        let (groups, mut series) = methods();
        series[1].label = "kNN top-5".into();
        series[1].values.pop();
        let err = grouped_bars(&path, "t", "y", &groups, &series).expect_err("mismatch");
        let msg = format!("{err:#}");
        assert!(msg.contains("kNN top-5"), "{msg}");
        assert!(!path.exists());
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |name: &str| dir.path().join(name);
        let nan = f64::NAN;
        // no series
        line_chart(&p("empty.svg"), "Empty", "x", "y", &[], false).expect("empty");
        assert!(read(&p("empty.svg")).contains("no data"));
        line_chart(&p("empty_log.svg"), "Empty", "x", "y", &[], true).expect("empty log");
        // single point, all equal, NaNs, non-positive values on a log axis
        let odd = vec![
            Series {
                label: "one".into(),
                points: vec![(3.0, 2.0)],
            },
            Series {
                label: "flat".into(),
                points: vec![(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)],
            },
            Series {
                label: "nan".into(),
                points: vec![(0.0, nan), (nan, 1.0), (2.0, f64::INFINITY)],
            },
            Series {
                label: "zero".into(),
                points: vec![(0.0, 0.0), (1.0, -1.0)],
            },
        ];
        line_chart(&p("odd.svg"), "Odd", "x", "y", &odd, true).expect("odd");
        let svg = read(&p("odd.svg"));
        assert_svg(&svg);
        assert!(
            !svg.contains("(log scale)"),
            "non-positive y must fall back to linear"
        );
        for s in &odd {
            assert!(svg.contains(&s.label));
        }
        line_chart(&p("one.svg"), "One", "x", "y", &odd[..1], true).expect("one");
        line_chart(&p("flat.svg"), "Flat", "x", "y", &odd[1..2], false).expect("flat");
        line_chart(&p("nan.svg"), "NaN", "x", "y", &odd[2..3], false).expect("nan");
        assert!(read(&p("nan.svg")).contains("no data"));
        // many series: dashed past the palette, legend overflow
        line_chart(&p("many.svg"), "Many", "x", "y", &curves(30, 10), false).expect("many");
        assert!(read(&p("many.svg")).contains("more"));

        // bars: none, NaN values and spreads, negative values, all zero
        grouped_bars(&p("bars_empty.svg"), "Empty", "y", &[], &[]).expect("empty bars");
        assert!(read(&p("bars_empty.svg")).contains("no data"));
        let groups = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        grouped_bars(&p("bars_noseries.svg"), "No series", "y", &groups, &[]).expect("no series");
        let series = vec![
            BarSeries {
                label: "s1".into(),
                values: vec![(nan, Some(0.1)), (0.5, Some(nan)), (-0.2, Some(0.05))],
            },
            BarSeries {
                label: "s2".into(),
                values: vec![(0.0, None), (nan, None), (0.3, Some(-0.1))],
            },
        ];
        grouped_bars(&p("bars_nan.svg"), "NaN", "y", &groups, &series).expect("nan bars");
        let svg = read(&p("bars_nan.svg"));
        assert_svg(&svg);
        assert_eq!(svg.matches("n/a").count(), 2, "one note per NaN bar");
        // two finite values per series: two bars plus the legend swatch each
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 3);
        assert_eq!(svg.matches("fill=\"#D55E00\"").count(), 3);
        let zeros = vec![BarSeries {
            label: "z".into(),
            values: vec![(0.0, None); 3],
        }];
        grouped_bars(&p("bars_zero.svg"), "Zero", "y", &groups, &zeros).expect("zero bars");
        let all_nan = vec![BarSeries {
            label: "n".into(),
            values: vec![(nan, None); 3],
        }];
        grouped_bars(&p("bars_allnan.svg"), "All NaN", "y", &groups, &all_nan).expect("nan");
        assert!(read(&p("bars_allnan.svg")).contains("no data"));
    }

    #[test]
    fn renders_are_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.svg"));
        let series = curves(5, 120);
        line_chart(&a, "Loss", "step", "loss", &series, false).expect("a");
        line_chart(&b, "Loss", "step", "loss", &series, false).expect("b");
        assert_eq!(fs::read(&a).expect("a"), fs::read(&b).expect("b"));
        let (groups, bars) = methods();
        grouped_bars(&a, "Eval", "top-1", &groups, &bars).expect("a");
        grouped_bars(&b, "Eval", "top-1", &groups, &bars).expect("b");
        assert_eq!(fs::read(&a).expect("a"), fs::read(&b).expect("b"));
    }

    #[test]
    fn tick_labels_are_compact() {
        let f = TickFmt::new(&[0.0, 0.1, 0.2, 0.3]);
        assert_eq!(f.fmt(0.0), "0");
        assert_eq!(f.fmt(-0.0), "0");
        assert_eq!(f.fmt(-2.8e-17), "0");
        assert_eq!(f.fmt(0.30000000000000004), "0.3");
        let f = TickFmt::new(&[0.0, 0.05, 0.1]);
        assert_eq!(f.fmt(0.05), "0.05");
        assert_eq!(f.fmt(0.1), "0.1");
        let f = TickFmt::new(&[0.0, 20.0, 40.0, 120.0]);
        assert_eq!(f.fmt(120.0), "120");
        let f = TickFmt::new(&[1e-7, 2e-7]);
        assert_eq!(f.fmt(1e-7), "1e-7");
        let f = TickFmt::new(&[0.0, 2.5e6, 5e6]);
        assert_eq!(f.fmt(2.5e6), "2.5e6");
        assert_eq!(f.fmt(0.0), "0");
        let f = TickFmt::new(&[0.001, 0.01, 0.1, 1.0, 10.0]);
        assert_eq!(f.fmt(0.001), "0.001");
        assert_eq!(f.fmt(10.0), "10");
    }

    /// Writes demo charts to `$NOETHER_PLOTS_DEMO` (when set) for a visual check.
    #[test]
    fn demo_when_asked() {
        let Some(dir) = std::env::var_os("NOETHER_PLOTS_DEMO") else {
            return;
        };
        let dir = Path::new(&dir);
        let series = curves(5, 120);
        line_chart(
            &dir.join("loss.svg"),
            "Training loss (mini3die)",
            "step",
            "loss",
            &series,
            false,
        )
        .expect("loss");
        line_chart(
            &dir.join("loss_log.svg"),
            "Training loss (mini3die)",
            "step",
            "loss",
            &series,
            true,
        )
        .expect("loss log");
        let (groups, bars) = methods();
        grouped_bars(
            &dir.join("eval.svg"),
            "Evaluation on mini3die (5 seeds)",
            "top-1 accuracy",
            &groups,
            &bars,
        )
        .expect("eval");
        line_chart(
            &dir.join("many.svg"),
            "Many runs",
            "step",
            "loss",
            &curves(30, 60),
            true,
        )
        .expect("many");
        let nan = f64::NAN;
        let groups3 = vec![
            "a".to_string(),
            "rather long method name here".to_string(),
            "c".to_string(),
        ];
        let odd = vec![
            BarSeries {
                label: "s1".into(),
                values: vec![(nan, Some(0.1)), (0.5, Some(nan)), (-0.2, Some(0.05))],
            },
            BarSeries {
                label: "s2 with a very long legend label that must be shortened".into(),
                values: vec![(0.1, None), (nan, None), (0.3, Some(-0.1))],
            },
        ];
        grouped_bars(
            &dir.join("odd_bars.svg"),
            "Odd bars",
            "value",
            &groups3,
            &odd,
        )
        .expect("odd");
        line_chart(&dir.join("empty.svg"), "Empty", "step", "loss", &[], false).expect("empty");
        let odd_lines = vec![
            Series {
                label: "flat".into(),
                points: vec![(0.0, 0.5), (10.0, 0.5), (20.0, 0.5)],
            },
            Series {
                label: "single".into(),
                points: vec![(15.0, 0.5)],
            },
        ];
        line_chart(
            &dir.join("flat.svg"),
            "Flat",
            "step",
            "loss",
            &odd_lines,
            true,
        )
        .expect("flat");
        let big: Vec<Series> = (0..3)
            .map(|r| Series {
                label: format!("lr {}", 10f64.powi(-(r + 2))),
                points: (0..200)
                    .map(|t| {
                        let t = f64::from(t) * 1000.0;
                        (t, 1e-4 * (1.0 + r as f64 + (-t / 4e4).exp()))
                    })
                    .collect(),
            })
            .collect();
        line_chart(
            &dir.join("big.svg"),
            "Long run, small loss",
            "step",
            "loss",
            &big,
            false,
        )
        .expect("big");
    }
}
