//! The simulator in-process on port 0, seeded for the scenarios, and its truth.

use std::time::Duration;

use serde_json::{Value, json};
use vppbridge::config::Config;
use vppbridge_sim::{Faults, SeedSpec, SimConfig, SimHandle, SimLocation, Simulator};

use super::{Note, associate_note};

/// Devices seeded (`SIM000000001`...).
const DEVICES: usize = 300;

/// The simulator seeded for a scenario, and its one location.
pub struct Apple {
    /// The running simulator.
    pub sim: SimHandle,
    /// Its seeded location.
    pub location: SimLocation,
}

/// Starts the simulator in-process on port 0 with short delays: one location of 10 assets
/// (8 Apps, 2 Books) and 300 devices, half of the (App × device) pairs assigned.
pub async fn apple(faults: Faults) -> Apple {
    let config = SimConfig {
        allow_http_notifications: true,
        event_delay: Duration::from_millis(50),
        delivery_retry_delays: vec![Duration::from_millis(300), Duration::from_millis(600)],
        notification_timeout: Duration::from_secs(5),
        max_requests_per_second: 50,
        faults,
        seed: SeedSpec {
            assets: 10,
            devices: DEVICES,
            users: 20,
            assigned: 0.5,
            ..SeedSpec::default()
        },
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the simulator");
    let sim = Simulator::start(config, listener)
        .await
        .expect("the simulator starts");
    let location = sim.locations().remove(0);
    Apple { sim, location }
}

impl Apple {
    /// Points `config`'s location at this simulator: its token file and Apple's base URL.
    pub fn configure(&self, config: &mut Config) {
        config.apple.base_url = self.sim.base_url();
        config.apple.retry_base_delay_ms = 20;
        config.apple.retry_max_delay_secs = 1;
        config.apple.max_requests_per_second = 40;
        // Only notifications (and the initial full sync) may bring the view to the truth.
        config.sync.incremental_interval_secs = 0;
        config.sync.full_interval_secs = 0;
        config.worker.coalesce_window_ms = 100;
        config.worker.ack_wait_secs = 5;
        config.worker.backoff_secs = vec![1];
        for loc in &config.locations {
            std::fs::write(&loc.token_file, &self.location.token_text)
                .expect("write the token file");
        }
    }

    /// The simulator's truth for the location (`GET /_sim/locations/{uId}/state`).
    pub async fn truth(&self) -> Value {
        reqwest::get(format!(
            "{}locations/{}/state",
            self.sim.admin_url(),
            self.location.u_id
        ))
        .await
        .expect("the admin API answers")
        .json()
        .await
        .expect("the state is JSON")
    }

    /// `count` ASSET_MANAGEMENT associate notifications, each about one (App, device) pair that
    /// is assigned in the simulator's truth, cycling through the pairs: what Apple would send
    /// if the location's assignments were being made now.
    pub async fn true_associations(&self, count: usize) -> Vec<Note> {
        let truth = self.truth().await;
        let pairs: Vec<(String, String)> = truth["assignments"]
            .as_array()
            .expect("assignments in the state")
            .iter()
            .filter_map(|a| {
                Some((
                    a["adamId"].as_str()?.to_owned(),
                    a["serialNumber"].as_str()?.to_owned(),
                ))
            })
            .collect();
        assert!(!pairs.is_empty(), "the seed assigns some devices");
        (0..count)
            .map(|i| {
                let (adam, serial) = &pairs[i % pairs.len()];
                associate_note(
                    &self.location.u_id,
                    adam,
                    &[serial],
                    &uuid::Uuid::new_v4().to_string(),
                )
            })
            .collect()
    }

    /// Assigns every App to every device at Apple (one associate call, as an MDM would make
    /// it, without a notification URL registered, so the simulator sends nothing), waits until
    /// it is done, and returns `count` ASSET_MANAGEMENT notifications about the new pairs
    /// (cycling through them) carrying the call's `eventId`: what Apple would deliver.
    pub async fn associate_everything(&self, count: usize) -> Vec<Note> {
        let before = self.truth().await;
        let apps: Vec<String> = before["assets"]
            .as_array()
            .expect("assets in the state")
            .iter()
            .filter(|a| a["deviceAssignable"] == true)
            .filter_map(|a| a["adamId"].as_str().map(str::to_owned))
            .collect();
        let assigned: std::collections::BTreeSet<(String, String)> = pairs(&before);
        let serials: Vec<String> = (1..=DEVICES).map(|i| format!("SIM{i:09}")).collect();
        let body = json!({
            "assets": apps.iter().map(|a| json!({"adamId": a, "pricingParam": "STDQ"})).collect::<Vec<_>>(),
            "serialNumbers": serials,
        });
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{}assets/associate", self.sim.base_url()))
            .bearer_auth(&self.location.token_text)
            .json(&body)
            .send()
            .await
            .expect("associate answers")
            .json()
            .await
            .expect("associate answers JSON");
        let event_id = answer["eventId"]
            .as_str()
            .unwrap_or_else(|| panic!("associate gave no eventId: {answer}"))
            .to_owned();
        let expected = apps.len() * serials.len();
        let after = super::eventually(
            Duration::from_secs(20),
            "the associate event done",
            || async {
                let truth = self.truth().await;
                (pairs(&truth).len() == expected).then_some(truth)
            },
        )
        .await;
        let new: Vec<(String, String)> = pairs(&after).difference(&assigned).cloned().collect();
        assert!(!new.is_empty(), "the associate call assigned new pairs");
        (0..count)
            .map(|i| {
                let (adam, serial) = &new[i % new.len()];
                associate_note(&self.location.u_id, adam, &[serial], &event_id)
            })
            .collect()
    }
}

/// The (adamId, serial) device assignments of a truth.
fn pairs(truth: &Value) -> std::collections::BTreeSet<(String, String)> {
    truth["assignments"]
        .as_array()
        .expect("assignments in the state")
        .iter()
        .filter_map(|a| {
            Some((
                a["adamId"].as_str()?.to_owned(),
                a["serialNumber"].as_str()?.to_owned(),
            ))
        })
        .collect()
}
