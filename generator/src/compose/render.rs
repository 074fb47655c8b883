//! The compositing pipeline: background, layout, logo, CTA button, legibility (text colour and
//! scrim from the measured backdrop), text, encoding.

use image::imageops::{self, FilterType};
use image::RgbaImage;

use super::background::{paint_designed, paint_product_panel, smart_crop, Background};
use super::brand::BrandStyle;
use super::color::{contrast_ratio, relative_luminance, Rgb, WCAG_AA_TEXT};
use super::encode::{encode_within_budget, OutputFormat};
use super::font::{Face, Weight};
use super::layout::{self, Anchor, Parts, Slot, Stack, Template};
use super::mask::CoverageMask;
use super::paint;
use super::rect::Rect;
use super::size::AdSize;
use super::text_block::{fit_text, Align, FittedText, TextStyle};
use super::{ComposeError, ComposedCreative, CreativeCopy, PlacedText, TextElement};

/// How far the coverage layers reach past each text box.
const LAYER_PAD: u32 = 64;
/// Distance around the ink over which the backdrop is measured, in pixels.
const BACKDROP_RING: i32 = 3;
/// Contrast aimed at when choosing colours and scrims: a little above 4.5 so rounding in the
/// blend never lands under it.
const CONTRAST_TARGET: f32 = WCAG_AA_TEXT + 0.1;

/// Renders one creative at `size`.
///
/// `logo` is drawn with its own alpha, scaled to fit the template's logo box. With
/// `Background::Image` the picture is cropped around its salient area; with
/// `Background::ProductPhoto` and `Background::Designed` the background is designed from the
/// brand colours. The result is encoded as `format` within [`AdSize::byte_budget`].
pub fn compose(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    background: &Background,
    size: AdSize,
    format: OutputFormat,
) -> Result<ComposedCreative, ComposeError> {
    let _span = tracing::debug_span!("compose", %size).entered();
    if !(16..=8192).contains(&size.width) || !(16..=8192).contains(&size.height) {
        return Err(ComposeError::BadSize(size.to_string()));
    }
    for required in [TextElement::Headline, TextElement::Cta] {
        if copy.text(required).is_none() {
            return Err(ComposeError::EmptyText(required));
        }
    }
    let regular = brand.font.face(Weight::Regular)?;
    let bold = brand.font.face(Weight::Bold)?;
    let face_of = |e: TextElement| match e {
        TextElement::Headline | TextElement::Cta => &bold,
        TextElement::Body | TextElement::Disclaimer => &regular,
    };
    for element in TextElement::ALL {
        if let Some(text) = copy.text(element) {
            if let Some(ch) = face_of(element).first_missing_char(text) {
                return Err(ComposeError::MissingGlyph { element, ch });
            }
        }
    }
    let logo = logo.filter(|l| l.width() > 0 && l.height() > 0);
    let parts = Parts {
        body: copy.text(TextElement::Body).is_some(),
        disclaimer: copy.text(TextElement::Disclaimer).is_some(),
        logo: logo.is_some(),
        product: matches!(background, Background::ProductPhoto(_)),
    };
    let template = layout::template(size, parts);

    let mut canvas = RgbaImage::new(size.width, size.height);
    let mut product_panel = None;
    match background {
        Background::Image(img) if img.width() > 0 && img.height() > 0 => {
            let cropped = smart_crop(img, size.width, size.height, &template.visual);
            if cropped.pixels().all(|p| p.0[3] == 255) {
                canvas = cropped;
            } else {
                // Transparent parts of the picture show the brand background.
                paint_designed(&mut canvas, brand, &template.visual);
                paint::draw_image(&mut canvas, &cropped, 0, 0, None);
            }
        }
        Background::ProductPhoto(photo) => {
            paint_designed(&mut canvas, brand, &template.visual);
            if let (Some(panel), true) = (
                template.product_panel,
                photo.width() > 0 && photo.height() > 0,
            ) {
                paint_product_panel(&mut canvas, photo, &panel);
                product_panel = Some(panel);
            }
        }
        Background::Image(_) | Background::Designed => {
            paint_designed(&mut canvas, brand, &template.visual)
        }
    }

    let placed = place_all(&template, copy, logo, size, &face_of)?;

    // Logo and CTA button first, then every text element over what is behind it.
    let mut logo_box = None;
    let mut cta_button = Rect::default();
    for p in &placed {
        match p {
            Placed::Logo { rect, image } => {
                paint::draw_image(&mut canvas, image, rect.x, rect.y, None);
                logo_box = Some(*rect);
            }
            Placed::Text {
                element: TextElement::Cta,
                text_box,
                ..
            } => {
                let radius = text_box.height as f32 * 0.22;
                paint::fill_rounded_rect(
                    &mut canvas,
                    text_box,
                    radius,
                    button_color(brand.accent()),
                    1.0,
                );
                cta_button = *text_box;
            }
            Placed::Text { .. } => {}
        }
    }
    // Text colours and scrims: the CTA on its own (over its button), the other elements by
    // stack, so that neighbouring elements share one scrim panel.
    let mut colors: Vec<Option<TextPaint>> = vec![None; placed.len()];
    let groups: Vec<usize> = placed
        .iter()
        .filter_map(|p| match p {
            Placed::Text { element, group, .. } if *element != TextElement::Cta => Some(*group),
            _ => None,
        })
        .collect();
    let mut seen = Vec::new();
    for g in groups {
        if seen.contains(&g) {
            continue;
        }
        seen.push(g);
        let members: Vec<usize> = (0..placed.len())
            .filter(|&i| {
                matches!(&placed[i], Placed::Text { element, group, .. }
                    if *element != TextElement::Cta && *group == g)
            })
            .collect();
        let blocks: Vec<(&FittedText, Rect)> = members
            .iter()
            .filter_map(|&i| match &placed[i] {
                Placed::Text {
                    fitted, text_box, ..
                } => Some((fitted, *text_box)),
                Placed::Logo { .. } => None,
            })
            .collect();
        for (i, choice) in members.iter().zip(legible_colors(&mut canvas, &blocks)) {
            colors[*i] = Some(choice);
        }
    }
    for (i, p) in placed.iter().enumerate() {
        if let Placed::Text {
            element: TextElement::Cta,
            fitted,
            text_box,
            ..
        } = p
        {
            let choice = legible_colors(&mut canvas, &[(fitted, *text_box)]);
            colors[i] = choice.into_iter().next();
        }
    }
    let mut text = Vec::new();
    for (p, choice) in placed.into_iter().zip(colors) {
        let Placed::Text {
            element,
            text_box,
            fitted,
            ..
        } = p
        else {
            continue;
        };
        let face = face_of(element);
        let (color, scrim) = choice.unwrap_or((Rgb::INK, None));
        let mut layer = CoverageMask::around(&text_box, LAYER_PAD);
        fitted.rasterise(face, &mut layer);
        paint::draw_coverage(&mut canvas, &layer, color);
        let min_contrast = measured_contrast(&canvas, &layer, &fitted, &text_box, color);
        if min_contrast < WCAG_AA_TEXT {
            return Err(ComposeError::LowContrast {
                element,
                size,
                contrast: min_contrast,
            });
        }
        text.push(PlacedText {
            element,
            text_box,
            lines: fitted.lines.clone(),
            font_px: fitted.px,
            color,
            min_contrast,
            scrim,
            layer,
        });
    }

    let budget = size.byte_budget();
    let encoded = encode_within_budget(&canvas, format, budget)?;
    tracing::debug!(bytes = encoded.bytes.len(), format = %encoded.format, "composed");
    Ok(ComposedCreative {
        size,
        bytes: encoded.bytes,
        format: encoded.format,
        jpeg_quality: encoded.jpeg_quality,
        byte_budget: budget,
        pixels: canvas,
        safe_area: template.safe,
        logo_box,
        cta_button,
        product_panel,
        text,
        omitted: template.omitted,
    })
}

/// A text colour and the scrim (colour, opacity) laid behind the text, if any.
type TextPaint = (Rgb, Option<(Rgb, f32)>);

/// One laid-out item.
enum Placed {
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
    fn bounds(&self) -> Rect {
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

fn place_all<'f>(
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

/// The CTA button colour: the brand accent, darkened in steps until white or near-black text
/// on it reaches the contrast target (mid-tone accents reach neither).
fn button_color(accent: Rgb) -> Rgb {
    let mut color = accent;
    for step in 1..=20 {
        if color.contrast(Rgb::WHITE).max(color.contrast(Rgb::INK)) >= CONTRAST_TARGET {
            break;
        }
        color = accent.mix(Rgb([0, 0, 0]), step as f32 * 0.05);
    }
    color
}

/// The region whose backdrop decides the text colour: the ink grown by [`BACKDROP_RING`],
/// inside the element's box.
fn backdrop_region(fitted: &FittedText, text_box: &Rect, canvas: &RgbaImage) -> Option<Rect> {
    let canvas_rect = Rect::new(0, 0, canvas.width(), canvas.height());
    fitted
        .ink
        .inflate(BACKDROP_RING)
        .intersection(text_box)?
        .intersection(&canvas_rect)
}

fn pixels_in(canvas: &RgbaImage, r: &Rect) -> Vec<Rgb> {
    let mut out = Vec::with_capacity(r.width as usize * r.height as usize);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            out.push(paint::pixel_rgb(canvas.get_pixel(x as u32, y as u32)));
        }
    }
    out
}

fn worst_contrast(text: Rgb, backdrop: &[Rgb]) -> f32 {
    let lt = text.luminance();
    backdrop
        .iter()
        .map(|p| contrast_ratio(lt, relative_luminance(p.0)))
        .fold(f32::INFINITY, f32::min)
}

/// Picks white or near-black text for each block from the backdrop under it. When some block
/// reaches the target with neither, all the blocks get white text over one shared black scrim,
/// the weakest (opacity in 5 % steps) that brings every block to the target; the scrim covers
/// each block's ink grown by a padding, inside its box, and the space between the blocks.
fn legible_colors(canvas: &mut RgbaImage, blocks: &[(&FittedText, Rect)]) -> Vec<TextPaint> {
    let canvas_rect = Rect::new(0, 0, canvas.width(), canvas.height());
    let backdrops: Vec<Vec<Rgb>> = blocks
        .iter()
        .map(|(fitted, text_box)| {
            backdrop_region(fitted, text_box, canvas)
                .map(|r| pixels_in(canvas, &r))
                .unwrap_or_default()
        })
        .collect();
    let plain: Vec<(Rgb, f32)> = backdrops
        .iter()
        .map(|b| {
            let light = worst_contrast(Rgb::WHITE, b);
            let dark = worst_contrast(Rgb::INK, b);
            if light >= dark {
                (Rgb::WHITE, light)
            } else {
                (Rgb::INK, dark)
            }
        })
        .collect();
    if plain.iter().all(|(_, c)| *c >= CONTRAST_TARGET) {
        return plain.into_iter().map(|(color, _)| (color, None)).collect();
    }
    let (text, scrim) = (Rgb::WHITE, Rgb([0, 0, 0]));
    let all: Vec<Rgb> = backdrops.concat();
    let mut alpha = 0.3f32;
    loop {
        let blended: Vec<Rgb> = all.iter().map(|p| p.mix(scrim, alpha)).collect();
        if worst_contrast(text, &blended) >= CONTRAST_TARGET || alpha >= 1.0 {
            break;
        }
        alpha = (alpha + 0.05).min(1.0);
    }
    let mut panel: Option<Rect> = None;
    let mut ink: Option<Rect> = None;
    for (fitted, text_box) in blocks {
        let pad = ((fitted.px * 0.3).round() as i32).max(BACKDROP_RING);
        if let Some(r) = fitted
            .ink
            .inflate(pad)
            .intersection(text_box)
            .and_then(|r| r.intersection(&canvas_rect))
        {
            panel = Some(panel.map_or(r, |p| p.union(&r)));
            ink = Some(ink.map_or(fitted.ink, |i| i.union(&fitted.ink)));
        }
    }
    if let (Some(panel), Some(ink)) = (panel, ink) {
        // Round the corners only as far as the padding left after clipping allows, so that the
        // measured regions (ink grown by the ring) stay fully covered.
        let spare = (ink.x - panel.x)
            .min(ink.y - panel.y)
            .min(panel.right() - ink.right())
            .min(panel.bottom() - ink.bottom());
        let radius = ((spare - BACKDROP_RING) as f32 * 2.0).max(0.0);
        paint::fill_rounded_rect(canvas, &panel, radius, scrim, alpha);
    }
    vec![(text, Some((scrim, alpha))); blocks.len()]
}

/// Lowest contrast between `color` and the backdrop pixels (uncovered by the element's glyphs)
/// within [`BACKDROP_RING`] px of the ink, inside the box, on the finished canvas.
fn measured_contrast(
    canvas: &RgbaImage,
    layer: &CoverageMask,
    fitted: &FittedText,
    text_box: &Rect,
    color: Rgb,
) -> f32 {
    let Some(region) = backdrop_region(fitted, text_box, canvas) else {
        return f32::INFINITY;
    };
    let lt = color.luminance();
    let mut worst = f32::INFINITY;
    for y in region.y..region.bottom() {
        for x in region.x..region.right() {
            if layer.get(x, y) == 0 {
                let p = canvas.get_pixel(x as u32, y as u32);
                worst = worst.min(contrast_ratio(
                    lt,
                    relative_luminance([p.0[0], p.0[1], p.0[2]]),
                ));
            }
        }
    }
    worst
}
