//! Contact sheets: images tiled in a grid, to look at views, masks and renders.

use crate::error::{Result, invalid};
use crate::image::Image;
use crate::resample::{Interpolation, resize};

/// Tiles `images` row by row, `columns` per row, each scaled (nearest, by a whole factor) so its
/// longer side is at least `min_cell` pixels and centred in a cell, on a grey background with a
/// 4-pixel gap. Grey images are shown as RGB.
pub fn contact_sheet(images: &[Image], columns: usize, min_cell: usize) -> Result<Image> {
    if images.is_empty() || columns == 0 {
        return Err(invalid("contact_sheet", "no images or no columns"));
    }
    let scaled: Vec<Image> = images
        .iter()
        .map(|img| {
            let side = img.height().max(img.width()).max(1);
            let f = min_cell.div_ceil(side).max(1);
            let img = if f > 1 {
                resize(
                    img,
                    img.height() * f,
                    img.width() * f,
                    Interpolation::Nearest,
                    false,
                )
            } else {
                img.clone()
            };
            if img.channels() == 1 {
                Image::from_fn(3, img.height(), img.width(), |_, y, x| img.get(0, y, x))
            } else {
                img
            }
        })
        .collect();
    if let Some(bad) = scaled.iter().find(|i| i.channels() != 3) {
        return Err(invalid(
            "contact_sheet",
            format!("cannot show an image of {} channels", bad.channels()),
        ));
    }
    let gap = 4;
    let cell_h = scaled.iter().map(Image::height).max().unwrap_or(1);
    let cell_w = scaled.iter().map(Image::width).max().unwrap_or(1);
    let rows = images.len().div_ceil(columns);
    let cols = columns.min(images.len());
    let (h, w) = (gap + rows * (cell_h + gap), gap + cols * (cell_w + gap));
    let mut sheet = Image::from_fn(3, h, w, |_, _, _| 0.5);
    for (k, img) in scaled.iter().enumerate() {
        let (r, c) = (k / columns, k % columns);
        let top = gap + r * (cell_h + gap) + (cell_h - img.height()) / 2;
        let left = gap + c * (cell_w + gap) + (cell_w - img.width()) / 2;
        for ch in 0..3 {
            let plane = sheet.plane_mut(ch);
            for y in 0..img.height() {
                for x in 0..img.width() {
                    plane[(top + y) * w + left + x] = img.get(ch, y, x);
                }
            }
        }
    }
    Ok(sheet)
}
