//! Encoding a finished canvas as PNG, JPEG or WebP within a file-size budget.
//!
//! PNG and WebP (lossless: the `image` crate encodes WebP losslessly only) are tried first when
//! asked for; when the file is over budget the encoder falls back to JPEG, stepping the quality
//! down from 92 to 40 (the highest step within budget, found by binary search). JPEG requests
//! use the same quality ladder directly. What cannot reach the budget at quality 40 is an error.

use std::fmt;
use std::str::FromStr;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageEncoder, RgbaImage};

use super::ComposeError;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Lossless PNG (falls back to JPEG when over budget).
    Png,
    /// Baseline JPEG at the highest quality step within budget.
    Jpeg,
    /// Lossless WebP (falls back to JPEG when over budget).
    Webp,
}

/// JPEG quality ladder, best first.
const JPEG_QUALITIES: [u8; 8] = [92, 88, 84, 80, 72, 64, 52, 40];

impl OutputFormat {
    /// File extension without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Webp => "webp",
        }
    }

    /// MIME type.
    pub fn mime_type(&self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for OutputFormat {
    type Err = ComposeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(OutputFormat::Png),
            "jpg" | "jpeg" => Ok(OutputFormat::Jpeg),
            "webp" => Ok(OutputFormat::Webp),
            _ => Err(ComposeError::BadFormat(s.to_string())),
        }
    }
}

/// An encoded file.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    /// JPEG quality used, when the result is a JPEG.
    pub jpeg_quality: Option<u8>,
}

fn encode_png(rgb: &image::RgbImage, level: CompressionType) -> Result<Vec<u8>, ComposeError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, level, FilterType::Adaptive).write_image(
        rgb.as_raw(),
        rgb.width(),
        rgb.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

fn encode_webp(rgb: &image::RgbImage) -> Result<Vec<u8>, ComposeError> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out).write_image(
        rgb.as_raw(),
        rgb.width(),
        rgb.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

fn encode_jpeg(rgb: &image::RgbImage, quality: u8) -> Result<Vec<u8>, ComposeError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).write_image(
        rgb.as_raw(),
        rgb.width(),
        rgb.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// Encodes `canvas` (alpha dropped: creatives are opaque) as `format`, falling back to JPEG
/// quality steps until the file is at most `budget` bytes.
pub(crate) fn encode_within_budget(
    canvas: &RgbaImage,
    format: OutputFormat,
    budget: u64,
) -> Result<Encoded, ComposeError> {
    let rgb = DynamicImage::ImageRgba8(canvas.clone()).to_rgb8();
    let first = match format {
        OutputFormat::Png => {
            // The default deflate level first; the slow best level only when that lands just
            // over budget (it saves a few per cent, never the 2x a photo would need).
            let bytes = encode_png(&rgb, CompressionType::Default)?;
            let len = bytes.len() as u64;
            if len > budget && len <= budget + budget / 5 {
                Some(encode_png(&rgb, CompressionType::Best)?)
            } else {
                Some(bytes)
            }
        }
        OutputFormat::Webp => Some(encode_webp(&rgb)?),
        OutputFormat::Jpeg => None,
    };
    let mut smallest = u64::MAX;
    if let Some(bytes) = first {
        if bytes.len() as u64 <= budget {
            return Ok(Encoded {
                bytes,
                format,
                jpeg_quality: None,
            });
        }
        smallest = bytes.len() as u64;
        tracing::debug!(%format, bytes = smallest, budget, "over budget, falling back to JPEG");
    }
    // The best quality step within budget: the top step first (flat creatives fit at once),
    // then a binary search over the rest, file size falling with quality.
    let mut best: Option<(Vec<u8>, u8)> = None;
    let (mut lo, mut hi) = (0usize, JPEG_QUALITIES.len());
    let mut probe = 0usize;
    while lo < hi {
        let quality = JPEG_QUALITIES[probe];
        let bytes = encode_jpeg(&rgb, quality)?;
        smallest = smallest.min(bytes.len() as u64);
        if bytes.len() as u64 <= budget {
            best = Some((bytes, quality));
            hi = probe;
        } else {
            lo = probe + 1;
        }
        probe = lo + (hi - lo) / 2;
    }
    if let Some((bytes, quality)) = best {
        return Ok(Encoded {
            bytes,
            format: OutputFormat::Jpeg,
            jpeg_quality: Some(quality),
        });
    }
    Err(ComposeError::OverBudget { smallest, budget })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_jpeg_when_png_is_over_budget() {
        // Noise does not compress losslessly.
        let mut state = 12345u32;
        let img = RgbaImage::from_fn(300, 250, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let b = state.to_le_bytes();
            image::Rgba([b[1], b[2], b[3], 255])
        });
        let out = encode_within_budget(&img, OutputFormat::Png, 150_000).unwrap();
        assert_eq!(out.format, OutputFormat::Jpeg);
        assert!(out.bytes.len() <= 150_000);
        let flat = RgbaImage::from_pixel(300, 250, image::Rgba([10, 20, 30, 255]));
        let out = encode_within_budget(&flat, OutputFormat::Webp, 150_000).unwrap();
        assert_eq!(out.format, OutputFormat::Webp);
        assert!(encode_within_budget(&img, OutputFormat::Jpeg, 500).is_err());
        // The quality picked is the highest step within budget.
        let rgb = DynamicImage::ImageRgba8(img.clone()).to_rgb8();
        let sizes: Vec<u64> = JPEG_QUALITIES
            .iter()
            .map(|q| encode_jpeg(&rgb, *q).unwrap().len() as u64)
            .collect();
        for (i, budget) in sizes.iter().enumerate() {
            let out = encode_within_budget(&img, OutputFormat::Jpeg, *budget).unwrap();
            let first_fit = sizes.iter().position(|s| s <= budget).unwrap();
            assert_eq!(
                out.jpeg_quality,
                Some(JPEG_QUALITIES[first_fit]),
                "step {i}"
            );
        }
    }
}
