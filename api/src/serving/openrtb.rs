//! OpenRTB Native 1.2 response markup (the `adm` of a served creative).

use super::request::ServeResponse;

/// OpenRTB Native 1.2 response markup for a served creative.
pub fn native_markup(served: &ServeResponse) -> String {
    let mut assets = vec![
        serde_json::json!({"id": 1, "required": 1, "title": {"text": served.headline, "len": served.headline.chars().count()}}),
        serde_json::json!({"id": 3, "required": 0, "data": {"type": 2, "value": served.body, "len": served.body.chars().count()}}),
        serde_json::json!({"id": 4, "required": 0, "data": {"type": 12, "value": served.cta, "len": served.cta.chars().count()}}),
    ];
    if let Some(disclaimer) = &served.disclaimer {
        // Data type 10 (`desc2`): additional descriptive text.
        assets.push(serde_json::json!({"id": 5, "required": 0, "data": {"type": 10, "value": disclaimer, "len": disclaimer.chars().count()}}));
    }
    if let Some(image) = &served.image {
        assets.push(serde_json::json!({"id": 2, "required": 0, "img": {"type": 3, "url": image.url, "w": image.w, "h": image.h}}));
    }
    serde_json::json!({
        "native": {
            "ver": "1.2",
            "assets": assets,
            "link": {"url": served.click_url},
            "eventtrackers": [{"event": 1, "method": 1, "url": served.impression_url}],
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_links_the_click_and_tracks_the_impression() {
        let served = ServeResponse {
            creative_id: "cr".into(),
            segment_id: None,
            headline: "Héllo".into(),
            body: "Body".into(),
            cta: "Buy".into(),
            disclaimer: None,
            image: None,
            impression_url: "https://x/e/i".into(),
            click_url: "https://x/e/c".into(),
            adm: None,
        };
        let markup: serde_json::Value = serde_json::from_str(&native_markup(&served)).unwrap();
        assert_eq!(markup["native"]["link"]["url"], "https://x/e/c");
        assert_eq!(markup["native"]["eventtrackers"][0]["url"], "https://x/e/i");
        assert_eq!(markup["native"]["assets"][0]["title"]["len"], 5);
        assert_eq!(markup["native"]["assets"].as_array().map(Vec::len), Some(3));
    }
}
