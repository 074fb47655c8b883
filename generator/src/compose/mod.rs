//! Creative compositor: finished ad images at real ad sizes, on brand.
//!
//! # API (what the CLI and the HTTP API call)
//!
//! ```no_run
//! use adforge_generator::compose::{
//!     compose, contact_sheet_png, AdSize, Background, BrandStyle, CreativeCopy, OutputFormat, Rgb,
//!     PRESET_SIZES,
//! };
//! # fn main() -> Result<(), adforge_generator::compose::ComposeError> {
//! let copy = CreativeCopy::new("Fresh roast, delivered", "Beans roasted this week.", "Order now");
//! let brand = BrandStyle::with_colors(vec![Rgb::parse_hex("#1d3557")?, Rgb::parse_hex("#e63946")?]);
//! let size: AdSize = "300x250".parse()?;
//! let creative = compose(&copy, &brand, None, &Background::Designed, size, OutputFormat::Png)?;
//! std::fs::write("ad.png", &creative.bytes).unwrap();
//! let all: Vec<AdSize> = PRESET_SIZES.iter().map(|p| p.size).collect();
//! let sheet = contact_sheet_png(&copy, &brand, None, &Background::Designed, &all)?;
//! # Ok(()) }
//! ```
//!
//! - [`compose`]`(&CreativeCopy, &BrandStyle, logo: Option<&RgbaImage>, &Background, AdSize,
//!   OutputFormat) -> Result<ComposedCreative, ComposeError>` renders one creative.
//! - [`contact_sheet`] / [`contact_sheet_png`] render several sizes onto one labelled sheet.
//! - [`AdSize`] parses `"300x250"`; [`PRESET_SIZES`] lists every size of
//!   `shared/reference/ad-specs.md`; [`AdSize::byte_budget`] gives the file-size budget
//!   (150 kB for IAB display sizes, 300 kB for interstitials, 1 MB for social sizes).
//! - [`Background`]: a full-bleed image (diffusion output or photo, smart-cropped around its
//!   salient area), a product over a [`ProductBackdrop`] (designed, a picture, or a scene painted
//!   around it), or a background designed from the brand colours alone.
//! - [`ProductImage::prepare`] cuts a product photo out once (its own alpha, a studio backdrop
//!   removed by a flood fill with soft edges, or the photo set as a panel) and records the
//!   [`CutoutDecision`] in a serialisable [`CutoutReport`] for provenance.
//! - [`product_canvas`] gives the product placed alone at one size, the input of painting a
//!   scene around it; [`expand_designed`] derives another aspect ratio of a picture without a
//!   model (smart crop plus a designed extension of its edges; [`ExpansionPlan`] says where the
//!   picture lands).
//! - [`Rgb::parse_hex`] for `--brand-color`; [`OutputFormat`] parses `png`, `jpg`, `webp`.
//! - [`load_image`] / [`decode_image`] read `--logo`, `--background` and product photos;
//!   [`ComposedCreative::file_name`] names the output (`300x250.png`).
//!
//! # Guarantees
//!
//! - Every text element is wrapped at Unicode line-break opportunities and shrunk (down to a
//!   per-size minimum) until every glyph's ink lies inside its box; what does not fit at the
//!   minimum is [`ComposeError::DoesNotFit`] naming the element and the size, never cut.
//! - Every text element reaches a WCAG contrast of at least 4.5:1 against every backdrop pixel
//!   within 3 px of its glyphs, measured on the finished canvas: the compositor picks white or
//!   near-black text, and where neither is enough it lays one black scrim (a translucent panel,
//!   opacity in 5 % steps, just strong enough) behind the neighbouring text elements of the
//!   column. The CTA button colour is the brand accent, darkened until its label passes.
//!   A creative that still measured under 4.5:1 would be [`ComposeError::LowContrast`].
//! - Minimum font sizes (px per em): headline 10, body and CTA 9, disclaimer 7, raised to 3 %,
//!   2.2 %, 2.2 % and 1.4 % of the size's scale (its shorter side, up to 1.6x that for
//!   portrait sizes) on large canvases; compact banners go down to 9 / 8 / 8 / 7 px. Words are
//!   not hyphenated: a word wider than its box at the minimum size is a `DoesNotFit` error.
//! - The logo and all text lie inside the safe area (the canvas minus 6 % of the shorter side,
//!   3 to 64 px).
//! - The file fits the size's budget; PNG and WebP fall back to JPEG quality steps when not.
//! - A product is drawn in a slot that no text box, CTA button or logo overlaps, grown into the
//!   room the copy leaves, with a soft shadow inside the slot; never under [`MIN_PRODUCT_PX`]
//!   (and [`MIN_PRODUCT_SHARE_OF_SHORT_SIDE`] of the shorter side) nor over
//!   [`MAX_PRODUCT_SHARE`] of the canvas. Where a size has no room for a legible product
//!   (the 120x60 button and the 50 px banners) the creative is laid out without it and
//!   [`ComposedCreative::product_omitted`] says why.
//! - The 120x60 button and the 50 to 60 px tall banners leave out the body copy (listed in
//!   [`ComposedCreative::omitted`]); a disclaimer is never left out: where there is no room for
//!   it the size fails with [`ComposeError::DoesNotFit`].

mod background;
mod brand;
mod color;
mod contact_sheet;
mod cutout;
mod encode;
mod expand;
mod font;
mod layout;
mod legibility;
mod mask;
mod paint;
mod place;
mod product;
mod rect;
mod render;
mod size;
mod text_block;

use std::fmt;

pub use background::{Background, ProductBackdrop};
pub use brand::BrandStyle;
pub use color::{contrast_ratio, relative_luminance, Rgb, WCAG_AA_TEXT};
pub use contact_sheet::{contact_sheet, contact_sheet_png};
pub use cutout::{
    CutoutDecision, CutoutReport, ProductImage, PRODUCT_MIN_SOURCE_SIDE, PRODUCT_WORK_SIDE,
};
pub use encode::OutputFormat;
pub use expand::{expand_designed, ExpansionPlan};
pub use font::{FontFamily, Weight};
pub use image::RgbaImage;
pub use mask::CoverageMask;
pub use product::{
    PlacedProduct, MAX_PRODUCT_SHARE, MAX_PRODUCT_UPSCALE, MIN_PRODUCT_PX,
    MIN_PRODUCT_SHARE_OF_SHORT_SIDE, MIN_PRODUCT_THIN_PX,
};
pub use rect::Rect;
pub use render::{compose, product_canvas, ProductCanvas};
pub use size::{
    AdSize, LayoutFamily, PresetSize, SizeFamily, IAB_DISPLAY_BUDGET_BYTES,
    INTERSTITIAL_BUDGET_BYTES, PRESET_SIZES, SOCIAL_BUDGET_BYTES,
};

/// The copy of one creative.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreativeCopy {
    /// Headline (required).
    pub headline: String,
    /// Body copy (may be empty).
    pub body: String,
    /// Call-to-action button label (required).
    pub cta: String,
    /// Legal disclaimer (optional; never left out when given).
    pub disclaimer: Option<String>,
}

impl CreativeCopy {
    /// Copy without a disclaimer.
    pub fn new(
        headline: impl Into<String>,
        body: impl Into<String>,
        cta: impl Into<String>,
    ) -> Self {
        Self {
            headline: headline.into(),
            body: body.into(),
            cta: cta.into(),
            disclaimer: None,
        }
    }

    /// The same copy with a disclaimer.
    pub fn with_disclaimer(mut self, disclaimer: impl Into<String>) -> Self {
        self.disclaimer = Some(disclaimer.into());
        self
    }

    /// The text of one element (`None` when absent or blank).
    pub fn text(&self, element: TextElement) -> Option<&str> {
        let t = match element {
            TextElement::Headline => self.headline.as_str(),
            TextElement::Body => self.body.as_str(),
            TextElement::Cta => self.cta.as_str(),
            TextElement::Disclaimer => self.disclaimer.as_deref().unwrap_or(""),
        };
        let t = t.trim();
        (!t.is_empty()).then_some(t)
    }
}

/// The text elements of a creative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextElement {
    /// Headline.
    Headline,
    /// Body copy.
    Body,
    /// Call-to-action button label.
    Cta,
    /// Legal disclaimer.
    Disclaimer,
}

impl TextElement {
    /// All elements, in drawing order.
    pub const ALL: [TextElement; 4] = [
        TextElement::Headline,
        TextElement::Body,
        TextElement::Cta,
        TextElement::Disclaimer,
    ];
}

impl fmt::Display for TextElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextElement::Headline => "headline",
            TextElement::Body => "body",
            TextElement::Cta => "CTA",
            TextElement::Disclaimer => "disclaimer",
        })
    }
}

/// One text element as drawn, with what checks need to verify it from the pixels.
#[derive(Debug, Clone)]
pub struct PlacedText {
    /// Which element.
    pub element: TextElement,
    /// The box the text must stay inside (for the CTA: the button).
    pub text_box: Rect,
    /// The wrapped lines.
    pub lines: Vec<String>,
    /// Font size in pixels per em.
    pub font_px: f32,
    /// Text colour.
    pub color: Rgb,
    /// Lowest WCAG contrast between the text colour and the backdrop pixels around the glyphs
    /// (within 3 px of the ink, inside the box), measured on the finished canvas.
    pub min_contrast: f32,
    /// Scrim colour and opacity, when one was needed.
    pub scrim: Option<(Rgb, f32)>,
    /// The element's glyphs rasterised alone, on a layer reaching 64 px past every edge of
    /// `text_box`; glyph pixels beyond it are counted in [`CoverageMask::outside`].
    pub layer: CoverageMask,
}

/// A finished creative.
#[derive(Debug, Clone)]
pub struct ComposedCreative {
    /// Size drawn.
    pub size: AdSize,
    /// Encoded file.
    pub bytes: Vec<u8>,
    /// Format of `bytes` (JPEG when a PNG or WebP request fell back to meet the budget).
    pub format: OutputFormat,
    /// JPEG quality used, when `format` is JPEG.
    pub jpeg_quality: Option<u8>,
    /// The size's file-size budget in bytes.
    pub byte_budget: u64,
    /// The canvas before encoding.
    pub pixels: RgbaImage,
    /// Safe area: the canvas minus the margin; logo and text lie inside.
    pub safe_area: Rect,
    /// Where the logo was drawn.
    pub logo_box: Option<Rect>,
    /// Where the product was drawn (`None` without one, or where it was left out).
    pub product: Option<PlacedProduct>,
    /// Why a product given with [`Background::Product`] is not in this creative (e.g. the
    /// 120x60 button has no room for it, or it would be drawn under [`MIN_PRODUCT_PX`]); the
    /// creative is then laid out without it.
    pub product_omitted: Option<String>,
    /// Where the CTA button was drawn.
    pub cta_button: Rect,
    /// The text elements drawn.
    pub text: Vec<PlacedText>,
    /// Elements the size's template leaves out by design.
    pub omitted: Vec<TextElement>,
}

impl ComposedCreative {
    /// A file name for the creative: `"300x250.png"`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.size, self.format.extension())
    }
}

/// Reads a logo, product photo or background picture (PNG, JPEG or WebP) from a file.
pub fn load_image(path: &std::path::Path) -> Result<RgbaImage, ComposeError> {
    Ok(image::open(path)?.to_rgba8())
}

/// Decodes a logo, product photo or background picture (PNG, JPEG or WebP) from bytes, e.g. an
/// upload.
pub fn decode_image(bytes: &[u8]) -> Result<RgbaImage, ComposeError> {
    Ok(image::load_from_memory(bytes)?.to_rgba8())
}

/// Why a creative could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A text element does not fit its box at the minimum font size of this size.
    #[error("the {element} does not fit the {size} layout even at the minimum font size of {min_px:.1} px")]
    DoesNotFit {
        /// Which element.
        element: TextElement,
        /// The size being drawn.
        size: AdSize,
        /// The minimum font size tried.
        min_px: f32,
    },
    /// The font has no glyph for a character of the copy.
    #[error("the font has no glyph for {ch:?} in the {element}")]
    MissingGlyph {
        /// Which element.
        element: TextElement,
        /// The character.
        ch: char,
    },
    /// A required element (headline, CTA) is empty.
    #[error("the {0} is empty")]
    EmptyText(TextElement),
    /// The contrast of a text element stayed under 4.5:1 (a compositor bug, reported rather
    /// than shipped).
    #[error("the {element} reaches only {contrast:.2}:1 contrast at {size}")]
    LowContrast {
        /// Which element.
        element: TextElement,
        /// The size being drawn.
        size: AdSize,
        /// The contrast measured.
        contrast: f32,
    },
    /// Even the lowest JPEG quality step is over the size's budget.
    #[error("the smallest encoding is {smallest} bytes, over the {budget}-byte budget")]
    OverBudget {
        /// Smallest file produced, in bytes.
        smallest: u64,
        /// Budget in bytes.
        budget: u64,
    },
    /// A size string that is not `WIDTHxHEIGHT` with sides from 16 to 8192.
    #[error("not an ad size: {0:?} (expected WIDTHxHEIGHT, e.g. 300x250)")]
    BadSize(String),
    /// A colour string that is not `#RRGGBB` or `#RGB`.
    #[error("not a hex colour: {0:?}")]
    BadColor(String),
    /// An unknown output format name.
    #[error("unknown output format {0:?} (png, jpg or webp)")]
    BadFormat(String),
    /// Font bytes that do not parse.
    #[error("font data could not be parsed")]
    BadFont,
    /// A product photo that cannot be used, or a scene painted for it that does not match.
    #[error("{0}")]
    BadProduct(String),
    /// Encoding or decoding failed.
    #[error("image encoding failed: {0}")]
    Image(#[from] image::ImageError),
}
