//! Coverage layers: one text element's glyphs rasterised alone, on a layer that extends past
//! the element's box (and the canvas), and that counts any coverage falling outside itself, so
//! that checks can prove every glyph pixel lies inside the box.

use super::rect::Rect;

/// An 8-bit coverage layer positioned in canvas coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageMask {
    /// Canvas coordinates of the layer's top-left pixel (negative when it extends past the
    /// canvas's top-left corner).
    pub origin_x: i32,
    /// See `origin_x`.
    pub origin_y: i32,
    /// Layer width in pixels.
    pub width: u32,
    /// Layer height in pixels.
    pub height: u32,
    /// Row-major coverage, 0 (none) to 255 (full).
    pub coverage: Vec<u8>,
    /// Number of glyph pixels that fell outside the layer (and are therefore not in
    /// `coverage`).
    pub outside: u64,
}

impl CoverageMask {
    /// An empty layer covering the canvas plus `pad` pixels on every side.
    pub fn around_canvas(canvas_width: u32, canvas_height: u32, pad: u32) -> Self {
        Self::around(&Rect::new(0, 0, canvas_width, canvas_height), pad)
    }

    /// An empty layer covering `area` plus `pad` pixels on every side.
    pub fn around(area: &Rect, pad: u32) -> Self {
        let width = area.width + 2 * pad;
        let height = area.height + 2 * pad;
        Self {
            origin_x: area.x - pad as i32,
            origin_y: area.y - pad as i32,
            width,
            height,
            coverage: vec![0; width as usize * height as usize],
            outside: 0,
        }
    }

    /// Coverage at canvas position (`x`, `y`); 0 outside the layer.
    pub fn get(&self, x: i32, y: i32) -> u8 {
        let lx = x - self.origin_x;
        let ly = y - self.origin_y;
        if lx < 0 || ly < 0 || lx >= self.width as i32 || ly >= self.height as i32 {
            return 0;
        }
        self.coverage[ly as usize * self.width as usize + lx as usize]
    }

    /// Adds coverage `c` (0..=1) at canvas position (`x`, `y`), saturating. Outside the layer
    /// the pixel is counted in `outside` and false is returned.
    pub fn add(&mut self, x: i32, y: i32, c: f32) -> bool {
        let lx = x - self.origin_x;
        let ly = y - self.origin_y;
        if lx < 0 || ly < 0 || lx >= self.width as i32 || ly >= self.height as i32 {
            self.outside += 1;
            return false;
        }
        let idx = ly as usize * self.width as usize + lx as usize;
        let v = (c.clamp(0.0, 1.0) * 255.0).round() as u16 + u16::from(self.coverage[idx]);
        self.coverage[idx] = v.min(255) as u8;
        true
    }

    /// Canvas positions with non-zero coverage.
    pub fn covered(&self) -> impl Iterator<Item = (i32, i32, u8)> + '_ {
        self.coverage
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let lx = (i % self.width as usize) as i32;
                let ly = (i / self.width as usize) as i32;
                (lx + self.origin_x, ly + self.origin_y, *c)
            })
    }

    /// Bounding box of the covered pixels, or `None` when nothing is covered.
    pub fn bounds(&self) -> Option<Rect> {
        let mut acc: Option<Rect> = None;
        for (x, y, _) in self.covered() {
            let px = Rect::new(x, y, 1, 1);
            acc = Some(acc.map_or(px, |r| r.union(&px)));
        }
        acc
    }
}
