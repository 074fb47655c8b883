//! The `product_image` column: a product photo for a row's creatives.
//!
//! On the command line the value is a path relative to the folder of the CSV file. Over the
//! API it is the file name of a picture uploaded in the same multipart body as the CSV file,
//! stored beside it in [`UPLOADED_DIR`]; only plain file names are accepted there. A row
//! naming a stored campaign without a `product_image` uses the campaign's own photos.
//!
//! Every named picture is checked like an uploaded product photo (PNG, JPEG or WebP, 32 to
//! 4096 pixels on each side, read from the header before it is decoded, at most
//! [`MAX_PHOTO_BYTES`]); a missing or bad one is an error on the row's `product_image` column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::csv_input::{Column, RawRow};
use super::rows::{RowPhoto, RowSpec};
use super::RowError;
use crate::domain::product_images::check_product_photo;

/// The folder, beside an uploaded batch's input file, holding the pictures uploaded with it.
pub const UPLOADED_DIR: &str = "product-images";

/// Largest product photo file a row may name, in bytes (the default upload limit).
pub const MAX_PHOTO_BYTES: u64 = 10 << 20;

/// Where `product_image` values point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PhotoSource {
    /// Files uploaded with the batch: plain file names, in [`UPLOADED_DIR`] beside the input
    /// file (the server).
    #[default]
    Uploaded,
    /// Paths relative to the folder of the input file (the command line).
    BesideInput,
}

/// Resolves `product_image` values of one file's rows, checking each picture once.
pub struct PhotoFolder {
    base: PathBuf,
    source: PhotoSource,
    checked: HashMap<PathBuf, Result<(), String>>,
}

impl PhotoFolder {
    /// The pictures `product_image` values of the file `input` name, per `source`.
    pub fn new(input: &Path, source: PhotoSource) -> Self {
        let folder = input.parent().unwrap_or(Path::new("")).to_path_buf();
        let base = match source {
            PhotoSource::Uploaded => folder.join(UPLOADED_DIR),
            PhotoSource::BesideInput => folder,
        };
        PhotoFolder {
            base,
            source,
            checked: HashMap::new(),
        }
    }

    /// Sets the row's product photo to the picture its `product_image` cell names, if any
    /// (replacing a stored campaign's own photos); a missing or bad picture is an error on the
    /// `product_image` column.
    pub fn attach(&mut self, row: &RawRow, spec: &mut RowSpec) -> Result<(), RowError> {
        let value = row.get(Column::ProductImage);
        if value.is_empty() {
            return Ok(());
        }
        let path = self
            .resolve(value)
            .map_err(|message| RowError::new(row.row, Some("product_image"), message))?;
        spec.product_photos = vec![RowPhoto::File {
            name: value.to_string(),
            path,
        }];
        Ok(())
    }

    /// The checked picture a `product_image` value names.
    fn resolve(&mut self, value: &str) -> Result<PathBuf, String> {
        let path = match self.source {
            PhotoSource::Uploaded => {
                if value.contains(['/', '\\']) || value == "." || value == ".." {
                    return Err(format!(
                        "{value:?} is not a file name: name one of the pictures uploaded with the batch"
                    ));
                }
                let path = self.base.join(value);
                if !path.is_file() {
                    return Err(format!(
                        "no picture named {value:?} was uploaded with the batch{}",
                        self.uploaded_names()
                    ));
                }
                path
            }
            PhotoSource::BesideInput => {
                let path = self.base.join(value);
                if !path.is_file() {
                    return Err(format!(
                        "{} is not a file (paths are relative to the folder of the CSV file)",
                        path.display()
                    ));
                }
                path
            }
        };
        let outcome = self
            .checked
            .entry(path.clone())
            .or_insert_with(|| check_file(&path, value));
        outcome.clone().map(|()| path)
    }

    /// `; uploaded: a.png, b.jpg` (or `; none was`), for error messages.
    fn uploaded_names(&self) -> String {
        let mut names: Vec<String> = std::fs::read_dir(&self.base)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        match names.len() {
            0 => " (none was)".into(),
            n if n > 10 => format!(
                " (uploaded: {} and {} more)",
                names[..10].join(", "),
                n - 10
            ),
            _ => format!(" (uploaded: {})", names.join(", ")),
        }
    }
}

/// Reads and checks one picture file.
fn check_file(path: &Path, value: &str) -> Result<(), String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > MAX_PHOTO_BYTES {
        return Err(format!(
            "{value} is {size} bytes; the limit is {MAX_PHOTO_BYTES} bytes"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    check_product_photo(&bytes, None, value, "product_image")
        .map(drop)
        .map_err(|e| format!("{value}: {}", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::batch::rows::resolve;

    fn row(image: &str) -> RawRow {
        let cells = [
            (Column::Campaign, "Spring"),
            (Column::Segment, "Runners"),
            (Column::Placement, "iab_medium_rectangle"),
            (Column::Brand, "Acme"),
            (Column::Product, "Trail shoes"),
            (Column::LandingUrl, "https://acme.example/shoes"),
            (Column::ProductImage, image),
        ];
        RawRow::new(4, cells.iter().map(|(c, v)| (*c, v.to_string())).collect())
    }

    fn write_png(path: &Path, side: u32) {
        image::RgbImage::from_pixel(side, side, image::Rgb([240, 240, 240]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn paths_beside_the_input_resolve_and_bad_ones_name_the_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("shots")).unwrap();
        write_png(&dir.path().join("shots/shoe.png"), 64);
        write_png(&dir.path().join("tiny.png"), 8);
        std::fs::write(dir.path().join("notes.png"), "not a picture").unwrap();
        let mut folder = PhotoFolder::new(&dir.path().join("in.csv"), PhotoSource::BesideInput);

        let raw = row("shots/shoe.png");
        let mut spec = resolve(&raw, 1, None).unwrap();
        folder.attach(&raw, &mut spec).unwrap();
        assert!(matches!(&spec.product_photos[..],
            [RowPhoto::File { name, path }] if name == "shots/shoe.png" && path.is_file()));

        for (value, expected) in [
            ("missing.png", "is not a file"),
            ("tiny.png", "too small"),
            ("notes.png", "not a PNG, JPEG or WebP"),
        ] {
            let raw = row(value);
            let mut spec = resolve(&raw, 1, None).unwrap();
            let error = folder.attach(&raw, &mut spec).unwrap_err();
            assert_eq!(
                (error.row, error.column.as_deref()),
                (4, Some("product_image"))
            );
            assert!(error.message.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn uploaded_pictures_are_plain_names_in_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(UPLOADED_DIR)).unwrap();
        write_png(&dir.path().join(UPLOADED_DIR).join("shoe.png"), 64);
        write_png(&dir.path().join("outside.png"), 64);
        let mut folder = PhotoFolder::new(&dir.path().join("input.csv"), PhotoSource::Uploaded);
        let raw = row("shoe.png");
        let mut spec = resolve(&raw, 1, None).unwrap();
        folder.attach(&raw, &mut spec).unwrap();
        assert_eq!(spec.product_photos.len(), 1);

        let raw = row("../outside.png");
        let mut spec = resolve(&raw, 1, None).unwrap();
        let error = folder.attach(&raw, &mut spec).unwrap_err();
        assert!(error.message.contains("not a file name"), "{error}");
        let raw = row("boot.png");
        let error = folder.attach(&raw, &mut spec).unwrap_err();
        assert!(error.message.contains("(uploaded: shoe.png)"), "{error}");
    }
}
