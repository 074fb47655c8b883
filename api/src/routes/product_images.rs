//! `/v1/campaigns/{id}/images`: a campaign's product photos. Upload one (multipart/form-data,
//! field `image`; PNG, JPEG or WebP with the same size limit and checks as brand-kit logos),
//! list them in order, read one's bytes, delete one. Another tenant's campaign or photo
//! answers 404, before any of the body is read.

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use utoipa::ToSchema;

use crate::domain::product_images::{check_product_photo, ProductImage};
use crate::http::auth::Tenant;
use crate::http::limits::UploadLimit;
use crate::http::problem::ApiError;
use crate::infra::assets::{mime_for, AssetStore};
use crate::jobs::generation::product::ProductShot;
use crate::store::{campaigns::Campaigns, crud, product_images, Store};

/// The multipart field holding the picture.
const FIELD: &str = "image";

/// The body of `POST /v1/campaigns/{id}/images` (multipart/form-data).
#[derive(ToSchema)]
pub struct ProductImageUpload {
    /// The product photo: PNG, JPEG or WebP, 32 to 4096 pixels on each side. Other form
    /// fields are ignored, but count toward the upload limit.
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

/// The photos of a campaign, in the order generation uses them.
#[derive(serde::Serialize, ToSchema)]
pub struct ProductImageList {
    /// The photos, lowest position first.
    pub items: Vec<ProductImage>,
}

/// An uploaded picture part: its bytes, file name and declared media type.
struct Part {
    bytes: Vec<u8>,
    file_name: String,
    content_type: Option<String>,
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/images", tag = "campaigns",
    request_body(content = ProductImageUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = ProductImage),
        (status = 400, body = crate::http::problem::Problem, description = "no `image` field or an unreadable body"),
        (status = 404, body = crate::http::problem::Problem),
        (status = 413, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem, description = "not a PNG, JPEG or WebP picture, too small or too large in pixels, or the campaign holds 20 photos (`field`: `image`)")),
    security(("bearer" = [])))]
async fn upload(
    mut payload: Multipart,
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    limit: web::Data<UploadLimit>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id = id.into_inner();
    // Check ownership before reading the body, so another tenant learns nothing from errors.
    let (advertiser_id, lookup) = (tenant.advertiser_id.clone(), campaign_id.clone());
    store
        .run(move |conn| {
            Ok::<_, ApiError>(crud::find::<Campaigns>(conn, &advertiser_id, &lookup).map(drop)?)
        })
        .await?;

    let part = read_image_part(&mut payload, limit.0).await?;
    // Decoding a large picture takes a CPU for a while, and so does hashing and writing it: on
    // the blocking pool, so that the server's event loops keep answering other requests.
    let (checked, asset, bytes) = web::block(move || {
        let checked = check_product_photo(
            &part.bytes,
            part.content_type.as_deref(),
            &part.file_name,
            FIELD,
        )?;
        // A photo the compositor cannot show (fully transparent, say) is refused now rather
        // than failing every generation of the campaign later.
        if let Err(error) = ProductShot::decode(&checked.file_name, &part.bytes) {
            return Err(ApiError::field(FIELD, error.to_string()));
        }
        let asset = assets
            .put(&part.bytes, checked.format.extension())
            .map_err(ApiError::internal)?;
        Ok::<_, ApiError>((checked, asset, part.bytes.len() as u64))
    })
    .await
    .map_err(ApiError::internal)??;

    let advertiser_id = tenant.advertiser_id.clone();
    let image = store
        .run(move |conn| {
            Ok::<_, ApiError>(product_images::add(
                conn,
                &advertiser_id,
                &campaign_id,
                &checked,
                asset,
                bytes,
                FIELD,
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(image))
}

/// Reads the one `image` field of the body, failing with 413 once the fields read (`image`
/// and every other one together) pass `limit` bytes; other fields are read and dropped.
async fn read_image_part(payload: &mut Multipart, limit: usize) -> Result<Part, ApiError> {
    let unreadable = |e: actix_multipart::MultipartError| {
        ApiError::bad_request(None, format!("reading the multipart body: {e}"))
    };
    let mut received = 0usize;
    let mut image: Option<Part> = None;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(unreadable)?;
        let is_image = field.name() == Some(FIELD);
        if is_image && image.is_some() {
            return Err(ApiError::field(
                FIELD,
                "send one picture per request (the body has two `image` fields)",
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(unreadable)?;
            received += chunk.len();
            if received > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if is_image {
                bytes.extend_from_slice(&chunk);
            }
        }
        if is_image {
            image = Some(Part {
                bytes,
                file_name: field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or("")
                    .to_string(),
                content_type: field.content_type().map(|m| m.essence_str().to_string()),
            });
        }
    }
    image.ok_or_else(|| {
        ApiError::bad_request(
            Some(FIELD.into()),
            "the multipart body has no `image` field",
        )
    })
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/images", tag = "campaigns",
    responses((status = 200, body = ProductImageList), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id = id.into_inner();
    let items = store
        .run(move |conn| {
            Ok::<_, ApiError>(product_images::of_campaign(
                conn,
                &tenant.advertiser_id,
                &campaign_id,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ProductImageList { items }))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/images/{image_id}", tag = "campaigns",
    responses((status = 200, description = "the picture's bytes, with its media type", content_type = "image/png"),
        (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, image_id) = path.into_inner();
    let image = store
        .run(move |conn| {
            Ok::<_, ApiError>(product_images::find(
                conn,
                &tenant.advertiser_id,
                &campaign_id,
                &image_id,
            )?)
        })
        .await?;
    let content_type = mime_for(&image.asset);
    let bytes = web::block(move || assets.read(&image.asset))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(content_type).body(bytes))
}

#[utoipa::path(delete, path = "/v1/campaigns/{id}/images/{image_id}", tag = "campaigns",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn delete(
    store: web::Data<Store>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, image_id) = path.into_inner();
    store
        .run(move |conn| {
            Ok::<_, ApiError>(product_images::delete(
                conn,
                &tenant.advertiser_id,
                &campaign_id,
                &image_id,
            )?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the product-image routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/campaigns/{id}/images")
            .route(web::post().to(upload))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/campaigns/{id}/images/{image_id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete)),
    );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(upload, list, get, delete),
    components(schemas(ProductImage, ProductImageList, ProductImageUpload))
)]
pub struct Api;
