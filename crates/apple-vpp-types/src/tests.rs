use super::*;

#[test]
fn adam_id_accepts_strings_and_numbers() {
    let a: Asset =
        serde_json::from_str(r#"{"adamId": 408709785, "pricingParam": "STDQ"}"#).unwrap();
    let b: Asset =
        serde_json::from_str(r#"{"adamId": "408709785", "pricingParam": "STDQ"}"#).unwrap();
    assert_eq!(a, b);
    assert_eq!(serde_json::to_value(&a).unwrap()["adamId"], "408709785");
}

#[test]
fn apple_dates_parse_without_a_colon_in_the_offset() {
    let d = parse_apple_date("2023-09-26T08:30:39+0000").unwrap();
    assert_eq!(d.to_rfc3339(), "2023-09-26T08:30:39+00:00");
    assert_eq!(format_apple_date(d), "2023-09-26T08:30:39+0000");
    assert!(parse_apple_date("yesterday").is_none());
}

#[test]
fn client_config_debug_redacts_the_notification_secret() {
    let r = ClientConfigResponse {
        notification_auth_token: Some("hunter2-secret".into()),
        ..Default::default()
    };
    assert!(!format!("{r:?}").contains("hunter2"));
    let q = ClientConfigRequest {
        notification_auth_token: Some("hunter2-secret".into()),
        ..Default::default()
    };
    assert!(!format!("{q:?}").contains("hunter2"));
}

#[test]
fn conformance_client_config_response_parses() {
    let body =
        include_str!("../../../fixtures/conformance/server_token_client_config_response.json");
    let r: ClientConfigResponse = serde_json::from_str(body).unwrap();
    assert_eq!(r.common.u_id.as_deref(), Some("981060278089131045"));
    assert_eq!(r.country_iso2a_code, "DE");
    assert_eq!(r.website_url, "https://business.apple.com");
    assert_eq!(
        r.subscribed_notification_types,
        ["ASSET_COUNT", "ASSET_MANAGEMENT"]
    );
    assert_eq!(r.common.mdm_info.as_ref().unwrap().name, "Zentral");
    let exp = parse_apple_date(r.common.token_expiration_date.as_deref().unwrap()).unwrap();
    assert_eq!(exp.to_rfc3339(), "2023-09-26T08:30:39+00:00");
}
