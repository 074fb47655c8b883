//! Ad sizes: parsing `"300x250"`, the preset list from `shared/reference/ad-specs.md`, the
//! layout family each size uses and the file-size budget of each size.

use std::fmt;
use std::str::FromStr;

use super::ComposeError;

/// Pixel dimensions of one ad creative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Where a preset size comes from, which decides its default file-size budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeFamily {
    /// IAB New Ad Portfolio fixed display size.
    IabDisplay,
    /// IAB full-screen mobile interstitial (also used for stories at 1080x1920).
    Interstitial,
    /// Social network feed or link image (Meta, X, LinkedIn).
    Social,
}

/// One named preset size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresetSize {
    /// Human name as the spec sheet uses it.
    pub name: &'static str,
    /// The size itself.
    pub size: AdSize,
    /// Which family the size belongs to.
    pub family: SizeFamily,
}

const fn preset(name: &'static str, width: u32, height: u32, family: SizeFamily) -> PresetSize {
    PresetSize {
        name,
        size: AdSize { width, height },
        family,
    }
}

/// Every image size listed in `shared/reference/ad-specs.md`: the IAB New Ad Portfolio fixed
/// sizes, the mobile interstitials and the social sizes (each size once; 1080x1920 is both the
/// IAB interstitial and the Meta stories size and is listed as an interstitial, whose budget is
/// the stricter one).
pub const PRESET_SIZES: &[PresetSize] = &[
    preset("IAB billboard", 970, 250, SizeFamily::IabDisplay),
    preset("IAB smartphone banner", 320, 50, SizeFamily::IabDisplay),
    preset("IAB smartphone banner", 300, 50, SizeFamily::IabDisplay),
    preset("IAB leaderboard", 728, 90, SizeFamily::IabDisplay),
    preset("IAB super leaderboard", 970, 90, SizeFamily::IabDisplay),
    preset("IAB portrait", 300, 1050, SizeFamily::IabDisplay),
    preset("IAB skyscraper", 160, 600, SizeFamily::IabDisplay),
    preset("IAB medium rectangle", 300, 250, SizeFamily::IabDisplay),
    preset("IAB button", 120, 60, SizeFamily::IabDisplay),
    preset("IAB half page", 300, 600, SizeFamily::IabDisplay),
    preset("IAB banner", 468, 60, SizeFamily::IabDisplay),
    preset(
        "IAB mobile interstitial",
        640,
        1136,
        SizeFamily::Interstitial,
    ),
    preset(
        "IAB mobile interstitial",
        750,
        1334,
        SizeFamily::Interstitial,
    ),
    preset(
        "IAB interstitial / stories 9:16",
        1080,
        1920,
        SizeFamily::Interstitial,
    ),
    preset("Meta feed 1:1", 1080, 1080, SizeFamily::Social),
    preset("Meta feed 4:5", 1080, 1350, SizeFamily::Social),
    preset("Meta link image 1.91:1", 1200, 628, SizeFamily::Social),
    preset("X single image 16:9", 1200, 675, SizeFamily::Social),
    preset("X single image 1:1", 1200, 1200, SizeFamily::Social),
    preset("LinkedIn single image", 1200, 627, SizeFamily::Social),
];

/// File-size budget of an IAB display size: the IAB initial-load budget (150 kB, the figure the
/// spec sheet gives for 300x250), applied to every fixed display size.
pub const IAB_DISPLAY_BUDGET_BYTES: u64 = 150 * 1000;
/// File-size budget of a full-screen interstitial: twice the display budget, so that a
/// full-screen image stays a small part of a mobile page load.
pub const INTERSTITIAL_BUDGET_BYTES: u64 = 300 * 1000;
/// File-size budget of social images: 1 MB, far below the platforms' upload limits (5 MB on X
/// and LinkedIn, 30 MB on Meta) so feeds load fast.
pub const SOCIAL_BUDGET_BYTES: u64 = 1000 * 1000;

/// The layout family a size is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutFamily {
    /// Tiny banners at most 100 px tall (320x50, 300x50, 468x60, 728x90, 970x90, 120x60):
    /// everything on one row, or two rows for the 120x60 button.
    Compact,
    /// Landscape sizes (aspect ratio at least 1.5): text column on the left, visual on the right.
    Wide,
    /// Square-ish sizes: visual on top, text stacked below.
    Square,
    /// Portrait sizes (aspect below 0.75): logo and copy on top, visual in the middle, CTA below.
    Tall,
}

impl AdSize {
    /// A size of `width` x `height` pixels.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Parses `"300x250"` (also `"300X250"` and `"300×250"`).
    pub fn parse(text: &str) -> Result<Self, ComposeError> {
        let bad = || ComposeError::BadSize(text.to_string());
        let trimmed = text.trim();
        let (w, h) = trimmed.split_once(['x', 'X', '×']).ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        if !(16..=8192).contains(&width) || !(16..=8192).contains(&height) {
            return Err(bad());
        }
        Ok(Self { width, height })
    }

    /// The preset entry for this size, when it is one of [`PRESET_SIZES`].
    pub fn preset(&self) -> Option<&'static PresetSize> {
        PRESET_SIZES.iter().find(|p| p.size == *self)
    }

    /// File-size budget in bytes: the preset family's budget, or for a custom size the budget
    /// of the family it resembles (IAB display up to 300x600 pixels' worth of area, interstitial
    /// up to 1080x1920, social beyond).
    pub fn byte_budget(&self) -> u64 {
        let family = match self.preset() {
            Some(p) => p.family,
            None => {
                let area = u64::from(self.width) * u64::from(self.height);
                if area <= 300 * 1050 {
                    SizeFamily::IabDisplay
                } else if area <= 1080 * 1920 && self.height > self.width {
                    SizeFamily::Interstitial
                } else {
                    SizeFamily::Social
                }
            }
        };
        match family {
            SizeFamily::IabDisplay => IAB_DISPLAY_BUDGET_BYTES,
            SizeFamily::Interstitial => INTERSTITIAL_BUDGET_BYTES,
            SizeFamily::Social => SOCIAL_BUDGET_BYTES,
        }
    }

    /// Which layout template draws this size.
    pub fn layout_family(&self) -> LayoutFamily {
        let aspect = self.width as f32 / self.height as f32;
        if self.height <= 100 && aspect >= 1.5 {
            LayoutFamily::Compact
        } else if aspect >= 1.5 {
            LayoutFamily::Wide
        } else if aspect >= 0.75 {
            LayoutFamily::Square
        } else {
            LayoutFamily::Tall
        }
    }
}

impl fmt::Display for AdSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for AdSize {
    type Err = ComposeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(AdSize::parse("300x250").unwrap(), AdSize::new(300, 250));
        assert_eq!(
            AdSize::parse(" 1080X1920 ").unwrap(),
            AdSize::new(1080, 1920)
        );
        assert!(AdSize::parse("300").is_err());
        assert!(AdSize::parse("0x250").is_err());
        assert!(AdSize::parse("axb").is_err());
    }

    #[test]
    fn presets_are_unique_and_tiny_banners_are_compact() {
        for (i, a) in PRESET_SIZES.iter().enumerate() {
            for b in &PRESET_SIZES[i + 1..] {
                assert_ne!(a.size, b.size, "{} listed twice", a.size);
            }
        }
        for s in ["320x50", "300x50", "468x60", "728x90", "970x90", "120x60"] {
            assert_eq!(
                AdSize::parse(s).unwrap().layout_family(),
                LayoutFamily::Compact,
                "{s}"
            );
        }
        assert_eq!(AdSize::new(300, 250).byte_budget(), 150_000);
    }
}
