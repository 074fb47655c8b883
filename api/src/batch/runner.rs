//! Running a batch: check the whole file, then generate row by row, appending each finished
//! row to `results.csv` so that an interrupted run resumes where it stopped.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::csv_input::BatchReader;
use super::rows::{self, RowSpec, StoredResources};
use super::{BatchError, Limits, RowError};
use crate::assets::AssetStore;
use crate::config::Settings;
use crate::generation::pipeline::{GroupInput, Pipeline, Variant};

/// The columns of `results.csv`, one row per creative (or one per failed input row).
pub const RESULT_COLUMNS: [&str; 13] = [
    "row",
    "campaign",
    "segment",
    "placement",
    "variant",
    "status",
    "headline",
    "body",
    "cta",
    "images",
    "violations",
    "score",
    "error",
];

/// Name of the results file in the output folder.
pub const RESULTS_FILE: &str = "results.csv";
/// Name of the images archive in the output folder.
pub const IMAGES_ZIP: &str = "images.zip";
/// Name of the images folder in the output folder.
pub const IMAGES_DIR: &str = "images";
/// Holds the SHA-256 of the input the folder's results came from.
const INPUT_HASH_FILE: &str = "input.sha256";

/// How a batch runs.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// File size and row count limits.
    pub limits: Limits,
    /// Variants for rows without a `variants` value.
    pub default_variants: u32,
    /// Process only the first N data rows of the file.
    pub limit_rows: Option<u64>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            limits: Limits::default(),
            default_variants: 1,
            limit_rows: None,
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
    pipeline: Option<Pipeline>,
}

impl PipelineGenerator {
    /// A generator with the models named in `settings`, storing images in `assets`.
    pub fn new(settings: &Settings, assets: AssetStore) -> Self {
        PipelineGenerator {
            text_model: settings.text_model.clone(),
            models_dir: settings.models_dir.clone(),
            device: settings.device.clone(),
            assets,
            pipeline: None,
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
            .map_err(|e| GenerateError::Fatal(e.to_string()))?;
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
        pipeline
            .generate_group(&GroupInput {
                campaign: &spec.campaign,
                brand_kit: spec.brand_kit.as_ref(),
                logo: logo.as_ref(),
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
            rows::resolve(&row, options.default_variants, stored.as_deref_mut()).map(|_| ())
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
        let spec = row
            .and_then(|row| rows::resolve(&row, options.default_variants, stored.as_deref_mut()));
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

/// Refuses an output folder that holds results of a different input file.
fn check_same_input(input: &Path, out_dir: &Path) -> Result<(), BatchError> {
    let mut file = File::open(input).map_err(|e| BatchError::io(input, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| BatchError::io(input, e))?;
    let hash = hex::encode(hasher.finalize());
    let path = out_dir.join(INPUT_HASH_FILE);
    match std::fs::read_to_string(&path) {
        Ok(previous) if previous.trim() == hash => Ok(()),
        Ok(_) if out_dir.join(RESULTS_FILE).exists() => Err(BatchError::Results {
            path: out_dir.join(RESULTS_FILE),
            message: "holds the results of a different input file; use another output folder"
                .into(),
        }),
        _ => std::fs::write(&path, format!("{hash}\n")).map_err(|e| BatchError::io(&path, e)),
    }
}

/// `results.csv`, appended one input row at a time.
struct ResultsFile {
    path: PathBuf,
    file: File,
    /// Rows with records in the file.
    finished: HashSet<u64>,
    /// Rows whose record is an error, with its error text.
    failed: BTreeMap<u64, String>,
}

impl ResultsFile {
    /// Opens (or creates) the results, dropping a last line cut short by an interruption and
    /// reading back which rows are finished.
    fn open(path: &Path) -> Result<Self, BatchError> {
        let io = |e| BatchError::io(path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        truncate_partial_record(&mut file).map_err(io)?;
        let (mut finished, mut failed) = (HashSet::new(), BTreeMap::new());
        if file.metadata().map_err(io)?.len() == 0 {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record(RESULT_COLUMNS)
                .map_err(|e| BatchError::Csv(e.to_string()))?;
            let bytes = writer
                .into_inner()
                .map_err(|e| BatchError::Csv(e.to_string()))?;
            file.write_all(&bytes).map_err(io)?;
        } else {
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            let mut reader = csv::Reader::from_reader(std::io::BufReader::new(&file));
            let bad = |message: String| BatchError::Results {
                path: path.to_path_buf(),
                message,
            };
            let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
            if header.iter().collect::<Vec<_>>() != RESULT_COLUMNS {
                return Err(bad(
                    "is not a results file of adforge batch; use another output folder".into(),
                ));
            }
            for record in reader.records() {
                let record = record.map_err(|e| bad(e.to_string()))?;
                let row: u64 = record
                    .get(0)
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| bad("a row number is missing".into()))?;
                finished.insert(row);
                if record.get(5) == Some("error") {
                    let message = record.get(12).unwrap_or_default().to_string();
                    failed.insert(row, message);
                }
            }
        }
        Ok(ResultsFile {
            path: path.to_path_buf(),
            file,
            finished,
            failed,
        })
    }

    /// Appends one input row's records in one write.
    fn append(&mut self, records: &[Vec<String>]) -> Result<(), BatchError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for record in records {
            writer
                .write_record(record)
                .map_err(|e| BatchError::Csv(e.to_string()))?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| BatchError::Csv(e.to_string()))?;
        let io = |e| BatchError::io(&self.path, e);
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        Ok(())
    }
}

/// Cuts the file back to its last newline, dropping a record an interruption left half
/// written. (A quoted newline inside the last record is not a risk: records are written whole,
/// so a file that ends in a newline ends in a whole record.)
fn truncate_partial_record(file: &mut File) -> std::io::Result<()> {
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    let mut end = length;
    let mut buffer = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buffer.len() as u64);
        let chunk = &mut buffer[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(index) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + index as u64 + 1;
            if keep < length {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    file.set_len(0)
}

fn error_record(row: u64, spec: Option<&RowSpec>, error: &RowError) -> Vec<String> {
    let message = match &error.column {
        Some(column) => format!("column {column}: {}", error.message),
        None => error.message.clone(),
    };
    let (campaign, segment, placement) = match spec {
        Some(spec) => (
            spec.campaign.input.name.clone(),
            spec.segment.input.name.clone(),
            spec.placement.input.name.clone(),
        ),
        None => Default::default(),
    };
    vec![
        row.to_string(),
        campaign,
        segment,
        placement,
        String::new(),
        "error".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        message,
    ]
}

/// One record per variant; kept variants' images are copied into `images_dir`.
fn creative_records(
    spec: &RowSpec,
    variants: &[Variant],
    assets: &AssetStore,
    images_dir: &Path,
) -> Result<Vec<Vec<String>>, BatchError> {
    let mut records = Vec::with_capacity(variants.len());
    for variant in variants {
        let mut images = Vec::new();
        for image in &variant.assets {
            let extension = image.asset.rsplit('.').next().unwrap_or("png");
            let name = format!(
                "{}-{}-{}-{}-{}.{extension}",
                spec.row,
                file_slug(&spec.segment.input.name),
                file_slug(&spec.placement.input.name),
                variant.variant,
                image.size
            );
            let source = assets
                .path(&image.asset)
                .map_err(|e| BatchError::Csv(e.to_string()))?;
            let target = images_dir.join(&name);
            std::fs::copy(&source, &target).map_err(|e| BatchError::io(&target, e))?;
            images.push(format!("{IMAGES_DIR}/{name}"));
        }
        let violations: Vec<String> = variant
            .violations
            .iter()
            .map(|v| format!("{} ({}): {}", v.rule, v.field, v.message))
            .collect();
        let (status, error) = match variant.duplicate_of {
            Some(original) => ("dropped", format!("near-duplicate of variant {original}")),
            None => ("ok", String::new()),
        };
        records.push(vec![
            spec.row.to_string(),
            spec.campaign.input.name.clone(),
            spec.segment.input.name.clone(),
            spec.placement.input.name.clone(),
            variant.variant.to_string(),
            status.into(),
            variant.copy.headline.clone(),
            variant.copy.body.clone(),
            variant.copy.call_to_action.clone(),
            images.join("|"),
            violations.join("; "),
            variant.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
            error,
        ]);
    }
    Ok(records)
}

/// Lower-case letters, digits and dashes, at most 40 characters, for file names.
fn file_slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "x".into()
    } else {
        slug
    }
}

/// Writes every image of `images_dir` into a zip (stored: the images are already
/// compressed), replacing the archive at `target` in one rename.
fn write_zip(images_dir: &Path, target: &Path) -> Result<(), BatchError> {
    let mut names: Vec<String> = std::fs::read_dir(images_dir)
        .map_err(|e| BatchError::io(images_dir, e))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let partial = target.with_extension("zip.partial");
    let file = File::create(&partial).map_err(|e| BatchError::io(&partial, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::FileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let zip_error =
        |e: zip::result::ZipError| BatchError::Csv(format!("writing {}: {e}", partial.display()));
    for name in names {
        zip.start_file(format!("{IMAGES_DIR}/{name}"), options)
            .map_err(zip_error)?;
        let path = images_dir.join(&name);
        let mut source = File::open(&path).map_err(|e| BatchError::io(&path, e))?;
        std::io::copy(&mut source, &mut zip).map_err(|e| BatchError::io(&partial, e))?;
    }
    let mut writer = zip.finish().map_err(zip_error)?;
    writer.flush().map_err(|e| BatchError::io(&partial, e))?;
    drop(writer);
    std::fs::rename(&partial, target).map_err(|e| BatchError::io(target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let header = RESULT_COLUMNS.join(",");
        std::fs::write(
            &path,
            format!("{header}\n2,A,B,C,,error,,,,,,,bad\n3,A,B,C,0,ok,Head"),
        )
        .unwrap();
        let results = ResultsFile::open(&path).unwrap();
        assert_eq!(results.finished, HashSet::from([2]));
        assert_eq!(results.failed, BTreeMap::from([(2, "bad".to_string())]));
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("bad\n"));
    }

    #[test]
    fn a_foreign_file_is_not_taken_for_results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        std::fs::write(&path, "name,value\nx,1\n").unwrap();
        assert!(matches!(
            ResultsFile::open(&path),
            Err(BatchError::Results { .. })
        ));
    }

    #[test]
    fn the_sample_file_is_valid() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/batch.csv");
        let checked = check(&sample, &BatchOptions::default(), None).unwrap();
        assert_eq!(checked.rows_total, 3);
        assert_eq!(checked.errors, []);
    }

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(file_slug("Young urban cyclists!"), "young-urban-cyclists");
        assert_eq!(file_slug("../.."), "x");
        assert_eq!(file_slug("Ελληνικά"), "x");
    }
}
