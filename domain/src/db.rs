//! The PostgreSQL pool and the schema migrations.

use crate::config::DatabaseSettings;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

/// The migrations in `migrations/`, embedded in every binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so a process starts (and reports
/// not-ready) while the database is still coming up.
pub fn pool(settings: &DatabaseSettings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(settings.url.clone())
}

/// Applies every migration not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
