//! Pagination of list RPCs: `page_size` and an opaque `page_token`.
//!
//! Lists are newest first over time-ordered ids (UUID v7), paged by keyset: a token is the last
//! id of the previous page, so pages stay stable while new items arrive.

use crate::error::ApiError;

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Most bytes of items one page answers, encoded: half of the 4 MiB a gRPC client accepts by
/// default, so a page of large items stops early (see [`Page::fit`]) instead of failing.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// One page asked for by a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// How many items at most.
    pub limit: u64,
    /// Continue after this id; `None` for the first page.
    pub after: Option<String>,
}

impl Page {
    /// The page a request's `page_size` and `page_token` ask for.
    pub fn parse(page_size: u32, page_token: &str) -> Result<Self, ApiError> {
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE => page_size,
            _ => return Err(ApiError::invalid("page_size", format!("must be at most {MAX_PAGE_SIZE}"))),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let id = crate::ids::parse_id("page_token", page_token)
                .map_err(|_| ApiError::invalid("page_token", "is not a token from a previous response"))?;
            Some(id)
        };
        Ok(Self { limit: u64::from(limit), after })
    }

    /// The `next_page_token` for `items`, the page just read: empty when it was not full
    /// (nothing follows), otherwise the id of its last item.
    pub fn next_token<T>(&self, items: &[T], id_of: impl Fn(&T) -> &str) -> String {
        match items.last() {
            Some(last) if items.len() as u64 == self.limit => id_of(last).to_owned(),
            _ => String::new(),
        }
    }

    /// `items`, the page just read, cut to fit in [`MAX_PAGE_BYTES`] encoded (never below one
    /// item), with its `next_page_token`: the id of the last item kept when the page was cut,
    /// as [`Page::next_token`] otherwise. A page of large items is then shorter than asked for,
    /// and the next one goes on after it.
    pub fn fit<T: prost::Message>(&self, items: Vec<T>, id_of: impl Fn(&T) -> &str) -> (Vec<T>, String) {
        self.fit_within(items, T::encoded_len, id_of, MAX_PAGE_BYTES)
    }

    /// As [`Page::fit`], for items whose token is not in their message: `encoded_len` gives the
    /// size of what the response carries of each.
    pub fn fit_by<T>(
        &self,
        items: Vec<T>,
        encoded_len: impl Fn(&T) -> usize,
        id_of: impl Fn(&T) -> &str,
    ) -> (Vec<T>, String) {
        self.fit_within(items, encoded_len, id_of, MAX_PAGE_BYTES)
    }

    fn fit_within<T>(
        &self,
        mut items: Vec<T>,
        encoded_len: impl Fn(&T) -> usize,
        id_of: impl Fn(&T) -> &str,
        max_bytes: usize,
    ) -> (Vec<T>, String) {
        let mut bytes = 0;
        let mut keep = items.len();
        for (index, item) in items.iter().enumerate() {
            // The item, its length prefix and its field tag, as the response encodes it.
            bytes += encoded_len(item) + 16;
            if bytes > max_bytes && index > 0 {
                keep = index;
                break;
            }
        }
        if keep < items.len() {
            items.truncate(keep);
            let token = items.last().map(|last| id_of(last).to_owned()).unwrap_or_default();
            return (items, token);
        }
        let token = self.next_token(&items, id_of);
        (items, token)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tokens() {
        assert_eq!(Page::parse(0, "").unwrap(), Page { limit: 50, after: None });
        assert!(Page::parse(501, "").is_err());
        assert!(Page::parse(10, "garbage").is_err());
        let id = crate::ids::new_id();
        assert_eq!(Page::parse(10, &id).unwrap().after, Some(id));
    }

    #[test]
    fn next_token_only_after_a_full_page() {
        let page = Page::parse(2, "").unwrap();
        assert_eq!(page.next_token(&["a", "b"], |s| s), "b");
        assert_eq!(page.next_token(&["a"], |s| s), "");
        assert_eq!(page.next_token::<&str>(&[], |s| s), "");
    }

    #[test]
    fn fit_cuts_a_page_by_size_and_continues_after_it() {
        let page = Page::parse(4, "").unwrap();
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|id| id.repeat(40)).collect();
        let (kept, token) = page.fit_within(items.clone(), String::len, |s| s, 100);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(token, items[0]);
        let (kept, token) = page.fit_within(items.clone(), String::len, |s| s, 1_000);
        assert_eq!((kept.len(), token), (4, items[3].clone()), "a full page that fits: as before");
        let (kept, token) = page.fit_within(items[..2].to_vec(), String::len, |s| s, 1_000);
        assert_eq!((kept.len(), token.as_str()), (2, ""), "a short page that fits: the last");
        let (kept, token) = page.fit_within(vec!["x".repeat(500)], String::len, |s| s, 100);
        assert_eq!((kept.len(), token.as_str()), (1, ""), "one item always goes out");
    }
}
