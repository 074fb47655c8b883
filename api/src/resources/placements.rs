//! Placements: where a campaign's creatives appear (platform and format), with the text limits
//! and image sizes that follow. Built-in presets carry the published figures from
//! `shared/reference/ad-specs.md`; every field can be overridden.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::check_owned;
use super::{check_text, iso_time, json_from_text, json_text, Text};
use crate::auth::Tenant;
use crate::http::json::{apply_patch, ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::store::schema::placements;
use crate::store::{new_id, now_millis, Conn, Store};

/// Character limits (grapheme clusters) of the copy fields for a placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextLimits {
    /// Headline (title) limit.
    pub headline: u32,
    /// Body (primary text, description) limit.
    pub body: u32,
    /// Call-to-action limit.
    pub cta: u32,
}

/// A built-in placement preset.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Preset {
    /// Key used in `PlacementInput.preset`.
    pub key: &'static str,
    /// Platform, e.g. `meta`.
    pub platform: &'static str,
    /// Format on that platform, e.g. `feed`.
    pub format: &'static str,
    /// Copy limits.
    pub text_limits: TextLimits,
    /// Image sizes as `WIDTHxHEIGHT`.
    pub image_sizes: &'static [&'static str],
    /// Where the figures come from.
    pub source: &'static str,
}

const fn limits(headline: u32, body: u32, cta: u32) -> TextLimits {
    TextLimits {
        headline,
        body,
        cta,
    }
}

/// The IAB New Ad Portfolio fixed sizes.
const IAB_SIZES: &[&str] = &[
    "970x250",
    "320x50",
    "300x50",
    "728x90",
    "970x90",
    "300x1050",
    "160x600",
    "300x250",
    "120x60",
    "300x600",
    "468x60",
    "640x1136",
    "750x1334",
    "1080x1920",
];

/// Every built-in preset. Where sources disagree the stricter figure is used.
pub const PRESETS: &[Preset] = &[
    Preset {
        key: "google_search_rsa",
        platform: "google",
        format: "responsive_search",
        text_limits: limits(30, 90, 15),
        image_sizes: &[],
        source:
            "Google Ads help, About responsive search ads (headline 30, description 90, path 15)",
    },
    Preset {
        key: "google_pmax",
        platform: "google",
        format: "performance_max",
        text_limits: limits(30, 90, 25),
        image_sizes: &["1200x628", "1200x1200"],
        source: "Google Ads help 17091269 (headline 30, description 90, business name 25)",
    },
    Preset {
        key: "meta_feed",
        platform: "meta",
        format: "feed",
        text_limits: limits(40, 125, 25),
        image_sizes: &["1080x1080", "1080x1350"],
        source: "Meta ads guide (primary text 125, headline 40, description 25)",
    },
    Preset {
        key: "meta_stories",
        platform: "meta",
        format: "stories",
        text_limits: limits(40, 125, 25),
        image_sizes: &["1080x1920"],
        source: "Meta ads guide, stories and reels 9:16",
    },
    Preset {
        key: "meta_link",
        platform: "meta",
        format: "link",
        text_limits: limits(27, 125, 25),
        image_sizes: &["1200x628"],
        source: "Meta ads guide (headline 27 on some placements)",
    },
    Preset {
        key: "x_promoted",
        platform: "x",
        format: "promoted_post",
        text_limits: limits(70, 280, 25),
        image_sizes: &["1200x675", "1200x1200"],
        source: "X ads specs (post 280, website card headline 70)",
    },
    Preset {
        key: "linkedin_single_image",
        platform: "linkedin",
        format: "single_image",
        text_limits: limits(70, 150, 25),
        image_sizes: &["1200x627"],
        source: "LinkedIn ads specs (intro 150, headline 70 recommended)",
    },
    Preset {
        key: "openrtb_native",
        platform: "openrtb",
        format: "native",
        text_limits: limits(25, 90, 15),
        image_sizes: &["1200x627"],
        source: "IAB OpenRTB Native 1.2 (title 25/90/140 recommended)",
    },
    Preset {
        key: "iab_display",
        platform: "iab",
        format: "display",
        text_limits: limits(40, 90, 20),
        image_sizes: IAB_SIZES,
        source: "IAB New Ad Portfolio fixed sizes",
    },
    Preset {
        key: "iab_medium_rectangle",
        platform: "iab",
        format: "medium_rectangle",
        text_limits: limits(40, 90, 20),
        image_sizes: &["300x250"],
        source: "IAB New Ad Portfolio (300x250, 150 kB initial load)",
    },
    Preset {
        key: "iab_leaderboard",
        platform: "iab",
        format: "leaderboard",
        text_limits: limits(40, 60, 15),
        image_sizes: &["728x90"],
        source: "IAB New Ad Portfolio",
    },
    Preset {
        key: "iab_mobile_banner",
        platform: "iab",
        format: "smartphone_banner",
        text_limits: limits(30, 40, 12),
        image_sizes: &["320x50"],
        source: "IAB New Ad Portfolio",
    },
];

/// The preset with this key.
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// The editable fields of a placement. With a preset, omitted fields take the preset's values;
/// with `preset: "custom"`, every field must be given.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementInput {
    /// The campaign this placement belongs to.
    pub campaign_id: String,
    /// Name, e.g. "Homepage leaderboard".
    pub name: String,
    /// A preset key from `GET /v1/placement-presets`, or `custom`.
    pub preset: String,
    /// Platform; defaults to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Format; defaults to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Copy limits; default to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_limits: Option<TextLimits>,
    /// Image sizes as `WIDTHxHEIGHT`; default to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sizes: Option<Vec<String>>,
}

/// Parses `WIDTHxHEIGHT` with both sides between 8 and 4096 pixels.
pub fn parse_size(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once('x')?;
    let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
    ((8..=4096).contains(&w) && (8..=4096).contains(&h)).then_some((w, h))
}

impl PlacementInput {
    /// Fills omitted fields from the preset; fails for an unknown preset or an incomplete
    /// custom placement.
    fn resolve(mut self) -> Result<Self, ApiError> {
        let base = if self.preset == "custom" {
            None
        } else {
            Some(preset(&self.preset).ok_or_else(|| {
                ApiError::field(
                    "preset",
                    format!(
                        "unknown preset {:?}; see /v1/placement-presets",
                        self.preset
                    ),
                )
            })?)
        };
        let missing = |field: &str| ApiError::field(field, "required for a custom placement");
        self.platform = match (self.platform, base) {
            (Some(p), _) => Some(p),
            (None, Some(b)) => Some(b.platform.into()),
            (None, None) => return Err(missing("platform")),
        };
        self.format = match (self.format, base) {
            (Some(f), _) => Some(f),
            (None, Some(b)) => Some(b.format.into()),
            (None, None) => return Err(missing("format")),
        };
        self.text_limits = match (self.text_limits, base) {
            (Some(l), _) => Some(l),
            (None, Some(b)) => Some(b.text_limits),
            (None, None) => return Err(missing("text_limits")),
        };
        self.image_sizes = match (self.image_sizes, base) {
            (Some(s), _) => Some(s),
            (None, Some(b)) => Some(b.image_sizes.iter().map(|s| s.to_string()).collect()),
            (None, None) => return Err(missing("image_sizes")),
        };
        Ok(self)
    }
}

impl Validate for PlacementInput {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("name", &self.name, Text::required(200))?;
        if let Some(platform) = &self.platform {
            check_text("platform", platform, Text::required(50))?;
        }
        if let Some(format) = &self.format {
            check_text("format", format, Text::required(50))?;
        }
        if let Some(limits) = &self.text_limits {
            for (field, value) in [
                ("headline", limits.headline),
                ("body", limits.body),
                ("cta", limits.cta),
            ] {
                if !(1..=5000).contains(&value) {
                    return Err(ApiError::field(
                        format!("text_limits.{field}"),
                        "must be between 1 and 5000",
                    ));
                }
            }
        }
        if let Some(sizes) = &self.image_sizes {
            for (i, size) in sizes.iter().enumerate() {
                if parse_size(size).is_none() {
                    return Err(ApiError::field(
                        format!("image_sizes[{i}]"),
                        format!("{size:?} is not WIDTHxHEIGHT with sides of 8 to 4096 pixels"),
                    ));
                }
            }
        }
        self.clone().resolve().map(|_| ())
    }
}

/// A stored placement, with every field resolved.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Placement {
    /// Identifier.
    pub id: String,
    /// The placement's fields, with preset defaults filled in.
    #[serde(flatten)]
    pub input: PlacementInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

impl Placement {
    /// The copy limits (always set on a stored placement).
    pub fn text_limits(&self) -> TextLimits {
        self.input.text_limits.unwrap_or(limits(40, 90, 20))
    }

    /// The image sizes as `(width, height)`.
    pub fn sizes(&self) -> Vec<(u32, u32)> {
        self.input
            .image_sizes
            .iter()
            .flatten()
            .filter_map(|s| parse_size(s))
            .collect()
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = placements)]
struct PlacementRow {
    id: String,
    advertiser_id: String,
    campaign_id: String,
    name: String,
    preset: String,
    platform: String,
    format: String,
    text_limits: String,
    image_sizes: String,
    created_at: i64,
    updated_at: i64,
}

impl PlacementRow {
    fn new(
        id: String,
        advertiser_id: String,
        input: PlacementInput,
        created_at: i64,
    ) -> Result<Self, ApiError> {
        let input = input.resolve()?;
        Ok(PlacementRow {
            id,
            advertiser_id,
            campaign_id: input.campaign_id,
            name: input.name,
            preset: input.preset,
            platform: input.platform.unwrap_or_default(),
            format: input.format.unwrap_or_default(),
            text_limits: json_text(&input.text_limits),
            image_sizes: json_text(&input.image_sizes),
            created_at,
            updated_at: now_millis(),
        })
    }

    fn into_api(self) -> Result<Placement, ApiError> {
        Ok(Placement {
            id: self.id,
            input: PlacementInput {
                campaign_id: self.campaign_id,
                name: self.name,
                preset: self.preset,
                platform: Some(self.platform),
                format: Some(self.format),
                text_limits: json_from_text(&self.text_limits)?,
                image_sizes: json_from_text(&self.image_sizes)?,
            },
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<PlacementRow, ApiError> {
    placements::table
        .filter(placements::advertiser_id.eq(advertiser_id))
        .filter(placements::id.eq(id))
        .select(PlacementRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("placement"))
}

/// Loads one of the tenant's placements, or `NotFound`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Placement, ApiError> {
    find_row(conn, advertiser_id, id)?.into_api()
}

/// All placements of a campaign, oldest first.
pub fn for_campaign(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<Placement>, ApiError> {
    placements::table
        .filter(placements::advertiser_id.eq(advertiser_id))
        .filter(placements::campaign_id.eq(campaign_id))
        .order((placements::created_at.asc(), placements::id.asc()))
        .select(PlacementRow::as_select())
        .load(conn)?
        .into_iter()
        .map(PlacementRow::into_api)
        .collect()
}

#[utoipa::path(get, path = "/v1/placement-presets", tag = "placements",
    responses((status = 200, body = Vec<Preset>)), security(("bearer" = [])))]
async fn presets(_tenant: Tenant) -> HttpResponse {
    HttpResponse::Ok().json(PRESETS)
}

#[utoipa::path(post, path = "/v1/placements", tag = "placements", request_body = PlacementInput,
    responses((status = 201, body = Placement), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn create(
    store: web::Data<Store>,
    tenant: Tenant,
    body: ValidJson<PlacementInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let placement = store
        .run(move |conn| {
            check_owned(
                conn,
                &tenant.advertiser_id,
                &input.campaign_id,
                "campaign_id",
            )?;
            let row = PlacementRow::new(new_id(), tenant.advertiser_id, input, now_millis())?;
            diesel::insert_into(placements::table)
                .values(&row)
                .execute(conn)?;
            row.into_api()
        })
        .await?;
    Ok(HttpResponse::Created().json(placement))
}

/// Filters for listing placements.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlacementFilter {
    /// Only placements of this campaign.
    pub campaign_id: Option<String>,
    /// Only placements on this platform.
    pub platform: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/placements", tag = "placements", params(PlacementFilter),
    responses((status = 200, body = Page<Placement>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<PlacementFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.into_inner();
    let (limit, offset) = PageQuery {
        limit: filter.limit,
        offset: filter.offset,
    }
    .bounds()?;
    let page = store
        .run(move |conn| {
            let query = || {
                let mut query = placements::table
                    .filter(placements::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(campaign_id) = &filter.campaign_id {
                    query = query.filter(placements::campaign_id.eq(campaign_id.clone()));
                }
                if let Some(platform) = &filter.platform {
                    query = query.filter(placements::platform.eq(platform.clone()));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<PlacementRow> = query()
                .order((placements::created_at.desc(), placements::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(PlacementRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(PlacementRow::into_api)
                .collect::<Result<_, _>>()?;
            Ok::<_, ApiError>(Page {
                items,
                total,
                limit,
                offset,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/v1/placements/{id}", tag = "placements",
    responses((status = 200, body = Placement), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let placement = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(placement))
}

#[utoipa::path(patch, path = "/v1/placements/{id}", tag = "placements",
    request_body(content = Object, description = "JSON merge patch of PlacementInput; a new preset resets the fields the patch does not set"),
    responses((status = 200, body = Placement), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn update(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: ValidJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let placement = store
        .run(move |conn| {
            conn.transaction(|conn| {
                let current = find_row(conn, &tenant.advertiser_id, &id)?;
                let created_at = current.created_at;
                let mut base = current.into_api()?.input;
                let new_preset = patch.0.get("preset").and_then(|p| p.as_str());
                if new_preset.is_some_and(|p| p != base.preset) {
                    // A new preset brings its own defaults for whatever the patch leaves out.
                    base.platform = None;
                    base.format = None;
                    base.text_limits = None;
                    base.image_sizes = None;
                }
                let input = apply_patch(&base, patch.0)?;
                check_owned(
                    conn,
                    &tenant.advertiser_id,
                    &input.campaign_id,
                    "campaign_id",
                )?;
                let row =
                    PlacementRow::new(id.clone(), tenant.advertiser_id.clone(), input, created_at)?;
                diesel::update(placements::table.filter(placements::id.eq(&id)))
                    .set(&row)
                    .execute(conn)?;
                row.into_api()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(placement))
}

#[utoipa::path(delete, path = "/v1/placements/{id}", tag = "placements",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn delete(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = store
        .run(move |conn| {
            diesel::delete(
                placements::table
                    .filter(placements::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(placements::id.eq(&id)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("placement"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the placement routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/placement-presets").route(web::get().to(presets)))
        .service(
            web::resource("/placements")
                .route(web::post().to(create))
                .route(web::get().to(list)),
        )
        .service(
            web::resource("/placements/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(presets, create, list, get, update, delete))]
pub struct Api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_valid_sizes_and_unique_keys() {
        let mut keys = std::collections::HashSet::new();
        for preset in PRESETS {
            assert!(keys.insert(preset.key), "duplicate {}", preset.key);
            for size in preset.image_sizes {
                assert!(parse_size(size).is_some(), "{size}");
            }
        }
        assert_eq!(preset("iab_display").unwrap().image_sizes.len(), 14);
    }

    #[test]
    fn custom_placement_needs_every_field() {
        let input = PlacementInput {
            campaign_id: "c".into(),
            name: "n".into(),
            preset: "custom".into(),
            platform: Some("web".into()),
            format: None,
            text_limits: None,
            image_sizes: None,
        };
        assert!(input.validate().is_err());
    }
}
