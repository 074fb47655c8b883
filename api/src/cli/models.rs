//! `adforge models`: pulls models from the Hugging Face Hub into its standard cache, lists
//! what the cache and the catalogue hold, and removes models.
//!
//! The environment is the Hugging Face tools' own: `HF_HOME` / `HF_HUB_CACHE` (where),
//! `HF_TOKEN` (gated models), `HF_ENDPOINT` (a mirror), `HF_HUB_OFFLINE=1` (the cache only).

use adforge_generator::hub::{
    Catalogue, CatalogueEntry, HubCache, HubClient, HubConfig, ModelRef, Progress,
};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

/// The subcommands of `adforge models`.
#[derive(clap::Subcommand, Debug)]
pub enum ModelsCommand {
    /// Downloads a model: a catalogue name (`adforge models list --catalogue`) or
    /// OWNER/REPO[:FILE], where FILE is a file of the repository or a GGUF quantisation such
    /// as Q8_0. Only the files the model needs are fetched; interrupted downloads resume.
    Pull {
        /// `qwen3-1.7b`, `Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q8_0`, `stabilityai/sd-turbo`, ...
        model: String,
    },
    /// Lists the models in the Hugging Face cache (with `--catalogue`: the catalogue, and
    /// which of its models are pulled).
    List {
        /// Shows the catalogue instead of the cache.
        #[arg(long)]
        catalogue: bool,
    },
    /// Removes a model from the Hugging Face cache (every file of its repository).
    Rm {
        /// A catalogue name or OWNER/REPO.
        model: String,
    },
}

/// Runs `adforge models ...`.
pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    let catalogue = Catalogue::builtin()?;
    let config = HubConfig::from_env();
    match command {
        ModelsCommand::Pull { model } => pull(&model, catalogue, config),
        ModelsCommand::List { catalogue: true } => {
            list_catalogue(catalogue, &config.cache);
            Ok(())
        }
        ModelsCommand::List { catalogue: false } => list_cache(catalogue, &config.cache),
        ModelsCommand::Rm { model } => remove(&model, catalogue, &config.cache),
    }
}

fn pull(text: &str, catalogue: &Catalogue, config: HubConfig) -> anyhow::Result<()> {
    let model = ModelRef::parse(text, catalogue)?;
    let entry = model.name.as_deref().and_then(|name| catalogue.get(name));
    if let Some(entry) = entry.filter(|e| e.gated && config.token.is_none() && !config.offline) {
        eprintln!(
            "note: {} is gated: accept its licence at {}/{} and set HF_TOKEN",
            entry.name, config.endpoint, entry.repo
        );
    }
    let client = HubClient::new(config)?;
    let mut progress = Bars::default();
    let pulled = client
        .pull(
            &model,
            entry.and_then(|e| e.quant.as_deref()),
            &mut progress,
        )
        .with_context(|| format!("pulling {text}"))?;
    progress.done();
    println!(
        "{} at {} ({} file{}, {} downloaded)",
        pulled.repo,
        &pulled.commit[..12.min(pulled.commit.len())],
        pulled.files.len(),
        if pulled.files.len() == 1 { "" } else { "s" },
        human_bytes(pulled.downloaded)
    );
    println!("{}", pulled.path.display());
    if let Some(note) = entry.and_then(|e| e.note.as_deref()) {
        println!("note: {note}");
    }
    match entry {
        Some(entry) => println!("{}", usage_hint(entry)),
        None => println!(
            "use it with: text_model = \"{}\" (or image_model for a diffusers folder)",
            pulled.path.display()
        ),
    }
    Ok(())
}

/// How to configure a pulled catalogue model.
fn usage_hint(entry: &CatalogueEntry) -> String {
    match entry.kind {
        adforge_generator::hub::ModelKind::Text => format!(
            "use it with: ADFORGE_TEXT_MODEL={} adforge serve (writes {})",
            entry.name,
            entry.languages.join(", ")
        ),
        adforge_generator::hub::ModelKind::Image => format!(
            "use it with: ADFORGE_IMAGE_MODEL={} adforge serve ({} steps, guidance {}, {} px)",
            entry.name,
            entry.steps.unwrap_or_default(),
            entry.guidance.unwrap_or_default(),
            entry.image_size.unwrap_or_default()
        ),
    }
}

fn list_cache(catalogue: &Catalogue, cache: &HubCache) -> anyhow::Result<()> {
    let repos = cache.list()?;
    println!("Hugging Face cache: {}", cache.root().display());
    if repos.is_empty() {
        println!("(empty; `adforge models list --catalogue` shows what to pull)");
        return Ok(());
    }
    println!("{:<16} {:<48} {:>10}  FILES", "NAME", "REPOSITORY", "SIZE");
    for repo in repos {
        let names: Vec<&str> = catalogue
            .entries()
            .iter()
            .filter(|e| e.repo.eq_ignore_ascii_case(&repo.repo))
            .map(|e| e.name.as_str())
            .collect();
        let mut size = human_bytes(repo.size_bytes);
        if repo.partial_bytes > 0 {
            size = format!("{size} (+{} partial)", human_bytes(repo.partial_bytes));
        }
        println!(
            "{:<16} {:<48} {:>10}  {}",
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(",")
            },
            repo.repo,
            size,
            repo.files.join(", ")
        );
    }
    Ok(())
}

fn list_catalogue(catalogue: &Catalogue, cache: &HubCache) {
    println!(
        "{:<14} {:<6} {:>9}  {:<7} LANGUAGES / SETTINGS\n{:<14} GOOD FOR; LICENCE",
        "NAME", "KIND", "SIZE", "PULLED", ""
    );
    for entry in catalogue.entries() {
        let pulled = cache
            .find_model(&entry.repo, "main", &entry.required_files())
            .ok()
            .flatten()
            .is_some();
        let settings = match entry.kind {
            adforge_generator::hub::ModelKind::Text => entry.languages.join(","),
            adforge_generator::hub::ModelKind::Image => format!(
                "{} steps, guidance {}, {} px",
                entry.steps.unwrap_or_default(),
                entry.guidance.unwrap_or_default(),
                entry.image_size.unwrap_or_default()
            ),
        };
        let licence = if entry.gated {
            format!("{} (gated)", entry.license)
        } else {
            entry.license.clone()
        };
        let note = entry
            .note
            .as_deref()
            .map(|n| format!(" (note: {n})"))
            .unwrap_or_default();
        println!(
            "{:<14} {:<6} {:>9}  {:<7} {settings}\n{:<14} {}; {licence}{note}",
            entry.name,
            entry.kind,
            human_bytes(entry.size_mb * 1_000_000),
            if pulled { "yes" } else { "no" },
            "",
            entry.good_for
        );
    }
}

fn remove(text: &str, catalogue: &Catalogue, cache: &HubCache) -> anyhow::Result<()> {
    let repo = match catalogue.get(text) {
        Some(entry) => entry.repo.clone(),
        None => {
            let repo = text.split(':').next().unwrap_or(text);
            anyhow::ensure!(
                adforge_generator::hub::files::split_repo(repo).is_some(),
                "'{text}' is neither a catalogue model nor OWNER/REPO"
            );
            repo.to_string()
        }
    };
    match cache.remove(&repo)? {
        Some(held) => {
            println!(
                "removed {} ({} freed) from {}",
                repo,
                human_bytes(held.size_bytes + held.partial_bytes),
                cache.root().display()
            );
            Ok(())
        }
        None => anyhow::bail!("{repo} is not in the cache {}", cache.root().display()),
    }
}

/// `1.2 GB`, `340 MB`, `12 kB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One progress bar per file on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
struct Bars {
    bar: Option<ProgressBar>,
}

impl Progress for Bars {
    fn start(&mut self, file: &str, total: Option<u64>, resumed: u64) {
        self.done();
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(file.to_string());
        bar.set_position(resumed);
        if resumed > 0 {
            bar.println(format!("{file}: resuming at {}", human_bytes(resumed)));
        }
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self, file: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{file}: done");
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}

impl Bars {
    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_the_hub_shows_them() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1_120_000_000), "1.1 GB");
        assert_eq!(human_bytes(491_000_000), "491.0 MB");
    }
}
