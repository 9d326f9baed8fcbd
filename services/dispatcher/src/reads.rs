//! The inbox's read side: a tenant's conversations (newest activity first,
//! filtered by status, assignee or unread), a conversation's messages, and
//! its contacts. Every query is scoped to the caller's tenant; another
//! tenant's ids are simply not found.

use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{contact, conversation, media, message};

/// Default and largest page.
const PAGE: (u64, u64) = (50, 200);

/// A page request, checked.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Rows wanted.
    pub size: u64,
    /// Where the previous page ended.
    pub cursor: String,
}

impl Page {
    /// `size` 0 means the default; more than 200 is refused.
    pub fn new(size: u32, cursor: String) -> Result<Self, ApiError> {
        let size = match u64::from(size) {
            0 => PAGE.0,
            n if n <= PAGE.1 => n,
            _ => {
                return Err(ApiError::invalid_field(
                    "page.page_size",
                    "must be 1 to 200",
                ));
            }
        };
        Ok(Self { size, cursor })
    }
}

fn bad_cursor() -> ApiError {
    ApiError::invalid_field("page.cursor", "is not a cursor this API gave")
}

/// `<what>_not_found`: absent, or another tenant's (the same to the caller).
pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("{what}_not_found"),
        format!("no {what} of this workspace has this id"),
    )
}

fn internal(e: sea_orm::DbErr) -> ApiError {
    ApiError::internal(e)
}

/// People who answer conversations, and keys with `scope`.
pub(crate) fn may_read(caller: &Identity, scope: &str) -> Result<(), ApiError> {
    if caller.api_key_id.is_some() {
        caller.require_scope(scope)
    } else {
        caller.require(Permission::Inbox)
    }
}

/// A conversation with its contact's name.
pub type ConversationRow = (conversation::Model, Option<contact::Model>);

/// Filters of the conversation list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// open, pending or resolved.
    pub status: String,
    /// Only this user's.
    pub assignee: String,
    /// Only those with unread messages.
    pub unread_only: bool,
}

/// Reads of one database.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
}

impl Reads {
    /// Reads of `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The caller's conversations, most recent activity first; the next cursor.
    pub async fn conversations(
        &self,
        caller: &Identity,
        filter: &ConversationFilter,
        page: &Page,
    ) -> Result<(Vec<ConversationRow>, String), ApiError> {
        may_read(caller, "messages:read")?;
        if !["", "open", "pending", "resolved"].contains(&filter.status.as_str()) {
            return Err(ApiError::invalid_field(
                "status",
                "must be open, pending or resolved",
            ));
        }
        let mut query = conversation::Entity::find()
            .filter(conversation::Column::TenantId.eq(caller.tenant_id.to_string()));
        if !filter.status.is_empty() {
            query = query.filter(conversation::Column::Status.eq(filter.status.clone()));
        }
        if !filter.assignee.is_empty() {
            query = query.filter(conversation::Column::AssigneeId.eq(filter.assignee.clone()));
        }
        if filter.unread_only {
            query = query.filter(conversation::Column::UnreadCount.gt(0));
        }
        if !page.cursor.is_empty() {
            let (at, id) = parse_cursor(&page.cursor)?;
            query = query.filter(before(
                conversation::Column::LastMessageAt,
                conversation::Column::Id,
                at,
                id,
            ));
        }
        let conversations = query
            .order_by_desc(conversation::Column::LastMessageAt)
            .order_by_desc(conversation::Column::Id)
            .limit(page.size)
            .all(&self.db)
            .await
            .map_err(internal)?;
        let rows = self.with_contacts(conversations).await?;
        let next = match rows.last() {
            Some((c, _)) if rows.len() as u64 == page.size => cursor(c.last_message_at, &c.id),
            _ => String::new(),
        };
        Ok((rows, next))
    }

    /// One of the caller's conversations.
    pub async fn conversation(
        &self,
        caller: &Identity,
        id: &str,
    ) -> Result<ConversationRow, ApiError> {
        may_read(caller, "messages:read")?;
        let found = conversation::Entity::find_by_id(id.to_string())
            .filter(conversation::Column::TenantId.eq(caller.tenant_id.to_string()))
            .one(&self.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("conversation"))?;
        Ok(self.with_contacts(vec![found]).await?.remove(0))
    }

    /// One of the caller's messages, with our media id if it has media.
    pub async fn message(
        &self,
        caller: &Identity,
        id: &str,
    ) -> Result<(message::Model, Option<String>), ApiError> {
        may_read(caller, "messages:read")?;
        self.message_of(caller.tenant_id, id).await
    }

    /// Message `id` of `tenant` (the caller's rights checked by the caller).
    pub async fn message_of(
        &self,
        tenant: aerostic_kit::ids::TenantId,
        id: &str,
    ) -> Result<(message::Model, Option<String>), ApiError> {
        let found = message::Entity::find_by_id(id.to_string())
            .filter(message::Column::TenantId.eq(tenant.to_string()))
            .one(&self.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("message"))?;
        let kept = media::Entity::find()
            .filter(media::Column::MessageId.eq(found.id.clone()))
            .one(&self.db)
            .await
            .map_err(internal)?;
        Ok((found, kept.map(|k| k.id)))
    }

    async fn with_contacts(
        &self,
        conversations: Vec<conversation::Model>,
    ) -> Result<Vec<ConversationRow>, ApiError> {
        let ids: Vec<String> = conversations.iter().map(|c| c.contact_id.clone()).collect();
        let contacts = contact::Entity::find()
            .filter(contact::Column::Id.is_in(ids))
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(conversations
            .into_iter()
            .map(|c| {
                let who = contacts.iter().find(|k| k.id == c.contact_id).cloned();
                (c, who)
            })
            .collect())
    }

    /// A conversation's messages, newest first; the next cursor.
    pub async fn messages(
        &self,
        caller: &Identity,
        conversation_id: &str,
        page: &Page,
    ) -> Result<(Vec<(message::Model, Option<String>)>, String), ApiError> {
        self.conversation(caller, conversation_id).await?;
        let mut query = message::Entity::find()
            .filter(message::Column::TenantId.eq(caller.tenant_id.to_string()))
            .filter(message::Column::ConversationId.eq(conversation_id));
        if !page.cursor.is_empty() {
            let (at, id) = parse_cursor(&page.cursor)?;
            query = query.filter(before(message::Column::SentAt, message::Column::Id, at, id));
        }
        // By Meta's time of each message: workers may store them out of order.
        let rows = query
            .order_by_desc(message::Column::SentAt)
            .order_by_desc(message::Column::Id)
            .limit(page.size)
            .all(&self.db)
            .await
            .map_err(internal)?;
        let next = match rows.last() {
            Some(m) if rows.len() as u64 == page.size => cursor(m.sent_at, &m.id),
            _ => String::new(),
        };
        let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let kept = media::Entity::find()
            .filter(media::Column::MessageId.is_in(ids))
            .all(&self.db)
            .await
            .map_err(internal)?;
        let rows = rows
            .into_iter()
            .map(|m| {
                let media_id = kept
                    .iter()
                    .find(|k| k.message_id == m.id)
                    .map(|k| k.id.clone());
                (m, media_id)
            })
            .collect();
        Ok((rows, next))
    }

    /// The caller's contacts, newest first, optionally those whose name or
    /// number starts with `query`; the next cursor.
    pub async fn contacts(
        &self,
        caller: &Identity,
        search: &str,
        page: &Page,
    ) -> Result<(Vec<contact::Model>, String), ApiError> {
        may_read(caller, "contacts:read")?;
        let search = search.trim().to_lowercase();
        if search.len() > 100 {
            return Err(ApiError::invalid_field(
                "query",
                "is at most 100 characters",
            ));
        }
        let mut query = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(caller.tenant_id.to_string()));
        if !search.is_empty() {
            let pattern = format!("{}%", search.replace(['%', '_', '\\'], ""));
            let digits = search.trim_start_matches('+');
            query = query.filter(
                Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(contact::Column::ProfileName)))
                            .like(pattern),
                    )
                    .add(contact::Column::WaId.starts_with(digits)),
            );
        }
        if !page.cursor.is_empty() {
            uuid::Uuid::parse_str(&page.cursor).map_err(|_| bad_cursor())?;
            query = query.filter(contact::Column::Id.lt(page.cursor.clone()));
        }
        let rows = query
            .order_by_desc(contact::Column::Id)
            .limit(page.size)
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(next_by_id(rows, page.size, |c| &c.id))
    }

    /// One of the caller's contacts.
    pub async fn contact(&self, caller: &Identity, id: &str) -> Result<contact::Model, ApiError> {
        may_read(caller, "contacts:read")?;
        contact::Entity::find_by_id(id.to_string())
            .filter(contact::Column::TenantId.eq(caller.tenant_id.to_string()))
            .one(&self.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("contact"))
    }
}

/// A position in a list ordered by (time, id), newest first.
fn cursor(at: DateTime<Utc>, id: &str) -> String {
    format!("{}_{id}", at.timestamp_micros())
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let (micros, id) = raw.split_once('_').ok_or_else(bad_cursor)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(bad_cursor)?;
    uuid::Uuid::parse_str(id).map_err(|_| bad_cursor())?;
    Ok((at, id.to_string()))
}

/// Rows after the cursor (at, id) in newest-first order.
fn before<T: ColumnTrait, I: ColumnTrait>(
    time: T,
    id_col: I,
    at: DateTime<Utc>,
    id: String,
) -> Condition {
    Condition::any()
        .add(time.lt(at))
        .add(Condition::all().add(time.eq(at)).add(id_col.lt(id)))
}

fn next_by_id<T>(rows: Vec<T>, size: u64, id: impl Fn(&T) -> &String) -> (Vec<T>, String) {
    let next = match rows.last() {
        Some(last) if rows.len() as u64 == size => id(last).clone(),
        _ => String::new(),
    };
    (rows, next)
}
