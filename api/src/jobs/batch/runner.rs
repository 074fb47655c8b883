//! Running a batch: check the whole file, then generate row by row, appending each finished
//! row to `results.csv` so that an interrupted run resumes where it stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::csv_input::BatchReader;
use super::photos::{PhotoFolder, PhotoSource};
use super::results::{check_same_input, creative_records, error_record, write_zip, ResultsFile};
pub use super::results::{IMAGES_DIR, IMAGES_ZIP, RESULTS_FILE, RESULT_COLUMNS};
use super::rows::{self, RowPhoto, RowSpec, StoredResources};
use super::{BatchError, Limits, RowError};
use crate::config::Settings;
use crate::infra::assets::AssetStore;
use crate::jobs::generation::pipeline::{CopySettings, GroupInput, Pipeline, Variant};
use crate::jobs::generation::product::ProductShot;

/// How a batch runs.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// File size and row count limits.
    pub limits: Limits,
    /// Variants for rows without a `variants` value.
    pub default_variants: u32,
    /// Process only the first N data rows of the file.
    pub limit_rows: Option<u64>,
    /// Where `product_image` values point.
    pub photos: PhotoSource,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            limits: Limits::default(),
            default_variants: 1,
            limit_rows: None,
            photos: PhotoSource::default(),
        }
    }
}

/// The result of checking a whole file without generating anything.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// Data rows to process (after `limit_rows`).
    pub rows_total: u64,
    /// Rows that cannot be generated, in file order.
    pub errors: Vec<RowError>,
}

/// Why generating one row failed.
#[derive(Debug)]
pub enum GenerateError {
    /// This row failed; the others can go on.
    Row(String),
    /// Nothing can be generated (e.g. the models are missing).
    Fatal(String),
}

/// Produces the creatives of one row.
pub trait Generate {
    /// Writes, checks, ranks and renders the row's variants.
    fn generate(&mut self, spec: &RowSpec, seed: u64) -> Result<Vec<Variant>, GenerateError>;
    /// Where the rendered images are stored.
    fn assets(&self) -> &AssetStore;
}

/// [`Generate`] with the generation [`Pipeline`], loading the models on the first row that
/// needs them (a file whose rows all fail never loads them).
pub struct PipelineGenerator {
    text_model: String,
    models_dir: PathBuf,
    device: String,
    assets: AssetStore,
    copy: CopySettings,
    pipeline: Option<Pipeline>,
    /// The product photos prepared last, kept while the next rows show the same ones.
    photos: Option<(Vec<RowPhoto>, Vec<ProductShot>)>,
}

impl PipelineGenerator {
    /// A generator with the models named in `settings`, storing images in `assets`.
    pub fn new(settings: &Settings, assets: AssetStore) -> Self {
        PipelineGenerator {
            text_model: settings.text_model.clone(),
            models_dir: settings.models_dir.clone(),
            device: settings.device.clone(),
            assets,
            copy: CopySettings::from_settings(settings),
            pipeline: None,
            photos: None,
        }
    }
}

impl Generate for PipelineGenerator {
    fn generate(&mut self, spec: &RowSpec, seed: u64) -> Result<Vec<Variant>, GenerateError> {
        if self.pipeline.is_none() {
            let loaded = Pipeline::load(
                &self.text_model,
                &self.models_dir,
                &self.device,
                self.assets.clone(),
            )
            .map_err(|e| GenerateError::Fatal(e.to_string()))?
            .with_copy_settings(self.copy.clone());
            self.pipeline = Some(loaded);
        }
        let Some(pipeline) = self.pipeline.as_ref() else {
            return Err(GenerateError::Fatal("the models are not loaded".into()));
        };
        let logo = spec
            .brand_kit
            .as_ref()
            .and_then(|kit| kit.logo_asset.as_ref())
            .and_then(|name| self.assets.read(name).ok())
            .and_then(|bytes| image::load_from_memory(&bytes).ok())
            .map(|img| img.to_rgba8());
        if self
            .photos
            .as_ref()
            .is_none_or(|(photos, _)| *photos != spec.product_photos)
        {
            let shots = spec
                .product_photos
                .iter()
                .map(|photo| load_shot(&self.assets, photo))
                .collect::<Result<Vec<_>, _>>()
                .map_err(GenerateError::Row)?;
            self.photos = Some((spec.product_photos.clone(), shots));
        }
        let products = self
            .photos
            .as_ref()
            .map_or(&[][..], |(_, shots)| &shots[..]);
        pipeline
            .generate_group(&GroupInput {
                campaign: &spec.campaign,
                brand_kit: spec.brand_kit.as_ref(),
                logo: logo.as_ref(),
                products,
                segment: &spec.segment,
                placement: &spec.placement,
                variants: spec.variants,
                seed,
            })
            .map_err(|e| GenerateError::Row(e.to_string()))
    }

    fn assets(&self) -> &AssetStore {
        &self.assets
    }
}

/// Reads, decodes and cuts out one of a row's product photos.
fn load_shot(assets: &AssetStore, photo: &RowPhoto) -> Result<ProductShot, String> {
    match photo {
        RowPhoto::Stored { id, asset } => {
            let bytes = assets
                .read(asset)
                .map_err(|e| format!("product photo {id}: {e}"))?;
            ProductShot::decode(id.clone(), &bytes).map_err(|e| e.to_string())
        }
        RowPhoto::File { name, path } => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("column product_image: {}: {e}", path.display()))?;
            ProductShot::decode(name.clone(), &bytes)
                .map_err(|e| format!("column product_image: {e}"))
        }
    }
}

/// What happened to one input row.
#[derive(Clone, Debug)]
pub enum RowOutcome {
    /// Generated; `creatives` kept (near-duplicates not counted).
    Generated {
        /// Creatives written.
        creatives: usize,
    },
    /// The row could not be generated.
    Failed(RowError),
}

/// Told about the run's progress.
pub trait Progress {
    /// The results of an earlier run were found, before [`Progress::started`]: `rows_done` rows
    /// were generated and the rows in `failed` failed (their error text as written to
    /// `results.csv`, without a column). Does nothing by default.
    fn resumed(&mut self, rows_done: u64, failed: &[RowError]) {
        let _ = (rows_done, failed);
    }
    /// The file was checked: `rows_total` rows, of which `rows_finished` are already in the
    /// results from an earlier run.
    fn started(&mut self, rows_total: u64, rows_finished: u64);
    /// Asked before the records of a finished row are appended to `results.csv`; answering
    /// false stops the run with [`BatchError::Stopped`] and the row is not written (a server
    /// that lost its lease on the batch to another one must not write it). True by default.
    fn may_append(&mut self, row: u64) -> bool {
        let _ = row;
        true
    }
    /// A row was finished.
    fn row_finished(&mut self, row: u64, outcome: &RowOutcome);
}

/// The end state of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Data rows in the file (after `limit_rows`).
    pub rows_total: u64,
    /// Rows generated, this run and earlier ones.
    pub rows_done: u64,
    /// Rows that failed, this run and earlier ones.
    pub rows_failed: u64,
    /// Rows found finished in the results of an earlier run and skipped.
    pub rows_resumed: u64,
    /// Creatives written by this run.
    pub creatives: u64,
    /// Row errors met by this run.
    pub errors: Vec<RowError>,
}

/// Reads the whole file once, validating every row, without generating anything.
pub fn check(
    input: &Path,
    options: &BatchOptions,
    mut stored: Option<&mut (dyn StoredResources + '_)>,
) -> Result<Checked, BatchError> {
    let mut reader = BatchReader::open(input, options.limits)?;
    let mut photos = PhotoFolder::new(input, options.photos);
    let mut checked = Checked::default();
    while let Some(row) = reader.next_row()? {
        if options
            .limit_rows
            .is_some_and(|limit| checked.rows_total >= limit)
        {
            break;
        }
        checked.rows_total += 1;
        let resolved = row.and_then(|row| {
            let mut spec = rows::resolve(&row, options.default_variants, stored.as_deref_mut())?;
            photos.attach(&row, &mut spec)
        });
        if let Err(error) = resolved {
            checked.errors.push(error);
        }
    }
    Ok(checked)
}

/// Runs the batch in `input` into `out_dir`, skipping rows already in its `results.csv`.
/// Stops between rows when `stop` is set.
pub fn run(
    input: &Path,
    out_dir: &Path,
    options: &BatchOptions,
    mut stored: Option<&mut (dyn StoredResources + '_)>,
    generator: &mut dyn Generate,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<Summary, BatchError> {
    let checked = check(input, options, stored.as_deref_mut())?;
    let images_dir = out_dir.join(IMAGES_DIR);
    std::fs::create_dir_all(&images_dir).map_err(|e| BatchError::io(&images_dir, e))?;
    check_same_input(input, out_dir)?;
    let mut results = ResultsFile::open(&out_dir.join(RESULTS_FILE))?;
    let mut summary = Summary {
        rows_total: checked.rows_total,
        ..Summary::default()
    };
    summary.rows_resumed = results.finished.len() as u64;
    summary.rows_failed = results.failed.len() as u64;
    summary.rows_done = summary.rows_resumed - summary.rows_failed;
    if summary.rows_resumed > 0 {
        let failed: Vec<RowError> = results
            .failed
            .iter()
            .map(|(row, message)| RowError::new(*row, None, message.clone()))
            .collect();
        progress.resumed(summary.rows_done, &failed);
    }
    progress.started(checked.rows_total, summary.rows_resumed);

    let mut reader = BatchReader::open(input, options.limits)?;
    let mut photos = PhotoFolder::new(input, options.photos);
    let mut seen = 0u64;
    while let Some(row) = reader.next_row()? {
        if options.limit_rows.is_some_and(|limit| seen >= limit) {
            break;
        }
        seen += 1;
        let number = match &row {
            Ok(row) => row.row,
            Err(error) => error.row,
        };
        if results.finished.contains(&number) {
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            return Err(BatchError::Stopped);
        }
        let spec = row.and_then(|row| {
            let mut spec = rows::resolve(&row, options.default_variants, stored.as_deref_mut())?;
            photos.attach(&row, &mut spec)?;
            Ok(spec)
        });
        let (records, outcome) = match spec {
            Err(error) => (
                vec![error_record(number, None, &error)],
                RowOutcome::Failed(error),
            ),
            Ok(spec) => match generator.generate(&spec, row_seed(&spec)) {
                Ok(variants) => (
                    creative_records(&spec, &variants, generator.assets(), &images_dir)?,
                    RowOutcome::Generated {
                        creatives: variants.iter().filter(|v| v.duplicate_of.is_none()).count(),
                    },
                ),
                Err(GenerateError::Row(message)) => {
                    let error =
                        RowError::new(number, None, format!("generation failed: {message}"));
                    (
                        vec![error_record(number, Some(&spec), &error)],
                        RowOutcome::Failed(error),
                    )
                }
                Err(GenerateError::Fatal(message)) => return Err(BatchError::Models(message)),
            },
        };
        if !progress.may_append(number) {
            return Err(BatchError::Stopped);
        }
        results.append(&records)?;
        match &outcome {
            RowOutcome::Generated { creatives } => {
                summary.rows_done += 1;
                summary.creatives += *creatives as u64;
            }
            RowOutcome::Failed(error) => {
                summary.rows_failed += 1;
                summary.errors.push(error.clone());
            }
        }
        progress.row_finished(number, &outcome);
    }
    write_zip(&images_dir, &out_dir.join(IMAGES_ZIP))?;
    Ok(summary)
}

/// A seed from the row's content, so a redone row writes the same copy.
fn row_seed(spec: &RowSpec) -> u64 {
    let key = format!(
        "{}/{}/{}/{}",
        spec.row, spec.campaign.input.name, spec.segment.input.name, spec.placement.input.preset
    );
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes) >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_file_is_valid() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/batch.csv");
        let checked = check(&sample, &BatchOptions::default(), None).unwrap();
        assert_eq!(checked.rows_total, 3);
        assert_eq!(checked.errors, []);
    }
}
