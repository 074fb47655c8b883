//! Audience segments: who a campaign speaks to (targeting rules), how to picture them (persona)
//! and in which language.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::{check_owned, is_language_tag};
use super::{check_text, iso_time, json_from_text, json_text, Text};
use crate::auth::Tenant;
use crate::http::json::{apply_patch, ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::store::schema::segments;
use crate::store::{new_id, now_millis, Conn, Store};

/// The editable fields of a segment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// The campaign this segment belongs to.
    pub campaign_id: String,
    /// Name, e.g. "Young urban cyclists".
    pub name: String,
    /// Targeting rules over ad-request attributes (`all`, `any`, `not`, `age`, `country`...),
    /// validated when saved. Omitted or `null` matches every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<serde_json::Value>,
    /// Who these people are, in words; it steers the copy and the ranking.
    #[serde(default)]
    pub persona: String,
    /// Language of this segment's copy (`en`, `fr`, `es`, `de`...).
    #[serde(default = "english")]
    pub language: String,
}

fn english() -> String {
    "en".into()
}

impl Validate for SegmentInput {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("name", &self.name, Text::required(200))?;
        check_text("persona", &self.persona, Text::optional(2000))?;
        if !is_language_tag(&self.language) {
            return Err(ApiError::field(
                "language",
                format!("{:?} is not a language tag", self.language),
            ));
        }
        if let Some(rules) = &self.rules {
            adforge_targeting::rules::Rule::from_json(rules)
                .map_err(|e| ApiError::field(e.path().to_string(), e.to_string()))?;
        }
        Ok(())
    }
}

/// A stored segment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Segment {
    /// Identifier.
    pub id: String,
    /// The segment's fields.
    #[serde(flatten)]
    pub input: SegmentInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = segments)]
struct SegmentRow {
    id: String,
    advertiser_id: String,
    campaign_id: String,
    name: String,
    rules: String,
    persona: String,
    language: String,
    created_at: i64,
    updated_at: i64,
}

impl SegmentRow {
    fn new(id: String, advertiser_id: String, input: SegmentInput, created_at: i64) -> Self {
        SegmentRow {
            id,
            advertiser_id,
            campaign_id: input.campaign_id,
            name: input.name,
            rules: json_text(&input.rules),
            persona: input.persona,
            language: input.language,
            created_at,
            updated_at: now_millis(),
        }
    }

    fn into_api(self) -> Result<Segment, ApiError> {
        Ok(Segment {
            id: self.id,
            input: SegmentInput {
                campaign_id: self.campaign_id,
                name: self.name,
                rules: json_from_text(&self.rules)?,
                persona: self.persona,
                language: self.language,
            },
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<SegmentRow, ApiError> {
    segments::table
        .filter(segments::advertiser_id.eq(advertiser_id))
        .filter(segments::id.eq(id))
        .select(SegmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("segment"))
}

/// Loads one of the tenant's segments, or `NotFound`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Segment, ApiError> {
    find_row(conn, advertiser_id, id)?.into_api()
}

/// All segments of a campaign, oldest first.
pub fn for_campaign(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<Segment>, ApiError> {
    segments::table
        .filter(segments::advertiser_id.eq(advertiser_id))
        .filter(segments::campaign_id.eq(campaign_id))
        .order((segments::created_at.asc(), segments::id.asc()))
        .select(SegmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SegmentRow::into_api)
        .collect()
}

#[utoipa::path(post, path = "/v1/segments", tag = "segments", request_body = SegmentInput,
    responses((status = 201, body = Segment), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn create(
    store: web::Data<Store>,
    tenant: Tenant,
    body: ValidJson<SegmentInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let segment = store
        .run(move |conn| {
            check_owned(
                conn,
                &tenant.advertiser_id,
                &input.campaign_id,
                "campaign_id",
            )?;
            let row = SegmentRow::new(new_id(), tenant.advertiser_id, input, now_millis());
            diesel::insert_into(segments::table)
                .values(&row)
                .execute(conn)?;
            row.into_api()
        })
        .await?;
    Ok(HttpResponse::Created().json(segment))
}

/// Filters for listing segments.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    /// Only segments of this campaign.
    pub campaign_id: Option<String>,
    /// Only segments in this language.
    pub language: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/segments", tag = "segments", params(SegmentFilter),
    responses((status = 200, body = Page<Segment>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<SegmentFilter>,
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
                let mut query = segments::table
                    .filter(segments::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(campaign_id) = &filter.campaign_id {
                    query = query.filter(segments::campaign_id.eq(campaign_id.clone()));
                }
                if let Some(language) = &filter.language {
                    query = query.filter(segments::language.eq(language.clone()));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<SegmentRow> = query()
                .order((segments::created_at.desc(), segments::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(SegmentRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(SegmentRow::into_api)
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

#[utoipa::path(get, path = "/v1/segments/{id}", tag = "segments",
    responses((status = 200, body = Segment), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let segment = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(segment))
}

#[utoipa::path(patch, path = "/v1/segments/{id}", tag = "segments",
    request_body(content = Object, description = "JSON merge patch of SegmentInput"),
    responses((status = 200, body = Segment), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn update(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: ValidJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let segment = store
        .run(move |conn| {
            conn.transaction(|conn| {
                let current = find_row(conn, &tenant.advertiser_id, &id)?;
                let created_at = current.created_at;
                let input = apply_patch(&current.into_api()?.input, patch.0)?;
                check_owned(
                    conn,
                    &tenant.advertiser_id,
                    &input.campaign_id,
                    "campaign_id",
                )?;
                let row =
                    SegmentRow::new(id.clone(), tenant.advertiser_id.clone(), input, created_at);
                diesel::update(segments::table.filter(segments::id.eq(&id)))
                    .set(&row)
                    .execute(conn)?;
                row.into_api()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(segment))
}

#[utoipa::path(delete, path = "/v1/segments/{id}", tag = "segments",
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
                segments::table
                    .filter(segments::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(segments::id.eq(&id)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("segment"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the segment routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/segments")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/segments/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub struct Api;
