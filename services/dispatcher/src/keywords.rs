//! Stop words: a message that is nothing but one of them (any case, any
//! surrounding spaces) opts its sender out. Meta does not interpret "STOP"
//! in free text (META_API.md §12), so we must. Each tenant may set its own
//! per language; until it does, the platform's defaults apply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::ApiError;
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::ids::TenantId;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};

use crate::entity::inbox_setting;

/// How long a tenant's words are reused before reading them again.
pub const TTL: Duration = Duration::from_secs(30);

const DEFAULTS: &[(&str, &[&str])] = &[
    (
        "en",
        &["stop", "stopall", "unsubscribe", "cancel", "end", "quit"],
    ),
    ("pt", &["parar", "sair", "cancelar", "pare"]),
    ("es", &["baja", "alto", "cancelar", "parar"]),
    ("fr", &["arrêt", "arret", "stop"]),
    ("de", &["stopp", "abmelden"]),
];

/// A tenant's stop words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// Language code -> lowercase words.
    pub by_language: BTreeMap<String, Vec<String>>,
    /// Whether these are the platform's defaults.
    pub defaults: bool,
}

impl Words {
    /// The platform's defaults.
    pub fn defaults() -> Self {
        Self {
            by_language: DEFAULTS
                .iter()
                .map(|(l, w)| (l.to_string(), w.iter().map(|w| w.to_string()).collect()))
                .collect(),
            defaults: true,
        }
    }

    /// Whether `text` is, by itself, one of the words.
    pub fn matches(&self, text: &str) -> bool {
        let text = text.trim().to_lowercase();
        self.by_language.values().flatten().any(|w| *w == text)
    }
}

fn valid_language(code: &str) -> bool {
    let (base, region) = code.split_once('_').unwrap_or((code, ""));
    (2..=3).contains(&base.len())
        && base.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
}

/// `raw` checked and normalised: languages like `en` or `pt_BR`, at most 20
/// of them, at most 50 words each, every word 1 to 40 characters on one line.
pub fn parse(
    raw: BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut problems = BTreeMap::new();
    if raw.len() > 20 {
        problems.insert(
            "by_language".to_string(),
            "at most 20 languages".to_string(),
        );
    }
    let mut out = BTreeMap::new();
    for (language, words) in raw {
        let field = format!("by_language.{language}");
        if !valid_language(&language) {
            problems.insert(field, "must be a language code like en or pt_BR".into());
            continue;
        }
        let mut clean: Vec<String> = words.iter().map(|w| w.trim().to_lowercase()).collect();
        clean.sort();
        clean.dedup();
        if clean.is_empty() || clean.len() > 50 {
            problems.insert(field, "must list 1 to 50 words".into());
        } else if clean
            .iter()
            .any(|w| w.is_empty() || w.chars().count() > 40 || w.contains(['\n', '\r']))
        {
            problems.insert(field, "each word is 1 to 40 characters on one line".into());
        } else {
            out.insert(language, clean);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::validation(problems))
    }
}

/// Every tenant's stop words, read through a short cache.
#[derive(Clone)]
pub struct Keywords {
    db: DatabaseConnection,
    cache: moka::sync::Cache<TenantId, Arc<Words>>,
}

impl Keywords {
    /// Stop words kept in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// `tenant`'s words (the defaults until it sets its own).
    pub async fn of(&self, tenant: TenantId) -> Result<Arc<Words>, DbErr> {
        if let Some(hit) = self.cache.get(&tenant) {
            return Ok(hit);
        }
        let row = inbox_setting::Entity::find_by_id(tenant.to_string())
            .one(&self.db)
            .await?;
        let words = row
            .and_then(|r| {
                serde_json::from_str::<BTreeMap<String, Vec<String>>>(&r.opt_out_keywords).ok()
            })
            .filter(|m| !m.is_empty())
            .map_or_else(Words::defaults, |by_language| Words {
                by_language,
                defaults: false,
            });
        let words = Arc::new(words);
        self.cache.insert(tenant, words.clone());
        Ok(words)
    }

    /// The caller's words (anyone who answers conversations).
    pub async fn get(&self, caller: &Identity) -> Result<Words, ApiError> {
        caller.require(Permission::Inbox)?;
        Ok((*self
            .of(caller.tenant_id)
            .await
            .map_err(ApiError::internal)?)
        .clone())
    }

    /// Replaces the caller's words (workspace admins); empty restores the defaults.
    pub async fn set(
        &self,
        caller: &Identity,
        raw: BTreeMap<String, Vec<String>>,
    ) -> Result<Words, ApiError> {
        caller.require(Permission::ManageSettings)?;
        let words = parse(raw)?;
        let row = inbox_setting::ActiveModel {
            tenant_id: Set(caller.tenant_id.to_string()),
            opt_out_keywords: Set(serde_json::to_string(&words).expect("a map serialises")),
            updated_at: Set(Utc::now()),
        };
        inbox_setting::Entity::insert(row)
            .on_conflict(
                OnConflict::column(inbox_setting::Column::TenantId)
                    .update_columns([
                        inbox_setting::Column::OptOutKeywords,
                        inbox_setting::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(ApiError::internal)?;
        self.cache.invalidate(&caller.tenant_id);
        self.get(caller).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_whole_messages_in_any_case_and_bad_lists_are_refused() {
        let defaults = Words::defaults();
        assert!(defaults.matches("  STOP "));
        assert!(defaults.matches("Parar"));
        assert!(!defaults.matches("please stop sending"));
        let mut raw = BTreeMap::new();
        raw.insert(
            "pt_BR".to_string(),
            vec![" CHEGA ".to_string(), "chega".to_string()],
        );
        assert_eq!(parse(raw).unwrap()["pt_BR"], ["chega"]);
        for (language, words) in [
            ("portuguese", vec!["x".to_string()]),
            ("en", vec![]),
            ("en", vec!["two\nlines".to_string()]),
            ("en", vec!["x".repeat(41)]),
        ] {
            let mut raw = BTreeMap::new();
            raw.insert(language.to_string(), words);
            assert!(parse(raw).is_err(), "{language}");
        }
    }
}
