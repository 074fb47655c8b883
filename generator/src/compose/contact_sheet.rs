//! Contact sheet: one creative rendered at many sizes on one labelled image, for people to
//! review a campaign at a glance.

use image::imageops::{self, FilterType};
use image::RgbaImage;

use super::background::Background;
use super::brand::BrandStyle;
use super::color::Rgb;
use super::encode::OutputFormat;
use super::font::Weight;
use super::mask::CoverageMask;
use super::paint;
use super::rect::Rect;
use super::render::compose;
use super::size::AdSize;
use super::text_block::{fit_text, Align, TextStyle};
use super::{ComposeError, CreativeCopy};

const SHEET_WIDTH: u32 = 1800;
const PADDING: u32 = 24;
const LABEL_HEIGHT: u32 = 22;
const MAX_CELL_WIDTH: f32 = 860.0;
const MAX_CELL_HEIGHT: f32 = 420.0;

/// Renders the creative at every size in `sizes` and lays the results out on one sheet, each
/// scaled down to at most 860x420 px and labelled with its size, file format and file size (and
/// "without the product" where a size has no room for the product).
/// A size that fails is shown as a red-outlined cell labelled with the error.
pub fn contact_sheet(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    background: &Background,
    sizes: &[AdSize],
) -> Result<RgbaImage, ComposeError> {
    struct Cell {
        image: Option<RgbaImage>,
        width: u32,
        height: u32,
        label: String,
    }
    let mut cells = Vec::new();
    for &size in sizes {
        let k = (MAX_CELL_WIDTH / size.width as f32)
            .min(MAX_CELL_HEIGHT / size.height as f32)
            .min(1.0);
        let width = ((size.width as f32 * k).round() as u32).max(1);
        let height = ((size.height as f32 * k).round() as u32).max(1);
        match compose(copy, brand, logo, background, size, OutputFormat::Png) {
            Ok(c) => {
                let scaled = if k < 1.0 {
                    imageops::resize(&c.pixels, width, height, FilterType::Triangle)
                } else {
                    c.pixels.clone()
                };
                let mut label = format!(
                    "{size}  {}  {:.0} kB",
                    c.format,
                    c.bytes.len() as f32 / 1000.0
                );
                if c.product_omitted.is_some() {
                    label.push_str("  without the product (no room)");
                }
                cells.push(Cell {
                    image: Some(scaled),
                    width,
                    height,
                    label,
                });
            }
            Err(e) => cells.push(Cell {
                image: None,
                width,
                height,
                label: format!("{size}: {e}"),
            }),
        }
    }
    // Shelf packing, left to right, top to bottom.
    let mut positions = Vec::with_capacity(cells.len());
    let (mut x, mut y, mut shelf_h) = (PADDING, PADDING, 0u32);
    for cell in &cells {
        let w = cell.width.max(200);
        if x + w + PADDING > SHEET_WIDTH && x > PADDING {
            x = PADDING;
            y += shelf_h + LABEL_HEIGHT + PADDING;
            shelf_h = 0;
        }
        positions.push((x, y));
        x += w + PADDING;
        shelf_h = shelf_h.max(cell.height);
    }
    let total_h = y + shelf_h + LABEL_HEIGHT + PADDING;
    let mut sheet =
        RgbaImage::from_pixel(SHEET_WIDTH, total_h, Rgb([236, 236, 236]).with_alpha(255));
    let face = brand.font.face(Weight::Regular)?;
    for (cell, (x, y)) in cells.iter().zip(positions) {
        let (x, y) = (x as i32, y as i32);
        match &cell.image {
            Some(img) => paint::draw_image(&mut sheet, img, x, y, None),
            None => {
                let r = Rect::new(x, y, cell.width, cell.height);
                paint::fill_rounded_rect(&mut sheet, &r, 0.0, Rgb([200, 40, 40]), 1.0);
                paint::fill_rounded_rect(
                    &mut sheet,
                    &r.inflate(-2),
                    0.0,
                    Rgb([250, 250, 250]),
                    1.0,
                );
            }
        }
        let label_box = Rect::new(
            x,
            y + cell.height as i32 + 2,
            cell.width.max(200) + PADDING - 4,
            LABEL_HEIGHT - 2,
        );
        let style = TextStyle {
            max_px: 13.0,
            min_px: 7.0,
            line_height: 1.1,
            max_lines: 2,
            align: Align::Left,
        };
        if let Some(fitted) = fit_text(&face, &cell.label, label_box, &style) {
            let mut layer = CoverageMask::around_canvas(sheet.width(), sheet.height(), 0);
            fitted.rasterise(&face, &mut layer);
            let color = if cell.image.is_some() {
                Rgb::INK
            } else {
                Rgb([160, 20, 20])
            };
            paint::draw_coverage(&mut sheet, &layer, color);
        }
    }
    Ok(sheet)
}

/// [`contact_sheet`] encoded as PNG.
pub fn contact_sheet_png(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    background: &Background,
    sizes: &[AdSize],
) -> Result<Vec<u8>, ComposeError> {
    let sheet = contact_sheet(copy, brand, logo, background, sizes)?;
    let mut out = std::io::Cursor::new(Vec::new());
    sheet.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}
