//! A batch's output folder: `results.csv` appended one input row at a time and read back on
//! resume, the images copied next to it, and `images.zip` written at the end.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::rows::RowSpec;
use super::{BatchError, RowError};
use crate::infra::assets::AssetStore;
use crate::jobs::generation::pipeline::Variant;
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

/// Refuses an output folder that holds results of a different input file.
pub(super) fn check_same_input(input: &Path, out_dir: &Path) -> Result<(), BatchError> {
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
pub(super) struct ResultsFile {
    path: PathBuf,
    file: File,
    /// Rows with records in the file.
    pub(super) finished: HashSet<u64>,
    /// Rows whose record is an error, with its error text.
    pub(super) failed: BTreeMap<u64, String>,
}

impl ResultsFile {
    /// Opens (or creates) the results, dropping a last line cut short by an interruption and
    /// reading back which rows are finished.
    pub(super) fn open(path: &Path) -> Result<Self, BatchError> {
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
                    let message = restore_cell(record.get(12).unwrap_or_default()).to_string();
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

    /// Appends one input row's records in one write, with every text cell neutralised for
    /// spreadsheets ([`neutralise_cell`]).
    pub(super) fn append(&mut self, records: &[Vec<String>]) -> Result<(), BatchError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for record in records {
            let cells = record.iter().enumerate().map(|(column, cell)| {
                let cell = if NUMBER_COLUMNS.contains(&column) {
                    std::borrow::Cow::Borrowed(cell.as_str())
                } else {
                    neutralise_cell(cell)
                };
                cell.into_owned().into_bytes()
            });
            writer
                .write_record(cells)
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

/// Columns of [`RESULT_COLUMNS`] that hold numbers written by adforge (`row`, `variant`,
/// `score`): a negative score stays a number. Every other cell is text and is neutralised.
const NUMBER_COLUMNS: [usize; 3] = [0, 4, 11];

/// The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
/// Injection"), and the quote that marks a neutralised cell.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// A text cell as written to `results.csv`: one that starts with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a leading single quote, as OWASP recommends, so a spreadsheet shows it
/// as text instead of running it. A cell that starts with a single quote gets one too, so that
/// [`restore_cell`] gives every cell back exactly. The JSON API keeps the real text.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The text of a cell [`neutralise_cell`] wrote.
pub fn restore_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// Cuts the file back to the end of its last whole record, dropping one an interruption left
/// half written, even one cut inside a quoted field that holds a newline. A record ends at a
/// newline outside quotes: the CSV writer doubles quotes inside quoted fields, so that is a
/// newline with an even number of `"` before it in the file.
fn truncate_partial_record(file: &mut File) -> std::io::Result<()> {
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, &mut *file);
    let (mut offset, mut in_quotes, mut keep) = (0u64, false, 0u64);
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        for (index, &byte) in buffer.iter().enumerate() {
            match byte {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => keep = offset + index as u64 + 1,
                _ => {}
            }
        }
        let read = buffer.len();
        offset += read as u64;
        reader.consume(read);
    }
    drop(reader);
    if keep < length {
        file.set_len(keep)?;
    }
    Ok(())
}

pub(super) fn error_record(row: u64, spec: Option<&RowSpec>, error: &RowError) -> Vec<String> {
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
pub(super) fn creative_records(
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
pub(super) fn write_zip(images_dir: &Path, target: &Path) -> Result<(), BatchError> {
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
    fn a_record_torn_inside_a_quoted_newline_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let header = RESULT_COLUMNS.join(",");
        let whole = format!("{header}\n2,A,B,C,,error,,,,,,,\"bad\nrow\"\n");
        // Cut just after the newline inside the quoted headline of row 3.
        std::fs::write(&path, format!("{whole}3,A,B,C,0,ok,\"Head\n")).unwrap();
        let results = ResultsFile::open(&path).unwrap();
        assert_eq!(results.finished, HashSet::from([2]));
        assert_eq!(
            results.failed,
            BTreeMap::from([(2, "bad\nrow".to_string())])
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    }

    #[test]
    fn formula_cells_are_neutralised_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let mut results = ResultsFile::open(&path).unwrap();
        let attack = "=HYPERLINK(\"http://evil.example\",\"x\")";
        let mut record: Vec<String> = RESULT_COLUMNS.iter().map(|_| String::new()).collect();
        record[0] = "2".into();
        record[1] = "+cmd".into();
        record[2] = "@SUM(A1)".into();
        record[3] = "-1+1".into();
        record[5] = "error".into();
        record[6] = "\tTab".into();
        record[7] = "\rReturn".into();
        record[8] = "Shop now".into();
        record[11] = "-0.1250".into();
        record[12] = attack.into();
        results.append(&[record]).unwrap();
        drop(results);
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let written = reader.records().next().unwrap().unwrap();
        let cells: Vec<&str> = written.iter().collect();
        assert_eq!(&cells[1..4], ["'+cmd", "'@SUM(A1)", "'-1+1"]);
        assert_eq!(&cells[6..9], ["'\tTab", "'\rReturn", "Shop now"]);
        assert_eq!(cells[11], "-0.1250", "numbers stay numbers");
        assert_eq!(cells[12], format!("'{attack}"));
        let reopened = ResultsFile::open(&path).unwrap();
        assert_eq!(reopened.failed, BTreeMap::from([(2, attack.to_string())]));
        assert_eq!(restore_cell(&neutralise_cell("'quoted")), "'quoted");
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
    fn slugs_are_safe_file_names() {
        assert_eq!(file_slug("Young urban cyclists!"), "young-urban-cyclists");
        assert_eq!(file_slug("../.."), "x");
        assert_eq!(file_slug("Ελληνικά"), "x");
    }
}
