//! The compositing pipeline: validation, layout (with the product, or without it and a reason),
//! background, product and shadow, logo, CTA button, legibility (text colour and scrim from the
//! measured backdrop), text, encoding.

use image::RgbaImage;

use super::background::{paint_designed, smart_crop, Background, ProductBackdrop};
use super::brand::BrandStyle;
use super::color::{Rgb, WCAG_AA_TEXT};
use super::cutout::ProductImage;
use super::encode::{encode_within_budget, OutputFormat};
use super::font::{Face, Weight};
use super::layout::{self, Parts, Template};
use super::legibility::{button_color, legible_colors, measured_contrast, TextPaint};
use super::mask::CoverageMask;
use super::paint;
use super::place::{place_all, Placed};
use super::product::{draw_product, fit_product, product_layer, product_slot, PlacedProduct};
use super::rect::Rect;
use super::size::{AdSize, LayoutFamily};
use super::text_block::FittedText;
use super::{ComposeError, ComposedCreative, CreativeCopy, PlacedText, TextElement};

/// How far the coverage layers reach past each text box.
const LAYER_PAD: u32 = 64;

/// Checks the request and runs `f` with the brand's faces.
fn with_faces<T>(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    size: AdSize,
    f: impl for<'f> FnOnce(&'f dyn Fn(TextElement) -> &'f Face<'f>) -> Result<T, ComposeError>,
) -> Result<T, ComposeError> {
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
    f(&face_of)
}

/// A laid-out creative: template, placed logo and text, and the product's box and slot (or why
/// this size shows no product).
struct Plan {
    template: Template,
    placed: Vec<Placed>,
    /// The product's drawn box and its slot.
    product: Option<(Rect, Rect)>,
    product_omitted: Option<String>,
}

/// Lays the creative out with the product when one is given and a legible product fits beside
/// the copy; otherwise without it (the layout then gives the product's room back to the copy)
/// and with the reason.
fn plan<'f>(
    copy: &CreativeCopy,
    logo: Option<&RgbaImage>,
    product: Option<&ProductImage>,
    size: AdSize,
    face_of: &dyn Fn(TextElement) -> &'f Face<'f>,
) -> Result<Plan, ComposeError> {
    let parts = Parts {
        body: copy.text(TextElement::Body).is_some(),
        disclaimer: copy.text(TextElement::Disclaimer).is_some(),
        logo: logo.is_some(),
        product: false,
        product_beside: false,
        product_aspect: 1.0,
    };
    let mut product_omitted = None;
    if let Some(product) = product {
        // Square-ish sizes try the product beside the copy and above it, and keep the layout
        // that shows the larger product.
        let arrangements: &[bool] = if size.layout_family() == LayoutFamily::Square {
            &[true, false]
        } else {
            &[false]
        };
        let mut best: Option<Plan> = None;
        for &beside in arrangements {
            let template = layout::template(
                size,
                Parts {
                    product: true,
                    product_beside: beside,
                    product_aspect: product.cutout().width() as f32
                        / product.cutout().height() as f32,
                    ..parts
                },
            );
            let attempt = place_all(&template, copy, logo, size, face_of)
                .map_err(|e| format!("{size}: with the product beside it, {e}"))
                .and_then(|placed| {
                    let obstacles: Vec<Rect> = placed.iter().map(Placed::bounds).collect();
                    let slot = product_slot(&template, &obstacles, size)?;
                    let rect = fit_product(product, &slot, size)?;
                    Ok((placed, rect, slot))
                });
            match attempt {
                Ok((placed, rect, slot)) => {
                    let area = |p: &Plan| p.product.map_or(0, |(r, _)| r.width * r.height);
                    let plan = Plan {
                        template,
                        placed,
                        product: Some((rect, slot)),
                        product_omitted: None,
                    };
                    if best.as_ref().is_none_or(|b| area(&plan) > area(b)) {
                        best = Some(plan);
                    }
                }
                Err(reason) => {
                    product_omitted.get_or_insert(reason);
                }
            }
        }
        if let Some(plan) = best {
            return Ok(plan);
        }
        if let Some(reason) = &product_omitted {
            tracing::debug!(%size, %reason, "product left out");
        }
    }
    let template = layout::template(size, parts);
    let placed = place_all(&template, copy, logo, size, face_of)?;
    Ok(Plan {
        template,
        placed,
        product: None,
        product_omitted,
    })
}

/// A canvas with only the product drawn where [`compose`] places it at one size: the input of
/// painting a scene around the product.
#[derive(Debug, Clone)]
pub struct ProductCanvas {
    /// The creative's size, transparent except for the product (cut-out alpha; a panel is
    /// opaque with rounded corners).
    pub canvas: RgbaImage,
    /// The product's box on the canvas.
    pub product_box: Rect,
}

/// Where [`compose`] puts `product` at `size` for this copy and logo, drawn alone on a
/// transparent canvas (`None` when the size shows no product: see
/// [`ComposedCreative::product_omitted`]). A scene painted around it at this size is passed
/// back as [`ProductBackdrop::Scene`].
pub fn product_canvas(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    product: &ProductImage,
    size: AdSize,
) -> Result<Option<ProductCanvas>, ComposeError> {
    let logo = logo.filter(|l| l.width() > 0 && l.height() > 0);
    with_faces(copy, brand, size, |face_of| {
        let plan = plan(copy, logo, Some(product), size, face_of)?;
        Ok(plan.product.map(|(rect, _)| ProductCanvas {
            canvas: product_layer(product, &rect, size),
            product_box: rect,
        }))
    })
}

/// Renders one creative at `size`.
///
/// `logo` is drawn with its own alpha, scaled to fit the template's logo box. With
/// `Background::Image` the picture is cropped around its salient area; with
/// `Background::Designed` the background is designed from the brand colours; with
/// `Background::Product` the product is drawn with a soft shadow in its slot over its backdrop,
/// or, where the size has no room for a legible product, left out (the reason is in
/// [`ComposedCreative::product_omitted`]). The result is encoded as `format` within
/// [`AdSize::byte_budget`].
pub fn compose(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    background: &Background,
    size: AdSize,
    format: OutputFormat,
) -> Result<ComposedCreative, ComposeError> {
    let _span = tracing::debug_span!("compose", %size).entered();
    let logo = logo.filter(|l| l.width() > 0 && l.height() > 0);
    with_faces(copy, brand, size, |face_of| {
        render(copy, brand, logo, background, size, format, face_of)
    })
}

#[allow(clippy::too_many_arguments)]
fn render<'f>(
    copy: &CreativeCopy,
    brand: &BrandStyle,
    logo: Option<&RgbaImage>,
    background: &Background,
    size: AdSize,
    format: OutputFormat,
    face_of: &dyn Fn(TextElement) -> &'f Face<'f>,
) -> Result<ComposedCreative, ComposeError> {
    let product = match background {
        Background::Product { product, .. } => Some(product),
        _ => None,
    };
    let Plan {
        template,
        placed,
        product: product_plan,
        product_omitted,
    } = plan(copy, logo, product, size, face_of)?;

    let mut canvas = RgbaImage::new(size.width, size.height);
    // The designed background's accent shapes go behind the product when there is one.
    let visual = product_plan.map_or(template.visual, |(_, slot)| slot);
    let picture = match background {
        Background::Image(img) => Some(img),
        Background::Product {
            backdrop: ProductBackdrop::Picture(img),
            ..
        } => Some(img),
        _ => None,
    };
    let mut draw_the_product = product_plan.is_some();
    match (background, picture) {
        (
            Background::Product {
                backdrop: ProductBackdrop::Scene(scene),
                ..
            },
            _,
        ) => {
            if scene.dimensions() != (size.width, size.height) {
                return Err(ComposeError::BadProduct(format!(
                    "the scene painted around the product is {}x{}, the creative {size}",
                    scene.width(),
                    scene.height()
                )));
            }
            if product_plan.is_none() {
                return Err(ComposeError::BadProduct(format!(
                    "a scene was painted for {size}, which shows no product"
                )));
            }
            paint_designed(&mut canvas, brand, &visual);
            paint::draw_image(&mut canvas, scene, 0, 0, None);
            draw_the_product = false;
        }
        (_, Some(img)) if img.width() > 0 && img.height() > 0 => {
            let cropped = smart_crop(img, size.width, size.height, &template.visual);
            if cropped.pixels().all(|p| p.0[3] == 255) {
                canvas = cropped;
            } else {
                // Transparent parts of the picture show the brand background.
                paint_designed(&mut canvas, brand, &visual);
                paint::draw_image(&mut canvas, &cropped, 0, 0, None);
            }
        }
        _ => paint_designed(&mut canvas, brand, &visual),
    }
    let mut placed_product = None;
    if let (Some(product), Some((rect, slot))) = (product, product_plan) {
        if draw_the_product {
            draw_product(&mut canvas, product, &rect, &slot);
        }
        placed_product = Some(PlacedProduct {
            bounds: rect,
            slot,
            decision: product.decision(),
            share: rect.width as f32 * rect.height as f32
                / (size.width as f32 * size.height as f32),
        });
    }

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
        product: placed_product,
        product_omitted,
        text,
        omitted: template.omitted,
    })
}
