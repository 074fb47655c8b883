//! The HTTP kit that routes and the app are built with: problem+json errors ([`problem`]),
//! JSON bodies ([`json`]), pagination ([`pagination`]), body limits ([`limits`]), metrics
//! ([`metrics`]) and who a request acts for ([`auth`]). It knows no route.

pub mod auth;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod pagination;
pub mod problem;
