//! One tenant-scoped CRUD for every resource table.
//!
//! A table says what it stores by implementing [`TenantTable`] (read and delete) and, when
//! clients edit it, [`EditableTable`]. The queries themselves come from `tenant_queries!`,
//! written once for every table with `id`, `advertiser_id` and `created_at` columns; a table
//! writes only its row mapping, its list filters and the references it checks. The functions
//! here ([`get`], [`list`], [`create`], [`update`], [`delete`]) are the only CRUD flow. Every
//! query is scoped by the caller's advertiser id, so another tenant's id is simply not found.

use diesel::prelude::*;

use super::{Conn, DbConnection, StoreError};
use crate::domain::{Page, PageWindow};

/// The SQL backend behind [`DbConnection`] (boxed queries are built for it).
pub type Db = <DbConnection as diesel::Connection>::Backend;

/// A table whose rows belong to one advertiser each.
pub trait TenantTable {
    /// What a row is called in errors, e.g. `campaign`.
    const WHAT: &'static str;
    /// The row as stored.
    type Row: Clone + Send + 'static;
    /// The domain value a row holds.
    type Item: Send + 'static;
    /// What a listing may be narrowed by.
    type Filter: Send + 'static;

    /// The tenant's row with this id.
    fn find_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> QueryResult<Option<Self::Row>>;
    /// How many of the tenant's rows match `filter`.
    fn count(conn: &mut Conn, advertiser_id: &str, filter: &Self::Filter) -> QueryResult<i64>;
    /// One window of the tenant's rows matching `filter`, newest first.
    fn load_page(
        conn: &mut Conn,
        advertiser_id: &str,
        filter: &Self::Filter,
        window: PageWindow,
    ) -> QueryResult<Vec<Self::Row>>;
    /// Deletes the tenant's row with this id; returns how many rows went.
    fn delete_row(conn: &mut Conn, advertiser_id: &str, id: &str) -> QueryResult<usize>;
    /// The domain value of a row.
    fn into_item(row: Self::Row) -> Result<Self::Item, StoreError>;
}

/// A [`TenantTable`] that clients create and update from an input value.
pub trait EditableTable: TenantTable {
    /// The editable fields (a create body; what an update patches).
    type Input: Send + 'static;

    /// The editable fields of a stored item.
    fn input_of(item: &Self::Item) -> Self::Input;
    /// Checks that every id the input refers to is the tenant's.
    fn check_references(
        conn: &mut Conn,
        advertiser_id: &str,
        input: &Self::Input,
    ) -> Result<(), StoreError>;
    /// The row to store for `input`; `previous` is the stored row on an update, whose
    /// non-editable fields (creation time, generated assets) carry over.
    fn new_row(
        id: String,
        advertiser_id: String,
        input: Self::Input,
        previous: Option<Self::Row>,
    ) -> Result<Self::Row, StoreError>;
    /// Completes a built row with what depends on other stored rows (a creative's rule
    /// violations), or refuses it; called before every insert and update. Nothing by default.
    fn finish_row(
        _conn: &mut Conn,
        _advertiser_id: &str,
        _row: &mut Self::Row,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Inserts a new row.
    fn insert_row(conn: &mut Conn, row: &Self::Row) -> QueryResult<usize>;
    /// Overwrites the stored row with the same id.
    fn update_row(conn: &mut Conn, row: &Self::Row) -> QueryResult<usize>;
}

/// A [`TenantTable`] whose rows each belong to one campaign.
pub trait CampaignScoped: TenantTable {
    /// The campaign a row belongs to.
    fn campaign_of(row: &Self::Row) -> &str;
    /// The listing filter for every row of one campaign.
    fn of_campaign(campaign_id: &str) -> Self::Filter;
}

/// Writes the query methods of a [`TenantTable`] (and with `editable`, of an
/// [`EditableTable`]) for the diesel table module `$table` and its row type `$row`. `$filter` is
/// a function narrowing a boxed query of the tenant's rows by `Self::Filter`.
macro_rules! tenant_queries {
    ($table:ident, $row:ty, editable) => {
        fn insert_row(conn: &mut $crate::store::Conn, row: &$row) -> diesel::QueryResult<usize> {
            use diesel::prelude::*;
            diesel::insert_into($table::table).values(row).execute(conn)
        }

        fn update_row(conn: &mut $crate::store::Conn, row: &$row) -> diesel::QueryResult<usize> {
            use diesel::prelude::*;
            diesel::update($table::table.filter($table::id.eq(&row.id)))
                .set(row)
                .execute(conn)
        }
    };
    ($table:ident, $row:ty, $filter:path) => {
        fn find_row(
            conn: &mut $crate::store::Conn,
            advertiser_id: &str,
            id: &str,
        ) -> diesel::QueryResult<Option<$row>> {
            use diesel::prelude::*;
            $table::table
                .filter($table::advertiser_id.eq(advertiser_id))
                .filter($table::id.eq(id))
                .select(<$row>::as_select())
                .first(conn)
                .optional()
        }

        fn count(
            conn: &mut $crate::store::Conn,
            advertiser_id: &str,
            filter: &Self::Filter,
        ) -> diesel::QueryResult<i64> {
            use diesel::prelude::*;
            let owned = $table::table
                .filter($table::advertiser_id.eq(advertiser_id.to_string()))
                .into_boxed();
            $filter(owned, filter).count().get_result(conn)
        }

        fn load_page(
            conn: &mut $crate::store::Conn,
            advertiser_id: &str,
            filter: &Self::Filter,
            window: $crate::domain::PageWindow,
        ) -> diesel::QueryResult<Vec<$row>> {
            use diesel::prelude::*;
            let owned = $table::table
                .filter($table::advertiser_id.eq(advertiser_id.to_string()))
                .into_boxed();
            $filter(owned, filter)
                .order(($table::created_at.desc(), $table::id.desc()))
                .limit(window.limit)
                .offset(window.offset)
                .select(<$row>::as_select())
                .load(conn)
        }

        fn delete_row(
            conn: &mut $crate::store::Conn,
            advertiser_id: &str,
            id: &str,
        ) -> diesel::QueryResult<usize> {
            use diesel::prelude::*;
            diesel::delete(
                $table::table
                    .filter($table::advertiser_id.eq(advertiser_id))
                    .filter($table::id.eq(id)),
            )
            .execute(conn)
        }
    };
}
pub(crate) use tenant_queries;

/// The tenant's item with this id, or [`StoreError::NotFound`].
pub fn get<T: TenantTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
) -> Result<T::Item, StoreError> {
    T::into_item(find::<T>(conn, advertiser_id, id)?)
}

/// The tenant's row with this id, or [`StoreError::NotFound`].
pub fn find<T: TenantTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
) -> Result<T::Row, StoreError> {
    T::find_row(conn, advertiser_id, id)?.ok_or_else(|| StoreError::NotFound {
        what: T::WHAT,
        id: id.to_string(),
    })
}

/// The tenant's row with this id, which `field` of an input refers to; a
/// [`StoreError::MissingReference`] with `message` when the tenant has none.
pub fn require<T: TenantTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    field: &str,
    message: impl FnOnce() -> String,
) -> Result<T::Row, StoreError> {
    T::find_row(conn, advertiser_id, id)?.ok_or_else(|| StoreError::MissingReference {
        field: field.to_string(),
        message: message(),
    })
}

/// One page of the tenant's items matching `filter`, newest first.
pub fn list<T: TenantTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    filter: &T::Filter,
    window: PageWindow,
) -> Result<Page<T::Item>, StoreError> {
    let total = T::count(conn, advertiser_id, filter)?;
    let items = T::load_page(conn, advertiser_id, filter, window)?
        .into_iter()
        .map(T::into_item)
        .collect::<Result<_, _>>()?;
    Ok(Page::new(items, total, window))
}

/// Stores a new item for the tenant after checking the input's references.
pub fn create<T: EditableTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    input: T::Input,
) -> Result<T::Item, StoreError> {
    T::check_references(conn, advertiser_id, &input)?;
    let mut row = T::new_row(super::new_id(), advertiser_id.to_string(), input, None)?;
    T::finish_row(conn, advertiser_id, &mut row)?;
    T::insert_row(conn, &row)?;
    T::into_item(row)
}

/// Updates one of the tenant's items in a transaction: `edit` turns the stored item into the
/// new input (a merged patch, validated), whose references are checked before it is saved.
pub fn update<T, E>(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    edit: impl FnOnce(&T::Item) -> Result<T::Input, E>,
) -> Result<T::Item, E>
where
    T: EditableTable,
    E: From<StoreError> + From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        let current = find::<T>(conn, advertiser_id, id)?;
        let input = edit(&T::into_item(current.clone())?)?;
        T::check_references(conn, advertiser_id, &input)?;
        let mut row = T::new_row(
            id.to_string(),
            advertiser_id.to_string(),
            input,
            Some(current),
        )?;
        T::finish_row(conn, advertiser_id, &mut row)?;
        T::update_row(conn, &row)?;
        Ok(T::into_item(row)?)
    })
}

/// Deletes one of the tenant's items, or fails with [`StoreError::NotFound`].
pub fn delete<T: TenantTable>(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    match T::delete_row(conn, advertiser_id, id)? {
        0 => Err(StoreError::NotFound {
            what: T::WHAT,
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Checks that `id` names a row of the tenant's campaign `campaign_id`, which `field` of an
/// input refers to (a [`StoreError::MissingReference`] otherwise).
pub fn require_in_campaign<T: CampaignScoped>(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    id: &str,
    field: &str,
) -> Result<(), StoreError> {
    let missing = || format!("no {} {id} in this campaign", T::WHAT);
    let row = require::<T>(conn, advertiser_id, id, field, missing)?;
    if T::campaign_of(&row) != campaign_id {
        return Err(StoreError::MissingReference {
            field: field.to_string(),
            message: missing(),
        });
    }
    Ok(())
}

/// Every item of one of the tenant's campaigns, oldest first.
pub fn for_campaign<T: CampaignScoped>(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<T::Item>, StoreError> {
    let everything = PageWindow {
        limit: i64::MAX,
        offset: 0,
    };
    let filter = T::of_campaign(campaign_id);
    // Pages come newest first: reversed, ties stay ordered by id.
    T::load_page(conn, advertiser_id, &filter, everything)?
        .into_iter()
        .rev()
        .map(T::into_item)
        .collect()
}
