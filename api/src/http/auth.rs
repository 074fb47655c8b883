//! Who a request acts for: the [`Tenant`] extractor, from the `Authorization: Bearer` key.
//! Keys are checked against [`crate::store::advertisers`]; a missing or unknown key answers 401.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};

use super::problem::ApiError;
use crate::store::advertisers::advertiser_for_key;
use crate::store::Store;

/// The advertiser a request acts for, from its bearer key.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The advertiser's id; every query a handler makes is scoped by it.
    pub advertiser_id: String,
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_string());
        let store = req.app_data::<web::Data<Store>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let (Some(key), Some(store)) = (key, store) else {
                return Err(ApiError::Unauthorized);
            };
            let advertiser_id = store
                .run(move |conn| advertiser_for_key(conn, &key))
                .await
                .map_err(ApiError::from)?
                .ok_or(ApiError::Unauthorized)?;
            let tenant = Tenant { advertiser_id };
            // Middleware reads who acted (the serving payloads to recompute after a change).
            req.extensions_mut().insert(tenant.clone());
            Ok(tenant)
        })
    }
}
