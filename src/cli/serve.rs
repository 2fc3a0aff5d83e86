//! `mailroom serve`: the first-start bootstrap, then the HTTP server until SIGTERM or Ctrl-C.

use std::sync::Arc;

use clap::Args;

use crate::app::App;
use crate::config::DEFAULT_LISTEN;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "MAILROOM_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
}

pub async fn run(app: App, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(first) = app.first_start().await? {
        println!(
            "First start: created the administrator and an API token. They are shown only this once:"
        );
        println!("  admin username: {}", first.username);
        println!("  admin password: {}", first.password.expose());
        println!("  API token:      {}", first.token.token);
    }
    let (listener, addr) = crate::web::bind(&args.listen).await?;
    println!("Mailroom listening on http://{addr}");
    tracing::info!(%addr, backend = app.store().backend_name(), "listening");
    let app = Arc::new(app);
    crate::web::serve(listener, app.clone(), shutdown_signal()).await?;
    app.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
