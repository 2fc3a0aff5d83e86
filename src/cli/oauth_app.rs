//! `mailroom oauth-app …`: list, show, add, edit, delete the OAuth apps credentials sign in
//! through. The client secret is read from a prompt or with `--client-secret-stdin`, never
//! from a flag, and is never printed (only "set" / "not set").

use clap::{Args, Subcommand};

use super::output::{print_fields, print_list, print_one, read_secret};
use super::{Format, Shown, cli_actor};
use crate::app::{App, OAuthAppView};
use crate::domain::{RawOAuthApp, Secret};

#[derive(Debug, Subcommand)]
pub enum OAuthAppCommand {
    /// List OAuth apps.
    List(Format),
    /// Show one OAuth app (never its client secret).
    Show(Shown),
    /// Add an OAuth app; the client secret is asked for (empty: none, a public client), or read
    /// with --client-secret-stdin.
    Add {
        #[command(flatten)]
        fields: AppArgs,
        /// Read the client secret from standard input instead of a prompt.
        #[arg(long)]
        client_secret_stdin: bool,
        /// Add no client secret (a public client that uses PKCE only).
        #[arg(long, conflicts_with = "client_secret_stdin")]
        no_client_secret: bool,
        #[command(flatten)]
        format: Format,
    },
    /// Edit fields; a new client secret with --client-secret-stdin or --ask-client-secret.
    Edit {
        #[command(flatten)]
        oauth_app: Shown,
        #[command(flatten)]
        fields: AppArgs,
        /// Read a new client secret from standard input.
        #[arg(long)]
        client_secret_stdin: bool,
        /// Ask for a new client secret at the terminal.
        #[arg(long, conflicts_with = "client_secret_stdin")]
        ask_client_secret: bool,
    },
    /// Delete an OAuth app (refused while a credential uses it).
    Delete { id: i64 },
}

#[derive(Debug, Args)]
pub struct AppArgs {
    #[arg(long)]
    name: Option<String>,
    /// microsoft, google or custom.
    #[arg(long)]
    provider: Option<String>,
    /// authorization_code (default) or client_credentials.
    #[arg(long)]
    flow: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    /// Microsoft: the directory (tenant) id or a verified domain.
    #[arg(long)]
    tenant: Option<String>,
    /// Custom provider: the authorize endpoint (https).
    #[arg(long)]
    authorize_url: Option<String>,
    /// Custom provider: the token endpoint (https).
    #[arg(long)]
    token_url: Option<String>,
    /// Space-separated scopes (default: the provider's preset).
    #[arg(long)]
    scopes: Option<String>,
}

impl AppArgs {
    fn into_raw(self) -> RawOAuthApp {
        RawOAuthApp {
            name: self.name,
            provider: self.provider,
            flow: self.flow,
            client_id: self.client_id,
            client_secret: None,
            tenant: self.tenant,
            authorize_url: self.authorize_url,
            token_url: self.token_url,
            scopes: self.scopes,
        }
    }
}

/// The client secret, from standard input (`--client-secret-stdin`) or a prompt.
fn client_secret(from_stdin: bool) -> anyhow::Result<Secret> {
    read_secret(from_stdin, "Client secret", "--client-secret-stdin", false)
}

fn set(b: bool) -> String {
    if b { "set" } else { "not set" }.to_string()
}

fn print_app(a: &OAuthAppView, json: bool) -> anyhow::Result<()> {
    print_one(a, json, |a| {
        print_fields(
            15,
            &[
                ("ID", a.id.to_string()),
                ("Name", a.name.clone()),
                ("Provider", a.provider.to_string()),
                ("Flow", a.flow.to_string()),
                ("Client ID", a.client_id.clone()),
                ("Client secret", set(a.has_client_secret)),
                ("Tenant", a.tenant.clone().unwrap_or_default()),
                ("Authorize URL", a.authorize_url.clone().unwrap_or_default()),
                ("Token URL", a.token_url.clone()),
                ("Scopes", a.scopes.clone()),
                ("Updated", format!("{} by {}", a.updated_at, a.updated_by)),
            ],
        )
    })
}

pub async fn run(app: &App, cmd: OAuthAppCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        OAuthAppCommand::List(format) => {
            let header = ["ID", "NAME", "PROVIDER", "FLOW", "CLIENT ID", "SECRET"];
            let items = app.list_oauth_apps().await?;
            print_list(&items, format.json, &header, |a| {
                vec![
                    a.id.to_string(),
                    a.name.clone(),
                    a.provider.to_string(),
                    a.flow.to_string(),
                    a.client_id.clone(),
                    set(a.has_client_secret),
                ]
            })
        }
        OAuthAppCommand::Show(s) => print_app(&app.get_oauth_app(s.id).await?, s.json),
        OAuthAppCommand::Add {
            fields,
            client_secret_stdin,
            no_client_secret,
            format,
        } => {
            let mut raw = fields.into_raw();
            if !no_client_secret {
                raw.client_secret = Some(client_secret(client_secret_stdin)?);
            }
            print_app(&app.create_oauth_app(&actor, &raw).await?, format.json)
        }
        OAuthAppCommand::Edit {
            oauth_app: Shown { id, json },
            fields,
            client_secret_stdin,
            ask_client_secret,
        } => {
            let mut raw = fields.into_raw();
            if client_secret_stdin || ask_client_secret {
                raw.client_secret = Some(client_secret(client_secret_stdin)?);
            }
            print_app(&app.update_oauth_app(&actor, id, &raw).await?, json)
        }
        OAuthAppCommand::Delete { id } => {
            app.delete_oauth_app(&actor, id).await?;
            println!("Deleted OAuth app {id}.");
            Ok(())
        }
    }
}

/// `credential sign-in`: prints the authorization URL, then finishes with the address the
/// browser was sent back to (read from standard input; its code is single use).
pub async fn sign_in(
    app: &App,
    actor: &str,
    id: i64,
    redirect_uri: Option<String>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let public = app.settings().web().public_url.as_ref();
    let uri = redirect_uri
        .or_else(|| public.map(|p| format!("{}/admin/oauth/callback", p.origin)))
        .context(
            "no redirect URI: set MAILROOM_PUBLIC_URL (as for the service) or pass --redirect-uri",
        )?;
    let start = app.start_sign_in(id, &format!("cli:{actor}"), &uri).await?;
    println!("Open this address in a browser and sign in:");
    println!("{}", start.authorization_url);
    eprintln!(
        "Then paste the address the browser was sent back to ({uri}?code=…&state=…) and press Enter:"
    );
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the address from standard input")?;
    let mut query = line
        .trim()
        .split_once('?')
        .map_or("", |(_, q)| q)
        .to_string();
    zeroize::Zeroize::zeroize(&mut line);
    let (mut code, mut state, mut error) = (None, String::new(), None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(crate::domain::Secret::new(v.into_owned())),
            "state" => state = v.into_owned(),
            "error_description" => error = Some(v.into_owned()),
            "error" if error.is_none() => error = Some(v.into_owned()),
            _ => {}
        }
    }
    zeroize::Zeroize::zeroize(&mut query);
    if let Some(e) = error {
        app.cancel_sign_in(&state).await;
        anyhow::bail!("the provider did not sign in: {e}");
    }
    let code = code.context("that address holds no code=…: nothing was stored")?;
    let id = app.finish_sign_in(actor, None, &state, code).await?;
    println!("Signed in: the refresh token of credential {id} is stored sealed.");
    Ok(())
}
