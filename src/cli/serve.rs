//! `mailroom serve`: the first-start bootstrap, the mailbox workers, and the HTTP server until
//! SIGTERM or Ctrl-C.

use std::sync::Arc;

use clap::Args;

use crate::app::App;
use crate::config::DEFAULT_LISTEN;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "MAILROOM_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Serve the API and pages only; do not process mailboxes.
    #[arg(long)]
    pub no_processing: bool,
}

pub async fn run(app: App, args: ServeArgs) -> anyhow::Result<()> {
    // Signal handlers first, so a stop request that comes right after start is not lost.
    let shutdown = shutdown_signal()?;
    if let Some(first) = app.first_start().await? {
        println!(
            "First start: created the administrator and an API token. They are shown only this once:"
        );
        println!("  admin username: {}", first.username);
        println!("  admin password: {}", first.password.expose());
        println!("  API token:      {}", first.token.token);
    }
    let (listener, addr) = crate::web::bind(&args.listen).await?;
    let app = Arc::new(app);
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let workers = (!args.no_processing).then(|| {
        tokio::spawn(crate::app::processing::run_workers(
            app.clone(),
            workers_stopped,
        ))
    });
    println!("Mailroom listening on http://{addr}");
    tracing::info!(%addr, backend = app.store().backend_name(), "listening");
    crate::web::serve(listener, app.clone(), shutdown).await?;
    let _ = stop_workers.send(true);
    if let Some(w) = workers {
        let _ = w.await;
    }
    app.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// A future that completes on SIGTERM or Ctrl-C; the handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
