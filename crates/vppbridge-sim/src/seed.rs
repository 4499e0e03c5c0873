//! Deterministic seeding of locations and minting of content tokens.
//!
//! The same [`SeedSpec`] always yields the same uIds, assets, serials, users and pre-assignments,
//! so tests and benchmarks can name them. Must not depend on the project's token parser
//! (the client's `apple_vpp::token`): the simulator mints tokens from Apple's documented format on its own.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::SeedSpec;
use super::state::{AssetState, Location, Target, UserRec};
use apple_vpp_types::{AdamId, Asset, ResponseUser, format_apple_date};

/// The adamId of seeded asset `i` (0-based).
pub fn adam_id(i: usize) -> String {
    (100_000_000 + i).to_string()
}

/// The serial number of seeded device `i` (0-based): `SIM000000001`...
pub fn serial(i: usize) -> String {
    format!("SIM{:09}", i + 1)
}

/// The clientUserId of seeded user `i` (0-based): `user-000001`...
pub fn user_id(i: usize) -> String {
    format!("user-{:06}", i + 1)
}

/// Mints a `.vpptoken` text: standard Base64 of `{"token","expDate","orgName"}`.
pub fn mint_token(rng: &mut impl Rng, org_name: &str, expires: DateTime<Utc>) -> String {
    let secret: [u8; 32] = rng.random();
    let inner = serde_json::json!({
        "token": base64::engine::general_purpose::STANDARD.encode(secret),
        "expDate": format_apple_date(expires),
        "orgName": org_name,
    });
    base64::engine::general_purpose::STANDARD.encode(inner.to_string())
}

/// A random 32-hex-digit invitation code.
pub(crate) fn invite_code() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A random Apple Account hash (Base64 text, as Apple shows it).
pub(crate) fn id_hash() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 20]>())
}

/// Builds the seeded locations; tokens expire at `expires`.
pub(crate) fn locations(spec: &SeedSpec, expires: DateTime<Utc>) -> Vec<Location> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    (0..spec.locations.max(1))
        .map(|n| location(spec, n, &mut rng, expires))
        .collect()
}

fn location(spec: &SeedSpec, n: usize, rng: &mut StdRng, expires: DateTime<Utc>) -> Location {
    let u_id = rng
        .random_range(100_000_000_000_000_000u64..1_000_000_000_000_000_000)
        .to_string();
    let org = format!("SIMORG{:05}", n + 1);
    let token = mint_token(rng, &org, expires);
    let mut loc = Location::new(
        u_id,
        format!("Simulated Location {}", n + 1),
        token,
        expires,
    );
    let licenses = spec
        .licenses_per_asset
        .unwrap_or((spec.devices + spec.users) as i64)
        .max(0);
    for i in 0..spec.assets {
        let book = (i + 1) % 5 == 0;
        let asset = Asset {
            adam_id: AdamId(adam_id(i)),
            pricing_param: "STDQ".into(),
        };
        loc.assets.insert(
            asset.clone(),
            AssetState {
                product_type: if book { "Book" } else { "App" }.into(),
                device_assignable: !book,
                revocable: !book,
                total: licenses,
                ..AssetState::default()
            },
        );
        if book || spec.assigned <= 0.0 {
            continue;
        }
        for d in 0..spec.devices {
            if rng.random_bool(spec.assigned.min(1.0)) {
                // Err means the licenses ran out: the rest of this asset stays unassigned.
                if loc.assign(&asset, &Target::Serial(serial(d))).is_err() {
                    break;
                }
            }
        }
    }
    for i in 0..spec.users {
        let id = user_id(i);
        let user = ResponseUser {
            client_user_id: id.clone(),
            email: Some(format!("{id}@example.com")),
            id_hash: None,
            invite_code: Some(format!("{:032x}", rng.random::<u128>())),
            status: "Registered".into(),
        };
        loc.users.insert(id, UserRec { user, changed: 0 });
    }
    loc.reset_versions();
    loc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_names_things_as_documented() {
        let spec = SeedSpec {
            assets: 5,
            devices: 10,
            users: 2,
            assigned: 0.5,
            ..SeedSpec::default()
        };
        let expires = Utc::now();
        let a = locations(&spec, expires);
        let b = locations(&spec, expires);
        assert_eq!(a[0].u_id, b[0].u_id);
        assert_eq!(a[0].u_id.len(), 18);
        assert_eq!(a[0].token_text, b[0].token_text);
        assert_eq!(a[0].all_assignments(), b[0].all_assignments());
        assert!(a[0].assignment_count > 0);
        let book = &a[0].assets[&Asset {
            adam_id: AdamId("100000004".into()),
            pricing_param: "STDQ".into(),
        }];
        assert_eq!(book.product_type, "Book");
        assert!(!book.device_assignable && !book.revocable && book.serials.is_empty());
        assert_eq!(serial(0), "SIM000000001");
        assert_eq!(user_id(0), "user-000001");
        assert_eq!(a[0].users["user-000002"].user.status, "Registered");
    }

    #[test]
    fn a_minted_token_decodes_to_apples_three_fields() {
        let mut rng = StdRng::seed_from_u64(7);
        let text = mint_token(&mut rng, "ORG", Utc::now());
        let json = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["orgName"], "ORG");
        assert!(v["token"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(v["expDate"].as_str().unwrap().ends_with("+0000"));
    }
}
