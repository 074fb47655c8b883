//! Product photos in generated creatives: a campaign's photo is cut out once
//! ([`ProductShot::prepare`]: keep its alpha, remove a near-uniform studio backdrop, or set it
//! in a panel), then every variant shows one of the campaign's photos in turn, at every size of
//! the placement, over a background designed from the brand colours or painted around it by
//! the diffusion model when one is configured. What was decided is recorded in provenance.

use adforge_generator::compose::{self, Background, ComposedCreative, ProductBackdrop};

use super::pipeline::PipelineError;

/// A product photo prepared for the compositor, with where it came from.
#[derive(Clone)]
pub struct ProductShot {
    /// A stored photo's id, or the batch row's `product_image` value.
    pub id: String,
    /// The cut-out, decided once for every variant and size.
    pub product: compose::ProductImage,
}

impl ProductShot {
    /// Decides the cut-out of `photo` (see [`compose::ProductImage::prepare`]); a photo that
    /// cannot be shown (fully transparent, too small) fails with [`PipelineError::Product`].
    pub fn prepare(id: impl Into<String>, photo: &image::RgbaImage) -> Result<Self, PipelineError> {
        let id = id.into();
        match compose::ProductImage::prepare(photo) {
            Ok(product) => Ok(ProductShot { id, product }),
            Err(error) => Err(PipelineError::Product {
                id,
                message: error.to_string(),
            }),
        }
    }

    /// Decodes a stored or uploaded photo (PNG, JPEG or WebP) and prepares it.
    pub fn decode(id: impl Into<String>, bytes: &[u8]) -> Result<Self, PipelineError> {
        let id = id.into();
        match compose::decode_image(bytes) {
            Ok(photo) => Self::prepare(id, &photo),
            Err(error) => Err(PipelineError::Product {
                id,
                message: error.to_string(),
            }),
        }
    }

    /// What provenance records of the photo: its id and the cut-out decision with its reason.
    pub fn provenance(&self) -> serde_json::Value {
        serde_json::json!({
            "image_id": self.id,
            "cutout": serde_json::to_value(self.product.report()).unwrap_or_default(),
        })
    }

    /// The background of a creative showing this product over `backdrop`.
    pub fn background(&self, backdrop: ProductBackdrop) -> Background {
        Background::Product {
            product: self.product.clone(),
            backdrop,
        }
    }
}

/// The photo variant `number` of a group shows: the campaign's photos in turn.
pub fn shot_for_variant(shots: &[ProductShot], number: usize) -> Option<&ProductShot> {
    match shots.len() {
        0 => None,
        n => shots.get(number % n),
    }
}

/// Where the product landed in one rendered size, for provenance: its box and share of the
/// canvas, or why this size shows no product.
pub fn placement_record(rendered: &ComposedCreative) -> serde_json::Value {
    match (&rendered.product, &rendered.product_omitted) {
        (Some(placed), _) => serde_json::json!({
            "bounds": [placed.bounds.x, placed.bounds.y, placed.bounds.width, placed.bounds.height],
            "share": placed.share,
        }),
        (None, Some(reason)) => serde_json::json!({ "omitted": reason }),
        (None, None) => serde_json::json!({ "omitted": "the layout has no room for the product" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A studio packshot: a dark box on a near-white backdrop.
    fn packshot() -> image::RgbaImage {
        image::RgbaImage::from_fn(160, 120, |x, y| {
            if (40..120).contains(&x) && (30..90).contains(&y) {
                image::Rgba([40, 60, 140, 255])
            } else {
                image::Rgba([246, 246, 244, 255])
            }
        })
    }

    #[test]
    fn variants_take_the_photos_in_turn_and_provenance_names_the_cutout() {
        let shots = vec![
            ProductShot::prepare("a", &packshot()).unwrap(),
            ProductShot::prepare("b", &packshot()).unwrap(),
        ];
        let ids: Vec<&str> = (0..3)
            .map(|n| shot_for_variant(&shots, n).unwrap().id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "a"]);
        assert!(shot_for_variant(&[], 0).is_none());
        let provenance = shots[0].provenance();
        assert_eq!(provenance["image_id"], "a");
        assert_eq!(provenance["cutout"]["decision"], "removed_background");
    }

    #[test]
    fn an_unusable_photo_is_an_error_naming_it() {
        let clear = image::RgbaImage::from_pixel(64, 64, image::Rgba([0, 0, 0, 0]));
        let error = ProductShot::prepare("p1", &clear).err().unwrap();
        assert!(error.to_string().contains("p1"), "{error}");
        let error = ProductShot::decode("p2", b"not a picture").err().unwrap();
        assert!(error.to_string().contains("p2"), "{error}");
    }
}
