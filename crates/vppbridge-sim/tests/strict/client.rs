//! A client written from `shared/apple-api.md` alone, with plain reqwest and JSON values (not
//! the project's `apple-vpp` client nor its types), as strict as zentral's: every URL comes
//! from Service Config (§3: do not hard-code them), every answer is checked against the
//! documented shape, every error against §10's shape and HTTP status, every answer's `uId`,
//! `tokenExpirationDate` and `mdmInfo` (§2, §4.3), and a paginated traversal aborts when the
//! `versionId` changes between pages (§7).
//!
//! A departure from the document panics with what was wrong; what a strict client reports to
//! its caller (an Apple error, "data updated while paging") is a [`Refusal`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::{self, Shape};

/// HTTP status of each synchronous error number (apple-api.md §10.2, 2026 table).
const DOCUMENTED_STATUS: &[(i64, u16)] = &[
    (9601, 401),
    (9602, 400),
    (9603, 500),
    (9609, 400),
    (9621, 401),
    (9623, 400),
    (9625, 401),
    (9634, 410),
    (9637, 403),
    (9646, 429),
    (9647, 403),
    (9650, 400),
    (9700, 400),
    (9701, 400),
    (9702, 400),
    (9703, 400),
    (9704, 400),
    (9705, 400),
    (9706, 400),
    (9707, 400),
    (9708, 400),
    (9710, 400),
    (9711, 400),
    (9712, 400),
    (9713, 400),
    (9714, 400),
    (9715, 400),
    (9717, 400),
    (9718, 400),
    (9719, 400),
    (9720, 400),
    (9721, 400),
    (9722, 401),
    (9723, 400),
    (9724, 400),
    (9725, 400),
    (9726, 405),
    (9727, 415),
    (9728, 400),
    (9729, 503),
];

/// What the strict client refuses to go on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Apple answered an `ErrorResponse` (already checked against §10).
    Apple {
        /// HTTP status.
        status: u16,
        /// `errorNumber`.
        number: i64,
    },
    /// zentral's "data updated while paging": the `versionId` changed within one traversal.
    DataUpdated {
        /// The first page's `versionId`.
        first: String,
        /// The page that differed, and its `versionId`.
        page: i64,
        /// That page's `versionId`.
        now: String,
    },
}

/// Every page of one traversal.
#[derive(Debug)]
pub struct Traversal {
    /// The records of every page, in order.
    pub records: Vec<Value>,
    /// The first page's `versionId`.
    pub version_id: String,
    /// Pages read.
    pub pages: i64,
}

/// The strict client of one location.
pub struct Strict {
    http: reqwest::Client,
    token: String,
    /// `urls` of Service Config.
    pub urls: BTreeMap<String, String>,
    /// `limits` of Service Config.
    pub limits: BTreeMap<String, i64>,
    /// `errorCodes` of Service Config: number → message.
    pub codes: BTreeMap<i64, String>,
    /// The `uId` of the first answer; every later one must carry the same.
    u_id: std::sync::Mutex<Option<String>>,
    /// Our `mdmInfo.id` once we have set it: every later answer must carry it (§4.3).
    mdm_id: std::sync::Mutex<Option<String>>,
}

/// Panics listing `problems`, naming the call.
#[track_caller]
fn refuse_violations(what: &str, body: &Value, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: the answer departs from apple-api.md:\n  {}\nbody: {body}",
        problems.join("\n  ")
    );
}

impl Strict {
    /// Reads Service Config at `service_config_url` (no token, §3) and keeps its urls, limits
    /// and error codes.
    pub async fn connect(service_config_url: &str, token: &str) -> Strict {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        let response = http.get(service_config_url).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "service config: {body}");
        refuse_violations(
            "service/config",
            &body,
            &schema::violations(&body, &schema::SERVICE_CONFIG),
        );
        let mut codes = BTreeMap::new();
        let mut messages = BTreeMap::new();
        for code in body["errorCodes"].as_array().unwrap() {
            let number = code["errorNumber"].as_i64().unwrap();
            let message = code["errorMessage"].as_str().unwrap().to_owned();
            // §10.1: each errorMessage maps to exactly one errorNumber.
            if let Some(other) = messages.insert(message.clone(), number) {
                panic!("errorCodes: {other} and {number} share the message {message:?}");
            }
            assert!(
                codes.insert(number, message).is_none(),
                "errorCodes lists {number} twice"
            );
        }
        let map = |key: &str| body[key].as_object().unwrap().clone();
        Strict {
            http,
            token: token.to_owned(),
            urls: map("urls")
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
                .collect(),
            limits: map("limits")
                .into_iter()
                .map(|(k, v)| (k, v.as_i64().unwrap()))
                .collect(),
            codes,
            u_id: std::sync::Mutex::new(None),
            mdm_id: std::sync::Mutex::new(None),
        }
    }

    /// The Service Config URL of `key` (`getAssets`, `associateAssets`, ...).
    #[track_caller]
    pub fn url(&self, key: &str) -> String {
        self.urls
            .get(key)
            .unwrap_or_else(|| panic!("Service Config has no url {key:?}: {:?}", self.urls))
            .clone()
    }

    /// The Service Config limit `key`.
    #[track_caller]
    pub fn limit(&self, key: &str) -> usize {
        let n = self
            .limits
            .get(key)
            .unwrap_or_else(|| panic!("Service Config has no limit {key:?}"));
        usize::try_from(*n).unwrap()
    }

    /// From now on every answer must carry `mdmInfo.id == id`.
    pub fn expect_mdm_id(&self, id: &str) {
        *self.mdm_id.lock().unwrap() = Some(id.to_owned());
    }

    /// Sends `request` with the token and checks the answer: an `ErrorResponse` (whatever the
    /// HTTP status, §10.1) must have §10's shape and status; anything else must be `shape`
    /// with this location's common fields.
    pub async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        shape: &Shape,
    ) -> Result<Value, Refusal> {
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        self.answer(what, response, shape).await
    }

    /// Checks one answer (see [`send`](Self::send)).
    pub async fn answer(
        &self,
        what: &str,
        response: reqwest::Response,
        shape: &Shape,
    ) -> Result<Value, Refusal> {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: HTTP {status}, body is not JSON ({e}): {text}"));
        let number = body.get("errorNumber").and_then(Value::as_i64);
        if status != 200 || number.is_some_and(|n| n != 0) {
            return Err(self.error(what, status, &body));
        }
        refuse_violations(what, &body, &schema::violations(&body, shape));
        if shape.common {
            self.check_common(what, &body);
        }
        Ok(body)
    }

    /// Checks an `ErrorResponse` against §10.1 (shape) and §10.2 (status, known number).
    #[track_caller]
    fn error(&self, what: &str, status: u16, body: &Value) -> Refusal {
        refuse_violations(
            what,
            body,
            &schema::violations(body, &schema::ERROR_RESPONSE),
        );
        let number = body["errorNumber"].as_i64().unwrap();
        let documented = DOCUMENTED_STATUS
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| *s);
        assert_eq!(
            Some(status),
            documented,
            "{what}: error {number} came with HTTP {status}; §10.2 documents {documented:?}: {body}"
        );
        // §3: errorCodes holds every known number with its message, one message per number.
        assert_eq!(
            self.codes.get(&number).map(String::as_str),
            body["errorMessage"].as_str(),
            "{what}: error {number}'s message differs from Service Config's errorCodes"
        );
        Refusal::Apple { status, number }
    }

    /// `uId` the same on every answer; `mdmInfo` ours once we set it (zentral's "mdmInfo
    /// mismatch").
    #[track_caller]
    fn check_common(&self, what: &str, body: &Value) {
        let u_id = body["uId"].as_str().unwrap().to_owned();
        let mut seen = self.u_id.lock().unwrap();
        let first = seen.get_or_insert_with(|| u_id.clone());
        assert_eq!(*first, u_id, "{what}: another location's uId: {body}");
        if let Some(id) = self.mdm_id.lock().unwrap().as_deref() {
            assert_eq!(
                body["mdmInfo"]["id"].as_str(),
                Some(id),
                "{what}: mdmInfo mismatch: {body}"
            );
        }
    }

    /// `GET` the Service Config URL `key` with `query`.
    pub async fn get(
        &self,
        key: &str,
        query: &[(&str, String)],
        shape: &Shape,
    ) -> Result<Value, Refusal> {
        let request = self.http.get(self.url(key)).query(query);
        self.send(key, request, shape).await
    }

    /// `POST` `body` as JSON to the Service Config URL `key`.
    pub async fn post(&self, key: &str, body: &Value, shape: &Shape) -> Result<Value, Refusal> {
        let request = self.http.post(self.url(key)).json(body);
        self.send(key, request, shape).await
    }

    /// A raw request to the Service Config URL `key` (wrong method or content type).
    pub fn raw(&self, method: reqwest::Method, key: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(key))
    }

    /// Starts a traversal of `key` (`getAssets`, `getAssignments`, `getUsers`): reads its first
    /// page, without `pageIndex` (§7).
    pub async fn traverse<'a>(
        &'a self,
        key: &'a str,
        query: &[(&str, String)],
    ) -> Result<Pager<'a>, Refusal> {
        let (shape, list) = match key {
            "getAssets" => (&schema::GET_ASSETS, "assets"),
            "getAssignments" => (&schema::GET_ASSIGNMENTS, "assignments"),
            "getUsers" => (&schema::GET_USERS, "users"),
            other => panic!("{other} is not paginated"),
        };
        let mut pager = Pager {
            client: self,
            key,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            shape,
            list,
            records: Vec::new(),
            version_id: String::new(),
            pages: 0,
            next: None,
        };
        pager.read(None).await?;
        Ok(pager)
    }

    /// Every page of `key` (see [`traverse`](Self::traverse)).
    pub async fn all(&self, key: &str, query: &[(&str, String)]) -> Result<Traversal, Refusal> {
        let mut pager = self.traverse(key, query).await?;
        while pager.next_page().await? {}
        Ok(pager.finish())
    }
}

/// One traversal in progress.
pub struct Pager<'a> {
    client: &'a Strict,
    key: &'a str,
    query: Vec<(String, String)>,
    shape: &'static Shape,
    list: &'static str,
    records: Vec<Value>,
    version_id: String,
    pages: i64,
    next: Option<i64>,
}

impl Pager<'_> {
    /// Reads the next page; `false` once the last page has been read.
    pub async fn next_page(&mut self) -> Result<bool, Refusal> {
        match self.next {
            Some(index) => {
                self.read(Some(index)).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The first page's `versionId`.
    pub fn version_id(&self) -> &str {
        &self.version_id
    }

    /// The traversal's records and first `versionId`.
    pub fn finish(self) -> Traversal {
        assert!(self.next.is_none(), "{}: traversal not finished", self.key);
        Traversal {
            records: self.records,
            version_id: self.version_id,
            pages: self.pages,
        }
    }

    async fn read(&mut self, index: Option<i64>) -> Result<(), Refusal> {
        let mut query: Vec<(&str, String)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if let Some(i) = index {
            query.push(("pageIndex", i.to_string()));
        }
        let what = format!("{} page {}", self.key, index.unwrap_or(0));
        let page = self.client.get(self.key, &query, self.shape).await?;
        let current = page["currentPageIndex"].as_i64().unwrap();
        let total = page["totalPages"].as_i64().unwrap();
        let version = page["versionId"].as_str().unwrap().to_owned();
        let items = page[self.list].as_array().unwrap();
        assert_eq!(current, index.unwrap_or(0), "{what}: currentPageIndex");
        assert_eq!(
            page["size"].as_i64(),
            Some(items.len() as i64),
            "{what}: size is not the records on the page"
        );
        if index.is_none() {
            self.version_id = version;
        } else if version != self.version_id {
            return Err(Refusal::DataUpdated {
                first: self.version_id.clone(),
                page: current,
                now: version,
            });
        }
        self.next = page.get("nextPageIndex").map(|n| n.as_i64().unwrap());
        match self.next {
            Some(next) => assert_eq!(next, current + 1, "{what}: nextPageIndex"),
            None => assert_eq!(
                current,
                total - 1,
                "{what}: last page is not totalPages - 1"
            ),
        }
        for record in items {
            if self.list == "assignments" {
                let targets = ["serialNumber", "clientUserId"]
                    .iter()
                    .filter(|k| record.get(**k).is_some())
                    .count();
                assert_eq!(targets, 1, "{what}: serialNumber or clientUserId: {record}");
            }
        }
        self.records.extend(items.iter().cloned());
        self.pages += 1;
        Ok(())
    }
}
