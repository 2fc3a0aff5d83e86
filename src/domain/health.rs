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
