//! Axis-aligned pixel rectangles used for layout boxes and reports.

/// A pixel rectangle; `x`, `y` may be negative (outside the canvas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// One past the right edge.
    pub fn right(&self) -> i32 {
        self.x + self.width as i32
    }

    /// One past the bottom edge.
    pub fn bottom(&self) -> i32 {
        self.y + self.height as i32
    }

    /// Whether the point lies inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.right() && y < self.bottom()
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }

    /// Whether the two rectangles share any pixel.
    pub fn intersects(&self, other: &Rect) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    /// The common part, or `None` when they do not overlap.
    pub fn intersection(&self, other: &Rect) -> Option<Rect> {
        let l = self.x.max(other.x);
        let t = self.y.max(other.y);
        let r = self.right().min(other.right());
        let b = self.bottom().min(other.bottom());
        (r > l && b > t).then(|| Rect::new(l, t, (r - l) as u32, (b - t) as u32))
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let l = self.x.min(other.x);
        let t = self.y.min(other.y);
        let r = self.right().max(other.right());
        let b = self.bottom().max(other.bottom());
        Rect::new(l, t, (r - l) as u32, (b - t) as u32)
    }

    /// Grown by `d` pixels on every side (shrunk when `d` is negative, never below zero size).
    pub fn inflate(&self, d: i32) -> Rect {
        let w = (self.width as i32 + 2 * d).max(0) as u32;
        let h = (self.height as i32 + 2 * d).max(0) as u32;
        Rect::new(self.x - d, self.y - d, w, h)
    }

    /// Whether the rectangle has no pixels.
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}
