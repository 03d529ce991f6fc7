//! Where message media lives. A local directory by default (in the server crate);
//! an object store can implement the same trait.

use async_trait::async_trait;

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` (a relative path of `[a-z0-9-]` segments).
    async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()>;

    /// The bytes under `key`, or `None` when there are none.
    async fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;
}
