//! Campaigns: what an advertiser promotes, to whom it links, and how copy should sound.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_text, iso_time, owned_brand_kit, Text};
use crate::auth::Tenant;
use crate::http::json::{apply_patch, ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::store::schema::campaigns;
use crate::store::{new_id, now_millis, Conn, Store};

/// Lifecycle of a campaign; only `live` campaigns are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared; nothing is served.
    #[default]
    Draft,
    /// Approved creatives are served.
    Live,
    /// Temporarily not served.
    Paused,
    /// Finished; kept for reporting.
    Archived,
}

/// What the campaign optimises for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Reach and recall.
    #[default]
    Awareness,
    /// Visits to the landing page.
    Traffic,
    /// Interactions with the ad.
    Engagement,
    /// Sign-ups and contact details.
    Leads,
    /// Purchases or other conversions.
    Sales,
}

/// The editable fields of a campaign (create body, and the document a PATCH merges into).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// Internal name, shown in the dashboard.
    pub name: String,
    /// The advertised brand.
    pub brand: String,
    /// The advertised product or service.
    pub product: String,
    /// What the product is and why it matters; fed to copy generation as data.
    #[serde(default)]
    pub description: String,
    /// The offer, e.g. "20% off the first month".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// Where a click leads (http or https).
    pub landing_url: String,
    /// What the campaign optimises for.
    #[serde(default)]
    pub objective: Objective,
    /// Voice of the copy, e.g. "playful", "formal".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<String>,
    /// Languages copy is written in (BCP 47 primary tags such as `en`, `fr`).
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub status: CampaignStatus,
    /// Whether the advertiser can substantiate superlatives and guarantees.
    #[serde(default)]
    pub allow_claims: bool,
    /// Approve generated creatives that pass every rule without a human.
    #[serde(default)]
    pub auto_approve: bool,
    /// The brand kit whose colours, logo and word rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_kit_id: Option<String>,
}

fn default_languages() -> Vec<String> {
    vec!["en".into()]
}

impl Validate for CampaignInput {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("name", &self.name, Text::required(200))?;
        check_text("brand", &self.brand, Text::required(200))?;
        check_text("product", &self.product, Text::required(200))?;
        check_text("description", &self.description, Text::optional(4000))?;
        if let Some(offer) = &self.offer {
            check_text("offer", offer, Text::optional(500))?;
        }
        if let Some(tone) = &self.tone {
            check_text("tone", tone, Text::optional(200))?;
        }
        let url = url::Url::parse(&self.landing_url)
            .map_err(|e| ApiError::field("landing_url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ApiError::field(
                "landing_url",
                "must be an http or https URL with a host",
            ));
        }
        if self.languages.is_empty() {
            return Err(ApiError::field(
                "languages",
                "at least one language is needed",
            ));
        }
        for (i, language) in self.languages.iter().enumerate() {
            if !is_language_tag(language) {
                return Err(ApiError::field(
                    format!("languages[{i}]"),
                    format!("{language:?} is not a language tag such as en or pt-BR"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `tag` looks like a BCP 47 language tag (`fr`, `pt-BR`, `zh-Hant`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A stored campaign.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Campaign {
    /// Identifier.
    pub id: String,
    /// The campaign's fields.
    #[serde(flatten)]
    pub input: CampaignInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = campaigns)]
#[diesel(treat_none_as_null = true)]
struct CampaignRow {
    id: String,
    advertiser_id: String,
    brand_kit_id: Option<String>,
    name: String,
    brand: String,
    product: String,
    description: String,
    offer: Option<String>,
    landing_url: String,
    objective: String,
    tone: Option<String>,
    languages: String,
    status: String,
    allow_claims: bool,
    auto_approve: bool,
    created_at: i64,
    updated_at: i64,
}

impl CampaignRow {
    fn new(id: String, advertiser_id: String, input: CampaignInput, created_at: i64) -> Self {
        CampaignRow {
            id,
            advertiser_id,
            brand_kit_id: input.brand_kit_id,
            name: input.name,
            brand: input.brand,
            product: input.product,
            description: input.description,
            offer: input.offer,
            landing_url: input.landing_url,
            objective: super::enum_text(&input.objective),
            tone: input.tone,
            languages: super::json_text(&input.languages),
            status: super::enum_text(&input.status),
            allow_claims: input.allow_claims,
            auto_approve: input.auto_approve,
            created_at,
            updated_at: now_millis(),
        }
    }

    fn into_api(self) -> Result<Campaign, ApiError> {
        Ok(Campaign {
            id: self.id,
            input: CampaignInput {
                name: self.name,
                brand: self.brand,
                product: self.product,
                description: self.description,
                offer: self.offer,
                landing_url: self.landing_url,
                objective: super::enum_from_text(&self.objective)?,
                tone: self.tone,
                languages: super::json_from_text(&self.languages)?,
                status: super::enum_from_text(&self.status)?,
                allow_claims: self.allow_claims,
                auto_approve: self.auto_approve,
                brand_kit_id: self.brand_kit_id,
            },
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<CampaignRow, ApiError> {
    campaigns::table
        .filter(campaigns::advertiser_id.eq(advertiser_id))
        .filter(campaigns::id.eq(id))
        .select(CampaignRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("campaign"))
}

/// Loads one of the tenant's campaigns, or `NotFound`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Campaign, ApiError> {
    find_row(conn, advertiser_id, id)?.into_api()
}

/// Checks that `campaign_id` names one of the tenant's campaigns; `field` names the request
/// field holding it.
pub fn check_owned(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let exists: i64 = campaigns::table
        .filter(campaigns::advertiser_id.eq(advertiser_id))
        .filter(campaigns::id.eq(campaign_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(ApiError::missing_reference(
            field,
            format!("no campaign {campaign_id}"),
        ));
    }
    Ok(())
}

/// Filters for listing campaigns.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CampaignFilter {
    /// Only campaigns in this status.
    pub status: Option<CampaignStatus>,
    /// Only campaigns whose name contains this text.
    pub q: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn create(
    store: web::Data<Store>,
    tenant: Tenant,
    body: ValidJson<CampaignInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let campaign = store
        .run(move |conn| {
            if let Some(kit) = &input.brand_kit_id {
                owned_brand_kit(conn, &tenant.advertiser_id, kit, "brand_kit_id")?;
            }
            let row = CampaignRow::new(new_id(), tenant.advertiser_id, input, now_millis());
            diesel::insert_into(campaigns::table)
                .values(&row)
                .execute(conn)?;
            row.into_api()
        })
        .await?;
    Ok(HttpResponse::Created().json(campaign))
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(CampaignFilter),
    responses((status = 200, body = Page<Campaign>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<CampaignFilter>,
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
                let mut query = campaigns::table
                    .filter(campaigns::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(status) = filter.status {
                    query = query.filter(campaigns::status.eq(super::enum_text(&status)));
                }
                if let Some(q) = &filter.q {
                    query = query.filter(campaigns::name.like(super::like_pattern(q)).escape('\\'));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<CampaignRow> = query()
                .order((campaigns::created_at.desc(), campaigns::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(CampaignRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(CampaignRow::into_api)
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

#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns",
    responses((status = 200, body = Campaign), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let campaign = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(campaign))
}

#[utoipa::path(patch, path = "/v1/campaigns/{id}", tag = "campaigns",
    request_body(content = Object, description = "JSON merge patch of CampaignInput"),
    responses((status = 200, body = Campaign), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn update(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: ValidJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let campaign = store
        .run(move |conn| {
            conn.transaction(|conn| {
                let current = find_row(conn, &tenant.advertiser_id, &id)?;
                let created_at = current.created_at;
                let input = apply_patch(&current.into_api()?.input, patch.0)?;
                if let Some(kit) = &input.brand_kit_id {
                    owned_brand_kit(conn, &tenant.advertiser_id, kit, "brand_kit_id")?;
                }
                let row =
                    CampaignRow::new(id.clone(), tenant.advertiser_id.clone(), input, created_at);
                diesel::update(campaigns::table.filter(campaigns::id.eq(&id)))
                    .set(&row)
                    .execute(conn)?;
                row.into_api()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(campaign))
}

#[utoipa::path(delete, path = "/v1/campaigns/{id}", tag = "campaigns",
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
                campaigns::table
                    .filter(campaigns::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(campaigns::id.eq(&id)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("campaign"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the campaign routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/campaigns")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/campaigns/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub struct Api;
