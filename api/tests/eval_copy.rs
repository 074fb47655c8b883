//! The copy evaluation as a CI gate (issue #13): the English briefs of assets/eval/briefs.toml
//! go through the generation pipeline with the default text model, and what it delivers must
//! meet the targets; briefs in languages the default model does not write must be refused with
//! an error that says what to do. Metric definitions: `adforge_api::jobs::eval`.

use std::path::PathBuf;

use adforge_api::infra::assets::AssetStore;
use adforge_api::jobs::eval::{self, EvalOptions, EvalReport};
use adforge_api::jobs::generation::pipeline::Pipeline;

fn models_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/models");
    let present = dir
        .join(adforge_generator::text::DEFAULT_MODEL_FILE)
        .exists()
        && dir.join("all-minilm-l6-v2/model.safetensors").exists();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the default models are missing; run scripts/setup.sh"
        );
        eprintln!("default models missing: run scripts/setup.sh; test skipped");
        return None;
    }
    Some(dir)
}

/// Runs the shipped briefs whose language `keep` accepts, `variants` per brief.
fn run(models: &std::path::Path, keep: impl Fn(&str) -> bool, variants: u32) -> EvalReport {
    let assets = tempfile::tempdir().expect("temp dir");
    let pipeline = Pipeline::load("default", models, "cpu", AssetStore::new(assets.path()))
        .expect("load the default models");
    let (embedder, vocabulary) = eval::load_judge(models, "cpu").expect("load MiniLM");
    let mut briefs = eval::parse_briefs(eval::BUILTIN_BRIEFS).expect("shipped briefs parse");
    briefs.retain(|b| keep(b.language()));
    assert!(!briefs.is_empty());
    let options = EvalOptions { variants, seed: 1 };
    let report = eval::evaluate(
        &pipeline,
        &embedder,
        &vocabulary,
        &briefs,
        "default",
        &options,
        |_| {},
    )
    .expect("briefs are valid");
    // The copy itself, for whoever reads the test log.
    eprintln!("{}", adforge_api::cli::eval::render(&report, 8));
    report
}

#[test]
fn english_copy_from_the_default_model_meets_the_targets() {
    let Some(models) = models_dir() else { return };
    let report = run(&models, |language| language == "en", 4);
    let [en] = report.languages.as_slice() else {
        panic!("one language expected: {:?}", report.languages)
    };
    assert_eq!(
        en.refused_groups, 0,
        "no English group may fail: {:?}",
        en.refusal
    );
    assert!(en.delivered > 0, "something is delivered");
    assert!(
        en.right_language_rate >= 0.95,
        "{:.0}% in English, target >= 95%",
        en.right_language_rate * 100.0
    );
    assert!(
        en.names_brand_or_product_rate >= 0.85,
        "{:.0}% name the brand or product, target >= 85%",
        en.names_brand_or_product_rate * 100.0
    );
    assert_eq!(en.mid_word_cuts, 0, "fields cut inside a word");
    assert_eq!(en.with_markup, 0, "variants with markup or placeholders");
    assert!(
        en.violation_rate <= 0.05,
        "{:.0}% delivered with rule violations, target <= 5%",
        en.violation_rate * 100.0
    );
    assert_eq!(
        en.duplicate_headlines, 0,
        "duplicate headlines within a group"
    );
}

#[test]
fn other_languages_are_refused_with_what_to_do() {
    let Some(models) = models_dir() else { return };
    let report = run(&models, |language| language != "en", 1);
    assert!(report.languages.len() >= 3, "fr, es and de briefs are run");
    for group in &report.groups {
        assert!(
            group.delivered.is_empty(),
            "{}: the default model must deliver nothing in {}",
            group.brief,
            group.language
        );
        let error = group
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no error says why nothing was delivered", group.brief));
        assert!(
            error.contains(&group.language) && error.contains("text_model"),
            "{}: the error names the language and the setting to change: {error}",
            group.brief
        );
    }
    for language in &report.languages {
        assert!(language.refused(), "{} shows as refused", language.language);
    }
}
