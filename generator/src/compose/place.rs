//! Placing the logo, the text elements and the CTA button in a template's stacks: each text
//! element is fitted (wrapped and shrunk) into its slot, and each stack is anchored in its area.

use image::imageops::{self, FilterType};
use image::RgbaImage;

use super::font::Face;
use super::layout::{self, Anchor, Slot, Stack, Template};
use super::rect::Rect;
use super::size::AdSize;
use super::text_block::{fit_text, Align, FittedText, TextStyle};
use super::{ComposeError, CreativeCopy, TextElement};

/// One laid-out item.
pub(crate) enum Placed {
    Logo {
        rect: Rect,
        image: RgbaImage,
    },
    Text {
        element: TextElement,
        text_box: Rect,
        fitted: FittedText,
        /// Index of the stack the element was placed in.
        group: usize,
    },
}

impl Placed {
    pub(crate) fn bounds(&self) -> Rect {
        match self {
            Placed::Logo { rect, .. } => *rect,
            Placed::Text { text_box, .. } => *text_box,
        }
    }

    fn translate(&mut self, dy: i32) {
        match self {
            Placed::Logo { rect, .. } => rect.y += dy,
            Placed::Text {
                text_box, fitted, ..
            } => {
                text_box.y += dy;
                fitted.translate(0, dy);
            }
        }
    }
}

pub(crate) fn place_all<'f>(
    template: &Template,
    copy: &CreativeCopy,
    logo: Option<&RgbaImage>,
    size: AdSize,
    face_of: &dyn Fn(TextElement) -> &'f Face<'f>,
) -> Result<Vec<Placed>, ComposeError> {
    // The stack holding the headline goes first: the other elements' sizes are capped relative
    // to the headline's fitted size so that the headline stays the most prominent text.
    let holds_headline = |s: &Stack| {
        s.items
            .iter()
            .any(|(slot, _)| *slot == Slot::Text(TextElement::Headline))
    };
    let mut order: Vec<(usize, &Stack)> = template
        .stacks
        .iter()
        .enumerate()
        .filter(|(_, s)| holds_headline(s))
        .collect();
    order.extend(
        template
            .stacks
            .iter()
            .enumerate()
            .filter(|(_, s)| !holds_headline(s)),
    );
    let mut headline_px = None;
    let mut all = Vec::new();
    for (index, stack) in order {
        for mut p in place_stack(stack, copy, logo, size, face_of, &mut headline_px)? {
            if let Placed::Text { group, .. } = &mut p {
                *group = index;
            }
            all.push(p);
        }
    }
    Ok(all)
}

/// Largest size of `element` relative to the fitted headline size.
fn headline_ratio(element: TextElement) -> f32 {
    match element {
        TextElement::Headline => f32::INFINITY,
        TextElement::Body => 0.8,
        TextElement::Cta => 0.9,
        TextElement::Disclaimer => 0.6,
    }
}

fn place_stack<'f>(
    stack: &Stack,
    copy: &CreativeCopy,
    logo: Option<&RgbaImage>,
    size: AdSize,
    face_of: &dyn Fn(TextElement) -> &'f Face<'f>,
    headline_px: &mut Option<f32>,
) -> Result<Vec<Placed>, ComposeError> {
    let area = stack.area;
    let mut cursor = area.y;
    let mut placed: Vec<Placed> = Vec::new();
    // Fractions share the height left after the gaps between the items that are present, so
    // that every item can get its whole share.
    let present = stack
        .items
        .iter()
        .filter(|(slot, _)| match slot {
            Slot::Logo => logo.is_some(),
            Slot::Text(element) => copy.text(*element).is_some(),
        })
        .count() as i32;
    let usable = (area.height as i32 - stack.gap * (present - 1).max(0)).max(0) as f32;
    for (slot, fraction) in &stack.items {
        let remaining = (area.bottom() - cursor).max(0) as u32;
        let max_h = ((usable * fraction).floor() as u32).min(remaining);
        let slot_box = Rect::new(area.x, cursor, area.width, max_h);
        let item = match slot {
            Slot::Logo => logo.map(|image| place_logo(image, &slot_box, stack.align)),
            Slot::Text(element) => match copy.text(*element) {
                None => None,
                Some(text) => {
                    let face = face_of(*element);
                    let limits = layout::text_limits(*element, size);
                    let cap = headline_px.map_or(f32::INFINITY, |h| h * headline_ratio(*element));
                    let style = TextStyle {
                        max_px: limits.max_px.min(cap).max(limits.min_px),
                        min_px: limits.min_px,
                        line_height: limits.line_height,
                        max_lines: limits.max_lines,
                        align: stack.align,
                    };
                    let not_fit = || ComposeError::DoesNotFit {
                        element: *element,
                        size,
                        min_px: limits.min_px,
                    };
                    let item = if *element == TextElement::Cta {
                        place_button(face, text, &slot_box, &style, stack.align)
                            .ok_or_else(not_fit)?
                    } else {
                        let fitted = fit_text(face, text, slot_box, &style).ok_or_else(not_fit)?;
                        if *element == TextElement::Headline {
                            *headline_px = Some(fitted.px);
                        }
                        let used =
                            (fitted.used_bottom() - slot_box.y).clamp(1, slot_box.height as i32);
                        let text_box =
                            Rect::new(slot_box.x, slot_box.y, slot_box.width, used as u32);
                        Placed::Text {
                            element: *element,
                            text_box,
                            fitted,
                            group: 0,
                        }
                    };
                    Some(item)
                }
            },
        };
        if let Some(item) = item {
            cursor = item.bounds().bottom() + stack.gap;
            placed.push(item);
        }
    }
    let used_bottom = placed
        .iter()
        .map(|p| p.bounds().bottom())
        .max()
        .unwrap_or(area.y);
    let leftover = (area.bottom() - used_bottom).max(0);
    let dy = match stack.anchor {
        Anchor::Top => 0,
        Anchor::Center => leftover / 2,
        Anchor::Bottom => leftover,
    };
    for p in &mut placed {
        p.translate(dy);
    }
    Ok(placed)
}

/// Scales the logo to fit inside `slot` (never above 3x its own size) and aligns it.
fn place_logo(image: &RgbaImage, slot: &Rect, align: Align) -> Placed {
    let k = (slot.width as f32 / image.width() as f32)
        .min(slot.height as f32 / image.height() as f32)
        .min(3.0);
    let w = ((image.width() as f32 * k).floor() as u32).clamp(1, slot.width.max(1));
    let h = ((image.height() as f32 * k).floor() as u32).clamp(1, slot.height.max(1));
    let scaled = imageops::resize(image, w, h, FilterType::CatmullRom);
    let x = match align {
        Align::Left => slot.x,
        Align::Center => slot.x + (slot.width as i32 - w as i32) / 2,
    };
    Placed::Logo {
        rect: Rect::new(x, slot.y, w, h),
        image: scaled,
    }
}

/// Fits the CTA label on one line inside `slot` with room for button padding, then sizes the
/// button around it.
fn place_button(
    face: &Face<'_>,
    text: &str,
    slot: &Rect,
    style: &TextStyle,
    align: Align,
) -> Option<Placed> {
    let pad_y_min = ((slot.height as f32 * 0.1).round() as i32).max(1);
    let pad_x_min = ((slot.height as f32 * 0.12).round() as i32).max(3);
    let inner = Rect::new(
        slot.x + pad_x_min,
        slot.y + pad_y_min,
        (slot.width as i32 - 2 * pad_x_min).max(0) as u32,
        (slot.height as i32 - 2 * pad_y_min).max(0) as u32,
    );
    let mut fitted = fit_text(
        face,
        text,
        inner,
        &TextStyle {
            align: Align::Left,
            ..*style
        },
    )?;
    let content = fitted
        .line_boxes
        .iter()
        .fold(fitted.ink, |acc, r| acc.union(r));
    let pad_x = ((fitted.px * 0.9).round() as i32)
        .min((slot.width as i32 - content.width as i32) / 2)
        .max(pad_x_min.min((slot.width as i32 - content.width as i32) / 2));
    let pad_y = ((fitted.px * 0.4).round() as i32)
        .min((slot.height as i32 - content.height as i32) / 2)
        .max(0);
    let bw = content.width as i32 + 2 * pad_x;
    let bh = content.height as i32 + 2 * pad_y;
    if bw <= 0 || bh <= 0 || bw > slot.width as i32 || bh > slot.height as i32 {
        return None;
    }
    let bx = match align {
        Align::Left => slot.x,
        Align::Center => slot.x + (slot.width as i32 - bw) / 2,
    };
    let button = Rect::new(bx, slot.y, bw as u32, bh as u32);
    fitted.translate(button.x + pad_x - content.x, button.y + pad_y - content.y);
    if !button.contains_rect(&fitted.ink) {
        return None;
    }
    Some(Placed::Text {
        element: TextElement::Cta,
        text_box: button,
        fitted,
        group: 0,
    })
}
