//! Pagination of list RPCs: `page_size` and an opaque `page_token`.

use crate::error::ApiError;

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The page size to use for a request's `page_size`.
pub fn page_size(requested: u32) -> Result<u64, ApiError> {
    match requested {
        0 => Ok(u64::from(DEFAULT_PAGE_SIZE)),
        1..=MAX_PAGE_SIZE => Ok(u64::from(requested)),
        _ => Err(ApiError::invalid("page_size", format!("must be at most {MAX_PAGE_SIZE}"))),
    }
}

/// The id to continue after, from a request's `page_token` (tokens are the last id of the
/// previous page); `None` for the first page.
pub fn after_id(page_token: &str) -> Result<Option<String>, ApiError> {
    if page_token.is_empty() {
        return Ok(None);
    }
    crate::ids::parse_id("page_token", page_token)
        .map(Some)
        .map_err(|_| ApiError::invalid("page_token", "is not a token from a previous response"))
}

/// The `next_page_token` for a page of `page_size` whose last id is `last_id`: empty when the
/// page was not full (there is nothing after it).
pub fn next_token(items_on_page: usize, page_size: u64, last_id: Option<&str>) -> String {
    match last_id {
        Some(id) if items_on_page as u64 == page_size => id.to_owned(),
        _ => String::new(),
    }
}
