//! What every endpoint shares: [`AdamId`], [`Asset`], [`MdmInfo`], the [`Common`] response
//! fields, the [`PageInfo`] of paginated reads, and the error body ([`ErrorResponse`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An App Store product id. Apple sends it as a string almost everywhere and as a number in some
/// payloads (subscriptions); it is always held as a string.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct AdamId(pub String);

impl AdamId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AdamId {
    fn from(s: &str) -> Self {
        AdamId(s.to_owned())
    }
}

impl From<String> for AdamId {
    fn from(s: String) -> Self {
        AdamId(s)
    }
}

impl<'de> Deserialize<'de> for AdamId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            U(u64),
            I(i64),
        }
        Ok(AdamId(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::U(n) => n.to_string(),
            Raw::I(n) => n.to_string(),
        }))
    }
}

/// The MDM that manages a location, as set through Client Config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MdmInfo {
    /// The identifier the MDM uses for the organisation.
    #[serde(default)]
    pub id: String,
    /// The MDM's name.
    #[serde(default)]
    pub name: String,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: String,
}

/// Fields Apple adds to (almost) every authenticated response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// The library (location) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    /// Token expiry, present at least within the warning period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The managing MDM, once one has set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
}

/// Pagination fields of the paginated reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Zero-based index of this page.
    #[serde(default)]
    pub current_page_index: u32,
    /// Present while more pages remain; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_index: Option<u32>,
    /// Records on this page.
    #[serde(default)]
    pub size: u32,
    /// Pages in the whole result (may change during a traversal).
    #[serde(default)]
    pub total_pages: u32,
    /// The state of the whole dataset; changes on every mutation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// One entry of Service Config's `errorCodes`, and the body of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Apple's error number (9xxx).
    pub error_number: i32,
    /// Apple's message.
    #[serde(default)]
    pub error_message: String,
    /// The entities the error concerns, when Apple says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<ResponseErrorInfo>,
}

/// The entities an error concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseErrorInfo {
    /// Assets concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<Asset>,
    /// User ids concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Serial numbers concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// An asset: the pair (adamId, pricingParam).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// Product id.
    pub adam_id: AdamId,
    /// `STDQ` (standard quality) or `PLUS` (high quality).
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
}

/// Apple's default pricing parameter, used when a payload leaves it out.
pub fn default_pricing_param() -> String {
    "STDQ".to_owned()
}
