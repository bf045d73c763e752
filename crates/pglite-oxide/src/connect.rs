//! In-process async clients: a real `tokio_postgres::Client` connected to
//! the embedded backend through an in-memory pipe. No socket, no port.

use tokio::io::DuplexStream;
use tokio_postgres::{Client, Config, Connection, NoTls};

use crate::database::Pglite;
use crate::error::{Error, Result};

/// Buffer size of the in-memory pipe, each way.
const PIPE_BUFFER: usize = 256 * 1024;

impl Pglite {
    /// A `tokio_postgres::Client` for this database, its connection driven
    /// by a task on the current tokio runtime (notifications it receives
    /// are dropped; use [`connect_raw`](Self::connect_raw) to see them).
    ///
    /// Must be called within a tokio runtime.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.connect_raw().await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "in-process connection ended");
            }
        });
        Ok(client)
    }

    /// A client and its connection, which the caller must poll (spawn it,
    /// or poll it for notifications as with `tokio_postgres::connect`).
    pub async fn connect_raw(
        &self,
    ) -> Result<(
        Client,
        Connection<DuplexStream, tokio_postgres::tls::NoTlsStream>,
    )> {
        let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
        let backend = self.backend().clone();
        tokio::spawn(async move {
            if let Err(err) = crate::frontend::serve(backend, theirs).await {
                tracing::debug!(%err, "in-process connection failed");
            }
        });
        let mut config = Config::new();
        config.user(self.user()).dbname(self.database());
        config.connect_raw(ours, NoTls).await.map_err(Error::Client)
    }
}
