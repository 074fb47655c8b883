//! The `product_images` table: a campaign's product photos, in their order. Reads and deletes
//! go through the generic [`crud`] queries; a photo is always addressed within its campaign,
//! so an id under another campaign (or another tenant's) is not found.

use diesel::prelude::*;

use super::campaigns::Campaigns;
use super::crud::{self, tenant_queries, CampaignScoped, Db, TenantTable};
use super::schema::product_images;
use super::{now_millis, Conn, StoreError};
use crate::domain::iso_time;
use crate::domain::product_images::{CheckedPhoto, ProductImage, MAX_PRODUCT_IMAGES};
use crate::domain::FieldError;

/// The product-images table, for [`crud`].
pub struct ProductImages;

/// A product photo as stored.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_images)]
pub struct ProductImageRow {
    id: String,
    advertiser_id: String,
    campaign_id: String,
    asset: String,
    file_name: String,
    content_type: String,
    width: i32,
    height: i32,
    bytes: i64,
    position: i32,
    created_at: i64,
}

/// Which photos a listing covers: those of one campaign.
#[derive(Clone, Debug, Default)]
pub struct ProductImageFilter {
    /// The campaign.
    pub campaign_id: Option<String>,
}

fn filtered(
    mut query: product_images::BoxedQuery<'static, Db>,
    filter: &ProductImageFilter,
) -> product_images::BoxedQuery<'static, Db> {
    if let Some(campaign_id) = &filter.campaign_id {
        query = query.filter(product_images::campaign_id.eq(campaign_id.clone()));
    }
    query
}

impl TenantTable for ProductImages {
    const WHAT: &'static str = "product image";
    type Row = ProductImageRow;
    type Item = ProductImage;
    type Filter = ProductImageFilter;

    tenant_queries!(product_images, ProductImageRow, filtered);

    fn into_item(row: ProductImageRow) -> Result<ProductImage, StoreError> {
        let dimension = |v: i32| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("image dimension {v}")))
        };
        Ok(ProductImage {
            width: dimension(row.width)?,
            height: dimension(row.height)?,
            bytes: u64::try_from(row.bytes).unwrap_or(0),
            id: row.id,
            campaign_id: row.campaign_id,
            asset: row.asset,
            file_name: row.file_name,
            content_type: row.content_type,
            position: row.position,
            created_at: iso_time(row.created_at),
        })
    }
}

impl CampaignScoped for ProductImages {
    fn campaign_of(row: &ProductImageRow) -> &str {
        &row.campaign_id
    }

    fn of_campaign(campaign_id: &str) -> ProductImageFilter {
        ProductImageFilter {
            campaign_id: Some(campaign_id.to_string()),
        }
    }
}

/// Adds a checked photo, stored as `asset` (`bytes` long), at the end of the tenant's campaign
/// `campaign_id`. Fails with [`StoreError::NotFound`] when the tenant has no such campaign,
/// and with a field error on `field` when the campaign already holds [`MAX_PRODUCT_IMAGES`].
pub fn add(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    photo: &CheckedPhoto,
    asset: String,
    bytes: u64,
    field: &str,
) -> Result<ProductImage, StoreError> {
    conn.transaction(|conn| {
        crud::find::<Campaigns>(conn, advertiser_id, campaign_id)?;
        let (count, last): (i64, Option<i32>) = product_images::table
            .filter(product_images::advertiser_id.eq(advertiser_id))
            .filter(product_images::campaign_id.eq(campaign_id))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::max(product_images::position),
            ))
            .first(conn)?;
        if count >= MAX_PRODUCT_IMAGES {
            return Err(StoreError::Invalid(FieldError::new(
                field,
                format!(
                    "the campaign already holds {MAX_PRODUCT_IMAGES} product photos; delete one first"
                ),
            )));
        }
        let row = ProductImageRow {
            id: super::new_id(),
            advertiser_id: advertiser_id.to_string(),
            campaign_id: campaign_id.to_string(),
            asset,
            file_name: photo.file_name.clone(),
            content_type: photo.format.media_type().to_string(),
            width: i32::try_from(photo.width).unwrap_or(i32::MAX),
            height: i32::try_from(photo.height).unwrap_or(i32::MAX),
            bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            position: last.map_or(0, |p| p.saturating_add(1)),
            created_at: now_millis(),
        };
        diesel::insert_into(product_images::table)
            .values(&row)
            .execute(conn)?;
        ProductImages::into_item(row)
    })
}

/// The photos of the tenant's campaign, in their order (lowest position first). Fails with
/// [`StoreError::NotFound`] when the tenant has no such campaign.
pub fn of_campaign(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<ProductImage>, StoreError> {
    crud::find::<Campaigns>(conn, advertiser_id, campaign_id)?;
    product_images::table
        .filter(product_images::advertiser_id.eq(advertiser_id))
        .filter(product_images::campaign_id.eq(campaign_id))
        .order((
            product_images::position.asc(),
            product_images::created_at.asc(),
            product_images::id.asc(),
        ))
        .select(ProductImageRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ProductImages::into_item)
        .collect()
}

/// One photo of the tenant's campaign; [`StoreError::NotFound`] when the campaign is not the
/// tenant's or the photo is not in it.
pub fn find(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    id: &str,
) -> Result<ProductImage, StoreError> {
    crud::find::<Campaigns>(conn, advertiser_id, campaign_id)?;
    let row = crud::find::<ProductImages>(conn, advertiser_id, id)?;
    if ProductImages::campaign_of(&row) != campaign_id {
        return Err(StoreError::NotFound {
            what: ProductImages::WHAT,
            id: id.to_string(),
        });
    }
    ProductImages::into_item(row)
}

/// Deletes one photo of the tenant's campaign (its asset stays: other rows may share the
/// bytes); [`StoreError::NotFound`] as [`find`].
pub fn delete(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        find(conn, advertiser_id, campaign_id, id)?;
        crud::delete::<ProductImages>(conn, advertiser_id, id)
    })
}
