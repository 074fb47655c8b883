//! Product photos a campaign carries (packshots): uploaded as PNG, JPEG or WebP with the same
//! limits and checks as logos, stored as content-addressed assets, and set into the campaign's
//! creatives by the generation pipeline (the first one, or one per variant in turn).

use serde::Serialize;
use utoipa::ToSchema;

use super::images::{check_upload, UploadFormat, MAX_IMAGE_SIDE};
use super::FieldError;

/// Most product photos one campaign holds.
pub const MAX_PRODUCT_IMAGES: i64 = 20;

/// Smallest product photo accepted, in pixels on its shorter side: anything smaller cannot be
/// shown at a legible size in an ad.
pub const MIN_PRODUCT_SIDE: u32 = 32;

/// Longest file name kept for a photo.
pub const MAX_FILE_NAME: usize = 200;

/// A stored product photo of a campaign.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProductImage {
    /// Identifier.
    pub id: String,
    /// The campaign it belongs to.
    pub campaign_id: String,
    /// Name of the stored asset (`<sha256>.<extension>`).
    pub asset: String,
    /// The name of the uploaded file.
    pub file_name: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Place in the campaign's order: generation takes the lowest first.
    pub position: i32,
    /// Upload time (RFC 3339).
    pub created_at: String,
}

/// A checked upload, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedPhoto {
    /// Its format.
    pub format: UploadFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The cleaned file name.
    pub file_name: String,
}

/// Checks the bytes of an uploaded product photo, the content of the field `field`.
/// `declared` is the media type the client sent with it, if any; the bytes themselves must be
/// a PNG, JPEG or WebP picture (of the declared type, when one is declared), decodable, with
/// [`MIN_PRODUCT_SIDE`] to [`MAX_IMAGE_SIDE`] pixels on each side (read from the header first,
/// so a decompression bomb is refused before it is decoded).
pub fn check_product_photo(
    bytes: &[u8],
    declared: Option<&str>,
    file_name: &str,
    field: &str,
) -> Result<CheckedPhoto, FieldError> {
    if bytes.is_empty() {
        return Err(FieldError::new(field, "the file is empty"));
    }
    let sniffed = UploadFormat::sniff(bytes).ok_or_else(|| {
        FieldError::new(
            field,
            "not a PNG, JPEG or WebP picture (the file does not start like one)",
        )
    })?;
    // A generic or missing type says nothing; a specific picture type must match the bytes.
    let declared = declared
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty() && t != "application/octet-stream");
    if let Some(declared) = declared {
        match UploadFormat::from_media_type(&declared) {
            Some(format) if format == sniffed => {}
            Some(format) => {
                return Err(FieldError::new(
                    field,
                    format!(
                        "sent as {} but the file is a {} picture",
                        format.media_type(),
                        sniffed.media_type()
                    ),
                ))
            }
            None => {
                return Err(FieldError::new(
                    field,
                    format!("{declared} is not accepted; send image/png, image/jpeg or image/webp"),
                ))
            }
        }
    }
    let (width, height) = check_upload(bytes, sniffed, field, MAX_IMAGE_SIDE)?;
    if width.min(height) < MIN_PRODUCT_SIDE {
        return Err(FieldError::new(
            field,
            format!(
                "{width}x{height} is too small to show; a product photo needs at least {MIN_PRODUCT_SIDE} pixels on each side"
            ),
        ));
    }
    Ok(CheckedPhoto {
        format: sniffed,
        width,
        height,
        file_name: clean_file_name(file_name, sniffed),
    })
}

/// The file name kept for an upload: its last path component, without control characters,
/// at most [`MAX_FILE_NAME`] characters; `product.<extension>` when nothing is left.
pub fn clean_file_name(name: &str, format: UploadFormat) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        format!("product.{}", format.extension())
    } else {
        cleaned.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(width, height, image::Rgb([200, 50, 50]))
            .write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    #[test]
    fn accepts_pictures_and_keeps_a_clean_name() {
        let jpeg = encode(64, 48, image::ImageFormat::Jpeg);
        let checked =
            check_product_photo(&jpeg, Some("image/jpeg"), "../x/shoe\u{7}.jpg", "image").unwrap();
        assert_eq!(checked.format, UploadFormat::Jpeg);
        assert_eq!((checked.width, checked.height), (64, 48));
        assert_eq!(checked.file_name, "shoe.jpg");
        let png = encode(40, 40, image::ImageFormat::Png);
        let checked = check_product_photo(&png, None, "", "image").unwrap();
        assert_eq!(checked.file_name, "product.png");
    }

    #[test]
    fn refuses_other_files_with_the_field() {
        let png = encode(64, 64, image::ImageFormat::Png);
        let error =
            check_product_photo(b"name,brand\n", Some("text/csv"), "a.csv", "image").unwrap_err();
        assert_eq!(error.path, "image");
        assert!(error.message.contains("not a PNG"), "{}", error.message);
        let error = check_product_photo(&png, Some("image/jpeg"), "a.png", "image").unwrap_err();
        assert!(
            error.message.contains("sent as image/jpeg"),
            "{}",
            error.message
        );
        let error = check_product_photo(&png, Some("image/gif"), "a.png", "image").unwrap_err();
        assert!(
            error.message.contains("image/gif is not accepted"),
            "{}",
            error.message
        );
        let tiny = encode(64, 8, image::ImageFormat::Png);
        let error = check_product_photo(&tiny, None, "a.png", "image").unwrap_err();
        assert!(error.message.contains("too small"), "{}", error.message);
        assert!(check_product_photo(&[], None, "a.png", "image").is_err());
    }
}
