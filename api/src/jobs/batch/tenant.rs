//! The tenant's stored campaigns, segments and placements as a batch's rows look them up by
//! name (rows without a `brand` refer to a stored campaign).

use diesel::prelude::*;

use super::rows::{RowPhoto, StoredResources};
use crate::domain::{BrandKit, Campaign, Placement, Segment};
use crate::store::schema::campaigns as campaigns_table;
use crate::store::{brand_kits, campaigns, placements, product_images, segments, Conn};

/// The tenant's stored campaigns, segments and placements, found by name.
pub struct TenantResources<'a> {
    /// The connection used for the look-ups.
    pub conn: &'a mut Conn,
    /// The tenant.
    pub advertiser_id: &'a str,
}

impl StoredResources for TenantResources<'_> {
    fn campaign(&mut self, name: &str) -> Result<Option<(Campaign, Option<BrandKit>)>, String> {
        let id: Option<String> = campaigns_table::table
            .filter(campaigns_table::advertiser_id.eq(self.advertiser_id))
            .filter(campaigns_table::name.eq(name))
            .order(campaigns_table::created_at.desc())
            .select(campaigns_table::id)
            .first(&mut *self.conn)
            .optional()
            .map_err(|e| e.to_string())?;
        let Some(id) = id else { return Ok(None) };
        let campaign =
            campaigns::find(&mut *self.conn, self.advertiser_id, &id).map_err(|e| e.to_string())?;
        let brand_kit = match &campaign.input.brand_kit_id {
            Some(kit) => brand_kits::find(&mut *self.conn, self.advertiser_id, kit).ok(),
            None => None,
        };
        Ok(Some((campaign, brand_kit)))
    }

    fn segment(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Segment>, String> {
        let all = segments::for_campaign(&mut *self.conn, self.advertiser_id, &campaign.id)
            .map_err(|e| e.to_string())?;
        Ok(all.into_iter().find(|s| s.input.name == name))
    }

    fn placement(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Placement>, String> {
        let all = placements::for_campaign(&mut *self.conn, self.advertiser_id, &campaign.id)
            .map_err(|e| e.to_string())?;
        Ok(all.into_iter().find(|p| p.input.name == name))
    }

    fn product_photos(&mut self, campaign: &Campaign) -> Result<Vec<RowPhoto>, String> {
        let photos = product_images::of_campaign(&mut *self.conn, self.advertiser_id, &campaign.id)
            .map_err(|e| e.to_string())?;
        Ok(photos
            .into_iter()
            .map(|photo| RowPhoto::Stored {
                id: photo.id,
                asset: photo.asset,
            })
            .collect())
    }
}
