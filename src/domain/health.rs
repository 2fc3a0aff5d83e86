//! A credential's processing health: one state with one text form (stored, shown, sent).
//! Must not decide when a state changes (that is `app::processing`).

use std::fmt;

use serde::{Serialize, Serializer};

/// Where a credential's processing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthState {
    /// Not polled yet since it was added, edited or resumed.
    #[default]
    Idle,
    /// The last poll succeeded.
    Healthy,
    /// The last poll failed; the next attempt waits for its back-off.
    Failing,
    /// Paused after repeated login rejections, until an edit, a password change or a
    /// successful test resumes it.
    PausedAuth,
    /// The OAuth2 sign-in is no longer valid (`invalid_grant`, consent, the app's settings):
    /// nothing retries until a person signs in again or fixes the app.
    SignInAgain,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Healthy => "healthy",
            Self::Failing => "failing",
            Self::PausedAuth => "paused_auth",
            Self::SignInAgain => "sign_in_again",
        }
    }

    /// The stored text; anything unknown reads as idle (the next poll sets it right).
    pub fn parse(text: &str) -> Self {
        match text {
            "healthy" => Self::Healthy,
            "failing" => Self::Failing,
            "paused_auth" => Self::PausedAuth,
            "sign_in_again" => Self::SignInAgain,
            _ => Self::Idle,
        }
    }

    /// The state in a word or two, for a person.
    pub fn title(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Healthy => "Healthy",
            Self::Failing => "Failing",
            Self::PausedAuth => "Paused: login refused",
            Self::SignInAgain => "Sign in again",
        }
    }

    /// What the state means and what to do about it, in a sentence.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Idle => {
                "Not polled yet since it was added, changed or resumed; the next poll starts soon."
            }
            Self::Healthy => "The last poll reached the mailbox and took in its new mail.",
            Self::Failing => {
                "The last poll failed; Mailroom tries again by itself, waiting longer each time. \
                 Click Test Connection to see which step fails: a wrong password needs Change \
                 Password, a host that is not found needs Host checked, a certificate the \
                 Advanced section."
            }
            Self::PausedAuth => {
                "The server refused the login several times, so polls are paused to keep the \
                 account from being locked. Change Password (or fix the login name), then Test \
                 Connection: a successful test resumes it."
            }
            Self::SignInAgain => {
                "The OAuth2 sign-in is no longer accepted; nothing is retried. Click Reconnect \
                 (or fix the OAuth app) to sign in again."
            }
        }
    }

    /// Whether the workers leave this credential alone until someone acts.
    pub fn is_paused(self) -> bool {
        matches!(self, Self::PausedAuth | Self::SignInAgain)
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for HealthState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HealthState;

    #[test]
    fn every_state_reads_back_from_its_text() {
        for s in [
            HealthState::Idle,
            HealthState::Healthy,
            HealthState::Failing,
            HealthState::PausedAuth,
            HealthState::SignInAgain,
        ] {
            assert_eq!(HealthState::parse(s.as_str()), s);
        }
    }
}
