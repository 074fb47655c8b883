//! Paginated listing shared by every collection endpoint.

use serde::Deserialize;

use super::problem::ApiError;
pub use crate::domain::listing::{Page, PageWindow};

/// `?limit=&offset=`: at most 100 items a page, 20 by default.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The checked window.
    pub fn window(&self) -> Result<PageWindow, ApiError> {
        let (limit, offset) = self.bounds()?;
        Ok(PageWindow { limit, offset })
    }

    /// The checked `(limit, offset)`.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(20);
        let offset = self.offset.unwrap_or(0);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::field("limit", "limit must be between 1 and 100"));
        }
        if offset < 0 {
            return Err(ApiError::field("offset", "offset must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// Applies an RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, any
/// other value replaces. Updates are the stored resource with the patch merged in, validated
/// again as a whole.
pub fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    match patch {
        serde_json::Value::Object(patch) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(target) = target {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(&key);
                    } else {
                        merge_patch(target.entry(key).or_insert(serde_json::Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn page_bounds_are_checked() {
        let bad = PageQuery {
            limit: Some(0),
            offset: None,
        };
        assert!(bad.bounds().is_err());
        let good = PageQuery {
            limit: None,
            offset: Some(40),
        };
        assert_eq!(good.bounds().unwrap(), (20, 40));
    }
}
