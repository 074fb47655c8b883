//! The ad request as targeting sees it: who is asking, from where, on what device and when.
//!
//! [`AdRequest`] is the plain input type (serde-friendly, as the api receives it).
//! [`PreparedRequest`] is the normalised form that rules and the segment index evaluate:
//! strings folded to lower case (country codes to upper case), the timestamp converted to the
//! request's own time zone once.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Attributes of one ad request. Every field is optional except the time: a missing attribute
/// never satisfies a rule that constrains it (and always satisfies its negation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdRequest {
    /// Age of the viewer in years, when known.
    #[serde(default)]
    pub age: Option<u8>,
    /// Gender as declared by the viewer or the publisher (free text, compared case-insensitively).
    #[serde(default)]
    pub gender: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: Option<String>,
    /// Region or state (ISO 3166-2 code or name).
    #[serde(default)]
    pub region: Option<String>,
    /// City name.
    #[serde(default)]
    pub city: Option<String>,
    /// BCP 47 language tag of the viewer (only the primary subtag is used, e.g. `fr` of `fr-CA`).
    #[serde(default)]
    pub language: Option<String>,
    /// Device class, e.g. `mobile`, `desktop`, `tablet`, `ctv`.
    #[serde(default)]
    pub device: Option<String>,
    /// Operating system, e.g. `ios`, `android`, `windows`.
    #[serde(default)]
    pub os: Option<String>,
    /// Interest categories of the viewer.
    #[serde(default)]
    pub interests: Vec<String>,
    /// Keywords of the page or search the ad is shown on.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// When the request was made.
    pub timestamp: DateTime<Utc>,
    /// IANA time zone of the viewer (e.g. `Europe/Paris`); time-of-day and day-of-week rules are
    /// evaluated in it.
    pub time_zone: Tz,
    /// Free key-value attributes supplied by the publisher.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl AdRequest {
    /// A request with only a time and time zone set; fill the other fields as needed.
    pub fn at(timestamp: DateTime<Utc>, time_zone: Tz) -> Self {
        AdRequest {
            age: None,
            gender: None,
            country: None,
            region: None,
            city: None,
            language: None,
            device: None,
            os: None,
            interests: Vec::new(),
            keywords: Vec::new(),
            timestamp,
            time_zone,
            attributes: BTreeMap::new(),
        }
    }
}

/// Lower-cases and trims a free-text attribute value so rules and requests compare equal.
pub(crate) fn normalize_value(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Upper-cases a country code.
pub(crate) fn normalize_country(value: &str) -> String {
    value.trim().to_uppercase()
}

/// Keeps only the primary subtag of a BCP 47 language tag, lower-cased (`fr-CA` -> `fr`).
pub(crate) fn normalize_language(value: &str) -> String {
    let primary = value.trim().split(['-', '_']).next().unwrap_or("");
    primary.to_lowercase()
}

/// A request with normalised strings and its local time resolved, ready for rule evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub(crate) age: Option<u8>,
    pub(crate) gender: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) language: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) os: Option<String>,
    pub(crate) interests: Vec<String>,
    pub(crate) keywords: Vec<String>,
    /// Minutes since local midnight.
    pub(crate) minute_of_day: u16,
    pub(crate) weekday: Weekday,
    pub(crate) attributes: BTreeMap<String, String>,
}

impl PreparedRequest {
    /// Normalises `request` and converts its timestamp to local time.
    pub fn new(request: &AdRequest) -> Self {
        let local = request.timestamp.with_timezone(&request.time_zone);
        let mut interests: Vec<String> = request
            .interests
            .iter()
            .map(|s| normalize_value(s))
            .collect();
        interests.sort_unstable();
        interests.dedup();
        let mut keywords: Vec<String> = request
            .keywords
            .iter()
            .map(|s| normalize_value(s))
            .collect();
        keywords.sort_unstable();
        keywords.dedup();
        PreparedRequest {
            age: request.age,
            gender: request.gender.as_deref().map(normalize_value),
            country: request.country.as_deref().map(normalize_country),
            region: request.region.as_deref().map(normalize_value),
            city: request.city.as_deref().map(normalize_value),
            language: request.language.as_deref().map(normalize_language),
            device: request.device.as_deref().map(normalize_value),
            os: request.os.as_deref().map(normalize_value),
            interests,
            keywords,
            minute_of_day: (local.hour() * 60 + local.minute()) as u16,
            weekday: local.weekday(),
            attributes: request
                .attributes
                .iter()
                .map(|(k, v)| (normalize_value(k), normalize_value(v)))
                .collect(),
        }
    }

    /// Local hour of day (0..24) in the request's time zone.
    pub fn local_hour(&self) -> u8 {
        (self.minute_of_day / 60) as u8
    }

    /// Local day of week in the request's time zone.
    pub fn weekday(&self) -> Weekday {
        self.weekday
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn local_time_uses_the_request_time_zone() {
        // 2026-03-01 was a Sunday; 23:30 UTC is 00:30 Monday in Paris (UTC+1 in winter).
        let ts = Utc.with_ymd_and_hms(2026, 3, 1, 23, 30, 0).unwrap();
        let prepared = PreparedRequest::new(&AdRequest::at(ts, chrono_tz::Europe::Paris));
        assert_eq!(prepared.local_hour(), 0);
        assert_eq!(prepared.weekday(), Weekday::Mon);
        let in_ny = PreparedRequest::new(&AdRequest::at(ts, chrono_tz::America::New_York));
        assert_eq!(in_ny.local_hour(), 18);
        assert_eq!(in_ny.weekday(), Weekday::Sun);
    }

    #[test]
    fn deserializes_from_json() {
        let req: AdRequest = serde_json::from_str(
            r#"{"age": 31, "country": "fr", "language": "fr-FR", "interests": ["Cycling"],
                "timestamp": "2026-03-07T18:15:00Z", "time_zone": "Europe/Paris",
                "attributes": {"plan": "pro"}}"#,
        )
        .unwrap();
        assert_eq!(req.time_zone, chrono_tz::Europe::Paris);
        let prepared = PreparedRequest::new(&req);
        assert_eq!(prepared.local_hour(), 19);
        assert_eq!(prepared.weekday(), Weekday::Sat);
        assert!(serde_json::from_str::<AdRequest>(
            r#"{"timestamp": "2026-03-07T18:15:00Z", "time_zone": "Mars/Olympus"}"#
        )
        .is_err());
    }

    #[test]
    fn strings_are_normalised() {
        let ts = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let mut req = AdRequest::at(ts, chrono_tz::UTC);
        req.country = Some(" fr ".into());
        req.language = Some("fr-CA".into());
        req.interests = vec!["Cycling".into(), "cycling".into()];
        let prepared = PreparedRequest::new(&req);
        assert_eq!(prepared.country.as_deref(), Some("FR"));
        assert_eq!(prepared.language.as_deref(), Some("fr"));
        assert_eq!(prepared.interests, vec!["cycling".to_string()]);
    }
}
