//! Listing a collection a page at a time.

use serde::Serialize;

/// Which slice of a listing to return: at most `limit` items after skipping `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWindow {
    /// Items per page.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

/// One page of a collection.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page, newest first.
    pub items: Vec<T>,
    /// How many items match the filters in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
}

impl<T> Page<T> {
    /// The page of `items` cut by `window` out of `total` matches.
    pub fn new(items: Vec<T>, total: i64, window: PageWindow) -> Self {
        Page {
            items,
            total,
            limit: window.limit,
            offset: window.offset,
        }
    }
}
