//! The system under test: one `lwm2m-node` and (for routed reads) one `lwm2m-gateway`, started
//! through the harness as real processes — the binaries next to the bench executable, so that
//! `target/release/lwm2m-bench` measures release servers — and stopped by PID.

use std::time::Duration;

use sqlx::PgPool;

use super::BenchError;
use crate::harness::{self, Gateway, Node, Services};

/// The servers run at `warn`: an info line per registration would be part of the figure.
const SERVER_LOG: &str = "warn";

pub struct Cluster {
    pub services: Services,
    pub node: Node,
    pub gateway: Option<Gateway>,
    pub pool: PgPool,
}

impl Cluster {
    /// Starts a node on a free loopback port and, when `with_gateway`, a gateway.
    pub async fn start(services: Services, with_gateway: bool) -> Result<Cluster, BenchError> {
        let svc = services.clone();
        let (node, gateway) = tokio::task::spawn_blocking(move || {
            let id = harness::unique("bench-node");
            let node =
                harness::start_node_logged(&svc, &id, harness::free_udp_port(), &[], SERVER_LOG);
            let gateway = with_gateway.then(|| {
                harness::start_gateway_logged(&svc, &harness::unique("bench-gw"), &[], SERVER_LOG)
            });
            (node, gateway)
        })
        .await
        .map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&services.database_url)
            .await?;
        Ok(Cluster {
            services,
            node,
            gateway,
            pool,
        })
    }

    pub fn gateway_url(&self) -> Option<&str> {
        self.gateway.as_ref().map(|g| g.url.as_str())
    }

    /// Rows of `registrations` whose endpoint starts with `prefix` (an ASCII prefix without
    /// LIKE wildcards: the bench makes them).
    pub async fn registrations(&self, prefix: &str) -> Result<i64, BenchError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM registrations WHERE endpoint LIKE $1 || '%'")
                .bind(prefix)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// SIGTERM to gateway and node (by PID), SIGKILL after a grace period.
    pub async fn stop(mut self) {
        tokio::task::spawn_blocking(move || {
            if let Some(g) = self.gateway.as_mut() {
                g.proc.terminate(Duration::from_secs(5));
            }
            self.node.proc.terminate(Duration::from_secs(5));
            self
        })
        .await
        .ok();
    }

    /// Stops the servers, then removes the registrations of every prefix in `prefixes`.
    pub async fn stop_and_forget(self, prefixes: &[String]) -> Result<(), BenchError> {
        let pool = self.pool.clone();
        self.stop().await;
        for p in prefixes {
            sqlx::query("DELETE FROM registrations WHERE endpoint LIKE $1 || '%'")
                .bind(p)
                .execute(&pool)
                .await?;
        }
        Ok(())
    }
}
