//! Brand kits: colours, logo, font and the word rules every creative of a brand must follow.

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_text, iso_time, json_from_text, json_text, Text};
use crate::assets::{mime_for, AssetStore};
use crate::auth::Tenant;
use crate::http::json::{apply_patch, read_limited, ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::http::UploadLimit;
use crate::store::schema::brand_kits;
use crate::store::{new_id, now_millis, Conn, Store};

/// The editable fields of a brand kit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandKitInput {
    /// Name of the kit, e.g. the brand.
    pub name: String,
    /// Brand colours as `#RRGGBB`, most important first.
    #[serde(default)]
    pub colors: Vec<String>,
    /// Preferred font family name (the compositor falls back to its bundled font).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
    /// Words and phrases copy must never contain.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// Phrases copy must contain.
    #[serde(default)]
    pub required_phrases: Vec<String>,
    /// Legal text shown on every creative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
}

impl Validate for BrandKitInput {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("name", &self.name, Text::required(200))?;
        if self.colors.len() > 16 {
            return Err(ApiError::field("colors", "at most 16 colours"));
        }
        for (i, color) in self.colors.iter().enumerate() {
            if parse_hex_color(color).is_none() {
                return Err(ApiError::field(
                    format!("colors[{i}]"),
                    format!("{color:?} is not a #RRGGBB colour"),
                ));
            }
        }
        if let Some(font) = &self.font {
            check_text("font", font, Text::required(100))?;
        }
        for (list, name) in [
            (&self.banned_words, "banned_words"),
            (&self.required_phrases, "required_phrases"),
        ] {
            if list.len() > 500 {
                return Err(ApiError::field(name, "at most 500 entries"));
            }
            for (i, entry) in list.iter().enumerate() {
                check_text(&format!("{name}[{i}]"), entry, Text::required(200))?;
            }
        }
        if let Some(disclaimer) = &self.disclaimer {
            check_text("disclaimer", disclaimer, Text::optional(500))?;
        }
        Ok(())
    }
}

/// Parses `#RRGGBB` into its three channels.
pub fn parse_hex_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// A stored brand kit.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BrandKit {
    /// Identifier.
    pub id: String,
    /// The kit's fields.
    #[serde(flatten)]
    pub input: BrandKitInput,
    /// Name of the stored logo asset, if one was uploaded.
    pub logo_asset: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = brand_kits)]
#[diesel(treat_none_as_null = true)]
struct BrandKitRow {
    id: String,
    advertiser_id: String,
    name: String,
    colors: String,
    font: Option<String>,
    logo_asset: Option<String>,
    banned_words: String,
    required_phrases: String,
    disclaimer: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl BrandKitRow {
    fn new(
        id: String,
        advertiser_id: String,
        input: BrandKitInput,
        logo_asset: Option<String>,
        created_at: i64,
    ) -> Self {
        BrandKitRow {
            id,
            advertiser_id,
            name: input.name,
            colors: json_text(&input.colors),
            font: input.font,
            logo_asset,
            banned_words: json_text(&input.banned_words),
            required_phrases: json_text(&input.required_phrases),
            disclaimer: input.disclaimer,
            created_at,
            updated_at: now_millis(),
        }
    }

    fn into_api(self) -> Result<BrandKit, ApiError> {
        Ok(BrandKit {
            id: self.id,
            input: BrandKitInput {
                name: self.name,
                colors: json_from_text(&self.colors)?,
                font: self.font,
                banned_words: json_from_text(&self.banned_words)?,
                required_phrases: json_from_text(&self.required_phrases)?,
                disclaimer: self.disclaimer,
            },
            logo_asset: self.logo_asset,
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<BrandKitRow, ApiError> {
    brand_kits::table
        .filter(brand_kits::advertiser_id.eq(advertiser_id))
        .filter(brand_kits::id.eq(id))
        .select(BrandKitRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("brand kit"))
}

/// Loads one of the tenant's brand kits, or `NotFound`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<BrandKit, ApiError> {
    find_row(conn, advertiser_id, id)?.into_api()
}

#[utoipa::path(post, path = "/v1/brand-kits", tag = "brand kits", request_body = BrandKitInput,
    responses((status = 201, body = BrandKit), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn create(
    store: web::Data<Store>,
    tenant: Tenant,
    body: ValidJson<BrandKitInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let kit = store
        .run(move |conn| {
            let row = BrandKitRow::new(new_id(), tenant.advertiser_id, input, None, now_millis());
            diesel::insert_into(brand_kits::table)
                .values(&row)
                .execute(conn)?;
            row.into_api()
        })
        .await?;
    Ok(HttpResponse::Created().json(kit))
}

/// Filters for listing brand kits.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BrandKitFilter {
    /// Only kits whose name contains this text.
    pub q: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/brand-kits", tag = "brand kits", params(BrandKitFilter),
    responses((status = 200, body = Page<BrandKit>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<BrandKitFilter>,
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
                let mut query = brand_kits::table
                    .filter(brand_kits::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(q) = &filter.q {
                    query =
                        query.filter(brand_kits::name.like(super::like_pattern(q)).escape('\\'));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<BrandKitRow> = query()
                .order((brand_kits::created_at.desc(), brand_kits::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(BrandKitRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(BrandKitRow::into_api)
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

#[utoipa::path(get, path = "/v1/brand-kits/{id}", tag = "brand kits",
    responses((status = 200, body = BrandKit), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let kit = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(kit))
}

#[utoipa::path(patch, path = "/v1/brand-kits/{id}", tag = "brand kits",
    request_body(content = Object, description = "JSON merge patch of BrandKitInput"),
    responses((status = 200, body = BrandKit), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn update(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: ValidJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let kit = store
        .run(move |conn| {
            conn.transaction(|conn| {
                let current = find_row(conn, &tenant.advertiser_id, &id)?;
                let (created_at, logo) = (current.created_at, current.logo_asset.clone());
                let input = apply_patch(&current.into_api()?.input, patch.0)?;
                let row = BrandKitRow::new(
                    id.clone(),
                    tenant.advertiser_id.clone(),
                    input,
                    logo,
                    created_at,
                );
                diesel::update(brand_kits::table.filter(brand_kits::id.eq(&id)))
                    .set(&row)
                    .execute(conn)?;
                row.into_api()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(kit))
}

#[utoipa::path(delete, path = "/v1/brand-kits/{id}", tag = "brand kits",
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
                brand_kits::table
                    .filter(brand_kits::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(brand_kits::id.eq(&id)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("brand kit"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Largest logo accepted, in pixels on either side.
const MAX_LOGO_SIDE: u32 = 4096;

#[utoipa::path(put, path = "/v1/brand-kits/{id}/logo", tag = "brand kits",
    request_body(content = Vec<u8>, content_type = "image/png", description = "PNG, JPEG or WebP bytes"),
    responses((status = 200, body = BrandKit), (status = 415, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn upload_logo(
    req: HttpRequest,
    mut payload: web::Payload,
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    limit: web::Data<UploadLimit>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (format, extension) = match content_type.as_str() {
        "image/png" => (image::ImageFormat::Png, "png"),
        "image/jpeg" => (image::ImageFormat::Jpeg, "jpg"),
        "image/webp" => (image::ImageFormat::WebP, "webp"),
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                expected: "image/png, image/jpeg or image/webp",
            })
        }
    };
    let id = id.into_inner();
    // Check ownership before reading the body, so another tenant learns nothing from errors.
    let advertiser_id = tenant.advertiser_id.clone();
    let lookup = id.clone();
    store
        .run(move |conn| find_row(conn, &advertiser_id, &lookup).map(|_| ()))
        .await?;

    let bytes = read_limited(&mut payload, limit.0).await?;
    let reader = image::ImageReader::with_format(std::io::Cursor::new(&bytes[..]), format);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ApiError::field("logo", format!("not a readable {extension} image: {e}")))?;
    if width == 0 || height == 0 || width > MAX_LOGO_SIDE || height > MAX_LOGO_SIDE {
        return Err(ApiError::field(
            "logo",
            format!("logo must be 1 to {MAX_LOGO_SIDE} pixels on each side"),
        ));
    }
    image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| ApiError::field("logo", format!("not a readable {extension} image: {e}")))?;
    let name = assets.put(&bytes, extension).map_err(ApiError::internal)?;

    let kit = store
        .run(move |conn| {
            let updated = diesel::update(
                brand_kits::table
                    .filter(brand_kits::advertiser_id.eq(&tenant.advertiser_id))
                    .filter(brand_kits::id.eq(&id)),
            )
            .set((
                brand_kits::logo_asset.eq(Some(name)),
                brand_kits::updated_at.eq(now_millis()),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(ApiError::NotFound("brand kit"));
            }
            find(conn, &tenant.advertiser_id, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(kit))
}

#[utoipa::path(get, path = "/v1/brand-kits/{id}/logo", tag = "brand kits",
    responses((status = 200, content_type = "image/png"), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get_logo(
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let kit = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    let name = kit.logo_asset.ok_or(ApiError::NotFound("logo"))?;
    let bytes = assets.read(&name).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(mime_for(&name)).body(bytes))
}

/// Registers the brand-kit routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/brand-kits")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/brand-kits/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/brand-kits/{id}/logo")
            .route(web::put().to(upload_logo))
            .route(web::get().to(get_logo)),
    );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete, upload_logo, get_logo))]
pub struct Api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_parse() {
        assert_eq!(parse_hex_color("#FF8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex_color("FF8000"), None);
        assert_eq!(parse_hex_color("#FF80"), None);
        assert_eq!(parse_hex_color("#GG8000"), None);
    }
}
