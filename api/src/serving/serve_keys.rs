//! Placements' public serving keys: the key an ad server sends with each request. Rotating
//! gives a placement a new key; revoking takes its key away, so it serves nothing.

use diesel::prelude::*;

use super::{ServeError, Serving};
use crate::store::schema::placements;

impl Serving {
    /// Gives the advertiser's placement a new serving key and returns it.
    pub async fn rotate_serve_key(
        &self,
        advertiser_id: &str,
        placement_id: &str,
    ) -> Result<String, ServeError> {
        let key = format!("pk_{}", uuid::Uuid::new_v4().simple());
        self.set_serve_key(advertiser_id, placement_id, Some(key.clone()))
            .await?;
        Ok(key)
    }

    /// Takes the advertiser's placement's serving key away.
    pub async fn revoke_serve_key(
        &self,
        advertiser_id: &str,
        placement_id: &str,
    ) -> Result<(), ServeError> {
        self.set_serve_key(advertiser_id, placement_id, None).await
    }

    async fn set_serve_key(
        &self,
        advertiser_id: &str,
        placement_id: &str,
        key: Option<String>,
    ) -> Result<(), ServeError> {
        let (advertiser_id, placement_id) = (advertiser_id.to_string(), placement_id.to_string());
        self.store
            .run(move |conn| {
                let updated = diesel::update(
                    placements::table
                        .filter(placements::advertiser_id.eq(&advertiser_id))
                        .filter(placements::id.eq(&placement_id)),
                )
                .set(placements::serve_key.eq(key))
                .execute(conn)?;
                (updated == 1)
                    .then_some(())
                    .ok_or(ServeError::NotFound("placement"))
            })
            .await
    }
}
