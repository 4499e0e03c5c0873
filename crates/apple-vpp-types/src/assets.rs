//! `GET assets`: its query, response and records.

use serde::{Deserialize, Serialize};

use crate::common::{AdamId, Common, PageInfo, default_pricing_param};

/// An asset with its counts, as in Get Assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseAsset {
    /// Product id.
    pub adam_id: AdamId,
    /// `STDQ` or `PLUS`.
    #[serde(default = "default_pricing_param")]
    pub pricing_param: String,
    /// `App` or `Book`.
    #[serde(default)]
    pub product_type: String,
    /// Licenses assigned.
    #[serde(default)]
    pub assigned_count: i64,
    /// Licenses available.
    #[serde(default)]
    pub available_count: i64,
    /// Licenses retired.
    #[serde(default)]
    pub retired_count: i64,
    /// Licenses in total.
    #[serde(default)]
    pub total_count: i64,
    /// Whether the asset can be assigned to a device serial number.
    #[serde(default)]
    pub device_assignable: bool,
    /// Whether the asset can be revoked.
    #[serde(default)]
    pub revocable: bool,
    /// Platforms the asset supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_platforms: Vec<String>,
}

/// `GET assets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetAssetsResponse {
    /// The assets on this page.
    #[serde(default)]
    pub assets: Vec<ResponseAsset>,
    /// Page fields.
    #[serde(flatten)]
    pub page: PageInfo,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Query of `GET assets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssetsQuery {
    /// Page to read (zero-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_index: Option<u32>,
    /// Only this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_id: Option<String>,
    /// `App` or `Book`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// `STDQ` or `PLUS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_param: Option<String>,
    /// Only revocable (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<bool>,
    /// Only device-assignable (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assignable: Option<bool>,
    /// Inclusive lower bound of `availableCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available_count: Option<i64>,
    /// Inclusive upper bound of `availableCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_available_count: Option<i64>,
    /// Inclusive lower bound of `assignedCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_assigned_count: Option<i64>,
    /// Inclusive upper bound of `assignedCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_assigned_count: Option<i64>,
}
