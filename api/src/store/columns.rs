//! How structured values are kept in text columns: lists and objects as JSON text, unit enums
//! by their serde name, and `LIKE` patterns for name searches.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// The JSON text stored for a structured column.
pub fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Reads back a structured column; a failure means the row is corrupt.
pub fn json_from_text<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored name of a unit enum (its serde name).
pub fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Parses a stored enum name; a failure means the row is corrupt.
pub fn enum_from_text<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A `LIKE` pattern matching `text` anywhere, with the wildcards in `text` escaped (use it with
/// `.escape('\\')`).
pub fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }
}
