//! Text blocks: wrapping at Unicode line-break opportunities and shrinking the font size until
//! every glyph's ink lies inside the box, then rasterising the glyphs onto a coverage layer.

use unicode_linebreak::{linebreaks, BreakOpportunity};

use super::font::{Face, ShapedGlyph};
use super::mask::CoverageMask;
use super::rect::Rect;

/// Horizontal alignment of the lines in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
}

/// How to fit one text element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextStyle {
    pub max_px: f32,
    pub min_px: f32,
    /// Distance between baselines, in ems.
    pub line_height: f32,
    pub max_lines: usize,
    pub align: Align,
}

/// One glyph placed in canvas pixels (baseline origin).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlacedGlyph {
    pub id: u16,
    pub x: f32,
    pub y: f32,
}

/// A block of text fitted into a box.
#[derive(Debug, Clone)]
pub(crate) struct FittedText {
    pub px: f32,
    pub lines: Vec<String>,
    pub glyphs: Vec<PlacedGlyph>,
    /// Union of the glyphs' pixel bounds.
    pub ink: Rect,
    /// Rectangles of each line, from ascent to descent and across the advance width.
    pub line_boxes: Vec<Rect>,
}

impl FittedText {
    /// Height actually used from the box's top edge, when placed at the top of the box.
    pub fn used_bottom(&self) -> i32 {
        let lines = self
            .line_boxes
            .iter()
            .map(|r| r.bottom())
            .max()
            .unwrap_or(self.ink.y);
        lines.max(self.ink.bottom())
    }

    /// Moves the block by (`dx`, `dy`) whole pixels.
    pub fn translate(&mut self, dx: i32, dy: i32) {
        for g in &mut self.glyphs {
            g.x += dx as f32;
            g.y += dy as f32;
        }
        self.ink.x += dx;
        self.ink.y += dy;
        for r in &mut self.line_boxes {
            r.x += dx;
            r.y += dy;
        }
    }

    /// Rasterises the glyphs onto `mask`.
    pub fn rasterise(&self, face: &Face<'_>, mask: &mut CoverageMask) {
        for g in &self.glyphs {
            if let Some(outline) = face.outline(g.id, self.px, g.x, g.y) {
                let b = outline.px_bounds();
                let (ox, oy) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|x, y, c| {
                    if c > 0.0 {
                        mask.add(ox + x as i32, oy + y as i32, c);
                    }
                });
            }
        }
    }
}

/// A break-delimited piece of the paragraph with its width in font units.
struct Segment {
    start: usize,
    end: usize,
    /// Width including trailing spaces.
    width: f32,
    /// Width of the trailing whitespace alone.
    trailing_space: f32,
    mandatory_after: bool,
}

fn segments(text: &str, shaped: &[ShapedGlyph]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut start = 0;
    for (pos, kind) in linebreaks(text) {
        let piece = &text[start..pos];
        let trimmed_len = piece.trim_end().len();
        let mut width = 0.0;
        let mut trailing_space = 0.0;
        for g in shaped
            .iter()
            .filter(|g| g.cluster >= start && g.cluster < pos)
        {
            width += g.advance;
            if g.cluster >= start + trimmed_len {
                trailing_space += g.advance;
            }
        }
        out.push(Segment {
            start,
            end: pos,
            width,
            trailing_space,
            mandatory_after: kind == BreakOpportunity::Mandatory && pos < text.len(),
        });
        start = pos;
    }
    out
}

/// Greedy wrap of the segments into lines no wider than `max_width` font units. `None` when a
/// single unbreakable piece is wider than that.
fn wrap(segs: &[Segment], max_width: f32) -> Option<Vec<(usize, usize)>> {
    let mut lines = Vec::new();
    let mut line: Option<(usize, usize, f32)> = None;
    for seg in segs {
        let visible = seg.width - seg.trailing_space;
        if visible > max_width {
            return None;
        }
        line = match line {
            Some((s, _, w)) if w + visible <= max_width => Some((s, seg.end, w + seg.width)),
            Some((s, e, _)) => {
                lines.push((s, e));
                Some((seg.start, seg.end, seg.width))
            }
            None => Some((seg.start, seg.end, seg.width)),
        };
        if seg.mandatory_after {
            if let Some((s, e, _)) = line.take() {
                lines.push((s, e));
            }
        }
    }
    if let Some((s, e, _)) = line {
        lines.push((s, e));
    }
    Some(lines)
}

/// Fits `text` into `area`: the largest size between `style.max_px` and `style.min_px` (in about
/// 4 % steps, the minimum always tried) at which the wrapped lines fit and every glyph's ink lies
/// inside `area`. `None` when even the minimum size does not fit.
pub(crate) fn fit_text(
    face: &Face<'_>,
    text: &str,
    area: Rect,
    style: &TextStyle,
) -> Option<FittedText> {
    let text = text.trim();
    if text.is_empty() || area.is_empty() {
        return None;
    }
    let shaped = face.shape(text);
    let segs = segments(text, &shaped);
    let upem = face.units_per_em();
    let mut px = style.max_px.max(style.min_px);
    loop {
        if let Some(fitted) = try_size(face, text, &segs, area, style, px, upem) {
            return Some(fitted);
        }
        if px <= style.min_px {
            return None;
        }
        px = (px * 0.96).max(style.min_px);
        if style.min_px - px > -0.05 {
            px = style.min_px;
        }
    }
}

fn try_size(
    face: &Face<'_>,
    text: &str,
    segs: &[Segment],
    area: Rect,
    style: &TextStyle,
    px: f32,
    upem: f32,
) -> Option<FittedText> {
    let to_px = px / upem;
    // One pixel of slack on each side for antialiasing and rounding.
    let max_width = (area.width as f32 - 2.0).max(0.0) / to_px;
    let ranges = wrap(segs, max_width)?;
    if ranges.len() > style.max_lines {
        return None;
    }
    let ascent = face.ascent * to_px;
    let descent = face.descent * to_px;
    let line_step = style.line_height * px;
    let block_height = ascent + descent + line_step * (ranges.len() as f32 - 1.0);
    if block_height > area.height as f32 {
        return None;
    }
    let top = area.y as f32;
    let mut glyphs = Vec::new();
    let mut lines = Vec::new();
    let mut line_boxes = Vec::new();
    let mut ink: Option<Rect> = None;
    for (i, (s, e)) in ranges.iter().enumerate() {
        let line = text[*s..*e].trim_end();
        let shaped = face.shape(line);
        let width: f32 = shaped.iter().map(|g| g.advance).sum::<f32>() * to_px;
        if width > area.width as f32 - 2.0 {
            return None;
        }
        let left = match style.align {
            Align::Left => area.x as f32 + 1.0,
            Align::Center => area.x as f32 + (area.width as f32 - width) / 2.0,
        }
        .round();
        let baseline = (top + ascent + line_step * i as f32).round();
        let mut pen = left;
        let mut line_glyphs = Vec::with_capacity(shaped.len());
        let mut line_ink: Option<Rect> = None;
        for g in &shaped {
            let x = pen + g.x_offset * to_px;
            let y = baseline - g.y_offset * to_px;
            if let Some(outline) = face.outline(g.id, px, x, y) {
                let b = outline.px_bounds();
                let r = Rect::new(
                    b.min.x.floor() as i32,
                    b.min.y.floor() as i32,
                    (b.max.x.ceil() - b.min.x.floor()) as u32,
                    (b.max.y.ceil() - b.min.y.floor()) as u32,
                );
                line_ink = Some(line_ink.map_or(r, |acc| acc.union(&r)));
            }
            line_glyphs.push(PlacedGlyph { id: g.id, x, y });
            pen += g.advance * to_px;
        }
        // Glyphs with a negative side bearing (J, j, y...) can reach past the pen's start or end:
        // move the line back inside the box by whole pixels when there is room.
        let mut shift = 0;
        if let Some(r) = &mut line_ink {
            if r.x < area.x {
                shift = area.x - r.x;
            } else if r.right() > area.right() {
                shift = area.right() - r.right();
            }
            r.x += shift;
            ink = Some(ink.map_or(*r, |acc| acc.union(r)));
        }
        for mut g in line_glyphs {
            g.x += shift as f32;
            glyphs.push(g);
        }
        let left = left + shift as f32;
        line_boxes.push(Rect::new(
            left as i32,
            (baseline - ascent).floor() as i32,
            width.ceil() as u32,
            (ascent + descent).ceil() as u32,
        ));
        lines.push(line.to_string());
    }
    let ink = ink?;
    if !area.contains_rect(&ink) {
        return None;
    }
    Some(FittedText {
        px,
        lines,
        glyphs,
        ink,
        line_boxes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::font::{FontFamily, Weight};

    fn style(min: f32, max: f32) -> TextStyle {
        TextStyle {
            max_px: max,
            min_px: min,
            line_height: 1.2,
            max_lines: 10,
            align: Align::Left,
        }
    }

    #[test]
    fn wraps_and_shrinks_into_the_box() {
        let family = FontFamily::noto_sans();
        let face = family.face(Weight::Bold).unwrap();
        let area = Rect::new(10, 10, 200, 80);
        let fitted = fit_text(
            &face,
            "Une très longue phrase qui doit passer à la ligne",
            area,
            &style(8.0, 60.0),
        )
        .expect("fits");
        assert!(fitted.lines.len() >= 2, "{:?}", fitted.lines);
        assert!(fitted.px < 60.0);
        assert!(area.contains_rect(&fitted.ink));
        let mut mask = CoverageMask::around_canvas(300, 120, 16);
        fitted.rasterise(&face, &mut mask);
        let bounds = mask.bounds().expect("ink drawn");
        assert!(area.contains_rect(&bounds), "{bounds:?} outside {area:?}");
    }

    #[test]
    fn reports_what_cannot_fit() {
        let family = FontFamily::noto_sans();
        let face = family.face(Weight::Regular).unwrap();
        let area = Rect::new(0, 0, 60, 12);
        assert!(fit_text(&face, "Anticonstitutionnellement", area, &style(10.0, 20.0)).is_none());
    }

    #[test]
    fn honours_mandatory_breaks() {
        let family = FontFamily::noto_sans();
        let face = family.face(Weight::Regular).unwrap();
        let area = Rect::new(0, 0, 400, 200);
        let fitted = fit_text(&face, "one\ntwo", area, &style(10.0, 20.0)).unwrap();
        assert_eq!(fitted.lines, vec!["one", "two"]);
    }
}
