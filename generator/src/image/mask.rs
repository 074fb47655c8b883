//! Inpainting masks: white (255) marks pixels to repaint, black (0) pixels to keep, as in
//! diffusers. Reading a mask from any image, the binarised tensor the pipeline uses, and the
//! grid alignment and feathering that the painting helpers build on.

use ::image::imageops::{self, FilterType};
use ::image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use tch::Tensor;

/// Converts any image to a grey mask the way diffusers' mask processor does (PIL's `convert("L")`:
/// ITU-R 601-2 luma `(299 R + 587 G + 114 B) / 1000` in PIL's fixed point, alpha ignored).
pub fn mask_from_image(image: &DynamicImage) -> GrayImage {
    match image {
        DynamicImage::ImageLuma8(gray) => gray.clone(),
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => image.to_luma8(),
        _ => {
            let rgb = image.to_rgb8();
            let (w, h) = rgb.dimensions();
            GrayImage::from_fn(w, h, |x, y| {
                let [r, g, b] = rgb.get_pixel(x, y).0;
                Luma([pil_luma(r, g, b)])
            })
        }
    }
}

/// PIL's `L24` macro: `(R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16`.
fn pil_luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// The mask as a `(1, 1, height, width)` f32 tensor of 0 (keep) and 1 (repaint): resized to
/// `width` x `height` when its size differs, then binarised at one half as diffusers does.
pub(crate) fn mask_tensor(mask: &GrayImage, width: u32, height: u32) -> Tensor {
    let resized;
    let mask = if mask.dimensions() == (width, height) {
        mask
    } else {
        resized =
            ::image::imageops::resize(mask, width, height, ::image::imageops::FilterType::Lanczos3);
        &resized
    };
    let values: Vec<f32> = mask
        .as_raw()
        .iter()
        .map(|&v| if f32::from(v) / 255.0 < 0.5 { 0.0 } else { 1.0 })
        .collect();
    Tensor::from_slice(&values).view([1, 1, i64::from(height), i64::from(width)])
}

/// Whether the mask repaints anything at all and keeps anything at all (after binarising).
pub fn mask_coverage(mask: &GrayImage) -> (bool, bool) {
    let repaint = mask.as_raw().iter().any(|&v| v >= 128);
    let keep = mask.as_raw().iter().any(|&v| v < 128);
    (repaint, keep)
}

/// Widens the repainted area to whole `cell` x `cell` blocks: every block holding a repainted
/// pixel is repainted entirely. The pipeline samples the mask once per latent cell (8 pixels), so
/// without this a kept cell could carry a few pixels that should have been repainted (the
/// background around a cut-out, the edge of a margin).
pub fn snap_to_grid(mask: &GrayImage, cell: u32) -> GrayImage {
    let cell = cell.max(1);
    let (w, h) = mask.dimensions();
    let mut out = GrayImage::new(w, h);
    for by in (0..h).step_by(cell as usize) {
        for bx in (0..w).step_by(cell as usize) {
            let (ex, ey) = ((bx + cell).min(w), (by + cell).min(h));
            let repaint = (by..ey).any(|y| (bx..ex).any(|x| mask.get_pixel(x, y).0[0] >= 128));
            let value = if repaint { 255 } else { 0 };
            for y in by..ey {
                for x in bx..ex {
                    out.put_pixel(x, y, Luma([value]));
                }
            }
        }
    }
    out
}

/// Lays the kept part of `original` back over an inpainted picture: each pixel is
/// `original * (1 - m) + painted * m` with `m` the mask's grey level (so a hard mask copies the
/// kept pixels exactly and a soft one feathers the seam). The original and the mask are resized
/// to the painted picture's size when they differ.
pub fn overlay(original: &RgbImage, painted: &RgbImage, mask: &GrayImage) -> RgbImage {
    let (w, h) = painted.dimensions();
    let resized_original;
    let original = if original.dimensions() == (w, h) {
        original
    } else {
        resized_original = imageops::resize(original, w, h, FilterType::Lanczos3);
        &resized_original
    };
    let resized_mask;
    let mask = if mask.dimensions() == (w, h) {
        mask
    } else {
        resized_mask = imageops::resize(mask, w, h, FilterType::Triangle);
        &resized_mask
    };
    RgbImage::from_fn(w, h, |x, y| {
        let m = f32::from(mask.get_pixel(x, y).0[0]) / 255.0;
        let (a, b) = (original.get_pixel(x, y).0, painted.get_pixel(x, y).0);
        Rgb(std::array::from_fn(|c| {
            (f32::from(a[c]) * (1.0 - m) + f32::from(b[c]) * m).round() as u8
        }))
    })
}

/// An axis-aligned rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// Whether the rectangle holds the pixel.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.width && y < self.y + self.height
    }
}

/// Which sides of a rectangle inside a canvas face a margin (are not on the canvas border).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenSides {
    left: bool,
    top: bool,
    right: bool,
    bottom: bool,
}

impl OpenSides {
    /// The sides of `rect` that lie inside a `width` x `height` canvas.
    pub(crate) fn of(rect: Rect, width: u32, height: u32) -> Self {
        OpenSides {
            left: rect.x > 0,
            top: rect.y > 0,
            right: rect.x + rect.width < width,
            bottom: rect.y + rect.height < height,
        }
    }

    /// Distance in pixels from `(x, y)` inside `rect` to its nearest open side (`u32::MAX` when
    /// no side is open).
    pub(crate) fn distance(&self, rect: Rect, x: u32, y: u32) -> u32 {
        let mut d = u32::MAX;
        if self.left {
            d = d.min(x - rect.x);
        }
        if self.top {
            d = d.min(y - rect.y);
        }
        if self.right {
            d = d.min(rect.x + rect.width - 1 - x);
        }
        if self.bottom {
            d = d.min(rect.y + rect.height - 1 - y);
        }
        d
    }
}

/// The expansion mask of a `width` x `height` canvas whose `source` rectangle holds the original
/// picture: everything outside it is repainted, and so is a band `overlap` pixels wide inside
/// its sides that face a margin, so that the seam is painted over.
pub fn margin_mask(width: u32, height: u32, source: Rect, overlap: u32) -> GrayImage {
    let sides = OpenSides::of(source, width, height);
    GrayImage::from_fn(width, height, |x, y| {
        let keep = source.contains(x, y) && sides.distance(source, x, y) >= overlap;
        Luma([if keep { 0 } else { 255 }])
    })
}

/// Weight of the original picture at `(x, y)` when the painted margins are blended back over a
/// band `feather` pixels wide inside the source's open sides: 0 outside the source, rising
/// linearly across the band to 1, and 1 further in.
pub(crate) fn feather_weight(source: Rect, sides: OpenSides, feather: u32, x: u32, y: u32) -> f32 {
    if !source.contains(x, y) {
        return 0.0;
    }
    let d = sides.distance(source, x, y);
    if feather == 0 || d >= feather {
        1.0
    } else {
        (d as f32 + 0.5) / feather as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_conversion_matches_pil_and_binarises_at_one_half() {
        // Values printed by PIL: Image.new("RGB", (1, 1), c).convert("L").getpixel((0, 0)).
        assert_eq!(pil_luma(140, 120, 110), 125);
        assert_eq!(pil_luma(120, 140, 130), 133);
        assert_eq!(pil_luma(255, 40, 10), 101);
        assert_eq!(pil_luma(255, 255, 255), 255);
        let mut rgb = RgbImage::from_pixel(2, 1, Rgb([140, 120, 110]));
        rgb.put_pixel(1, 0, Rgb([120, 140, 130]));
        let mask = mask_from_image(&DynamicImage::ImageRgb8(rgb));
        assert_eq!(mask.as_raw(), &[125, 133]);
        let t = mask_tensor(&mask, 2, 1);
        assert_eq!(
            Vec::<f32>::try_from(t.flatten(0, -1)).unwrap(),
            vec![0.0, 1.0]
        );
    }

    #[test]
    fn overlay_copies_kept_pixels_and_blends_grey_ones() {
        let original = RgbImage::from_pixel(3, 1, Rgb([200, 100, 0]));
        let painted = RgbImage::from_pixel(3, 1, Rgb([0, 0, 100]));
        let mask = GrayImage::from_raw(3, 1, vec![0, 255, 51]).unwrap();
        let out = overlay(&original, &painted, &mask);
        assert_eq!(out.get_pixel(0, 0).0, [200, 100, 0]);
        assert_eq!(out.get_pixel(1, 0).0, [0, 0, 100]);
        assert_eq!(out.get_pixel(2, 0).0, [160, 80, 20]);
    }

    #[test]
    fn grid_snapping_repaints_whole_cells() {
        let mut mask = GrayImage::new(16, 8);
        mask.put_pixel(9, 3, Luma([255]));
        let snapped = snap_to_grid(&mask, 8);
        assert_eq!(snapped.get_pixel(8, 0).0[0], 255);
        assert_eq!(snapped.get_pixel(15, 7).0[0], 255);
        assert_eq!(snapped.get_pixel(7, 3).0[0], 0);
        assert_eq!(mask_coverage(&snapped), (true, true));
    }

    #[test]
    fn margin_mask_covers_margins_and_the_overlap_band_only() {
        // A square source centred in a wide canvas: margins left and right, none above or below.
        let source = Rect {
            x: 20,
            y: 0,
            width: 40,
            height: 40,
        };
        let mask = margin_mask(80, 40, source, 4);
        assert_eq!(mask.get_pixel(0, 0).0[0], 255);
        assert_eq!(mask.get_pixel(79, 39).0[0], 255);
        assert_eq!(mask.get_pixel(23, 20).0[0], 255, "overlap band on the left");
        assert_eq!(mask.get_pixel(24, 20).0[0], 0);
        assert_eq!(
            mask.get_pixel(40, 0).0[0],
            0,
            "top edge is the canvas border"
        );
        let sides = OpenSides::of(source, 80, 40);
        assert_eq!(feather_weight(source, sides, 4, 10, 10), 0.0);
        assert!(feather_weight(source, sides, 4, 20, 10) < 0.2);
        assert_eq!(feather_weight(source, sides, 4, 40, 0), 1.0);
    }
}
