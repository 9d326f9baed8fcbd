//! The anomaly service's tables as sea-orm entities; migration 17 documents the columns.

#![allow(missing_docs)]

/// An alert raised by a detector.
pub mod anomaly_alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "anomaly_alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub detector: String,
        pub subject_kind: String,
        pub subject_id: String,
        pub tenant_id: Option<String>,
        pub score: f64,
        pub features: String,
        pub detail: String,
        pub mitigation_id: Option<String>,
        pub raised_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A mitigation the edge enforces until it expires or is lifted.
pub mod anomaly_mitigation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "anomaly_mitigations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub alert_id: String,
        pub kind: String,
        pub subject_kind: String,
        pub subject_id: String,
        pub tenant_id: Option<String>,
        pub limit_per_minute: i32,
        pub starts_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub lifted_at: Option<DateTimeUtc>,
        pub lifted_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A trained baseline model.
pub mod anomaly_model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "anomaly_models")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: String,
        pub model: Vec<u8>,
        pub feature_names: String,
        pub trees: i32,
        pub sample_size: i32,
        pub threshold: f64,
        pub training_rows: i32,
        pub source: String,
        pub trained_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
