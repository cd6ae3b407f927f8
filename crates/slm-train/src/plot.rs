//! `slm plot`: the curves of one or more runs' metrics.csv as a PNG: training loss (raw and smoothed for one
//! run, smoothed for several) with the validation loss on top, the learning rate below; several runs share
//! the axes, one colour each. Text uses DejaVu Sans Mono, embedded in the binary.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Result, TrainError};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansMono.ttf");

/// The series read from metrics.csv.
#[derive(Debug, Default)]
pub struct Curves {
    /// (step, loss) of training rows.
    pub train: Vec<(f64, f64)>,
    /// (step, loss) of validation rows.
    pub val: Vec<(f64, f64)>,
    /// (step, lr) of training rows.
    pub lr: Vec<(f64, f64)>,
}

/// Reads the curves of a metrics.csv.
///
/// # Errors
/// The file is missing, lacks a column, or has a value that is not a number.
pub fn read(path: &Path) -> Result<Curves> {
    let bad = |problem: String| TrainError::Data { path: path.to_owned(), problem };
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("has no `{name}` column")));
    let (step, split, loss, lr) = (col("step")?, col("split")?, col("loss")?, col("lr")?);
    let mut curves = Curves::default();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let num = |c: usize, name: &str| -> Result<f64> {
            row.get(c).unwrap_or_default().parse().map_err(|_| bad(format!("line {}: `{name}` is not a number", i + 2)))
        };
        let s = num(step, "step")?;
        match row.get(split) {
            Some("train") => {
                curves.train.push((s, num(loss, "loss")?));
                curves.lr.push((s, num(lr, "lr")?));
            }
            Some("val") => curves.val.push((s, num(loss, "loss")?)),
            _ => {}
        }
    }
    if curves.train.is_empty() && curves.val.is_empty() {
        return Err(bad("has no rows to plot".into()));
    }
    Ok(curves)
}

/// Exponential moving average (the smoothed training curve).
fn smooth(points: &[(f64, f64)], alpha: f64) -> Vec<(f64, f64)> {
    let mut s = None;
    points
        .iter()
        .map(|&(x, y)| {
            let v = s.map_or(y, |p: f64| alpha * y + (1.0 - alpha) * p);
            s = Some(v);
            (x, v)
        })
        .collect()
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0), lo.max(0.0) + 1.0) }
}

/// Colours of the runs of one plot.
const PALETTE: [RGBColor; 5] = [BLUE, RED, GREEN, MAGENTA, RGBColor(230, 140, 0)];

/// Draws the curves of `runs` (a name and its curves each) into a PNG at `out` (written beside it under a
/// temporary name, then renamed). One run keeps the classic look: raw training loss faint, smoothed blue,
/// validation red; several runs get a colour each, validation drawn thick with points.
///
/// # Errors
/// The image cannot be drawn or written.
pub fn draw(runs: &[(String, Curves)], out: &Path) -> Result<()> {
    let fail = |e: String| TrainError::Data { path: out.to_owned(), problem: format!("cannot draw the plot: {e}") };
    // Registering twice is harmless; the font is needed before any text is drawn.
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| fail("bad font".into()))?;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".slm-plot-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| TrainError::io(dir, e))?;
    let single = runs.len() == 1;
    let title = runs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" vs ");
    let all = || runs.iter().flat_map(|(_, c)| c.train.iter().chain(&c.val));
    {
        let root = BitMapBackend::new(tmp.path(), (1000, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let (top, bottom) = root.split_vertically(500);
        let steps = range(all().map(|p| p.0));
        let losses = range(all().map(|p| p.1));
        let pad = (losses.1 - losses.0) * 0.05;
        let mut chart = ChartBuilder::on(&top)
            .caption(format!("{title}: loss"), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(steps.0..steps.1, (losses.0 - pad)..(losses.1 + pad))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for (i, (name, curves)) in runs.iter().enumerate() {
            let (train_colour, val_colour) =
                if single { (BLUE, RED) } else { (PALETTE[i % PALETTE.len()], PALETTE[i % PALETTE.len()]) };
            let prefix = if single { String::new() } else { format!("{name} ") };
            if single {
                let faint = RGBColor(150, 180, 230);
                chart
                    .draw_series(LineSeries::new(curves.train.iter().copied(), faint))
                    .map_err(|e| fail(e.to_string()))?;
            }
            let width = if single { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(smooth(&curves.train, 0.3), train_colour.stroke_width(width)))
                .map_err(|e| fail(e.to_string()))?
                .label(format!("{prefix}train (smoothed)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], train_colour.stroke_width(width)));
            if !curves.val.is_empty() {
                let stroke = if single { 2 } else { 3 };
                chart
                    .draw_series(LineSeries::new(curves.val.iter().copied(), val_colour.stroke_width(stroke)))
                    .map_err(|e| fail(e.to_string()))?
                    .label(format!("{prefix}validation"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], val_colour.stroke_width(stroke)));
                chart
                    .draw_series(curves.val.iter().map(|&p| Circle::new(p, 4, val_colour.filled())))
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| fail(e.to_string()))?;

        let lrs = range(runs.iter().flat_map(|(_, c)| c.lr.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(&bottom)
            .caption("learning rate", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(steps.0..steps.1, 0.0..lrs.1 * 1.05)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("lr")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.1e}"))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for (i, (_, curves)) in runs.iter().enumerate() {
            let colour = if single { GREEN } else { PALETTE[i % PALETTE.len()] };
            chart
                .draw_series(LineSeries::new(curves.lr.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| TrainError::io(tmp.path(), e))?;
    }
    tmp.persist(out).map_err(|e| TrainError::io(out, e.error))?;
    Ok(())
}
