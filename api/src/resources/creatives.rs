//! Creatives: a piece of copy (headline, body, CTA) with its images, its review status and
//! where it came from (provenance). Generation jobs create them as drafts; advertisers may also
//! write their own.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::check_owned;
use super::{
    check_text, iso_time, json_from_text, json_text, owned_placement, owned_segment, Text,
};
use crate::auth::Tenant;
use crate::http::json::{apply_patch, ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::store::schema::creatives;
use crate::store::{new_id, now_millis, Conn, Store};

/// Review state of a creative; only `approved` creatives of live campaigns are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreativeStatus {
    /// Waiting for review.
    #[default]
    Draft,
    /// May be served.
    Approved,
    /// Turned down by a reviewer.
    Rejected,
    /// Retired.
    Archived,
}

/// One rendered image of a creative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageAsset {
    /// `WIDTHxHEIGHT`.
    pub size: String,
    /// Asset name in the content-addressed store (`<sha256>.<ext>`).
    pub asset: String,
    /// Encoded size in bytes.
    pub bytes: u64,
}

/// One rule a creative's copy breaks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Violation {
    /// The rule, e.g. `banned_word` or `length`.
    pub rule: String,
    /// The copy field, e.g. `headline`.
    pub field: String,
    /// Byte range `[start, end)` of the offending text in the field.
    pub span: (usize, usize),
    /// What is wrong.
    pub message: String,
}

/// The editable fields of a creative.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativeInput {
    /// The campaign the creative belongs to.
    pub campaign_id: String,
    /// The segment it was written for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<String>,
    /// The placement it was written for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_id: Option<String>,
    /// Headline.
    pub headline: String,
    /// Body text.
    #[serde(default)]
    pub body: String,
    /// Call to action.
    #[serde(default)]
    pub cta: String,
    /// Review state.
    #[serde(default)]
    pub status: CreativeStatus,
}

impl Validate for CreativeInput {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("headline", &self.headline, Text::required(500))?;
        check_text("body", &self.body, Text::optional(5000))?;
        check_text("cta", &self.cta, Text::optional(100))?;
        Ok(())
    }
}

/// A stored creative.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Creative {
    /// Identifier.
    pub id: String,
    /// The editable fields.
    #[serde(flatten)]
    pub input: CreativeInput,
    /// The generation job that made it, if any.
    pub job_id: Option<String>,
    /// Variant number within its job item.
    pub variant: i32,
    /// Rendered images.
    pub assets: Vec<ImageAsset>,
    /// Rules the copy breaks (empty when clean).
    pub violations: Vec<Violation>,
    /// How it was made: model id and file hash, prompts, seed, sampler settings, time.
    #[schema(value_type = Object)]
    pub provenance: serde_json::Value,
    /// Relevance score from ranking, if ranked.
    pub score: Option<f64>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// A creative row as stored; generation writes these directly.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = creatives)]
#[diesel(treat_none_as_null = true)]
pub struct CreativeRow {
    /// Identifier.
    pub id: String,
    /// Owner.
    pub advertiser_id: String,
    /// Campaign.
    pub campaign_id: String,
    /// Segment, if any.
    pub segment_id: Option<String>,
    /// Placement, if any.
    pub placement_id: Option<String>,
    /// Generation job, if any.
    pub job_id: Option<String>,
    /// Variant number.
    pub variant: i32,
    /// Headline.
    pub headline: String,
    /// Body.
    pub body: String,
    /// Call to action.
    pub cta: String,
    /// JSON list of [`ImageAsset`].
    pub assets: String,
    /// [`CreativeStatus`] name.
    pub status: String,
    /// JSON list of [`Violation`].
    pub violations: String,
    /// JSON provenance object.
    pub provenance: String,
    /// Ranking score.
    pub score: Option<f64>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Update time, Unix ms.
    pub updated_at: i64,
}

impl CreativeRow {
    /// Converts to the API form.
    pub fn into_api(self) -> Result<Creative, ApiError> {
        Ok(Creative {
            id: self.id,
            input: CreativeInput {
                campaign_id: self.campaign_id,
                segment_id: self.segment_id,
                placement_id: self.placement_id,
                headline: self.headline,
                body: self.body,
                cta: self.cta,
                status: super::enum_from_text(&self.status)?,
            },
            job_id: self.job_id,
            variant: self.variant,
            assets: json_from_text(&self.assets)?,
            violations: json_from_text(&self.violations)?,
            provenance: json_from_text(&self.provenance)?,
            score: self.score,
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<CreativeRow, ApiError> {
    creatives::table
        .filter(creatives::advertiser_id.eq(advertiser_id))
        .filter(creatives::id.eq(id))
        .select(CreativeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("creative"))
}

/// Loads one of the tenant's creatives, or `NotFound`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Creative, ApiError> {
    find_row(conn, advertiser_id, id)?.into_api()
}

/// Checks the references of a creative and its copy against its placement's limits.
fn check_references(
    conn: &mut Conn,
    advertiser_id: &str,
    input: &CreativeInput,
) -> Result<(), ApiError> {
    check_owned(conn, advertiser_id, &input.campaign_id, "campaign_id")?;
    if let Some(segment) = &input.segment_id {
        owned_segment(
            conn,
            advertiser_id,
            &input.campaign_id,
            segment,
            "segment_id",
        )?;
    }
    if let Some(placement) = &input.placement_id {
        owned_placement(
            conn,
            advertiser_id,
            &input.campaign_id,
            placement,
            "placement_id",
        )?;
        let limits = super::placements::find(conn, advertiser_id, placement)?.text_limits();
        for (field, text, max) in [
            ("headline", &input.headline, limits.headline),
            ("body", &input.body, limits.body),
            ("cta", &input.cta, limits.cta),
        ] {
            check_text(field, text, Text::optional(max as usize))?;
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/creatives", tag = "creatives", request_body = CreativeInput,
    responses((status = 201, body = Creative), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn create(
    store: web::Data<Store>,
    tenant: Tenant,
    body: ValidJson<CreativeInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let creative = store
        .run(move |conn| {
            check_references(conn, &tenant.advertiser_id, &input)?;
            let now = now_millis();
            let row = CreativeRow {
                id: new_id(),
                advertiser_id: tenant.advertiser_id,
                campaign_id: input.campaign_id,
                segment_id: input.segment_id,
                placement_id: input.placement_id,
                job_id: None,
                variant: 0,
                headline: input.headline,
                body: input.body,
                cta: input.cta,
                assets: "[]".into(),
                status: super::enum_text(&input.status),
                violations: "[]".into(),
                provenance: json_text(
                    &serde_json::json!({ "source": "manual", "created_at": iso_time(now) }),
                ),
                score: None,
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(creatives::table)
                .values(&row)
                .execute(conn)?;
            row.into_api()
        })
        .await?;
    Ok(HttpResponse::Created().json(creative))
}

/// Filters for listing creatives.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CreativeFilter {
    /// Only creatives of this campaign.
    pub campaign_id: Option<String>,
    /// Only creatives for this segment.
    pub segment_id: Option<String>,
    /// Only creatives for this placement.
    pub placement_id: Option<String>,
    /// Only creatives made by this job.
    pub job_id: Option<String>,
    /// Only creatives in this review state.
    pub status: Option<CreativeStatus>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/creatives", tag = "creatives", params(CreativeFilter),
    responses((status = 200, body = Page<Creative>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<CreativeFilter>,
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
                let mut query = creatives::table
                    .filter(creatives::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(id) = &filter.campaign_id {
                    query = query.filter(creatives::campaign_id.eq(id.clone()));
                }
                if let Some(id) = &filter.segment_id {
                    query = query.filter(creatives::segment_id.eq(id.clone()));
                }
                if let Some(id) = &filter.placement_id {
                    query = query.filter(creatives::placement_id.eq(id.clone()));
                }
                if let Some(id) = &filter.job_id {
                    query = query.filter(creatives::job_id.eq(id.clone()));
                }
                if let Some(status) = filter.status {
                    query = query.filter(creatives::status.eq(super::enum_text(&status)));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<CreativeRow> = query()
                .order((creatives::created_at.desc(), creatives::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(CreativeRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(CreativeRow::into_api)
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

#[utoipa::path(get, path = "/v1/creatives/{id}", tag = "creatives",
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let creative = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(creative))
}

#[utoipa::path(patch, path = "/v1/creatives/{id}", tag = "creatives",
    request_body(content = Object, description = "JSON merge patch of CreativeInput"),
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn update(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: ValidJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let creative = store
        .run(move |conn| {
            conn.transaction(|conn| {
                let current = find_row(conn, &tenant.advertiser_id, &id)?;
                let input = apply_patch(&current.clone().into_api()?.input, patch.0)?;
                check_references(conn, &tenant.advertiser_id, &input)?;
                let row = CreativeRow {
                    campaign_id: input.campaign_id,
                    segment_id: input.segment_id,
                    placement_id: input.placement_id,
                    headline: input.headline,
                    body: input.body,
                    cta: input.cta,
                    status: super::enum_text(&input.status),
                    updated_at: now_millis(),
                    ..current
                };
                diesel::update(creatives::table.filter(creatives::id.eq(&id)))
                    .set(&row)
                    .execute(conn)?;
                row.into_api()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(creative))
}

#[utoipa::path(delete, path = "/v1/creatives/{id}", tag = "creatives",
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
                creatives::table
                    .filter(creatives::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(creatives::id.eq(&id)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("creative"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Sets a creative's review status.
async fn set_status(
    store: &Store,
    tenant: Tenant,
    id: String,
    status: CreativeStatus,
) -> Result<Creative, ApiError> {
    store
        .run(move |conn| {
            let updated = diesel::update(
                creatives::table
                    .filter(creatives::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(creatives::id.eq(&id)),
            )
            .set((
                creatives::status.eq(super::enum_text(&status)),
                creatives::updated_at.eq(now_millis()),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(ApiError::NotFound("creative"));
            }
            find(conn, &tenant.advertiser_id, &id)
        })
        .await
}

#[utoipa::path(post, path = "/v1/creatives/{id}/approve", tag = "creatives",
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn approve(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let creative = set_status(&store, tenant, id.into_inner(), CreativeStatus::Approved).await?;
    Ok(HttpResponse::Ok().json(creative))
}

#[utoipa::path(post, path = "/v1/creatives/{id}/reject", tag = "creatives",
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn reject(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let creative = set_status(&store, tenant, id.into_inner(), CreativeStatus::Rejected).await?;
    Ok(HttpResponse::Ok().json(creative))
}

/// Registers the creative routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/creatives/{id}/approve", web::post().to(approve))
        .route("/creatives/{id}/reject", web::post().to(reject))
        .service(
            web::resource("/creatives")
                .route(web::post().to(create))
                .route(web::get().to(list)),
        )
        .service(
            web::resource("/creatives/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete, approve, reject))]
pub struct Api;
