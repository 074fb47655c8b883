//! Job workers: lease a queued job (or one whose worker stopped heartbeating), produce each of
//! its (segment, placement) groups, and record every item exactly once.
//!
//! Exactly-once rests on two things: a group's creatives and item rows are written in one
//! transaction that first checks this worker still holds the lease, and the unique index on
//! `creatives (job_id, segment_id, placement_id, variant)` refuses a second copy should two
//! workers ever race. A worker that dies loses its lease after `job_lease_seconds`; the next
//! worker redoes only the groups without item rows. The leases are those of
//! [`crate::store::leases`], shared with batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use adforge_generator::text::CancelToken;

use super::pipeline::{GroupInput, Pipeline, SharedPipeline, Variant};
use super::product::ProductShot;
use super::{JobPlan, JobRow};
use crate::config::Settings;
use crate::domain::Campaign;
use crate::infra::assets::AssetStore;
use crate::infra::changes::ChangeSignal;
use crate::store::columns::{json_from_text, json_text};
use crate::store::creatives::CreativeRow;
use crate::store::leases::{self, Heartbeat, LeaseStatus, Leased, Queue};
use crate::store::schema::{creatives, generation_items, generation_jobs};
use crate::store::{brand_kits, campaigns, placements, product_images, segments};
use crate::store::{new_id, now_millis, Conn, Store};

/// How many (segment, placement) groups of a job one worker generates at once; their model
/// calls are batched together.
const GROUPS_IN_FLIGHT: usize = 4;

/// A worker's identity and timing.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Unique name, recorded as the lease owner.
    pub id: String,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often to look for work when idle.
    pub poll: Duration,
}

impl WorkerOptions {
    /// Options from the settings, with a fresh worker id.
    pub fn from_settings(settings: &Settings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        WorkerOptions {
            id: format!("{host}-{}-{}", std::process::id(), &new_id()[24..]),
            lease: Duration::from_secs(settings.job_lease_seconds.max(3)),
            poll: Duration::from_millis(500),
        }
    }
}

/// Where a worker gets its models and whom it tells about auto-approved creatives.
#[derive(Clone)]
pub struct WorkerContext {
    /// The database.
    pub store: Store,
    /// Where images go.
    pub assets: AssetStore,
    /// The models, shared by the process's worker threads.
    pub pipeline: SharedPipeline,
    /// Tells serving replicas when auto-approved creatives became servable.
    pub serving: ChangeSignal,
}

/// Runs jobs until `stop` is set. Models load on the first job; threads given clones of one
/// [`SharedPipeline`] share the models and their decode batches.
pub fn run(context: WorkerContext, options: WorkerOptions, stop: Arc<AtomicBool>) {
    let WorkerContext {
        store,
        assets,
        pipeline,
        serving,
    } = context;
    tracing::info!(worker = %options.id, "worker started");
    while !stop.load(Ordering::Relaxed) {
        let claimed = store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| claim(&mut conn, &options).map_err(|e| e.to_string()));
        let job = match claimed {
            Ok(Some(job)) => job,
            Ok(None) => {
                std::thread::sleep(options.poll);
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "could not look for jobs");
                std::thread::sleep(options.poll * 4);
                continue;
            }
        };
        tracing::info!(job = %job.id, worker = %options.id, "job leased");
        let pipeline = match pipeline.get() {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "loading models failed");
                finish(
                    &store,
                    &job.id,
                    &options.id,
                    LeaseStatus::Failed,
                    Some(format!("loading models: {error}")),
                );
                continue;
            }
        };
        let lost = Arc::new(AtomicBool::new(false));
        let leased = Leased {
            queue: Queue::GenerationJobs,
            id: job.id.clone(),
            owner: options.id.clone(),
            lease: options.lease,
        };
        // The heartbeat reads every second whether the job is still held; once it is not
        // (cancelled, or taken over), the cancel token stops the text engine at its next
        // decode step and the pipeline before its next image.
        let cancel = CancelToken::new();
        let heartbeat = Heartbeat::start(store.clone(), leased, lost.clone(), {
            let (lost, cancel) = (lost.clone(), cancel.clone());
            move || {
                if lost.load(Ordering::Relaxed) {
                    cancel.cancel();
                }
                false
            }
        });
        let outcome = process(
            &store, &assets, &pipeline, &serving, &job, &options, &stop, &lost, &cancel,
        );
        heartbeat.stop();
        match outcome {
            Ok(Outcome::Finished) => {
                finish(&store, &job.id, &options.id, LeaseStatus::Succeeded, None)
            }
            Ok(Outcome::Interrupted) => {
                tracing::info!(job = %job.id, "job left for another worker or cancelled")
            }
            Err(error) => finish(
                &store,
                &job.id,
                &options.id,
                LeaseStatus::Failed,
                Some(error),
            ),
        }
    }
}

enum Outcome {
    Finished,
    Interrupted,
}

/// Takes the oldest job that is queued or whose lease ran out.
fn claim(
    conn: &mut Conn,
    options: &WorkerOptions,
) -> Result<Option<JobRow>, diesel::result::Error> {
    let claimed = leases::claim_next(
        conn,
        Queue::GenerationJobs,
        &options.id,
        options.lease,
        |_| true,
    )?;
    let Some(id) = claimed else {
        return Ok(None);
    };
    generation_jobs::table
        .filter(generation_jobs::id.eq(&id))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a job ended, if this worker still holds it.
fn finish(store: &Store, job_id: &str, worker: &str, status: LeaseStatus, error: Option<String>) {
    let result = store
        .conn()
        .map_err(|e| e.to_string())
        .and_then(|mut conn| {
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let held = leases::finish(conn, Queue::GenerationJobs, job_id, worker, status)?;
                if held {
                    diesel::update(generation_jobs::table.filter(generation_jobs::id.eq(job_id)))
                        .set(generation_jobs::error.eq(error))
                        .execute(conn)?;
                }
                Ok(held)
            })
            .map_err(|e| e.to_string())
        });
    let status = status.as_str();
    match result {
        Ok(_) => tracing::info!(job = %job_id, status, "job ended"),
        Err(error) => tracing::error!(job = %job_id, %error, "could not record the end of a job"),
    }
}

/// The campaign's product photos, read, decoded and cut out once for the whole job.
fn product_shots(
    conn: &mut Conn,
    assets: &AssetStore,
    advertiser: &str,
    campaign_id: &str,
) -> Result<Vec<ProductShot>, String> {
    product_images::of_campaign(conn, advertiser, campaign_id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|photo| {
            let bytes = assets
                .read(&photo.asset)
                .map_err(|e| format!("product photo {}: {e}", photo.id))?;
            ProductShot::decode(photo.id, &bytes).map_err(|e| e.to_string())
        })
        .collect()
}

/// A seed derived from the item's identity, so a redone group writes the same copy.
fn group_seed(job_id: &str, segment_id: &str, placement_id: &str) -> u64 {
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        format!("{job_id}/{segment_id}/{placement_id}"),
    ));
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default()) >> 16
}

#[allow(clippy::too_many_arguments)]
fn process(
    store: &Store,
    assets: &AssetStore,
    pipeline: &Pipeline,
    serving: &ChangeSignal,
    job: &JobRow,
    options: &WorkerOptions,
    stop: &AtomicBool,
    lost: &AtomicBool,
    cancel: &CancelToken,
) -> Result<Outcome, String> {
    let mut conn = store.conn().map_err(|e| e.to_string())?;
    let plan: JobPlan = json_from_text(&job.request).map_err(|e| e.to_string())?;
    let advertiser = job.advertiser_id.as_str();
    let campaign =
        campaigns::find(&mut conn, advertiser, &job.campaign_id).map_err(|e| e.to_string())?;
    let brand_kit = match &campaign.input.brand_kit_id {
        Some(id) => brand_kits::find(&mut conn, advertiser, id).ok(),
        None => None,
    };
    let logo = brand_kit
        .as_ref()
        .and_then(|kit| kit.logo_asset.as_ref())
        .and_then(|name| assets.read(name).ok())
        .and_then(|bytes| image::load_from_memory(&bytes).ok())
        .map(|img| img.to_rgba8());
    let products = product_shots(&mut conn, assets, advertiser, &campaign.id)?;

    let groups: Vec<(&String, &String)> = plan
        .segment_ids
        .iter()
        .flat_map(|s| plan.placement_ids.iter().map(move |p| (s, p)))
        .collect();
    for chunk in groups.chunks(GROUPS_IN_FLIGHT) {
        if stop.load(Ordering::Relaxed) || lost.load(Ordering::Relaxed) {
            return Ok(Outcome::Interrupted);
        }
        // The groups of this chunk that a predecessor did not finish, with their rows.
        let mut todo = Vec::with_capacity(chunk.len());
        for &(segment_id, placement_id) in chunk {
            let finished: i64 = generation_items::table
                .filter(generation_items::job_id.eq(&job.id))
                .filter(generation_items::segment_id.eq(segment_id))
                .filter(generation_items::placement_id.eq(placement_id))
                .count()
                .get_result(&mut conn)
                .map_err(|e| e.to_string())?;
            if finished >= i64::from(plan.variants) {
                continue;
            }
            let rows = segments::find(&mut conn, advertiser, segment_id)
                .and_then(|s| Ok((s, placements::find(&mut conn, advertiser, placement_id)?)))
                .map_err(|_| "the segment or placement was deleted".to_string());
            todo.push((segment_id, placement_id, rows));
        }
        // Generated side by side: their text requests meet in the model's shared batch.
        let produced: Vec<Result<Vec<Variant>, String>> = std::thread::scope(|scope| {
            let running: Vec<_> = todo
                .iter()
                .map(|(segment_id, placement_id, rows)| {
                    let (campaign, brand_kit, logo, products) =
                        (&campaign, brand_kit.as_ref(), logo.as_ref(), &products[..]);
                    scope.spawn(move || {
                        let (segment, placement) = rows.as_ref().map_err(Clone::clone)?;
                        pipeline
                            .generate_group_cancellable(
                                &GroupInput {
                                    campaign,
                                    brand_kit,
                                    logo,
                                    products,
                                    segment,
                                    placement,
                                    variants: plan.variants,
                                    seed: group_seed(&job.id, segment_id, placement_id),
                                },
                                cancel,
                            )
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("generation panicked".to_string()))
                })
                .collect()
        });
        for ((segment_id, placement_id, _), produced) in todo.iter().zip(produced) {
            let saved = conn.transaction::<bool, diesel::result::Error, _>(|conn| {
                save_group(
                    conn,
                    job,
                    options,
                    &campaign,
                    segment_id,
                    placement_id,
                    plan.variants,
                    produced,
                )
            });
            match saved {
                Ok(true) if campaign.input.auto_approve => serving.send(),
                Ok(true) => {}
                Ok(false) => return Ok(Outcome::Interrupted),
                Err(error) => return Err(format!("saving results: {error}")),
            }
        }
    }
    Ok(Outcome::Finished)
}

/// Writes a group's creatives and item rows; returns false (writing nothing) when this worker
/// no longer holds the job.
#[allow(clippy::too_many_arguments)]
fn save_group(
    conn: &mut Conn,
    job: &JobRow,
    options: &WorkerOptions,
    campaign: &Campaign,
    segment_id: &str,
    placement_id: &str,
    variants: u32,
    produced: Result<Vec<Variant>, String>,
) -> Result<bool, diesel::result::Error> {
    if !leases::hold(conn, Queue::GenerationJobs, &job.id, &options.id)? {
        return Ok(false);
    }
    let now = now_millis();
    let item = |variant: i32, status: &str, creative_id: Option<String>, error: Option<String>| {
        (
            generation_items::job_id.eq(job.id.clone()),
            generation_items::segment_id.eq(segment_id.to_string()),
            generation_items::placement_id.eq(placement_id.to_string()),
            generation_items::variant.eq(variant),
            generation_items::status.eq(status.to_string()),
            generation_items::creative_id.eq(creative_id),
            generation_items::error.eq(error),
            generation_items::worker.eq(options.id.clone()),
            generation_items::finished_at.eq(now),
        )
    };
    let existing: Vec<i32> = generation_items::table
        .filter(generation_items::job_id.eq(&job.id))
        .filter(generation_items::segment_id.eq(segment_id))
        .filter(generation_items::placement_id.eq(placement_id))
        .select(generation_items::variant)
        .load(conn)?;
    let asked = variants;
    match produced {
        Err(error) => {
            for variant in (0..variants as i32).filter(|v| !existing.contains(v)) {
                diesel::insert_into(generation_items::table)
                    .values(item(variant, "failed", None, Some(error.clone())))
                    .execute(conn)?;
            }
        }
        Ok(variants) => {
            // A group with fewer good candidates than asked delivers fewer: the variants it
            // could not deliver are recorded as `undelivered`, with why.
            let delivered: Vec<i32> = variants.iter().map(|v| v.variant).collect();
            let shortfall = variants.iter().find_map(|v| v.shortfall.clone());
            for missing in
                (0..asked as i32).filter(|v| !delivered.contains(v) && !existing.contains(v))
            {
                let note = shortfall
                    .clone()
                    .unwrap_or_else(|| "not enough copy passed the quality checks".into());
                diesel::insert_into(generation_items::table)
                    .values(item(missing, "undelivered", None, Some(note)))
                    .execute(conn)?;
            }
            for variant in variants
                .into_iter()
                .filter(|v| !existing.contains(&v.variant))
            {
                if let Some(original) = variant.duplicate_of {
                    let note = format!("near-duplicate of variant {original}");
                    diesel::insert_into(generation_items::table)
                        .values(item(variant.variant, "dropped", None, Some(note)))
                        .execute(conn)?;
                    continue;
                }
                let approved = campaign.input.auto_approve && variant.violations.is_empty();
                let row = CreativeRow {
                    id: new_id(),
                    advertiser_id: job.advertiser_id.clone(),
                    campaign_id: campaign.id.clone(),
                    segment_id: Some(segment_id.to_string()),
                    placement_id: Some(placement_id.to_string()),
                    job_id: Some(job.id.clone()),
                    variant: variant.variant,
                    headline: variant.copy.headline,
                    body: variant.copy.body,
                    cta: variant.copy.call_to_action,
                    assets: json_text(&variant.assets),
                    status: if approved { "approved" } else { "draft" }.into(),
                    violations: json_text(&variant.violations),
                    provenance: json_text(&variant.provenance),
                    score: variant.score,
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(creatives::table)
                    .values(&row)
                    .execute(conn)?;
                diesel::insert_into(generation_items::table)
                    .values(item(variant.variant, "done", Some(row.id), None))
                    .execute(conn)?;
            }
        }
    }
    let count = |status: Option<&str>| {
        let mut query = generation_items::table
            .filter(generation_items::job_id.eq(job.id.clone()))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(generation_items::status.eq(status.to_string()));
        }
        query.count()
    };
    let done: i64 = count(None).get_result(conn)?;
    let failed: i64 = count(Some("failed")).get_result(conn)?;
    diesel::update(generation_jobs::table.filter(generation_jobs::id.eq(&job.id)))
        .set((
            generation_jobs::items_done.eq(done as i32),
            generation_jobs::items_failed.eq(failed as i32),
            generation_jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}
