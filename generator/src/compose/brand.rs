//! The brand kit the compositor draws with: colours and font family.

use super::color::Rgb;
use super::font::FontFamily;

/// Brand colours and font.
///
/// `colors[0]` is the primary colour (gradient start), `colors[1]` the secondary (gradient end),
/// `colors[2]` the accent (CTA button, shapes). Missing entries are derived: the secondary is
/// the primary darkened, the accent is the secondary lightened towards white, or with one
/// colour given, the primary's complement.
#[derive(Debug, Clone)]
pub struct BrandStyle {
    /// Brand colours, most important first.
    pub colors: Vec<Rgb>,
    /// Font family for all text.
    pub font: FontFamily,
}

impl Default for BrandStyle {
    /// A neutral deep-blue kit with the bundled Noto Sans.
    fn default() -> Self {
        Self {
            colors: vec![
                Rgb([0x1d, 0x35, 0x57]),
                Rgb([0x45, 0x7b, 0x9d]),
                Rgb([0xe6, 0x39, 0x46]),
            ],
            font: FontFamily::noto_sans(),
        }
    }
}

impl BrandStyle {
    /// A kit with these colours and the bundled font (the default colours when `colors` is
    /// empty).
    pub fn with_colors(colors: Vec<Rgb>) -> Self {
        if colors.is_empty() {
            return Self::default();
        }
        Self {
            colors,
            font: FontFamily::noto_sans(),
        }
    }

    /// Primary colour.
    pub fn primary(&self) -> Rgb {
        self.colors
            .first()
            .copied()
            .unwrap_or(Rgb([0x1d, 0x35, 0x57]))
    }

    /// Secondary colour.
    pub fn secondary(&self) -> Rgb {
        self.colors
            .get(1)
            .copied()
            .unwrap_or_else(|| self.primary().mix(Rgb([0, 0, 0]), 0.35))
    }

    /// Accent colour (CTA button).
    pub fn accent(&self) -> Rgb {
        match (self.colors.get(2), self.colors.len()) {
            (Some(c), _) => *c,
            (None, 1) => {
                let [r, g, b] = self.primary().0;
                Rgb([255 - r, 255 - g, 255 - b]).mix(Rgb([255, 200, 0]), 0.3)
            }
            _ => self.secondary().mix(Rgb::WHITE, 0.45),
        }
    }
}
