//! [`Page`]: what the engine and its callers need from one page of any paginated response.

use crate::types::{
    Assignment, Common, GetAssetsResponse, GetAssignmentsResponse, GetUsersResponse, PageInfo,
    ResponseAsset, ResponseUser,
};

/// One page split into what pagination needs.
pub struct Parts<T> {
    /// Records on the page.
    pub items: Vec<T>,
    /// Page fields.
    pub page: PageInfo,
    /// Common fields.
    pub common: Common,
}

/// A paginated response type.
pub trait Page {
    /// The record type.
    type Item;
    /// The page fields (`currentPageIndex`, `nextPageIndex`, `totalPages`, `versionId`).
    fn page(&self) -> &PageInfo;
    /// The common fields (`uId`, `mdmInfo`, `tokenExpirationDate`).
    fn common(&self) -> &Common;
    /// Records on the page.
    fn records(&self) -> usize;
    /// Splits the page.
    fn into_parts(self) -> Parts<Self::Item>;
}

impl Page for GetAssetsResponse {
    type Item = ResponseAsset;
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.assets.len()
    }
    fn into_parts(self) -> Parts<ResponseAsset> {
        Parts {
            items: self.assets,
            page: self.page,
            common: self.common,
        }
    }
}

impl Page for GetAssignmentsResponse {
    type Item = Assignment;
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.assignments.len()
    }
    fn into_parts(self) -> Parts<Assignment> {
        Parts {
            items: self.assignments,
            page: self.page,
            common: self.common,
        }
    }
}

impl Page for GetUsersResponse {
    type Item = ResponseUser;
    fn page(&self) -> &PageInfo {
        &self.page
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn records(&self) -> usize {
        self.users.len()
    }
    fn into_parts(self) -> Parts<ResponseUser> {
        Parts {
            items: self.users,
            page: self.page,
            common: self.common,
        }
    }
}
