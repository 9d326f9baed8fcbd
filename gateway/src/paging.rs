//! Cursor paging of list endpoints: one query shape, one check of it, one
//! answer shape.

use aerostic_kit::ApiError;
use aerostic_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::GatewayError;

/// `limit` (1–200; empty: the service's default) and `cursor` as the
/// service wants them.
pub fn page(limit: &str, cursor: String) -> Result<Option<pb::PageRequest>, GatewayError> {
    let page_size = match limit {
        "" => 0,
        raw => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::invalid_field("limit", "must be a number from 1 to 200"))?,
    };
    Ok(Some(pb::PageRequest { page_size, cursor }))
}

/// Paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Per page, 1–200 (default 50).
    #[serde(default)]
    limit: String,
    /// `next_cursor` of the previous page; absent for the first.
    #[serde(default)]
    cursor: String,
}

impl PageQuery {
    /// The page asked for, checked.
    pub fn page(self) -> Result<Option<pb::PageRequest>, GatewayError> {
        page(&self.limit, self.cursor)
    }
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct Paged<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// `items` as views, with `page`'s cursor.
    pub fn of<P>(items: Vec<P>, page: Option<pb::PageResponse>, view: impl FnMut(P) -> T) -> Self {
        Self {
            data: items.into_iter().map(view).collect(),
            next_cursor: page.map(|p| p.next_cursor).filter(|c| !c.is_empty()),
        }
    }
}
