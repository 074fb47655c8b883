//! Layout templates: for each layout family, where the logo, the copy, the CTA, the disclaimer
//! and the visual (salient part of the background, or the product panel) go.
//!
//! A template is a set of *stacks*: columns whose items are placed one below the other, each
//! item taking at most a fraction of the stack's height and only the height its content needs;
//! the stack is then anchored at the top, centre or bottom of its area. All stacks lie inside
//! the safe area (the canvas minus a margin of 6 % of the shorter side, 3 to 64 px).

use super::rect::Rect;
use super::size::{AdSize, LayoutFamily};
use super::text_block::Align;
use super::TextElement;

/// What a stack item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Logo,
    Text(TextElement),
}

/// Where the leftover height of a stack goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Top,
    Center,
    Bottom,
}

/// A column of items.
#[derive(Debug, Clone)]
pub(crate) struct Stack {
    pub area: Rect,
    /// Items with the largest fraction of `area.height` each may take.
    pub items: Vec<(Slot, f32)>,
    pub anchor: Anchor,
    pub align: Align,
    pub gap: i32,
}

/// Font-size limits and line rules of one text element in one size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextLimits {
    pub min_px: f32,
    pub max_px: f32,
    pub line_height: f32,
    pub max_lines: usize,
}

/// A laid-out template for one size.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub safe: Rect,
    /// Region where the background's salient area should appear.
    pub visual: Rect,
    /// Where a product photo is set, when the template has room for one.
    pub product_panel: Option<Rect>,
    pub stacks: Vec<Stack>,
    /// Elements this template leaves out by design (body copy on the smallest banners).
    pub omitted: Vec<TextElement>,
}

/// Which optional parts the creative has.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts {
    pub body: bool,
    pub disclaimer: bool,
    pub logo: bool,
    pub product: bool,
    /// With a product on a square-ish size: the product in a column beside the copy rather than
    /// above it.
    pub product_beside: bool,
    /// Width over height of the product's cut-out (1.0 without a product): compact banners give
    /// the product a slot of its shape.
    pub product_aspect: f32,
}

/// Safe margin of a size: 6 % of the shorter side, 3 to 64 px.
pub(crate) fn safe_margin(size: AdSize) -> i32 {
    let min_side = size.width.min(size.height) as f32;
    ((min_side * 0.06).round() as i32).clamp(3, 64)
}

fn frac(v: u32, f: f32) -> u32 {
    (v as f32 * f).round() as u32
}

/// Builds the template of `size` for a creative with `parts`.
pub(crate) fn template(size: AdSize, parts: Parts) -> Template {
    let m = safe_margin(size);
    let safe = Rect::new(m, m, size.width - 2 * m as u32, size.height - 2 * m as u32);
    match size.layout_family() {
        LayoutFamily::Compact if size.width < 200 => button(size, safe, parts),
        LayoutFamily::Compact => compact_row(size, safe, parts),
        LayoutFamily::Wide => wide(size, safe, parts),
        LayoutFamily::Square if parts.product && parts.product_beside => {
            square_beside(size, safe, parts)
        }
        LayoutFamily::Square => square(size, safe, parts),
        LayoutFamily::Tall => tall(size, safe, parts),
    }
}

/// 120x60 and other narrow banners: headline on top, logo and CTA on a row below.
fn button(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = 2;
    let top_h = frac(safe.height, 0.56);
    let headline = Stack {
        area: Rect::new(safe.x, safe.y, safe.width, top_h),
        items: vec![(Slot::Text(TextElement::Headline), 1.0)],
        anchor: Anchor::Center,
        align: Align::Left,
        gap,
    };
    let row_y = safe.y + top_h as i32 + gap;
    let row_h = (safe.bottom() - row_y).max(0) as u32;
    let logo_w = if parts.logo {
        frac(safe.width, 0.36)
    } else {
        0
    };
    let mut stacks = vec![headline];
    if parts.logo {
        stacks.push(single(
            Rect::new(safe.x, row_y, logo_w, row_h),
            Slot::Logo,
            Align::Left,
            gap,
        ));
    }
    let cta_x = safe.x + if parts.logo { logo_w as i32 + gap } else { 0 };
    let cta = Rect::new(cta_x, row_y, (safe.right() - cta_x) as u32, row_h);
    stacks.push(single(
        cta,
        Slot::Text(TextElement::Cta),
        Align::Center,
        gap,
    ));
    let mut omitted = Vec::new();
    if parts.body {
        omitted.push(TextElement::Body);
    }
    if parts.disclaimer {
        // No room: the disclaimer gets a zero-height box so that it is reported as not fitting
        // rather than dropped.
        stacks.push(single(
            Rect::new(safe.x, safe.bottom(), safe.width, 0),
            Slot::Text(TextElement::Disclaimer),
            Align::Left,
            gap,
        ));
    }
    Template {
        safe,
        visual: full(size),
        product_panel: None,
        stacks,
        omitted,
    }
}

/// 320x50, 300x50, 468x60, 728x90, 970x90: logo | [product] | copy | CTA on one row.
fn compact_row(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = safe.x.max(4);
    let mut x = safe.x;
    let mut stacks = Vec::new();
    if parts.logo {
        let lw = (safe.height * 2).min(frac(size.width, 0.16));
        stacks.push(single(
            Rect::new(x, safe.y, lw, safe.height),
            Slot::Logo,
            Align::Left,
            0,
        ));
        x += lw as i32 + gap;
    }
    let mut product_panel = None;
    if parts.product && size.width >= 468 {
        let aspect = parts.product_aspect.clamp(0.5, 1.8);
        let w = (safe.height as f32 * aspect).round() as u32;
        product_panel = Some(Rect::new(x, safe.y, w, safe.height));
        x += w as i32 + gap;
    }
    let cta_w = ((size.width as f32 * 0.24).round() as u32).clamp(76, 180);
    let cta_x = safe.right() - cta_w as i32;
    stacks.push(single(
        Rect::new(cta_x, safe.y, cta_w, safe.height),
        Slot::Text(TextElement::Cta),
        Align::Center,
        0,
    ));
    let text_w = (cta_x - gap - x).max(0) as u32;
    let with_body = parts.body && safe.height >= 70 && text_w >= 300;
    let mut items = vec![(Slot::Text(TextElement::Headline), 1.0)];
    if with_body {
        items = vec![
            (Slot::Text(TextElement::Headline), 0.58),
            (Slot::Text(TextElement::Body), 0.42),
        ];
    }
    if parts.disclaimer {
        items.iter_mut().for_each(|(_, f)| *f *= 0.7);
        items.push((Slot::Text(TextElement::Disclaimer), 0.3));
    }
    stacks.push(Stack {
        area: Rect::new(x, safe.y, text_w, safe.height),
        items,
        anchor: Anchor::Center,
        align: Align::Left,
        gap: 1,
    });
    let omitted = if parts.body && !with_body {
        vec![TextElement::Body]
    } else {
        Vec::new()
    };
    Template {
        safe,
        visual: full(size),
        product_panel,
        stacks,
        omitted,
    }
}

/// Landscape: copy column on the left, visual on the right.
fn wide(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = ((safe.height as f32 * 0.035).round() as i32).max(3);
    let col_w = frac(safe.width, 0.55);
    let disc_h = if parts.disclaimer {
        frac(safe.height, 0.09)
    } else {
        0
    };
    let main_h = safe.height - disc_h - if parts.disclaimer { gap as u32 } else { 0 };
    let mut stacks = vec![Stack {
        area: Rect::new(safe.x, safe.y, col_w, main_h),
        items: vec![
            (Slot::Logo, 0.16),
            (Slot::Text(TextElement::Headline), 0.38),
            (Slot::Text(TextElement::Body), 0.26),
            (Slot::Text(TextElement::Cta), 0.20),
        ],
        anchor: Anchor::Center,
        align: Align::Left,
        gap,
    }];
    if parts.disclaimer {
        let r = Rect::new(safe.x, safe.bottom() - disc_h as i32, col_w, disc_h);
        stacks.push(single(
            r,
            Slot::Text(TextElement::Disclaimer),
            Align::Left,
            gap,
        ));
    }
    let vx = safe.x + col_w as i32 + gap;
    let visual = Rect::new(vx, 0, (size.width as i32 - vx).max(1) as u32, size.height);
    let panel = Rect::new(vx, safe.y, (safe.right() - vx).max(0) as u32, safe.height);
    Template {
        safe,
        visual,
        product_panel: parts.product.then_some(panel),
        stacks,
        omitted: Vec::new(),
    }
}

/// Square-ish: logo top left, visual top right, copy and CTA at the bottom.
fn square(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = ((safe.height as f32 * 0.03).round() as i32).max(3);
    let top_h = frac(safe.height, 0.40);
    let mut stacks = Vec::new();
    if parts.logo {
        let r = Rect::new(
            safe.x,
            safe.y,
            frac(safe.width, 0.4),
            frac(safe.height, 0.13),
        );
        stacks.push(single(r, Slot::Logo, Align::Left, gap));
    }
    let disc_h = if parts.disclaimer {
        frac(safe.height, 0.07)
    } else {
        0
    };
    let text_y = safe.y + top_h as i32 + gap;
    let text_bottom = safe.bottom() - disc_h as i32 - if parts.disclaimer { gap } else { 0 };
    stacks.push(Stack {
        area: Rect::new(
            safe.x,
            text_y,
            safe.width,
            (text_bottom - text_y).max(0) as u32,
        ),
        items: vec![
            (Slot::Text(TextElement::Headline), 0.44),
            (Slot::Text(TextElement::Body), 0.30),
            (Slot::Text(TextElement::Cta), 0.26),
        ],
        anchor: Anchor::Bottom,
        align: Align::Left,
        gap,
    });
    if parts.disclaimer {
        let r = Rect::new(safe.x, safe.bottom() - disc_h as i32, safe.width, disc_h);
        stacks.push(single(
            r,
            Slot::Text(TextElement::Disclaimer),
            Align::Left,
            gap,
        ));
    }
    let panel_x = safe.x + frac(safe.width, 0.45) as i32;
    let panel = Rect::new(panel_x, safe.y, (safe.right() - panel_x) as u32, top_h);
    let visual = Rect::new(0, 0, size.width, (safe.y + top_h as i32) as u32);
    Template {
        safe,
        visual,
        product_panel: parts.product.then_some(panel),
        stacks,
        omitted: Vec::new(),
    }
}

/// Square-ish with a product beside the copy: logo top left, copy in a column on the left
/// (centred vertically), the product in the column on the right, the disclaimer along the bottom.
fn square_beside(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = ((safe.height as f32 * 0.03).round() as i32).max(3);
    let col_w = frac(safe.width, 0.56);
    let mut stacks = Vec::new();
    let mut text_y = safe.y;
    if parts.logo {
        let r = Rect::new(safe.x, safe.y, col_w, frac(safe.height, 0.13));
        stacks.push(single(r, Slot::Logo, Align::Left, gap));
        text_y = r.bottom() + gap;
    }
    let disc_h = if parts.disclaimer {
        frac(safe.height, 0.07)
    } else {
        0
    };
    let bottom = safe.bottom() - disc_h as i32 - if parts.disclaimer { gap } else { 0 };
    stacks.push(Stack {
        area: Rect::new(safe.x, text_y, col_w, (bottom - text_y).max(0) as u32),
        items: vec![
            (Slot::Text(TextElement::Headline), 0.44),
            (Slot::Text(TextElement::Body), 0.32),
            (Slot::Text(TextElement::Cta), 0.24),
        ],
        anchor: Anchor::Center,
        align: Align::Left,
        gap,
    });
    if parts.disclaimer {
        let r = Rect::new(safe.x, safe.bottom() - disc_h as i32, safe.width, disc_h);
        stacks.push(single(
            r,
            Slot::Text(TextElement::Disclaimer),
            Align::Left,
            gap,
        ));
    }
    let px = safe.x + col_w as i32 + gap;
    let panel = Rect::new(
        px,
        safe.y,
        (safe.right() - px).max(0) as u32,
        (bottom - safe.y).max(0) as u32,
    );
    let visual = Rect::new(px, 0, (size.width as i32 - px).max(1) as u32, size.height);
    Template {
        safe,
        visual,
        product_panel: Some(panel),
        stacks,
        omitted: Vec::new(),
    }
}

/// Portrait: logo and copy on top, visual in the middle, CTA and disclaimer at the bottom.
fn tall(size: AdSize, safe: Rect, parts: Parts) -> Template {
    let gap = ((safe.height as f32 * 0.02).round() as i32).max(3);
    let logo_h = if parts.logo {
        frac(safe.height, 0.08)
    } else {
        0
    };
    let mut stacks = Vec::new();
    if parts.logo {
        stacks.push(single(
            Rect::new(safe.x, safe.y, safe.width, logo_h),
            Slot::Logo,
            Align::Center,
            gap,
        ));
    }
    let copy_y = safe.y + logo_h as i32 + if parts.logo { gap } else { 0 };
    let copy_h = frac(safe.height, 0.36);
    stacks.push(Stack {
        area: Rect::new(safe.x, copy_y, safe.width, copy_h),
        items: vec![
            (Slot::Text(TextElement::Headline), 0.6),
            (Slot::Text(TextElement::Body), 0.4),
        ],
        anchor: Anchor::Top,
        align: Align::Center,
        gap,
    });
    let disc_h = if parts.disclaimer {
        frac(safe.height, 0.06)
    } else {
        0
    };
    let cta_h = frac(safe.height, 0.1);
    let cta_y =
        safe.bottom() - disc_h as i32 - if parts.disclaimer { gap } else { 0 } - cta_h as i32;
    stacks.push(single(
        Rect::new(safe.x, cta_y, safe.width, cta_h),
        Slot::Text(TextElement::Cta),
        Align::Center,
        gap,
    ));
    if parts.disclaimer {
        let r = Rect::new(safe.x, safe.bottom() - disc_h as i32, safe.width, disc_h);
        stacks.push(single(
            r,
            Slot::Text(TextElement::Disclaimer),
            Align::Center,
            gap,
        ));
    }
    let vy = copy_y + copy_h as i32 + gap;
    let vh = (cta_y - gap - vy).max(1) as u32;
    let visual = Rect::new(0, vy, size.width, vh);
    let panel = Rect::new(safe.x, vy, safe.width, vh);
    Template {
        safe,
        visual,
        product_panel: parts.product.then_some(panel),
        stacks,
        omitted: Vec::new(),
    }
}

fn single(area: Rect, slot: Slot, align: Align, gap: i32) -> Stack {
    Stack {
        area,
        items: vec![(slot, 1.0)],
        anchor: Anchor::Center,
        align,
        gap,
    }
}

fn full(size: AdSize) -> Rect {
    Rect::new(0, 0, size.width, size.height)
}

/// Font-size limits of `element` at `size`.
pub(crate) fn text_limits(element: TextElement, size: AdSize) -> TextLimits {
    let compact = size.layout_family() == LayoutFamily::Compact;
    // Compact banners scale with their height; the others with the shorter side, or for
    // portrait sizes a little more (up to 1.6 times the width, at most the geometric mean).
    let (w, h) = (size.width as f32, size.height as f32);
    let base = if compact {
        h
    } else {
        (w.min(h) * 1.6).min((w * h).sqrt())
    };
    let (min_abs, min_rel, max_rel, line_height, max_lines) = match (element, compact) {
        (TextElement::Headline, true) => (9.0, 0.0, 0.42, 1.12, 3),
        (TextElement::Body, true) => (8.0, 0.0, 0.25, 1.2, 2),
        (TextElement::Cta, true) => (8.0, 0.0, 0.3, 1.2, 1),
        (TextElement::Disclaimer, true) => (7.0, 0.0, 0.16, 1.2, 2),
        (TextElement::Headline, false) => (10.0, 0.03, 0.10, 1.15, 5),
        (TextElement::Body, false) => (9.0, 0.022, 0.055, 1.3, 6),
        (TextElement::Cta, false) => (9.0, 0.022, 0.055, 1.2, 1),
        (TextElement::Disclaimer, false) => (7.0, 0.014, 0.028, 1.25, 3),
    };
    let min_px = (base * min_rel).max(min_abs);
    let max_px = (base * max_rel).max(min_px);
    TextLimits {
        min_px,
        max_px,
        line_height,
        max_lines,
    }
}
