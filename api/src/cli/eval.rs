//! `adforge eval copy`: runs a brief set through the generation pipeline and reports copy
//! quality per language, with a sample of the copy to read (metrics: [`crate::jobs::eval`]).

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Settings;
use crate::infra::assets::AssetStore;
use crate::jobs::eval::{self, EvalOptions, EvalReport, GroupResult};
use crate::jobs::generation::pipeline::{CopySettings, Pipeline};

/// The evaluations of `adforge eval`.
#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Measures the copy the generation pipeline writes for a set of briefs.
    Copy(CopyArgs),
}

/// Arguments of `adforge eval copy`.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// Brief file (schema in assets/eval/briefs.toml); default: the briefs shipped with adforge.
    #[arg(long)]
    pub briefs: Option<PathBuf>,
    /// Only briefs in these languages (comma separated, e.g. `en,fr`).
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
    /// Variants asked per brief.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub variants: u32,
    /// Base seed of every group.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Variants printed per brief in the copy sample (0: none).
    #[arg(long, default_value_t = 2)]
    pub sample: usize,
    /// Text model, overriding the `text_model` setting (`default` or a path).
    #[arg(long)]
    pub text_model: Option<String>,
    /// Print the whole report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `adforge eval …`.
pub fn run(command: EvalCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        EvalCommand::Copy(args) => copy(args, settings),
    }
}

fn copy(args: CopyArgs, settings: &Settings) -> anyhow::Result<()> {
    let text = match &args.briefs {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => eval::BUILTIN_BRIEFS.to_string(),
    };
    let mut briefs = eval::parse_briefs(&text)?;
    if !args.languages.is_empty() {
        briefs.retain(|b| args.languages.iter().any(|l| l == b.language()));
        anyhow::ensure!(
            !briefs.is_empty(),
            "no brief is in --languages {}",
            args.languages.join(",")
        );
    }
    let mut settings = settings.clone();
    if let Some(model) = &args.text_model {
        settings.text_model = model.clone();
    }
    let text_model = settings.text_model.clone();
    let scratch = tempfile_dir()?;
    // As a worker builds it: the configured model, its languages and candidates per variant.
    let pipeline = Pipeline::load(
        &text_model,
        &settings.models_dir,
        &settings.device,
        AssetStore::new(scratch.join("assets")),
    )
    .with_context(|| format!("loading the models of {}", settings.models_dir.display()))?
    .with_copy_settings(CopySettings::from_settings(&settings));
    let (embedder, vocabulary) = eval::load_judge(&settings.models_dir, &settings.device)?;
    let options = EvalOptions {
        variants: args.variants,
        seed: args.seed,
    };
    let report = eval::evaluate(
        &pipeline,
        &embedder,
        &vocabulary,
        &briefs,
        &text_model,
        &options,
        |group| eprintln!("{}", progress_line(group)),
    );
    std::fs::remove_dir_all(&scratch).ok();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, args.sample));
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("adforge-eval-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn progress_line(group: &GroupResult) -> String {
    match &group.error {
        Some(error) => format!("{}: refused: {error}", group.brief),
        None => format!(
            "{}: {}/{} delivered in {:.1} s",
            group.brief,
            group.delivered.len(),
            group.asked,
            group.seconds
        ),
    }
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// The report as text: a sample of the copy per brief, then the measures per language.
pub fn render(report: &EvalReport, sample: usize) -> String {
    let mut out = String::new();
    if sample > 0 {
        out.push_str("Sample of the copy (headline | body | cta)\n");
        for group in &report.groups {
            out.push_str(&format!("\n{} [{}]\n", group.brief, group.placement));
            if let Some(error) = &group.error {
                out.push_str(&format!("  refused with error: {error}\n"));
            }
            for v in group.delivered.iter().take(sample) {
                let mut flags = Vec::new();
                if !v.right_language {
                    flags.push(format!("language {}", v.detected_language.unwrap_or("?")));
                }
                if !v.names_brand_or_product {
                    flags.push("no brand or product".to_string());
                }
                for field in &v.cut_fields {
                    flags.push(format!("{field} cut"));
                }
                flags.extend(v.artefacts.iter().cloned());
                flags.extend(v.violations.iter().cloned());
                flags.extend(v.faults.iter().cloned());
                out.push_str(&format!("  {} | {} | {}\n", v.headline, v.body, v.cta));
                if !flags.is_empty() {
                    out.push_str(&format!("    ! {}\n", flags.join("; ")));
                }
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Copy quality, text model {}, {} variants asked per brief\n",
        report.text_model, report.variants
    ));
    for s in &report.languages {
        out.push_str(&format!("\n[{}] {} briefs\n", s.language, s.groups));
        if s.refused() {
            out.push_str(&format!(
                "  refused with error (no creatives): {}\n",
                s.refusal.as_deref().unwrap_or("")
            ));
            continue;
        }
        if s.refused_groups > 0 {
            out.push_str(&format!(
                "  refused groups:           {} ({})\n",
                s.refused_groups,
                s.refusal.as_deref().unwrap_or("")
            ));
        }
        let rows = [
            (
                "delivered / asked",
                format!("{} / {}", s.delivered, s.asked),
            ),
            ("right language", percent(s.right_language_rate)),
            (
                "names brand or product",
                percent(s.names_brand_or_product_rate),
            ),
            ("mid-word cuts", s.mid_word_cuts.to_string()),
            ("dangling endings", s.dangling_endings.to_string()),
            ("with markup", s.with_markup.to_string()),
            (
                "with rule violations",
                format!("{} ({})", s.with_violations, percent(s.violation_rate)),
            ),
            (
                "with reader faults",
                if s.faults.is_empty() {
                    s.with_faults.to_string()
                } else {
                    format!(
                        "{} ({})",
                        s.with_faults,
                        s.faults
                            .iter()
                            .map(|(kind, n)| format!("{kind} {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            ),
            ("duplicate headlines", s.duplicate_headlines.to_string()),
            (
                "distinct headlines/group",
                format!("{:.2}", s.distinct_headlines_per_group),
            ),
            ("mean relevance", format!("{:.3}", s.mean_relevance)),
            (
                "candidates per second",
                format!(
                    "{:.2} ({} in {:.1} s)",
                    s.candidates_per_second, s.candidates, s.seconds
                ),
            ),
            (
                "s per delivered variant",
                format!("{:.2}", s.seconds_per_delivered),
            ),
        ];
        for (name, value) in rows {
            out.push_str(&format!("  {name:<25} {value}\n"));
        }
    }
    out
}
