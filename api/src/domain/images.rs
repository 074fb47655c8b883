//! Uploaded pictures (brand-kit logos, campaign product photos): the formats accepted and the
//! checks every upload passes before it is stored. The dimensions are read from the header
//! before anything is decoded, so a small file that would decode to a huge bitmap (a
//! decompression bomb) is refused without allocating it.

use super::FieldError;

/// Largest picture accepted, in pixels on either side.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// A picture format accepted for upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadFormat {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// `image/webp`
    Webp,
}

/// The accepted media types, as error messages list them.
pub const ACCEPTED_TYPES: &str = "image/png, image/jpeg or image/webp";

impl UploadFormat {
    /// The format of a media type (`image/png; charset=...` works; case is ignored), if it is
    /// one accepted.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/png" => Some(UploadFormat::Png),
            "image/jpeg" | "image/jpg" => Some(UploadFormat::Jpeg),
            "image/webp" => Some(UploadFormat::Webp),
            _ => None,
        }
    }

    /// The format the bytes start like (their magic number), if it is one accepted.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            image::ImageFormat::Png => Some(UploadFormat::Png),
            image::ImageFormat::Jpeg => Some(UploadFormat::Jpeg),
            image::ImageFormat::WebP => Some(UploadFormat::Webp),
            _ => None,
        }
    }

    /// The decoder's format.
    pub fn image_format(self) -> image::ImageFormat {
        match self {
            UploadFormat::Png => image::ImageFormat::Png,
            UploadFormat::Jpeg => image::ImageFormat::Jpeg,
            UploadFormat::Webp => image::ImageFormat::WebP,
        }
    }

    /// The file extension assets of this format are stored with.
    pub fn extension(self) -> &'static str {
        match self {
            UploadFormat::Png => "png",
            UploadFormat::Jpeg => "jpg",
            UploadFormat::Webp => "webp",
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            UploadFormat::Png => "image/png",
            UploadFormat::Jpeg => "image/jpeg",
            UploadFormat::Webp => "image/webp",
        }
    }
}

/// Checks uploaded picture bytes in `format`, the content of the field `field` (named in the
/// errors): the header must give 1 to `max_side` pixels on each side, and then the whole
/// picture must decode. Returns its width and height.
pub fn check_upload(
    bytes: &[u8],
    format: UploadFormat,
    field: &str,
    max_side: u32,
) -> Result<(u32, u32), FieldError> {
    let extension = format.extension();
    let unreadable = |e: image::ImageError| {
        FieldError::new(field, format!("not a readable {extension} image: {e}"))
    };
    let reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), format.image_format());
    let (width, height) = reader.into_dimensions().map_err(unreadable)?;
    if width == 0 || height == 0 || width > max_side || height > max_side {
        return Err(FieldError::new(
            field,
            format!("{field} must be 1 to {max_side} pixels on each side (this one is {width}x{height})"),
        ));
    }
    image::load_from_memory_with_format(bytes, format.image_format()).map_err(unreadable)?;
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 255]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn media_types_and_magic_numbers() {
        assert_eq!(
            UploadFormat::from_media_type("Image/PNG; q=1"),
            Some(UploadFormat::Png)
        );
        assert_eq!(UploadFormat::from_media_type("image/gif"), None);
        assert_eq!(UploadFormat::sniff(&png(2, 2)), Some(UploadFormat::Png));
        assert_eq!(UploadFormat::sniff(b"GIF89a......"), None);
        assert_eq!(UploadFormat::sniff(b"hello"), None);
    }

    #[test]
    fn sizes_are_checked_from_the_header() {
        assert_eq!(
            check_upload(&png(3, 2), UploadFormat::Png, "image", 4),
            Ok((3, 2))
        );
        let error = check_upload(&png(5, 2), UploadFormat::Png, "image", 4).unwrap_err();
        assert_eq!(error.path, "image");
        assert!(error.message.contains("1 to 4 pixels"), "{}", error.message);
        let error = check_upload(b"not a picture", UploadFormat::Png, "image", 4).unwrap_err();
        assert!(
            error.message.contains("not a readable png"),
            "{}",
            error.message
        );
    }
}
