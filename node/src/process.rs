//! Process plumbing shared by the node and gateway binaries: logging set-up and the shutdown signal.

/// Logs to stderr; `RUST_LOG` filters (default `info`, and webrtc-dtls's per-handshake warnings
/// about extensions it does not know held back).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,webrtc_dtls=error".into()),
        )
        .init();
}

/// Resolves on SIGTERM (how orchestrators stop a process) or Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
