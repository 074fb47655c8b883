//! The HTTP handlers, one file per resource. Handlers parse the request, call the store, the
//! jobs or serving, and translate the outcome to HTTP; they hold no business rules.
//! [`crud`] holds the handlers the five editable resources share.

pub mod batches;
pub mod brand_kits;
pub mod campaigns;
pub mod creatives;
pub mod crud;
pub mod dashboard;
pub mod generation;
pub mod health;
pub mod keys;
pub mod models;
pub mod placements;
pub mod product_images;
pub mod segments;
pub mod serving;

/// Registers the routes of the five advertiser resources, and the advertiser's own API keys,
/// under `/v1`.
pub fn resources(cfg: &mut actix_web::web::ServiceConfig) {
    campaigns::routes(cfg);
    product_images::routes(cfg);
    brand_kits::routes(cfg);
    segments::routes(cfg);
    placements::routes(cfg);
    creatives::routes(cfg);
    keys::routes(cfg);
}
