//! sRGB colours, hex parsing and the WCAG 2.x relative luminance and contrast ratio.

use std::fmt;
use std::str::FromStr;

use super::ComposeError;

/// An opaque sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub [u8; 3]);

/// Minimum WCAG contrast ratio for normal-size text (success criterion 1.4.3, level AA).
pub const WCAG_AA_TEXT: f32 = 4.5;

impl Rgb {
    /// Pure white.
    pub const WHITE: Rgb = Rgb([255, 255, 255]);
    /// The near-black used for dark text.
    pub const INK: Rgb = Rgb([17, 17, 17]);

    /// Parses `#RRGGBB`, `RRGGBB`, `#RGB` or `RGB`.
    pub fn parse_hex(text: &str) -> Result<Self, ComposeError> {
        let bad = || ComposeError::BadColor(text.to_string());
        let hex = text.trim().trim_start_matches('#');
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        match digits.len() {
            3 => Ok(Rgb([digits[0] * 17, digits[1] * 17, digits[2] * 17])),
            6 => Ok(Rgb([
                digits[0] * 16 + digits[1],
                digits[2] * 16 + digits[3],
                digits[4] * 16 + digits[5],
            ])),
            _ => Err(bad()),
        }
    }

    /// WCAG relative luminance in `[0, 1]`.
    pub fn luminance(self) -> f32 {
        relative_luminance(self.0)
    }

    /// WCAG contrast ratio between two colours, in `[1, 21]`.
    pub fn contrast(self, other: Rgb) -> f32 {
        contrast_ratio(self.luminance(), other.luminance())
    }

    /// Linear mix in sRGB space: `t = 0` gives `self`, `t = 1` gives `other`.
    pub fn mix(self, other: Rgb, t: f32) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let mut out = [0u8; 3];
        for (i, o) in out.iter_mut().enumerate() {
            let v = f32::from(self.0[i]) * (1.0 - t) + f32::from(other.0[i]) * t;
            *o = v.round().clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    }

    /// The colour with alpha `a` as an RGBA pixel.
    pub fn with_alpha(self, a: u8) -> image::Rgba<u8> {
        image::Rgba([self.0[0], self.0[1], self.0[2], a])
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

impl FromStr for Rgb {
    type Err = ComposeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_hex(s)
    }
}

/// WCAG relative luminance of an sRGB pixel.
pub fn relative_luminance(rgb: [u8; 3]) -> f32 {
    let lin = |c: u8| {
        let c = f32::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

/// WCAG contrast ratio of two relative luminances.
pub fn contrast_ratio(a: f32, b: f32) -> f32 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    (hi + 0.05) / (lo + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_measures_contrast() {
        assert_eq!(Rgb::parse_hex("#ff8000").unwrap(), Rgb([255, 128, 0]));
        assert_eq!(Rgb::parse_hex("0af").unwrap(), Rgb([0, 170, 255]));
        assert!(Rgb::parse_hex("#12345").is_err());
        assert!(Rgb::parse_hex("zzzzzz").is_err());
        let white_black = Rgb::WHITE.contrast(Rgb([0, 0, 0]));
        assert!((white_black - 21.0).abs() < 0.01);
        // #777777 on white is the classic 4.48:1 just-failing grey.
        let grey = Rgb([0x77, 0x77, 0x77]).contrast(Rgb::WHITE);
        assert!((grey - 4.48).abs() < 0.01, "{grey}");
    }
}
