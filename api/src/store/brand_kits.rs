//! The `brand_kits` table.

use diesel::prelude::*;

use super::columns::{json_from_text, json_text, like_pattern};
use super::crud::{self, tenant_queries, Db, EditableTable, TenantTable};
use super::schema::brand_kits;
use super::{now_millis, Conn, StoreError};
use crate::domain::brand_kits::{BrandKit, BrandKitFilter, BrandKitInput};
use crate::domain::iso_time;

/// The brand-kits table, for [`crud`].
pub struct BrandKits;

/// A brand kit as stored.
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = brand_kits)]
#[diesel(treat_none_as_null = true)]
pub struct BrandKitRow {
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

fn filtered(
    mut query: brand_kits::BoxedQuery<'static, Db>,
    filter: &BrandKitFilter,
) -> brand_kits::BoxedQuery<'static, Db> {
    if let Some(q) = &filter.q {
        query = query.filter(brand_kits::name.like(like_pattern(q)).escape('\\'));
    }
    query
}

impl TenantTable for BrandKits {
    const WHAT: &'static str = "brand kit";
    type Row = BrandKitRow;
    type Item = BrandKit;
    type Filter = BrandKitFilter;

    tenant_queries!(brand_kits, BrandKitRow, filtered);

    fn into_item(row: BrandKitRow) -> Result<BrandKit, StoreError> {
        Ok(BrandKit {
            id: row.id,
            input: BrandKitInput {
                name: row.name,
                colors: json_from_text(&row.colors)?,
                font: row.font,
                banned_words: json_from_text(&row.banned_words)?,
                required_phrases: json_from_text(&row.required_phrases)?,
                disclaimer: row.disclaimer,
            },
            logo_asset: row.logo_asset,
            created_at: iso_time(row.created_at),
            updated_at: iso_time(row.updated_at),
        })
    }
}

impl EditableTable for BrandKits {
    type Input = BrandKitInput;

    tenant_queries!(brand_kits, BrandKitRow, editable);

    fn input_of(item: &BrandKit) -> BrandKitInput {
        item.input.clone()
    }

    fn check_references(_: &mut Conn, _: &str, _: &BrandKitInput) -> Result<(), StoreError> {
        Ok(())
    }

    fn new_row(
        id: String,
        advertiser_id: String,
        input: BrandKitInput,
        previous: Option<BrandKitRow>,
    ) -> Result<BrandKitRow, StoreError> {
        let now = now_millis();
        let (logo_asset, created_at) = match previous {
            Some(row) => (row.logo_asset, row.created_at),
            None => (None, now),
        };
        Ok(BrandKitRow {
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
            updated_at: now,
        })
    }
}

/// Loads one of the tenant's brand kits, or [`StoreError::NotFound`].
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<BrandKit, StoreError> {
    crud::get::<BrandKits>(conn, advertiser_id, id)
}

/// Points one of the tenant's brand kits at a stored logo asset and returns the kit.
pub fn set_logo(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    asset: String,
) -> Result<BrandKit, StoreError> {
    let updated = diesel::update(
        brand_kits::table
            .filter(brand_kits::advertiser_id.eq(advertiser_id))
            .filter(brand_kits::id.eq(id)),
    )
    .set((
        brand_kits::logo_asset.eq(Some(asset)),
        brand_kits::updated_at.eq(now_millis()),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            what: BrandKits::WHAT,
            id: id.to_string(),
        });
    }
    find(conn, advertiser_id, id)
}
