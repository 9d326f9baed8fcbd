//! Where our copies of customers' media live: the `ObjectStore` trait and
//! its two stores. The local filesystem serves `aerostic dev` and one-node
//! installs; the database serves installs with several dispatcher replicas
//! and no shared volume (any replica reads what another fetched, and the
//! bytes are backed up with everything else). `AEROSTIC_MEDIA_STORE`
//! chooses (kit's `MediaStore`).

use std::path::PathBuf;
use std::sync::Arc;

use aerostic_kit::config::MediaStore;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::entity::media_object;

/// Where our copies live.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`, durably, replacing what was there.
    async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// The bytes under `key` (`NotFound` if none).
    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>>;
}

/// The store `media` names, on the service's database `db`.
pub fn open(media: &MediaStore, db: DatabaseConnection) -> Arc<dyn ObjectStore> {
    match media {
        MediaStore::Database => Arc::new(DatabaseStore::new(db)),
        MediaStore::Directory(dir) => Arc::new(LocalStore::new(dir)),
    }
}

/// Keys are ours (`tenant/uuid`); anything else is refused, so no key can
/// climb out of a directory.
fn checked(key: &str) -> std::io::Result<&str> {
    let valid = !key.is_empty()
        && key.len() <= 120
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')
        && !key.contains("//")
        && !key.starts_with('/');
    if valid {
        Ok(key)
    } else {
        Err(std::io::Error::other("an invalid object key"))
    }
}

/// An object store on the local filesystem.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Objects under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let path = self.root.join(checked(key)?);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Written aside, flushed to disk, then renamed: a reader sees all of
        // it or nothing, and a crash cannot leave half a record.
        let partial = path.with_extension("partial");
        let mut file = tokio::fs::File::create(&partial).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(partial, path).await
    }

    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.root.join(checked(key)?)).await
    }
}

/// An object store in the service's database (`media_objects`).
pub struct DatabaseStore {
    db: DatabaseConnection,
}

impl DatabaseStore {
    /// Objects in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl ObjectStore for DatabaseStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let row = media_object::ActiveModel {
            key: Set(checked(key)?.to_string()),
            bytes: Set(bytes.to_vec()),
            created_at: Set(Utc::now()),
        };
        media_object::Entity::insert(row)
            .on_conflict(
                OnConflict::column(media_object::Column::Key)
                    .update_column(media_object::Column::Bytes)
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(std::io::Error::other)
    }

    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        media_object::Entity::find_by_id(checked(key)?.to_string())
            .one(&self.db)
            .await
            .map_err(std::io::Error::other)?
            .map(|row| row.bytes)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such object"))
    }
}
