//! `mailroom user create`: administrators of the web UI (Argon2id password hashes).

use clap::Subcommand;

use super::cli_actor;
use super::output::read_password;
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an administrator; the password is asked for, or read with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(app: &App, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin, "Password", true)?;
            let id = app.create_user(&cli_actor(), &username, &password).await?;
            println!("Created administrator {username:?} (id {id}).");
            Ok(())
        }
    }
}
