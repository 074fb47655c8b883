//! One generation step: for a (campaign, segment, placement) group, refuse a language the text
//! model does not write, write `variants` pieces of copy by over-generating candidates and
//! keeping the best that pass every check ([`super::copy`]), and render the images of every
//! size of the placement.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use adforge_generator::compose::{
    self, Background, BrandStyle, CreativeCopy, OutputFormat, ProductBackdrop, Rgb,
};
use adforge_generator::embed::{EmbedError, SentenceEmbedder};
use adforge_generator::image::{DiffusionPipeline, ImageRequest};
use adforge_generator::text::{CancelToken, TextModel, TextScheduler};
use adforge_targeting as targeting;
use sha2::{Digest, Sha256};

use super::product::{placement_record, shot_for_variant, ProductShot};
use crate::domain::{BrandKit, Campaign, ImageAsset, Placement, Segment, Violation};
use crate::infra::assets::AssetStore;

/// Errors that fail a whole group (model failures); rule violations are not errors.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The text model could not be loaded or failed.
    #[error("text engine: {0}")]
    Text(#[from] adforge_generator::text::TextError),
    /// The sentence-embedding model could not be loaded or failed.
    #[error("ranking: {0}")]
    Embed(#[from] EmbedError),
    /// A model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An image could not be stored.
    #[error("storing an image: {0}")]
    Asset(#[from] crate::infra::assets::AssetError),
    /// The diffusion model could not be loaded or failed.
    #[error("image engine: {0}")]
    Image(#[from] adforge_generator::image::ImageError),
    /// The group's job was cancelled (or its worker lost the lease) before it was finished.
    #[error("cancelled")]
    Cancelled,
    /// No candidate passed the quality checks.
    #[error("no copy passed the quality checks: {0}")]
    NoCopy(String),
    /// The segment's language is one the text model does not write.
    #[error("{0}")]
    Language(String),
    /// A product photo cannot be shown (see [`super::product::ProductShot::prepare`]).
    #[error("product photo {id}: {message}")]
    Product {
        /// The photo's id (or the batch row's `product_image` value).
        id: String,
        /// What is wrong with it.
        message: String,
    },
    /// A configured model cannot be found (a catalogue model not pulled names the command).
    #[error("{0}")]
    Model(#[from] super::models::ModelPathError),
    /// A setting is out of range.
    #[error("setting {name}: {message}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Most sequences the text model decodes in one batch.
pub const MAX_TEXT_BATCH: usize = 48;

/// The models a worker holds, loaded once. Text goes through a continuous-batching scheduler,
/// so the variants of every group being generated at the same time (by any thread holding
/// this pipeline) share model calls.
pub struct Pipeline {
    text: TextScheduler,
    text_model_id: String,
    text_model_sha256: String,
    /// Behind a lock: its tensors may not be shared between threads, and ranking is brief.
    embedder: Mutex<SentenceEmbedder>,
    /// The whole words of MiniLM's vocabulary: copy with other words is rejected.
    copy_words: std::sync::Arc<targeting::copy::Vocabulary>,
    assets: AssetStore,
    backgrounds: Option<DiffusionBackgrounds>,
    copy: CopySettings,
}

/// How copy is written: the languages the text model writes and how many candidates are
/// decoded per wanted variant.
#[derive(Clone, Debug, PartialEq)]
pub struct CopySettings {
    /// The text model as the settings name it (`default` or a path), for error messages.
    pub text_model: String,
    /// ISO 639-1 codes of the languages the text model writes.
    pub languages: Vec<String>,
    /// Candidates per wanted variant (the `copy_candidates_per_variant` setting).
    pub candidates_per_variant: u32,
}

impl CopySettings {
    /// From the settings (`text_model`, `text_model_languages`,
    /// `copy_candidates_per_variant`).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        CopySettings {
            text_model: settings.text_model.clone(),
            languages: settings.text_model_info().languages,
            candidates_per_variant: settings.copy_candidates_per_variant.clamp(1, 8),
        }
    }
}

/// Ad backgrounds painted by a diffusion checkpoint (the `image_model` setting).
pub struct DiffusionBackgrounds {
    /// One image at a time: a denoising run already uses every core (or the GPU).
    pipeline: Mutex<DiffusionPipeline>,
    model_id: String,
    steps: usize,
    guidance: f64,
    size: u32,
}

impl DiffusionBackgrounds {
    /// Loads the configured checkpoint; `None` when no `image_model` is set.
    pub fn load(settings: &crate::config::Settings) -> Result<Option<Self>, PipelineError> {
        let Some(configured) = &settings.image_model else {
            return Ok(None);
        };
        let dir = &super::models::image_model_path(configured)?;
        let painting = settings.image_settings();
        if painting.size == 0 || !painting.size.is_multiple_of(8) {
            return Err(PipelineError::Setting {
                name: "image_size",
                message: format!("{} is not a positive multiple of 8", painting.size),
            });
        }
        if painting.steps == 0 {
            return Err(PipelineError::Setting {
                name: "image_steps",
                message: "must be at least 1".into(),
            });
        }
        let device = adforge_generator::device::parse_device(&settings.device).map_err(|e| {
            PipelineError::Setting {
                name: "device",
                message: e.to_string(),
            }
        })?;
        let pipeline = DiffusionPipeline::load(dir, device, tch::Kind::Float)?;
        Ok(Some(DiffusionBackgrounds {
            pipeline: Mutex::new(pipeline),
            model_id: if dir == configured {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                // A catalogue model: its short name says more than a snapshot's commit.
                configured.display().to_string()
            },
            steps: painting.steps,
            guidance: painting.guidance,
            size: painting.size,
        }))
    }

    /// Paints one background for `prompt`.
    fn paint(
        &self,
        prompt: &str,
        negative: &str,
        seed: u64,
    ) -> Result<image::RgbaImage, PipelineError> {
        let pipeline = self.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        let images = pipeline.generate(&ImageRequest {
            prompt: prompt.to_string(),
            negative: negative.to_string(),
            steps: self.steps,
            guidance: self.guidance,
            seed,
            width: self.size,
            height: self.size,
            ..ImageRequest::default()
        })?;
        let first = images.into_iter().next().ok_or_else(|| {
            adforge_generator::image::ImageError::Unsupported("no image was generated".into())
        })?;
        Ok(image::DynamicImage::ImageRgb8(first).to_rgba8())
    }

    /// Paints a scene around the product placed on `canvas` (transparent where the scene
    /// goes), at the canvas's size; the product is kept pixel for pixel.
    fn paint_scene(
        &self,
        canvas: &image::RgbaImage,
        prompt: &str,
        negative: &str,
        seed: u64,
    ) -> Result<image::RgbaImage, PipelineError> {
        let pipeline = self.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        let settings = adforge_generator::image::PaintSettings {
            prompt: prompt.to_string(),
            negative: negative.to_string(),
            steps: self.steps,
            guidance: self.guidance,
            seed,
            work_size: self.size,
            ..adforge_generator::image::PaintSettings::default()
        };
        let painted = adforge_generator::image::paint_scene(&pipeline, canvas, &settings)?;
        Ok(image::DynamicImage::ImageRgb8(painted).to_rgba8())
    }

    /// How it paints, for provenance.
    fn describe(&self, seed: u64) -> serde_json::Value {
        serde_json::json!({
            "engine": "diffusion", "model": self.model_id, "steps": self.steps,
            "guidance": self.guidance, "size": self.size, "seed": seed,
        })
    }
}

/// Everything needed to generate one group.
pub struct GroupInput<'a> {
    /// The campaign.
    pub campaign: &'a Campaign,
    /// Its brand kit, if any.
    pub brand_kit: Option<&'a BrandKit>,
    /// The brand kit's logo, decoded.
    pub logo: Option<&'a image::RgbaImage>,
    /// The campaign's product photos, prepared; variant `v` shows photo `v % len` (none: the
    /// creatives show the copy over the background alone).
    pub products: &'a [ProductShot],
    /// The segment written for.
    pub segment: &'a Segment,
    /// The placement written for.
    pub placement: &'a Placement,
    /// How many variants to write.
    pub variants: u32,
    /// Base seed; variant `v` samples with `seed + v`.
    pub seed: u64,
}

/// One written variant.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Variant number within the group.
    pub variant: i32,
    /// The copy.
    pub copy: targeting::AdCopy,
    /// Rules it breaks.
    pub violations: Vec<Violation>,
    /// Rendered images.
    pub assets: Vec<ImageAsset>,
    /// Relevance to the segment (cosine similarity), when ranked.
    pub score: Option<f64>,
    /// Set when ranking dropped it as a near-duplicate: the variant it duplicates. Selection
    /// now rejects near-duplicates among the candidates, so generation leaves it unset.
    pub duplicate_of: Option<i32>,
    /// Set when the group delivered fewer variants than asked: how many, and why.
    pub shortfall: Option<String>,
    /// How it was made.
    pub provenance: serde_json::Value,
}

impl Pipeline {
    /// Loads the text model (`default` or a path) and the ranking model from `models_dir`.
    pub fn load(
        text_model: &str,
        models_dir: &std::path::Path,
        device: &str,
        assets: AssetStore,
    ) -> Result<Self, PipelineError> {
        let device = adforge_generator::device::parse_device(device)
            .map_err(|e| PipelineError::Text(adforge_generator::text::TextError::from(e)))?;
        let path = super::models::text_model_path(text_model, models_dir)?;
        // ADFORGE_DECODE (default auto): the quantized CPU path where the model qualifies,
        // without the f32 libtorch copy of the weights in memory.
        let model = TextModel::load_for_decode(&path.to_string_lossy(), device, tch::Kind::Float)?;
        let text = TextScheduler::start(model, MAX_TEXT_BATCH);
        let text_model_sha256 = hash_model(&path)?;
        let embedder = SentenceEmbedder::load(&models_dir.join("all-minilm-l6-v2"), device)?;
        let copy_words = super::copy::load_vocabulary(&models_dir.join("all-minilm-l6-v2"));
        Ok(Pipeline {
            copy_words,
            text,
            text_model_id: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text_model_sha256,
            embedder: Mutex::new(embedder),
            assets,
            backgrounds: None,
            copy: CopySettings {
                text_model: text_model.to_string(),
                languages: crate::config::default_text_model_languages(text_model),
                candidates_per_variant: crate::config::DEFAULT_COPY_CANDIDATES,
            },
        })
    }

    /// Writes copy with `copy` (languages, candidates per variant) instead of the defaults.
    pub fn with_copy_settings(mut self, copy: CopySettings) -> Self {
        self.copy = copy;
        self
    }

    /// Paints ad backgrounds with `backgrounds` instead of designing them from the brand
    /// colours.
    pub fn with_backgrounds(mut self, backgrounds: Option<DiffusionBackgrounds>) -> Self {
        self.backgrounds = backgrounds;
        self
    }

    /// Writes, checks, ranks and renders one group's variants.
    pub fn generate_group(&self, input: &GroupInput<'_>) -> Result<Vec<Variant>, PipelineError> {
        self.generate_group_cancellable(input, &CancelToken::new())
    }

    /// [`Self::generate_group`], stopped with [`PipelineError::Cancelled`] soon after `cancel`
    /// is cancelled: the text engine checks it before every decode step, and it is checked
    /// again before every background and every image size.
    pub fn generate_group_cancellable(
        &self,
        input: &GroupInput<'_>,
        cancel: &CancelToken,
    ) -> Result<Vec<Variant>, PipelineError> {
        let check = || {
            if cancel.is_cancelled() {
                Err(PipelineError::Cancelled)
            } else {
                Ok(())
            }
        };
        let limits = input.placement.text_limits();
        let sizes = input.placement.sizes();
        let (width, height) = sizes.first().copied().unwrap_or((0, 0));
        let tag = input.segment.input.language.trim();
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let language = match targeting::Language::from_tag(tag) {
            Some(language) if self.copy.languages.contains(&primary) => language,
            _ => {
                return Err(PipelineError::Language(
                    crate::config::unwritten_language_message(
                        &self.copy.text_model,
                        &self.copy.languages,
                        tag,
                    ),
                ))
            }
        };
        let campaign = &input.campaign.input;
        let brief = targeting::CampaignBrief {
            name: campaign.brand.clone(),
            product: campaign.product.clone(),
            description: campaign.description.clone(),
            key_benefits: campaign.offer.iter().cloned().collect(),
            call_to_action: campaign.call_to_action.clone(),
            allow_claims: campaign.allow_claims,
        };
        let kit = input.brand_kit.map(|k| &k.input);
        let brand = targeting::BrandKit {
            name: campaign.brand.clone(),
            voice: campaign.tone.clone().unwrap_or_default(),
            colors: kit.map(|k| k.colors.clone()).unwrap_or_default(),
            visual_style: String::new(),
            banned_phrases: kit.map(|k| k.banned_words.clone()).unwrap_or_default(),
            required_phrases: kit.map(|k| k.required_phrases.clone()).unwrap_or_default(),
            disclaimer: kit.and_then(|k| k.disclaimer.clone()),
        };
        let segment = targeting::SegmentBrief {
            name: input.segment.input.name.clone(),
            persona: input.segment.input.persona.clone(),
            language,
        };
        let spec = targeting::PlacementSpec {
            name: input.placement.input.name.clone(),
            width,
            height,
            headline_max: limits.headline as usize,
            body_max: limits.body as usize,
            cta_max: limits.cta as usize,
        };
        // The disclaimer is not the copy's job: the compositor draws it on every image and
        // serving hands it out beside the copy, so neither the prompt nor the checks ask the
        // copy (with its few dozen characters) to repeat it.
        let copy_brand = targeting::BrandKit {
            disclaimer: None,
            ..brand.clone()
        };
        let written = super::copy::write_copy(
            &self.text,
            &self.embedder,
            &super::copy::CopyBrief {
                campaign: &brief,
                segment: &segment,
                brand: &copy_brand,
                placement: &spec,
                variants: input.variants,
                candidates_per_variant: self.copy.candidates_per_variant,
                seed: input.seed,
                vocabulary: self.copy_words.clone(),
            },
            cancel,
        )?;
        let prompts = &written.prompts;
        let selection_provenance = written.provenance(input.variants);
        let shortfall = written.shortfall(input.variants);
        if let Some(note) = &shortfall {
            tracing::info!(segment = %input.segment.id, placement = %input.placement.id, "{note}");
            if written.selection.selected.is_empty() {
                return Err(PipelineError::NoCopy(note.clone()));
            }
        }
        let style = BrandStyle::with_colors(
            brand
                .colors
                .iter()
                .filter_map(|c| Rgb::parse_hex(c).ok())
                .collect(),
        );

        let mut variants = Vec::with_capacity(written.selection.selected.len());
        for (number, &index) in written.selection.selected.iter().enumerate() {
            let report = &written.selection.reports[index];
            let copy = report.copy.clone();
            let (_, candidate_seed, generated_tokens) = written.candidates[index];
            let duplicate_of: Option<i32> = None;
            let score = Some(f64::from(report.relevance));
            let mut violations: Vec<Violation> = Vec::new();
            let mut assets = Vec::new();
            let sampling = &written.sampling;
            let background_seed = candidate_seed;
            let mut images_provenance =
                serde_json::json!({ "engine": "compositor", "background": "designed" });
            let shot = shot_for_variant(input.products, number);
            let mut product_sizes = serde_json::Map::new();
            if duplicate_of.is_none() {
                check()?;
                let background = match (&self.backgrounds, shot) {
                    (Some(painter), None) => {
                        images_provenance = painter.describe(background_seed);
                        Background::Image(painter.paint(
                            &prompts.image.prompt,
                            &prompts.image.negative_prompt,
                            background_seed,
                        )?)
                    }
                    // Painted at each size around the product, below.
                    (Some(painter), Some(_)) => {
                        images_provenance = painter.describe(background_seed);
                        Background::Designed
                    }
                    (None, Some(shot)) => shot.background(ProductBackdrop::Designed),
                    (None, None) => Background::Designed,
                };
                let mut creative_copy =
                    CreativeCopy::new(&copy.headline, &copy.body, &copy.call_to_action);
                if let Some(disclaimer) = &brand.disclaimer {
                    creative_copy = creative_copy.with_disclaimer(disclaimer);
                }
                for &(w, h) in &sizes {
                    check()?;
                    let size = match format!("{w}x{h}").parse::<compose::AdSize>() {
                        Ok(size) => size,
                        Err(error) => {
                            violations.push(layout_violation(w, h, &error.to_string()));
                            continue;
                        }
                    };
                    let scene = match (&self.backgrounds, shot) {
                        (Some(painter), Some(shot)) => Some(self.scene_background(
                            painter,
                            shot,
                            &creative_copy,
                            &style,
                            input.logo,
                            size,
                            background_seed,
                            &prompts.image,
                        )?),
                        _ => None,
                    };
                    match compose::compose(
                        &creative_copy,
                        &style,
                        input.logo,
                        scene.as_ref().unwrap_or(&background),
                        size,
                        OutputFormat::Png,
                    ) {
                        Ok(rendered) => {
                            if shot.is_some() {
                                product_sizes
                                    .insert(format!("{w}x{h}"), placement_record(&rendered));
                            }
                            let extension = match rendered.format {
                                OutputFormat::Png => "png",
                                OutputFormat::Webp => "webp",
                                _ => "jpg",
                            };
                            let asset = self.assets.put(&rendered.bytes, extension)?;
                            assets.push(ImageAsset {
                                size: format!("{w}x{h}"),
                                asset,
                                bytes: rendered.bytes.len() as u64,
                            });
                        }
                        Err(error) => violations.push(layout_violation(w, h, &error.to_string())),
                    }
                }
            }
            let provenance = serde_json::json!({
                "source": "generation",
                "text_model": { "id": self.text_model_id, "sha256": self.text_model_sha256 },
                "ranking_model": "all-MiniLM-L6-v2",
                "disclaimer": brand.disclaimer,
                "images": images_provenance,
                "product": shot.map(|shot| {
                    let mut record = shot.provenance();
                    record["backdrop"] = if self.backgrounds.is_some() { "scene" } else { "designed" }.into();
                    record["sizes"] = product_sizes.into();
                    record
                }),
                "prompts": { "system": prompts.text.system, "user": prompts.text.user,
                             "examples": prompts.text.examples.len(),
                             "image": prompts.image.prompt, "image_negative": prompts.image.negative_prompt },
                "seed": candidate_seed,
                "candidate": index,
                "scores": report,
                "selection": selection_provenance,
                "sampling": { "temperature": sampling.temperature, "top_p": sampling.top_p,
                              "repetition_penalty": sampling.repetition_penalty },
                "generated_tokens": generated_tokens,
                "created_at": crate::domain::iso_time(crate::store::now_millis()),
            });
            variants.push(Variant {
                variant: number as i32,
                copy,
                violations,
                assets,
                score,
                duplicate_of,
                shortfall: shortfall.clone(),
                provenance,
            });
        }
        Ok(variants)
    }
}

impl Pipeline {
    /// The background of one size of a product creative with a diffusion model: a scene
    /// painted around the product where the layout places it (from the image prompt, which
    /// names the product and the segment's people), or the designed background when the
    /// size has no room for the product.
    #[allow(clippy::too_many_arguments)]
    fn scene_background(
        &self,
        painter: &DiffusionBackgrounds,
        shot: &ProductShot,
        copy: &CreativeCopy,
        style: &BrandStyle,
        logo: Option<&image::RgbaImage>,
        size: compose::AdSize,
        seed: u64,
        prompt: &targeting::ImagePrompt,
    ) -> Result<Background, PipelineError> {
        let placed = compose::product_canvas(copy, style, logo, &shot.product, size);
        let backdrop = match placed {
            Ok(Some(placed)) => ProductBackdrop::Scene(painter.paint_scene(
                &placed.canvas,
                &prompt.prompt,
                &prompt.negative_prompt,
                seed,
            )?),
            // No room for the product at this size: composing says why (and an error here
            // comes back from composing, where it is recorded as a layout violation).
            Ok(None) | Err(_) => ProductBackdrop::Designed,
        };
        Ok(shot.background(backdrop))
    }
}

/// The pipeline of one process, loaded on first use and shared by all its worker threads.
#[derive(Clone)]
pub struct SharedPipeline {
    loaded: Arc<Mutex<Option<Arc<Pipeline>>>>,
    settings: Arc<crate::config::Settings>,
    assets: AssetStore,
}

impl SharedPipeline {
    /// A pipeline of the configured models, not loaded yet.
    pub fn new(settings: &crate::config::Settings, assets: AssetStore) -> Self {
        SharedPipeline {
            loaded: Arc::default(),
            settings: Arc::new(settings.clone()),
            assets,
        }
    }

    /// The loaded pipeline, loading it now if no thread has yet. A failed load is retried by
    /// the next caller (the models may have been installed since).
    pub fn get(&self) -> Result<Arc<Pipeline>, PipelineError> {
        // A thread that panicked while loading leaves nothing half-built behind.
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pipeline) = loaded.as_ref() {
            return Ok(pipeline.clone());
        }
        let settings = &self.settings;
        let pipeline = Arc::new(
            Pipeline::load(
                &settings.text_model,
                &settings.models_dir,
                &settings.device,
                self.assets.clone(),
            )?
            .with_backgrounds(DiffusionBackgrounds::load(settings)?)
            .with_copy_settings(CopySettings::from_settings(settings)),
        );
        *loaded = Some(pipeline.clone());
        Ok(pipeline)
    }
}

fn layout_violation(width: u32, height: u32, message: &str) -> Violation {
    Violation {
        rule: "layout".into(),
        field: format!("image {width}x{height}"),
        span: (0, 0),
        message: message.to_string(),
    }
}

/// SHA-256 of a model file (or of a folder's `*.safetensors` and `config.json`), for provenance.
fn hash_model(path: &std::path::Path) -> Result<String, PipelineError> {
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut hasher = Sha256::new();
    let mut files = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "safetensors") || p.ends_with("config.json")
            })
            .collect::<Vec<_>>()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    for file in files {
        let mut reader = std::fs::File::open(&file).map_err(io)?;
        std::io::copy(&mut reader, &mut hasher).map_err(io)?;
    }
    Ok(hex::encode(hasher.finalize()))
}
