//! Pagination of list RPCs: `page_size` and an opaque `page_token`.
//!
//! Lists are newest first over time-ordered ids (UUID v7), paged by keyset: a token is the last
//! id of the previous page, so pages stay stable while new items arrive.

use crate::error::ApiError;

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 500;

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
}
