//! Entities of the platform around tenants (migrations 4 and 5).

/// A plan and the limits it grants.
pub mod plan {
    use sea_orm::entity::prelude::*;

    /// A row of `plans`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plans")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub messages_per_day: i32,
        pub max_numbers: i32,
        pub max_agents: i32,
        pub ai_credits: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A reseller: tenants under its brand, at its markup.
pub mod reseller {
    use sea_orm::entity::prelude::*;

    /// A row of `resellers`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resellers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub logo_url: String,
        pub primary_color: String,
        pub accent_color: String,
        pub markup_bps: i32,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A custom domain that serves one reseller's brand.
pub mod reseller_domain {
    use sea_orm::entity::prelude::*;

    /// A row of `reseller_domains`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reseller_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub domain: String,
        pub reseller_id: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One typed platform setting, stored as text.
pub mod platform_setting {
    use sea_orm::entity::prelude::*;

    /// A row of `platform_settings`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "platform_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
        pub updated_by: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A single-use password reset (only its token's hash).
pub mod password_reset {
    use sea_orm::entity::prelude::*;

    /// A row of `password_resets`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_resets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub user_id: String,
        pub token_hash: String,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A WhatsApp number a tenant connected.
pub mod whatsapp_account {
    use sea_orm::entity::prelude::*;

    /// A row of `whatsapp_accounts`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "whatsapp_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub waba_id: String,
        pub phone_number_id: String,
        pub display_phone_number: String,
        pub verified_name: String,
        pub status: String,
        pub access_token: Option<String>,
        pub connected_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        /// `reconnect`, `pause_campaigns`, `stop_sending`, or empty.
        pub restriction: String,
        pub restriction_reason: String,
        pub restricted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A platform-wide secret, encrypted, with its rotation schedule.
pub mod platform_secret {
    use sea_orm::entity::prelude::*;

    /// A row of `platform_secrets`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "platform_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
        pub rotated_at: DateTimeUtc,
        pub next_rotation_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
