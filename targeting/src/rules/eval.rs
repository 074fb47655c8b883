//! Evaluating a rule against one prepared request, node by node. This is the reference
//! semantics: the segment index compiles rules to a faster form that must agree with it.

use super::Rule;
use crate::request::PreparedRequest;

impl Rule {
    /// Whether the prepared request satisfies the rule.
    pub fn matches(&self, req: &PreparedRequest) -> bool {
        fn in_set(set: &[String], value: &Option<String>) -> bool {
            value.as_ref().is_some_and(|v| set.iter().any(|s| s == v))
        }
        fn any_of(set: &[String], values: &[String]) -> bool {
            set.iter().any(|s| values.binary_search(s).is_ok())
        }
        match self {
            Rule::All(children) => children.iter().all(|c| c.matches(req)),
            Rule::Any(children) => children.iter().any(|c| c.matches(req)),
            Rule::Not(child) => !child.matches(req),
            Rule::Age(range) => req.age.is_some_and(|a| range.contains(a)),
            Rule::Gender(set) => in_set(set, &req.gender),
            Rule::Country(set) => in_set(set, &req.country),
            Rule::Region(set) => in_set(set, &req.region),
            Rule::City(set) => in_set(set, &req.city),
            Rule::Language(set) => in_set(set, &req.language),
            Rule::Device(set) => in_set(set, &req.device),
            Rule::Os(set) => in_set(set, &req.os),
            Rule::Interests(set) => any_of(set, &req.interests),
            Rule::Keywords(set) => any_of(set, &req.keywords),
            Rule::TimeOfDay(window) => window.contains(req.minute_of_day),
            Rule::DayOfWeek(days) => days.contains(&req.weekday),
            Rule::Attribute(m) => req
                .attributes
                .get(&m.key)
                .is_some_and(|v| m.values.iter().any(|s| s == v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::AdRequest;
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    fn request() -> AdRequest {
        // Saturday 2026-03-07 19:15 in Paris (18:15 UTC).
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
        let mut r = AdRequest::at(ts, chrono_tz::Europe::Paris);
        r.age = Some(29);
        r.gender = Some("Female".into());
        r.country = Some("fr".into());
        r.region = Some("IDF".into());
        r.city = Some("Paris".into());
        r.language = Some("fr-FR".into());
        r.device = Some("Mobile".into());
        r.os = Some("iOS".into());
        r.interests = vec!["cycling".into(), "cooking".into()];
        r.keywords = vec!["marathon".into()];
        r.attributes.insert("plan".into(), "Premium".into());
        r
    }

    fn matches(rule: Value) -> bool {
        let rule = Rule::from_json(&rule).expect("valid rule");
        rule.matches(&PreparedRequest::new(&request()))
    }

    #[test]
    fn each_leaf_type_matches_and_misses() {
        let cases = [
            (
                json!({"age": {"min": 25, "max": 34}}),
                json!({"age": {"min": 30}}),
            ),
            (json!({"gender": ["female"]}), json!({"gender": ["male"]})),
            (json!({"country": ["FR", "be"]}), json!({"country": ["DE"]})),
            (json!({"region": ["idf"]}), json!({"region": ["paca"]})),
            (json!({"city": ["paris"]}), json!({"city": ["lyon"]})),
            (json!({"language": ["fr"]}), json!({"language": ["en"]})),
            (
                json!({"device": ["mobile"]}),
                json!({"device": ["desktop"]}),
            ),
            (json!({"os": ["ios"]}), json!({"os": ["android"]})),
            (
                json!({"interests": ["running", "cycling"]}),
                json!({"interests": ["golf"]}),
            ),
            (
                json!({"keywords": ["marathon"]}),
                json!({"keywords": ["ski"]}),
            ),
            (
                json!({"time_of_day": {"from": "19:00", "to": "20:00"}}),
                json!({"time_of_day": {"from": "18:00", "to": "19:00"}}),
            ),
            (
                json!({"day_of_week": ["sat", "sun"]}),
                json!({"day_of_week": ["mon"]}),
            ),
            (
                json!({"attribute": {"key": "plan", "values": ["premium"]}}),
                json!({"attribute": {"key": "plan", "values": ["free"]}}),
            ),
        ];
        for (hit, miss) in cases {
            assert!(matches(hit.clone()), "{hit} should match");
            assert!(!matches(miss.clone()), "{miss} should not match");
        }
    }

    #[test]
    fn time_windows_wrap_past_midnight() {
        let whole_day =
            Rule::from_json(&json!({"time_of_day": {"from": "00:00", "to": "24:00"}})).unwrap();
        let text = serde_json::to_string(&whole_day).unwrap();
        assert_eq!(text, r#"{"time_of_day":{"from":"00:00","to":"24:00"}}"#);
        assert_eq!(Rule::from_json_str(&text).unwrap(), whole_day);
        assert!(matches(
            json!({"time_of_day": {"from": "19:00", "to": "02:00"}})
        ));
        assert!(!matches(
            json!({"time_of_day": {"from": "22:00", "to": "02:00"}})
        ));
        assert!(matches(
            json!({"time_of_day": {"from": "00:00", "to": "24:00"}})
        ));
    }

    #[test]
    fn combinators() {
        assert!(matches(
            json!({"all": [{"country": ["FR"]}, {"age": {"max": 30}}]})
        ));
        assert!(!matches(
            json!({"all": [{"country": ["FR"]}, {"age": {"max": 20}}]})
        ));
        assert!(matches(
            json!({"any": [{"country": ["DE"]}, {"age": {"max": 30}}]})
        ));
        assert!(!matches(
            json!({"any": [{"country": ["DE"]}, {"os": ["android"]}]})
        ));
        assert!(matches(json!({"not": {"device": ["ctv"]}})));
        assert!(!matches(json!({"not": {"device": ["mobile"]}})));
    }

    #[test]
    fn missing_attribute_never_matches_a_leaf() {
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
        let bare = PreparedRequest::new(&AdRequest::at(ts, chrono_tz::UTC));
        let rule = Rule::from_json(&json!({"age": {"min": 0}})).unwrap();
        assert!(!rule.matches(&bare));
        let not = Rule::from_json(&json!({"not": {"country": ["FR"]}})).unwrap();
        assert!(not.matches(&bare));
    }
}
