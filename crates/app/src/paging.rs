//! Lists: `limit` (default 50, at most 200) and an opaque cursor, which is the hex of the sort
//! key of the previous page's last item. Keys are ids (ULIDs, compared byte-wise), SNs or
//! numbers: nothing depends on a database collation.

use crate::AppError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A validated request for one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    /// The sort key of the last item of the previous page.
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses `?limit=` and `?cursor=` as the client sent them.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, AppError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or(AppError::InvalidQuery { field: "limit" })?,
        };
        let after = match cursor {
            None => None,
            Some(c) => Some(decode(c).ok_or(AppError::InvalidCursor)?),
        };
        Ok(PageRequest { limit, after })
    }

    /// The first page of `limit` items.
    pub fn first(limit: i64) -> PageRequest {
        PageRequest { limit: limit.clamp(1, MAX_LIMIT), after: None }
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn after_or_empty(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Splits rows fetched with [`PageRequest::fetch`] into the page and the next cursor.
    pub fn of(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more { rows.last().map(|r| encode(&key(r))) } else { None };
        Page { items: rows, next_cursor }
    }

    /// A list that is never paged (short by nature).
    pub fn whole(items: Vec<T>) -> Page<T> {
        Page { items, next_cursor: None }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

fn encode(key: &str) -> String {
    hex::encode(key.as_bytes())
}

/// No sort key holds a control character (NUL would also be refused by PostgreSQL).
fn decode(cursor: &str) -> Option<String> {
    hex::decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).filter(|key| !key.chars().any(char::is_control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(matches!(PageRequest::parse(Some(bad), None), Err(AppError::InvalidQuery { field: "limit" })));
        }
        assert!(matches!(PageRequest::parse(None, Some("zz")), Err(AppError::InvalidCursor)));
        assert!(matches!(PageRequest::parse(None, Some("ff")), Err(AppError::InvalidCursor)), "not UTF-8");
        for control in ["00", "6100", "0a"] {
            assert!(matches!(PageRequest::parse(None, Some(control)), Err(AppError::InvalidCursor)), "{control}");
        }
    }

    #[test]
    fn a_cursor_names_the_last_item_of_a_full_page() {
        let request = PageRequest { limit: 2, after: None };
        let page = Page::of(vec!["a_1", "a_2", "a_3"], &request, |s| s.to_string());
        assert_eq!(page.items, vec!["a_1", "a_2"]);
        let next = PageRequest::parse(None, page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after.as_deref(), Some("a_2"));
        let last = Page::of(vec!["a_3"], &next, |s| s.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
