//! A sender's contact and their conversation on a number: found, or made on
//! first contact (concurrent workers making the same one find it instead).

use aerostic_kit::ids::TenantId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    TryInsertResult,
};

use crate::entity::{contact, conversation};
use crate::payload::WaContact;

/// The tenant's contact for a sender, created on first contact (a
/// concurrent first contact is found, not duplicated).
pub async fn contact_for(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    who: &WaContact,
) -> Result<contact::Model, DbErr> {
    let now = Utc::now();
    let Some(found) = find_contact(txn, tenant, who).await? else {
        return new_contact(txn, tenant, who, now).await;
    };
    let name = &who.profile.name;
    if (!name.is_empty() && *name != found.profile_name)
        || (found.bsuid.is_none() && who.user_id.is_some())
    {
        contact::Entity::update_many()
            .col_expr(
                contact::Column::ProfileName,
                Expr::value(if name.is_empty() {
                    found.profile_name.clone()
                } else {
                    name.clone()
                }),
            )
            .col_expr(
                contact::Column::Bsuid,
                Expr::value(found.bsuid.clone().or_else(|| who.user_id.clone())),
            )
            .col_expr(contact::Column::UpdatedAt, Expr::value(now))
            .filter(contact::Column::Id.eq(found.id.clone()))
            .exec(txn)
            .await?;
    }
    Ok(found)
}

async fn find_contact(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    who: &WaContact,
) -> Result<Option<contact::Model>, DbErr> {
    let query = contact::Entity::find().filter(contact::Column::TenantId.eq(tenant.to_string()));
    let query = match (&who.wa_id, &who.user_id) {
        (Some(wa), _) => query.filter(contact::Column::WaId.eq(wa.clone())),
        (None, Some(bsuid)) => query.filter(contact::Column::Bsuid.eq(bsuid.clone())),
        (None, None) => return Ok(None),
    };
    query.one(txn).await
}

/// A contact for `who`, not there a moment ago (the caller looked):
/// inserted in one round trip, found only if a concurrent writer made it
/// first.
pub async fn new_contact(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    who: &WaContact,
    now: DateTime<Utc>,
) -> Result<contact::Model, DbErr> {
    let row = contact::Model {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        wa_id: who.wa_id.clone(),
        bsuid: who.user_id.clone(),
        profile_name: who.profile.name.chars().take(200).collect(),
        opted_out: false,
        opted_out_at: None,
        opt_out_source: String::new(),
        created_at: now,
        updated_at: now,
    };
    let inserted = contact::Entity::insert(contact::ActiveModel {
        id: Set(row.id.clone()),
        tenant_id: Set(row.tenant_id.clone()),
        wa_id: Set(row.wa_id.clone()),
        bsuid: Set(row.bsuid.clone()),
        profile_name: Set(row.profile_name.clone()),
        opted_out: Set(false),
        opted_out_at: Set(None),
        opt_out_source: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    // Any unique key: sea-orm's `on_conflict_do_nothing` names only the
    // primary key, and the race this absorbs is on (tenant, wa_id or
    // bsuid) or on (tenant, contact, number).
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(txn)
    .await?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        return Ok(row);
    }
    find_contact(txn, tenant, who)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("a contact without wa_id or user id".into()))
}

/// Like [`new_contact`], the thread of `contact_id` on `number`.
pub async fn new_conversation(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    contact_id: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Result<conversation::Model, DbErr> {
    let row = conversation::Model {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        contact_id: contact_id.to_string(),
        phone_number_id: number.to_string(),
        status: "open".into(),
        assignee_id: None,
        unread_count: 0,
        last_inbound_at: None,
        last_message_at: now,
        created_at: now,
    };
    let inserted = conversation::Entity::insert(conversation::ActiveModel {
        id: Set(row.id.clone()),
        tenant_id: Set(row.tenant_id.clone()),
        contact_id: Set(row.contact_id.clone()),
        phone_number_id: Set(row.phone_number_id.clone()),
        status: Set(row.status.clone()),
        assignee_id: Set(None),
        unread_count: Set(0),
        last_inbound_at: Set(None),
        last_message_at: Set(now),
        created_at: Set(now),
    })
    // Any unique key, as in `new_contact`.
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(txn)
    .await?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        return Ok(row);
    }
    find_conversation(txn, tenant, contact_id, number)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the conversation just made".into()))
}

/// The thread of `contact` on `number`, created on first contact.
pub async fn conversation_for(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    contact_id: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Result<conversation::Model, DbErr> {
    match find_conversation(txn, tenant, contact_id, number).await? {
        Some(found) => Ok(found),
        None => new_conversation(txn, tenant, contact_id, number, now).await,
    }
}

async fn find_conversation(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    contact_id: &str,
    number: &str,
) -> Result<Option<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::TenantId.eq(tenant.to_string()))
        .filter(conversation::Column::ContactId.eq(contact_id))
        .filter(conversation::Column::PhoneNumberId.eq(number))
        .one(txn)
        .await
}

/// The contact changed their number: future messages come from `wa_id`.
/// Left as it is when another contact of the tenant already has it.
pub async fn move_number(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    contact_id: &str,
    wa_id: &str,
) -> Result<(), DbErr> {
    let taken = contact::Entity::find()
        .filter(contact::Column::TenantId.eq(tenant.to_string()))
        .filter(contact::Column::WaId.eq(wa_id))
        .one(txn)
        .await?
        .is_some();
    if !taken {
        contact::Entity::update_many()
            .col_expr(contact::Column::WaId, Expr::value(wa_id))
            .col_expr(contact::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(contact::Column::Id.eq(contact_id))
            .exec(txn)
            .await?;
    }
    Ok(())
}
