//! `?limit=` (default 50, at most 200) and an opaque `?cursor=`; lists answer
//! `{"items": [...], "next_cursor": null | "…"}`. The rules are the app's
//! ([`yajin_app::paging`]); this is the query string's shape.

use serde::Deserialize;
use yajin_app::paging::PageRequest;

use super::problem::ApiError;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.limit.as_deref(), self.cursor.as_deref())?)
    }
}
