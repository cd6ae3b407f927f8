//! PNG heatmaps: a grid of square matrices (one panel per head of a layer, or one per attribution target),
//! drawn with plotters; each cell's darkness is its value relative to the panel's largest.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{ExplainError, Result};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansMono.ttf");

/// One panel: a title and a `rows × cols` matrix, flattened.
pub struct Panel<'a> {
    /// Shown above the panel.
    pub title: String,
    /// The values, row by row.
    pub values: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

/// Colour of `v` in [-1, 1]: white at 0, blue towards 1, red towards -1.
fn colour(v: f32) -> RGBColor {
    let a = v.clamp(-1.0, 1.0).abs();
    let fade = |c: u8| (255.0 - a * (255.0 - f32::from(c))) as u8;
    if v >= 0.0 { RGBColor(fade(8), fade(48), fade(107)) } else { RGBColor(fade(165), fade(15), fade(21)) }
}

/// Draws `panels` in a grid under `title` into the PNG `out` (written under a temporary name beside it,
/// then renamed). Row and column labels (token texts) are drawn when there are few enough.
///
/// # Errors
/// The image cannot be drawn or written.
pub fn draw(title: &str, panels: &[Panel<'_>], row_labels: &[String], col_labels: &[String], out: &Path) -> Result<()> {
    let fail = |problem: String| ExplainError::Output { path: out.to_owned(), problem };
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| fail("bad font".into()))?;
    let (rows, cols) = panels.first().map_or((1, 1), |p| (p.rows, p.cols));
    let cell = (480 / rows.max(cols)).clamp(2, 28) as i32;
    let labels = cell >= 10;
    let margin = if labels { 110 } else { 10 };
    let per_row = (panels.len() as f64).sqrt().ceil().max(1.0) as usize;
    let grid_rows = panels.len().div_ceil(per_row);
    let (pw, ph) = (cols as i32 * cell + margin + 20, rows as i32 * cell + margin + 40);
    // Wide enough for the title (about 11 pixels per character at size 20).
    let width = (pw * per_row as i32).max(title.chars().count() as i32 * 11 + 20);
    let size = (width as u32, (ph * grid_rows as i32 + 50) as u32);
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".slm-heatmap-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| fail(e.to_string()))?;
    {
        let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| fail(format!("cannot draw: {e}"));
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new(title.to_owned(), (10, 12), ("sans-serif", 20))).map_err(err)?;
        for (i, p) in panels.iter().enumerate() {
            let (x0, y0) = ((i % per_row) as i32 * pw + margin, (i / per_row) as i32 * ph + 50 + margin);
            root.draw(&Text::new(p.title.clone(), (x0, y0 - margin - 18), ("sans-serif", 14))).map_err(err)?;
            let max = p.values.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
            for r in 0..p.rows {
                for c in 0..p.cols {
                    let v = p.values[r * p.cols + c] / max;
                    let (x, y) = (x0 + c as i32 * cell, y0 + r as i32 * cell);
                    root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour(v).filled())).map_err(err)?;
                }
            }
            if labels {
                let font = ("sans-serif", (cell - 2).min(13)).into_font();
                for (r, label) in row_labels.iter().enumerate().take(p.rows) {
                    let text = short(label);
                    root.draw(&Text::new(text, (x0 - margin + 4, y0 + r as i32 * cell + 1), font.clone()))
                        .map_err(err)?;
                }
                let vertical = font.transform(FontTransform::Rotate270);
                for (c, label) in col_labels.iter().enumerate().take(p.cols) {
                    let text = short(label);
                    root.draw(&Text::new(text, (x0 + c as i32 * cell + 1, y0 - 4), vertical.clone())).map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Temporary files are private; an image is for reading.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| fail(e.to_string()))?;
    }
    tmp.persist(out).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// A token's label: whitespace made visible, at most 12 characters.
fn short(token: &str) -> String {
    let visible: String = token
        .chars()
        .map(|c| match c {
            '\n' => "\\n".to_owned(),
            ' ' => "·".to_owned(),
            c if c.is_control() => "?".to_owned(),
            c => c.to_string(),
        })
        .collect();
    visible.chars().take(12).collect()
}
