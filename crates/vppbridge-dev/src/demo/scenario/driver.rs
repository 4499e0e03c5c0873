//! How the demo acts as the MDM and as Apple's users: it polls an event's status the way an MDM
//! does, and drives the simulator's admin API (purchases, faults) the way Apple's portal would.

use anyhow::Context as _;
use tokio::time::Instant;

use super::{Ctx, STATUS_POLL, STEP_DEADLINE};
use apple_vpp::types::EventStatus;
use vppbridge_sim::Faults;

impl Ctx<'_> {
    /// Waits until Apple reports the event done (the way an MDM polls `GET status`).
    pub(super) async fn wait_event(&self, event_id: &str) -> anyhow::Result<EventStatus> {
        let until = Instant::now() + STEP_DEADLINE;
        loop {
            let status = self
                .env
                .driver
                .event_status(event_id)
                .await
                .with_context(|| format!("GET status of event {event_id}"))?;
            if status.event_status != EventStatus::Pending {
                return Ok(status.event_status);
            }
            anyhow::ensure!(
                Instant::now() < until,
                "event {event_id} still PENDING after {} s",
                STEP_DEADLINE.as_secs()
            );
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    pub(super) async fn admin_post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.env.admin_url);
        let r = self
            .env
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        anyhow::ensure!(r.status().is_success(), "POST {url}: HTTP {}", r.status());
        Ok(())
    }

    pub(super) async fn set_faults(&self, faults: &Faults) -> anyhow::Result<()> {
        let url = format!("{}faults", self.env.admin_url);
        let r = self
            .env
            .http
            .put(&url)
            .json(faults)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        anyhow::ensure!(r.status().is_success(), "PUT {url}: HTTP {}", r.status());
        Ok(())
    }
}
