//! Reading a rule from its JSON form: one node at a time, each value normalised and checked,
//! every error carrying the path of the node it is about (`rules.all[2].age.min`). Once the tree
//! is read, [`super::contradictions`] rejects conjunctions that can never match.

use chrono::Weekday;
use serde_json::Value;

use super::contradictions::check_contradictions;
use super::{AgeRange, AttributeMatch, Rule, RuleError, TimeWindow, MAX_AGE};
use crate::request::{normalize_country, normalize_language, normalize_value};

impl TryFrom<Value> for Rule {
    type Error = RuleError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Rule::from_json(&value)
    }
}

impl Rule {
    /// Parses and validates a rule from its JSON form; errors carry the path from `rules`.
    pub fn from_json(value: &Value) -> Result<Rule, RuleError> {
        let rule = parse_node(value, "rules")?;
        check_contradictions(&rule, "rules")?;
        Ok(rule)
    }

    /// Parses and validates a rule from JSON text.
    pub fn from_json_str(text: &str) -> Result<Rule, RuleError> {
        let value: Value = serde_json::from_str(text).map_err(|e| RuleError::Invalid {
            path: "rules".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        Rule::from_json(&value)
    }
}

fn invalid(path: &str, message: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

fn parse_node(value: &Value, path: &str) -> Result<Rule, RuleError> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid(path, "a rule is a JSON object with one attribute"))?;
    let mut entries = object.iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(invalid(path, "a rule needs one attribute, found none")),
        (Some(_), Some(_)) => {
            let names: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(invalid(
                path,
                format!(
                    "a rule has exactly one attribute, found {} (wrap them in `all`)",
                    names.join(", ")
                ),
            ));
        }
    };
    let path = format!("{path}.{name}");
    let path = path.as_str();
    match name.as_str() {
        "all" | "any" => {
            let items = body
                .as_array()
                .ok_or_else(|| invalid(path, "expected a list of rules"))?;
            if items.is_empty() {
                return Err(invalid(path, "empty list of rules"));
            }
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_node(item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "all" {
                Rule::All(children)
            } else {
                Rule::Any(children)
            })
        }
        "not" => Ok(Rule::Not(Box::new(parse_node(body, path)?))),
        "age" => parse_age(body, path).map(Rule::Age),
        "gender" => parse_strings(body, path, normalize_value).map(Rule::Gender),
        "country" => {
            let codes = parse_strings(body, path, normalize_country)?;
            for (i, code) in codes.iter().enumerate() {
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(invalid(
                        &format!("{path}[{i}]"),
                        format!("`{code}` is not an ISO 3166-1 alpha-2 country code"),
                    ));
                }
            }
            Ok(Rule::Country(codes))
        }
        "region" => parse_strings(body, path, normalize_value).map(Rule::Region),
        "city" => parse_strings(body, path, normalize_value).map(Rule::City),
        "language" => parse_strings(body, path, normalize_language).map(Rule::Language),
        "device" => parse_strings(body, path, normalize_value).map(Rule::Device),
        "os" => parse_strings(body, path, normalize_value).map(Rule::Os),
        "interests" => parse_strings(body, path, normalize_value).map(Rule::Interests),
        "keywords" => parse_strings(body, path, normalize_value).map(Rule::Keywords),
        "time_of_day" => parse_time_window(body, path).map(Rule::TimeOfDay),
        "day_of_week" => parse_days(body, path).map(Rule::DayOfWeek),
        "attribute" => parse_attribute(body, path).map(Rule::Attribute),
        other => Err(RuleError::UnknownAttribute {
            path: path.to_string(),
            name: other.to_string(),
        }),
    }
}

fn parse_strings(
    body: &Value,
    path: &str,
    normalize: fn(&str) -> String,
) -> Result<Vec<String>, RuleError> {
    let items = body
        .as_array()
        .ok_or_else(|| invalid(path, "expected a list of strings"))?;
    if items.is_empty() {
        return Err(invalid(path, "empty list of values"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let s = item
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}[{i}]"), "expected a string"))?;
        let normalized = normalize(s);
        if normalized.is_empty() {
            return Err(invalid(&format!("{path}[{i}]"), "empty value"));
        }
        out.push(normalized);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_age(body: &Value, path: &str) -> Result<AgeRange, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"min\": years, \"max\": years}"))?;
    let mut range = AgeRange {
        min: None,
        max: None,
    };
    for (key, value) in object {
        let field_path = format!("{path}.{key}");
        let years = value
            .as_u64()
            .filter(|y| *y <= u64::from(MAX_AGE))
            .ok_or_else(|| {
                invalid(
                    &field_path,
                    format!("expected a whole number of years from 0 to {MAX_AGE}"),
                )
            })? as u8;
        match key.as_str() {
            "min" => range.min = Some(years),
            "max" => range.max = Some(years),
            other => {
                return Err(RuleError::UnknownAttribute {
                    path: field_path,
                    name: other.to_string(),
                })
            }
        }
    }
    match (range.min, range.max) {
        (None, None) => Err(invalid(path, "an age range needs `min`, `max` or both")),
        (Some(min), Some(max)) if min > max => Err(RuleError::EmptyRange {
            path: format!("{path}.min"),
            message: format!("min {min} is above max {max}"),
        }),
        _ => Ok(range),
    }
}

fn parse_clock(value: &Value, path: &str, allow_24: bool) -> Result<u16, RuleError> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(path, "expected a time as \"HH:MM\""))?;
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        (m < 60 && (h < 24 || (allow_24 && h == 24 && m == 0))).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| invalid(path, format!("`{text}` is not a time \"HH:MM\"")))
}

fn parse_time_window(body: &Value, path: &str) -> Result<TimeWindow, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"from\": \"HH:MM\", \"to\": \"HH:MM\"}"))?;
    for key in object.keys() {
        if key != "from" && key != "to" {
            return Err(RuleError::UnknownAttribute {
                path: format!("{path}.{key}"),
                name: key.clone(),
            });
        }
    }
    let field = |name: &str| {
        object
            .get(name)
            .ok_or_else(|| invalid(path, format!("missing `{name}`")))
    };
    let from = parse_clock(field("from")?, &format!("{path}.from"), false)?;
    let to = parse_clock(field("to")?, &format!("{path}.to"), true)?;
    if from == to {
        return Err(RuleError::EmptyRange {
            path: format!("{path}.to"),
            message: "`from` and `to` are the same time".into(),
        });
    }
    // `to` may be 24:00 (1440), so "00:00" to "24:00" is the whole day.
    Ok(TimeWindow { from, to })
}

fn parse_days(body: &Value, path: &str) -> Result<Vec<Weekday>, RuleError> {
    let items = body
        .as_array()
        .ok_or_else(|| invalid(path, "expected a list of days such as \"mon\""))?;
    if items.is_empty() {
        return Err(invalid(path, "empty list of days"));
    }
    let mut days = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let day = item
            .as_str()
            .and_then(|s| s.trim().parse::<Weekday>().ok())
            .ok_or_else(|| invalid(&format!("{path}[{i}]"), "expected a day such as \"mon\""))?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    days.sort_by_key(|d| d.num_days_from_monday());
    Ok(days)
}

fn parse_attribute(body: &Value, path: &str) -> Result<AttributeMatch, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"key\": name, \"values\": [...]}"))?;
    for key in object.keys() {
        if key != "key" && key != "values" {
            return Err(RuleError::UnknownAttribute {
                path: format!("{path}.{key}"),
                name: key.clone(),
            });
        }
    }
    let key = object
        .get("key")
        .and_then(Value::as_str)
        .map(normalize_value)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid(&format!("{path}.key"), "expected a non-empty string"))?;
    let values = object
        .get("values")
        .ok_or_else(|| invalid(path, "missing `values`"))?;
    let values = parse_strings(values, &format!("{path}.values"), normalize_value)?;
    Ok(AttributeMatch { key, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(rule: Value) -> RuleError {
        Rule::from_json(&rule).expect_err("rule should be rejected")
    }

    #[test]
    fn unknown_attribute_has_its_path() {
        let e = error(json!({"all": [{"country": ["FR"]}, {"any": [{"shoe_size": [42]}]}]}));
        assert!(matches!(e, RuleError::UnknownAttribute { .. }), "{e}");
        assert_eq!(e.path(), "rules.all[1].any[0].shoe_size");
        let e = error(json!({"age": {"min": 3, "maximum": 9}}));
        assert_eq!(e.path(), "rules.age.maximum");
    }

    #[test]
    fn empty_ranges_are_errors() {
        let e = error(
            json!({"all": [{"os": ["ios"]}, {"os": ["ios"]}, {"age": {"min": 40, "max": 30}}]}),
        );
        assert!(matches!(e, RuleError::EmptyRange { .. }), "{e}");
        assert_eq!(e.path(), "rules.all[2].age.min");
        let e = error(json!({"time_of_day": {"from": "10:00", "to": "10:00"}}));
        assert!(matches!(e, RuleError::EmptyRange { .. }), "{e}");
        assert_eq!(e.path(), "rules.time_of_day.to");
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(error(json!({"country": []})).path(), "rules.country");
        assert_eq!(
            error(json!({"country": ["France"]})).path(),
            "rules.country[0]"
        );
        assert_eq!(error(json!({"age": {"min": 200}})).path(), "rules.age.min");
        assert_eq!(
            error(json!({"time_of_day": {"from": "25:00", "to": "26:00"}})).path(),
            "rules.time_of_day.from"
        );
        assert_eq!(
            error(json!({"day_of_week": ["funday"]})).path(),
            "rules.day_of_week[0]"
        );
        assert_eq!(error(json!({"all": []})).path(), "rules.all");
        assert_eq!(
            error(json!({"age": {"min": 1}, "os": ["ios"]})).path(),
            "rules"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let text = r#"{"all":[{"age":{"min":18,"max":34}},{"country":["fr"]},
            {"time_of_day":{"from":"18:00","to":"23:30"}},{"day_of_week":["sat","sun"]}]}"#;
        let rule: Rule = serde_json::from_str(text).unwrap();
        let back: Rule = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(rule, back);
        assert!(serde_json::from_str::<Rule>(r#"{"colour":["red"]}"#).is_err());
    }
}
