//! The sending half of [`AppleClient`]: URLs, the bounded retry loop, one attempt (limiter,
//! request, classification, ownership check, decoding), and the observer of each attempt.
//! Never logs a request, a body or a header.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use reqwest::{Method, Url};
use serde::Deserialize as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AppleClient, lock};
use crate::error::AppleError;
use crate::response::{classify, excerpt};
use crate::retry::parse_retry_after;
use crate::types::{Common, parse_apple_date};

/// A request body serialised afresh for every attempt.
type BodyFn<'a> = &'a (dyn Fn() -> Result<Vec<u8>, serde_json::Error> + Sync);

/// One call, as every attempt sends it.
pub(super) struct Call<'a> {
    endpoint: &'static str,
    method: Method,
    url: Url,
    body: Option<BodyFn<'a>>,
    /// Whether to send the content token (Service Config does not need it).
    auth: bool,
    /// A secret inside the body, scrubbed from errors.
    secret: Option<&'a str>,
}

impl Call<'_> {
    pub(super) fn get(endpoint: &'static str, url: Url, auth: bool) -> Self {
        Call {
            endpoint,
            method: Method::GET,
            url,
            body: None,
            auth,
            secret: None,
        }
    }
}

impl AppleClient {
    pub(super) fn url<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: Option<&Q>,
    ) -> Result<Url, AppleError> {
        let url = self
            .inner
            .base
            .join(path)
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot build the URL of {path}: {e}"),
            })?;
        let Some(q) = query else { return Ok(url) };
        // reqwest's own query encoder (serde_urlencoded); building does not send anything.
        self.inner
            .http
            .get(url)
            .query(q)
            .build()
            .map(|r| r.url().clone())
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot encode the query of {path}: {e}"),
            })
    }

    pub(super) async fn get<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        query: Option<&Q>,
    ) -> Result<T, AppleError> {
        let url = self.url(endpoint, query)?;
        self.send(Call::get(endpoint, url, true)).await
    }

    pub(super) async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &B,
    ) -> Result<T, AppleError> {
        self.post_with_secret(endpoint, body, None).await
    }

    pub(super) async fn post_with_secret<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &B,
        secret: Option<&str>,
    ) -> Result<T, AppleError> {
        let url = self.url(endpoint, None::<&()>)?;
        let body_fn = || serde_json::to_vec(body);
        let call = Call {
            endpoint,
            method: Method::POST,
            url,
            body: Some(&body_fn),
            auth: true,
            secret,
        };
        self.send(call).await
    }

    /// The bounded retry loop: one rate-limited attempt per turn, at most `max_attempts`.
    pub(super) async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, AppleError> {
        let endpoint = call.endpoint;
        let policy = self.inner.policy;
        let mut backoff = policy.backoff();
        let mut attempt = 1;
        loop {
            let result = self.attempt::<T>(&call, attempt).await;
            let outcome = outcome_label(&result);
            self.count(endpoint, outcome, attempt > 1);
            let error = match result {
                Ok(v) if attempt > 1 => {
                    tracing::info!(location = %self.location, endpoint, attempt, "apple call succeeded after retries");
                    return Ok(v);
                }
                Ok(v) => {
                    tracing::debug!(location = %self.location, endpoint, attempt, "apple call succeeded");
                    return Ok(v);
                }
                Err(e) => e,
            };
            let delay = if attempt < policy.max_attempts {
                policy.delay_after(&error, &mut backoff)
            } else {
                None
            };
            let Some(delay) = delay else {
                tracing::warn!(
                    location = %self.location,
                    endpoint,
                    attempt,
                    error_number = error.error_number(),
                    outcome,
                    error = %error,
                    "apple call failed"
                );
                return Err(error);
            };
            tracing::info!(
                location = %self.location,
                endpoint,
                attempt,
                error_number = error.error_number(),
                outcome,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "apple call will be retried"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt: wait for the limiter, send, classify, check ownership, decode.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        attempt: u32,
    ) -> Result<T, AppleError> {
        let endpoint = call.endpoint;
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone());
        if call.auth {
            req = req.bearer_auth(self.inner.token.bearer());
        }
        if let Some(body_fn) = call.body {
            let bytes = body_fn().map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot serialise the {endpoint} request: {e}"),
            })?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        self.inner.shared.limiter.acquire().await;
        self.inner.shared.sent.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(location = %self.location, endpoint, attempt, "sending apple request");
        let response = req.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = read_capped(response, self.inner.max_response_bytes).await?;
        let secrets = [self.inner.token.bearer(), call.secret.unwrap_or_default()];
        let value = classify(status, retry_after, &bytes, &secrets)?;
        let common = Common::deserialize(&value).unwrap_or_default();
        self.check_common(&common)?;
        T::deserialize(value).map_err(|e| AppleError::Unexpected {
            status,
            body_excerpt: format!(
                "cannot read the {endpoint} response ({e}): {}",
                excerpt(&bytes, &secrets)
            ),
        })
    }

    fn check_common(&self, common: &Common) -> Result<(), AppleError> {
        if let Some(exp) = common
            .token_expiration_date
            .as_deref()
            .and_then(parse_apple_date)
        {
            *lock(&self.inner.token_expiration) = Some(exp);
        }
        if let (Some(ours), Some(theirs)) = (&self.inner.mdm_id, &common.mdm_info) {
            if !theirs.id.is_empty() && theirs.id != *ours {
                return Err(AppleError::OwnershipConflict {
                    ours: ours.clone(),
                    theirs: theirs.clone(),
                });
            }
        }
        Ok(())
    }

    fn count(&self, endpoint: &str, outcome: &str, retry: bool) {
        if let Some(o) = &self.observer {
            o.attempt(&self.location, endpoint, outcome, retry);
        }
    }
}

/// Reads a response body of at most `cap` bytes: a larger one (by its `Content-Length` or as it
/// streams in) is an error, so a misbehaving server cannot fill the memory.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, AppleError> {
    let status = response.status().as_u16();
    let too_large = |size: String| AppleError::Unexpected {
        status,
        body_excerpt: format!(
            "the response body is {size} bytes, more than the {cap} this client reads (max_response_bytes)"
        ),
    };
    if let Some(len) = response.content_length() {
        if len > cap as u64 {
            return Err(too_large(len.to_string()));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > cap {
            return Err(too_large(format!("over {}", body.len() + chunk.len())));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Timeouts and connection failures are transient: the same call may succeed later.
fn transport_error(e: reqwest::Error) -> AppleError {
    let detail = if e.is_timeout() {
        "the request timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    // The chain names the cause (reset, refused, ...); it never holds the headers.
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    AppleError::Transient {
        detail: format!("{detail}{chain}"),
        retry_after: None,
    }
}

/// The metrics/log label of an attempt's outcome.
fn outcome_label<T>(r: &Result<T, AppleError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(AppleError::RateLimited { .. }) => "rate_limited",
        Err(AppleError::Transient { .. }) => "transient",
        Err(
            AppleError::TokenExpired | AppleError::TokenRevoked | AppleError::TokenInvalid { .. },
        ) => "auth",
        Err(AppleError::Permission { .. }) => "permission",
        Err(AppleError::Validation { .. }) => "validation",
        Err(AppleError::OwnershipConflict { .. }) => "ownership_conflict",
        Err(AppleError::Unexpected { .. }) => "unexpected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::OUTCOMES;

    #[test]
    fn every_outcome_label_is_listed() {
        let errors = [
            AppleError::RateLimited { retry_after: None },
            AppleError::Transient {
                detail: String::new(),
                retry_after: None,
            },
            AppleError::TokenExpired,
            AppleError::TokenRevoked,
            AppleError::Permission {
                error_number: None,
                message: String::new(),
            },
            AppleError::OwnershipConflict {
                ours: String::new(),
                theirs: Default::default(),
            },
            AppleError::Unexpected {
                status: 0,
                body_excerpt: String::new(),
            },
        ];
        let mut labels = vec![outcome_label(&Ok::<(), AppleError>(()))];
        labels.extend(errors.into_iter().map(|e| outcome_label(&Err::<(), _>(e))));
        for l in labels {
            assert!(OUTCOMES.contains(&l), "{l} is not in OUTCOMES");
        }
    }
}
