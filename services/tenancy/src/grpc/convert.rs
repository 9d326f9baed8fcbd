//! Domain rows to protobuf messages, and protobuf enums to domain names.

use aerostic_kit::identity::Identity;
use aerostic_proto::v1 as pb;

use crate::entity::{api_key, plan, reseller, tenant, user, whatsapp_account};
use crate::resellers::Branding;
use crate::sessions::Tokens;
use crate::whatsapp::system_token::TokenStatus;

pub(super) use aerostic_proto::timestamp;

pub(super) fn login_response(tokens: Tokens, user: user::Model) -> pb::LoginResponse {
    pb::LoginResponse {
        access_token: tokens.access_token,
        token_type: "Bearer".into(),
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
        user: Some(user_pb(user)),
    }
}

pub(super) fn identity_pb(identity: Identity) -> pb::Identity {
    pb::Identity {
        tenant_id: identity.tenant_id.to_string(),
        user_id: identity.user_id.map(|u| u.to_string()).unwrap_or_default(),
        role: pb::Role::from_wire_name(identity.role.as_str()) as i32,
        api_key_id: identity.api_key_id.unwrap_or_default(),
        scopes: identity.scopes,
    }
}

pub(super) fn api_key_pb(k: api_key::Model) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes.split_whitespace().map(str::to_string).collect(),
        created_at: Some(timestamp(k.created_at)),
        last_used_at: k.last_used_at.map(timestamp),
        revoked_at: k.revoked_at.map(timestamp),
    }
}

pub(super) fn plan_pb(p: plan::Model) -> pb::Plan {
    pb::Plan {
        code: p.code,
        name: p.name,
        messages_per_day: p.messages_per_day.max(0) as u32,
        max_numbers: p.max_numbers.max(0) as u32,
        max_agents: p.max_agents.max(0) as u32,
        ai_credits: p.ai_credits.max(0) as u32,
    }
}

pub(super) fn tenant_pb(t: tenant::Model, plan: Option<plan::Model>) -> pb::Tenant {
    let status = match t.status.as_str() {
        "active" => pb::TenantStatus::Active,
        _ => pb::TenantStatus::Suspended,
    };
    pb::Tenant {
        plan: Some(plan.map(plan_pb).unwrap_or_else(|| pb::Plan {
            code: t.plan_code.clone(),
            ..Default::default()
        })),
        id: t.id,
        name: t.name,
        status: status as i32,
        reseller_id: t.reseller_id.unwrap_or_default(),
        created_at: Some(timestamp(t.created_at)),
        // GetTenant alone fills these in.
        reseller_markup_bps: 0,
        numbers_in_use: 0,
        agents_in_use: 0,
    }
}

pub(super) fn user_pb(u: user::Model) -> pb::User {
    pb::User {
        id: u.id,
        tenant_id: u.tenant_id,
        email: u.email,
        full_name: u.full_name,
        role: pb::Role::from_wire_name(&u.role) as i32,
        active: u.active,
        created_at: Some(timestamp(u.created_at)),
    }
}

pub(super) fn branding_pb(b: Branding) -> pb::Branding {
    pb::Branding {
        reseller_id: b.reseller_id.unwrap_or_default(),
        name: b.name,
        logo_url: b.logo_url,
        primary_color: b.primary_color,
        accent_color: b.accent_color,
    }
}

pub(super) fn reseller_pb(r: reseller::Model, domains: Vec<String>) -> pb::Reseller {
    pb::Reseller {
        branding: Some(pb::Branding {
            reseller_id: r.id.clone(),
            name: r.name,
            logo_url: r.logo_url,
            primary_color: r.primary_color,
            accent_color: r.accent_color,
        }),
        id: r.id,
        markup_bps: r.markup_bps.max(0) as u32,
        domains,
        created_at: Some(timestamp(r.created_at)),
    }
}

pub(super) fn account_pb(a: whatsapp_account::Model) -> pb::WhatsAppAccount {
    let status = match a.status.as_str() {
        "connected" => pb::WhatsAppAccountStatus::WhatsappAccountStatusConnected,
        "pending" => pb::WhatsAppAccountStatus::WhatsappAccountStatusPending,
        _ => pb::WhatsAppAccountStatus::WhatsappAccountStatusDisconnected,
    };
    pb::WhatsAppAccount {
        id: a.id,
        waba_id: a.waba_id,
        phone_number_id: a.phone_number_id,
        display_phone_number: a.display_phone_number,
        verified_name: a.verified_name,
        status: status as i32,
        connected_at: a.connected_at.map(timestamp),
        restriction: a.restriction,
        restriction_reason: a.restriction_reason,
        restricted_at: a.restricted_at.map(timestamp),
    }
}

pub(super) fn token_status_pb(s: TokenStatus) -> pb::RotateSystemUserTokenResponse {
    pb::RotateSystemUserTokenResponse {
        rotated_at: s.rotated_at.map(timestamp),
        next_rotation_at: s.next_rotation_at.map(timestamp),
        rotation_due: s.due,
        source: s.source.into(),
    }
}
