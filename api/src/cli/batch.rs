//! `adforge batch input.csv --out DIR`: generates one creative group per CSV row, with a
//! progress bar, row-level errors on stderr, and resume of an interrupted run. The columns are
//! documented in [`crate::jobs::batch`].

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Settings;
use crate::infra::assets::AssetStore;
use crate::jobs::batch::photos::PhotoSource;
use crate::jobs::batch::runner::{self, BatchOptions, PipelineGenerator, Progress, RowOutcome};
use crate::jobs::batch::{BatchError, Limits};

/// Exit status when the batch finished but some rows failed.
pub const EXIT_ROWS_FAILED: i32 = 2;

/// Arguments of `adforge batch`.
#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    /// The input CSV file (columns: see the README's "Batch CSV" section).
    pub input: PathBuf,
    /// Output folder for results.csv, images/ and images.zip; rerunning with the same folder
    /// resumes an interrupted run.
    #[arg(long)]
    pub out: PathBuf,
    /// Variants per row for rows without a `variants` value (1 to 8).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub variants: u32,
    /// Process only the first N data rows.
    #[arg(long)]
    pub limit_rows: Option<u64>,
    /// Largest input file accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    pub max_bytes: u64,
    /// Most data rows accepted.
    #[arg(long, default_value_t = Limits::default().max_rows)]
    pub max_rows: u64,
}

/// Runs the batch; exits with [`EXIT_ROWS_FAILED`] when some rows failed.
pub fn run(args: BatchArgs, settings: &Settings) -> anyhow::Result<()> {
    let options = BatchOptions {
        limits: Limits {
            max_bytes: args.max_bytes,
            max_rows: args.max_rows,
        },
        default_variants: args.variants,
        limit_rows: args.limit_rows,
        // `product_image` paths are relative to the CSV file's folder.
        photos: PhotoSource::BesideInput,
    };
    // Generated images are stored content-addressed next to the results, then copied into
    // images/ under readable names.
    let assets = AssetStore::new(args.out.join(".assets"));
    let mut generator = PipelineGenerator::new(settings, assets);
    let mut progress = BarProgress::new();
    let stop = AtomicBool::new(false);
    let outcome = runner::run(
        &args.input,
        &args.out,
        &options,
        None,
        &mut generator,
        &mut progress,
        &stop,
    );
    progress.bar.finish_and_clear();
    let summary = match outcome {
        Ok(summary) => summary,
        Err(
            error @ (BatchError::Header(_)
            | BatchError::TooLarge { .. }
            | BatchError::TooManyRows { .. }),
        ) => {
            anyhow::bail!("{}: {error}", args.input.display())
        }
        Err(error) => return Err(error.into()),
    };
    eprintln!(
        "{} rows: {} done, {} failed ({} finished by an earlier run); {} creatives written by this run",
        summary.rows_total, summary.rows_done, summary.rows_failed, summary.rows_resumed, summary.creatives
    );
    eprintln!(
        "results: {}; images: {} and {}",
        args.out.join(runner::RESULTS_FILE).display(),
        args.out.join(runner::IMAGES_DIR).display(),
        args.out.join(runner::IMAGES_ZIP).display()
    );
    if summary.rows_failed > 0 {
        std::process::exit(EXIT_ROWS_FAILED);
    }
    Ok(())
}

/// A progress bar with ETA on stderr; row errors are printed above it.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        BarProgress { bar }
    }
}

impl Progress for BarProgress {
    fn started(&mut self, rows_total: u64, rows_finished: u64) {
        if rows_finished > 0 {
            self.bar.suspend(|| {
                eprintln!("resuming: {rows_finished} rows were finished by an earlier run")
            });
        }
        self.bar.set_length(rows_total);
        // Rows from an earlier run do not count towards the ETA.
        self.bar.set_position(rows_finished.min(rows_total));
        self.bar.reset_eta();
    }

    fn row_finished(&mut self, _row: u64, outcome: &RowOutcome) {
        if let RowOutcome::Failed(error) = outcome {
            // Printed with the bar suspended, so the line also appears when stderr is no terminal.
            self.bar.suspend(|| eprintln!("{error}"));
        }
        self.bar.inc(1);
    }
}
