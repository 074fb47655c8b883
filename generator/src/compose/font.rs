//! Fonts: the bundled Noto Sans family (assets/fonts, SIL OFL 1.1), shaping with rustybuzz and
//! glyph outlines with ab_glyph.

use std::sync::Arc;

use ab_glyph::{Font as _, FontRef, GlyphId, OutlinedGlyph, PxScale};

use super::ComposeError;

static NOTO_SANS_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/NotoSans-Regular.ttf");
static NOTO_SANS_BOLD: &[u8] = include_bytes!("../../../assets/fonts/NotoSans-Bold.ttf");

/// A regular and a bold face of one font family (TrueType or OpenType bytes).
#[derive(Clone)]
pub struct FontFamily {
    regular: Arc<[u8]>,
    bold: Arc<[u8]>,
}

impl std::fmt::Debug for FontFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontFamily")
            .field("regular_bytes", &self.regular.len())
            .field("bold_bytes", &self.bold.len())
            .finish()
    }
}

/// Weight of a face inside a [`FontFamily`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Body text, disclaimer.
    Regular,
    /// Headline, CTA.
    Bold,
}

impl FontFamily {
    /// The bundled Noto Sans (Latin with accents, Greek, Cyrillic and more).
    pub fn noto_sans() -> Self {
        Self {
            regular: Arc::from(NOTO_SANS_REGULAR),
            bold: Arc::from(NOTO_SANS_BOLD),
        }
    }

    /// A brand family from font file bytes; both faces must parse.
    pub fn from_bytes(regular: Vec<u8>, bold: Vec<u8>) -> Result<Self, ComposeError> {
        let family = Self {
            regular: Arc::from(regular),
            bold: Arc::from(bold),
        };
        family.face(Weight::Regular)?;
        family.face(Weight::Bold)?;
        Ok(family)
    }

    pub(crate) fn face(&self, weight: Weight) -> Result<Face<'_>, ComposeError> {
        let data: &[u8] = match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        };
        Face::parse(data)
    }
}

impl Default for FontFamily {
    fn default() -> Self {
        Self::noto_sans()
    }
}

/// One parsed face: shaper and outline source over the same bytes.
pub(crate) struct Face<'a> {
    shaper: rustybuzz::Face<'a>,
    outlines: FontRef<'a>,
    units_per_em: f32,
    /// Typographic ascent in font units (positive, above the baseline).
    pub ascent: f32,
    /// Typographic descent in font units (positive, below the baseline).
    pub descent: f32,
}

/// One shaped glyph, in font units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShapedGlyph {
    pub id: u16,
    /// Byte offset of the glyph's cluster in the shaped text.
    pub cluster: usize,
    pub advance: f32,
    pub x_offset: f32,
    pub y_offset: f32,
}

impl<'a> Face<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, ComposeError> {
        let shaper = rustybuzz::Face::from_slice(data, 0).ok_or(ComposeError::BadFont)?;
        let outlines = FontRef::try_from_slice(data).map_err(|_| ComposeError::BadFont)?;
        let units_per_em = f32::from(shaper.units_per_em() as u16);
        let ascent = f32::from(shaper.ascender());
        let descent = -f32::from(shaper.descender());
        Ok(Self {
            shaper,
            outlines,
            units_per_em,
            ascent,
            descent,
        })
    }

    /// Font units per em.
    pub fn units_per_em(&self) -> f32 {
        self.units_per_em
    }

    /// Shapes one run of text (left to right, script guessed from the text).
    pub fn shape(&self, text: &str) -> Vec<ShapedGlyph> {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(&self.shaper, &[], buffer);
        shaped
            .glyph_infos()
            .iter()
            .zip(shaped.glyph_positions())
            .map(|(info, pos)| ShapedGlyph {
                id: u16::try_from(info.glyph_id).unwrap_or(0),
                cluster: info.cluster as usize,
                advance: pos.x_advance as f32,
                x_offset: pos.x_offset as f32,
                y_offset: pos.y_offset as f32,
            })
            .collect()
    }

    /// The first visible character the face has no glyph for.
    pub fn first_missing_char(&self, text: &str) -> Option<char> {
        text.chars()
            .filter(|c| !c.is_whitespace() && !c.is_control() && !is_format_char(*c))
            .find(|c| self.outlines.glyph_id(*c) == GlyphId(0))
    }

    /// The outline of glyph `id` at `px_per_em`, its baseline origin at (`x`, `y`) pixels.
    pub fn outline(&self, id: u16, px_per_em: f32, x: f32, y: f32) -> Option<OutlinedGlyph> {
        let height = self.outlines.height_unscaled();
        let scale = PxScale::from(px_per_em * height / self.units_per_em);
        let glyph = GlyphId(id).with_scale_and_position(scale, ab_glyph::point(x, y));
        self.outlines.outline_glyph(glyph)
    }
}

/// Zero-width format characters (joiners, soft hyphen, marks) that need no glyph of their own.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_covers_latin_greek_cyrillic() {
        let family = FontFamily::noto_sans();
        for weight in [Weight::Regular, Weight::Bold] {
            let face = family.face(weight).unwrap();
            let sample = "Déjà vu, ça coûte 9,99 € — Ελληνικά αλφάβητο — Съешь ещё этих булок";
            assert_eq!(face.first_missing_char(sample), None);
            let glyphs = face.shape("AV To");
            assert_eq!(glyphs.len(), 5);
            assert!(glyphs.iter().all(|g| g.id != 0));
        }
        let face = family.face(Weight::Regular).unwrap();
        assert_eq!(face.first_missing_char("ok \u{1F600}"), Some('\u{1F600}'));
    }

    #[test]
    fn brand_fonts_must_parse() {
        assert!(matches!(
            FontFamily::from_bytes(b"not a font".to_vec(), NOTO_SANS_BOLD.to_vec()),
            Err(ComposeError::BadFont)
        ));
        let family =
            FontFamily::from_bytes(NOTO_SANS_BOLD.to_vec(), NOTO_SANS_BOLD.to_vec()).unwrap();
        assert!(family.face(Weight::Regular).unwrap().shape("Ok").len() == 2);
    }
}
