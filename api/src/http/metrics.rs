//! Prometheus metrics: request counts and latencies per route, served at `/metrics`.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The server's metric registry and instruments.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Metrics {
    /// Creates the registry with adforge's instruments.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("adforge".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
        })
    }

    /// The registry, for other parts to add instruments to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    let mut buffer = Vec::new();
    match TextEncoder::new().encode(&metrics.registry.gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(buffer),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

/// The label of a request's method: the standard methods by name, anything else `other`, so
/// made-up methods cannot grow the metrics without bound.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware recording every request. Routes are labelled by their pattern
/// (`/v1/campaigns/{id}`), never by the raw path, and methods by [`method_label`], to keep
/// label cardinality bounded.
pub struct Middleware(pub Metrics);

impl<S, B> Transform<S, ServiceRequest> for Middleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = MetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(MetricsService {
            service,
            metrics: self.0.clone(),
        }))
    }
}

/// The service [`Middleware`] wraps around the app.
pub struct MetricsService<S> {
    service: S,
    metrics: Metrics,
}

impl<S, B> Service<ServiceRequest> for MetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = method_label(req.method());
        let metrics = self.metrics.clone();
        let future = self.service.call(req);
        Box::pin(async move {
            let response = future.await?;
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            let status = response.status().as_u16().to_string();
            metrics
                .requests
                .with_label_values(&[&route, method, &status])
                .inc();
            metrics
                .latency
                .with_label_values(&[&route, method])
                .observe(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
