//! The five handlers every editable resource shares (create, list, get, update, delete),
//! written once over [`crate::store::crud`]. A resource's own file (`routes/campaigns.rs`...)
//! documents its paths for OpenAPI and delegates here.

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::Validate;
use crate::http::auth::Tenant;
use crate::http::json::{apply_patch, JsonPatch, ValidJson};
use crate::http::pagination::PageQuery;
use crate::http::problem::ApiError;
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::store::crud::{self, EditableTable, TenantTable};
use crate::store::Store;

/// An editable table served over HTTP by the generic handlers.
pub trait CrudResource:
    EditableTable<Input: Serialize + DeserializeOwned + Validate>
    + TenantTable<Item: Serialize, Filter: DeserializeOwned>
{
    /// What a change to this resource is, for [`ChangeNotifier`].
    const KIND: ChangeKind;

    /// The page a listing asks for (its `limit` and `offset` parameters).
    fn page_query(filter: &Self::Filter) -> PageQuery;

    /// The stored input a patch merges into; by default the stored input as it is.
    fn patch_base(stored: Self::Input, _patch: &serde_json::Value) -> Self::Input {
        stored
    }
}

/// Tells serving that the tenant's data of this kind changed (after a successful commit).
async fn changed<T: CrudResource>(changes: &ChangeNotifier, tenant: &Tenant) {
    changes
        .notify(Change::new(&tenant.advertiser_id, T::KIND))
        .await;
}

/// `POST /v1/<resources>`: 201 with the stored item.
pub async fn create<T: CrudResource>(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    body: ValidJson<T::Input>,
) -> Result<HttpResponse, ApiError> {
    let advertiser_id = tenant.advertiser_id.clone();
    let item = store
        .run(move |conn| Ok::<_, ApiError>(crud::create::<T>(conn, &advertiser_id, body.0)?))
        .await?;
    changed::<T>(&changes, &tenant).await;
    Ok(HttpResponse::Created().json(item))
}

/// `GET /v1/<resources>`: one page of the tenant's items matching the filters.
pub async fn list<T: CrudResource>(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<T::Filter>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.into_inner();
    let window = T::page_query(&filter).window()?;
    let page = store
        .run(move |conn| {
            Ok::<_, ApiError>(crud::list::<T>(
                conn,
                &tenant.advertiser_id,
                &filter,
                window,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /v1/<resources>/{id}`.
pub async fn get<T: CrudResource>(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let item = store
        .run(move |conn| Ok::<_, ApiError>(crud::get::<T>(conn, &tenant.advertiser_id, &id)?))
        .await?;
    Ok(HttpResponse::Ok().json(item))
}

/// `PATCH /v1/<resources>/{id}`: a JSON merge patch of the input, validated as a whole.
pub async fn update<T: CrudResource>(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
    patch: JsonPatch,
) -> Result<HttpResponse, ApiError> {
    let (id, advertiser_id) = (id.into_inner(), tenant.advertiser_id.clone());
    let (item, edited) = store
        .run(move |conn| {
            let mut edited = true;
            let item = crud::update::<T, ApiError>(conn, &advertiser_id, &id, |stored| {
                let before = serde_json::to_value(T::input_of(stored)).ok();
                let base = T::patch_base(T::input_of(stored), &patch.0);
                let input = apply_patch(&base, patch.0)?;
                edited = before.is_none() || before != serde_json::to_value(&input).ok();
                Ok(input)
            })?;
            Ok::<_, ApiError>((item, edited))
        })
        .await?;
    // A patch that changed nothing (`{}`, or the values already stored) tells nobody.
    if edited {
        changed::<T>(&changes, &tenant).await;
    }
    Ok(HttpResponse::Ok().json(item))
}

/// `DELETE /v1/<resources>/{id}`: 204.
pub async fn delete<T: CrudResource>(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, advertiser_id) = (id.into_inner(), tenant.advertiser_id.clone());
    store
        .run(move |conn| Ok::<_, ApiError>(crud::delete::<T>(conn, &advertiser_id, &id)?))
        .await?;
    changed::<T>(&changes, &tenant).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Writes a resource's documented `create`, `list`, `get`, `update` and `delete` handlers
/// (each delegates to the generic one above) and its `crud_routes` registration, in the
/// calling module. `collection` and `member` are the `/v1` OpenAPI paths, `scope_*` the same
/// paths as mounted under `/v1`.
macro_rules! crud_handlers {
    (
        table: $table:ident, item: $item:ident, input: $input:ident, filter: $filter:ident,
        tag: $tag:tt, collection: $collection:tt, member: $member:tt,
        scope_collection: $scope_collection:tt, scope_member: $scope_member:tt,
        patch_description: $patch_description:tt
    ) => {
        #[utoipa::path(post, path = $collection, tag = $tag, request_body = $input,
            responses((status = 201, body = $item), (status = 422, body = $crate::http::problem::Problem)),
            security(("bearer" = [])))]
        async fn create(
            store: actix_web::web::Data<$crate::store::Store>,
            changes: actix_web::web::Data<$crate::infra::changes::ChangeNotifier>,
            tenant: $crate::http::auth::Tenant,
            body: $crate::http::json::ValidJson<$input>,
        ) -> Result<actix_web::HttpResponse, $crate::http::problem::ApiError> {
            $crate::routes::crud::create::<$table>(store, changes, tenant, body).await
        }

        #[utoipa::path(get, path = $collection, tag = $tag, params($filter),
            responses((status = 200, body = $crate::http::pagination::Page<$item>)),
            security(("bearer" = [])))]
        async fn list(
            store: actix_web::web::Data<$crate::store::Store>,
            tenant: $crate::http::auth::Tenant,
            filter: actix_web::web::Query<$filter>,
        ) -> Result<actix_web::HttpResponse, $crate::http::problem::ApiError> {
            $crate::routes::crud::list::<$table>(store, tenant, filter).await
        }

        #[utoipa::path(get, path = $member, tag = $tag,
            responses((status = 200, body = $item), (status = 404, body = $crate::http::problem::Problem)),
            security(("bearer" = [])))]
        async fn get(
            store: actix_web::web::Data<$crate::store::Store>,
            tenant: $crate::http::auth::Tenant,
            id: actix_web::web::Path<String>,
        ) -> Result<actix_web::HttpResponse, $crate::http::problem::ApiError> {
            $crate::routes::crud::get::<$table>(store, tenant, id).await
        }

        #[utoipa::path(patch, path = $member, tag = $tag,
            request_body(content = Object, description = $patch_description),
            responses((status = 200, body = $item), (status = 404, body = $crate::http::problem::Problem)),
            security(("bearer" = [])))]
        async fn update(
            store: actix_web::web::Data<$crate::store::Store>,
            changes: actix_web::web::Data<$crate::infra::changes::ChangeNotifier>,
            tenant: $crate::http::auth::Tenant,
            id: actix_web::web::Path<String>,
            patch: $crate::http::json::JsonPatch,
        ) -> Result<actix_web::HttpResponse, $crate::http::problem::ApiError> {
            $crate::routes::crud::update::<$table>(store, changes, tenant, id, patch).await
        }

        #[utoipa::path(delete, path = $member, tag = $tag,
            responses((status = 204), (status = 404, body = $crate::http::problem::Problem)),
            security(("bearer" = [])))]
        async fn delete(
            store: actix_web::web::Data<$crate::store::Store>,
            changes: actix_web::web::Data<$crate::infra::changes::ChangeNotifier>,
            tenant: $crate::http::auth::Tenant,
            id: actix_web::web::Path<String>,
        ) -> Result<actix_web::HttpResponse, $crate::http::problem::ApiError> {
            $crate::routes::crud::delete::<$table>(store, changes, tenant, id).await
        }

        /// Registers the five CRUD routes of this resource under `/v1`.
        fn crud_routes(cfg: &mut actix_web::web::ServiceConfig) {
            use actix_web::web;
            cfg.service(
                web::resource($scope_collection)
                    .route(web::post().to(create))
                    .route(web::get().to(list)),
            )
            .service(
                web::resource($scope_member)
                    .route(web::get().to(get))
                    .route(web::patch().to(update))
                    .route(web::delete().to(delete)),
            );
        }
    };
}
pub(crate) use crud_handlers;
