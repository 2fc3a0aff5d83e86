//! The admin UI in a real browser against the test Dovecot: sign in, add a credential with
//! Test Connection, details without the password, Change Password, test the saved credential
//! ("Invalid Password", then "Connected Successfully"), delete. Screenshots of the dashboard
//! and the form land in `test-artifacts/`.

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app};
use crate::browser::Browser;
use crate::dovecot::{Dovecot, PASSWORD as MAILBOX_PASSWORD, USER};

#[tokio::test]
async fn add_test_change_password_and_delete_in_a_browser() {
    let d = Dovecot::start();
    d.seed(2, 1);
    let (app, _) = admin_app().await;
    let b = Browser::start().await;

    // Any admin page sends an anonymous visitor to the login page.
    b.goto(&format!("{}/admin/email-integration", app.base))
        .await;
    assert!(b.url().await.contains("/admin/login"), "{}", b.url().await);
    b.fill("#username", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("h1", "Email Integration").await;

    // New Email Integration: defaults, and Test Connection disabled until every field is filled.
    b.click("#add-credential").await;
    b.wait_text("h1", "New Email Integration").await;
    let port = b.css("#port").await.prop("value").await.unwrap();
    assert_eq!(port.as_deref(), Some("993"));
    assert!(
        b.css("#use_secure_connection")
            .await
            .is_selected()
            .await
            .unwrap()
    );
    assert!(
        !b.is_enabled("#test-connection").await,
        "disabled while fields are empty"
    );
    b.fill("#mailbox", USER).await;
    b.fill("#password", MAILBOX_PASSWORD).await;
    b.fill("#host", "127.0.0.1").await;
    b.fill("#port", &d.imap_port.to_string()).await;
    b.click("#use_secure_connection").await;
    assert!(
        b.text("#insecure-warning").await.contains("clear text"),
        "turning security off warns"
    );
    b.fill("#configuration_name", "Payroll").await;
    assert!(
        !b.is_enabled("#test-connection").await,
        "disabled while Description is empty"
    );
    b.fill("#description", "Payroll inbox").await;
    assert!(
        b.is_enabled("#test-connection").await,
        "enabled once every required field is filled"
    );

    // Test Connection against the test Dovecot, on the typed values; nothing changes there.
    b.click("#test-connection").await;
    b.wait_text("#test-message", "We were able to connect to your mailbox.")
        .await;
    assert!(
        b.text("#inbox-counts")
            .await
            .contains("3 messages, 2 unread")
    );
    assert_eq!(d.seen_count(), 1, "the test changed no flag");
    b.scroll_to("#test-outcome").await;
    b.screenshot("credential-form-new").await;
    b.click("#save").await;
    b.wait_text(".flash", "Credential saved").await;
    let url = b.url().await;
    let id: i64 = url
        .rsplit('/')
        .next()
        .unwrap()
        .split(['?', '#'])
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // Details: no input holds the password, in the DOM or the page source.
    let no_password_anywhere = async || {
        let values = b.input_values().await;
        assert!(
            values.iter().all(|v| !v.contains(MAILBOX_PASSWORD)),
            "{values:?}"
        );
        assert!(!b.source().await.contains(MAILBOX_PASSWORD));
    };
    no_password_anywhere().await;
    b.screenshot("credential-form-details").await;
    // The password field stays hidden (and empty) until a value that decides where the stored
    // password goes changes; then it appears and Test Connection waits for it.
    let shown = async || b.css("#password-again").await.is_displayed().await.unwrap();
    assert!(!shown().await, "hidden while nothing moved");
    let port = d.imap_port.to_string();
    b.fill("#port", "10993").await;
    assert!(shown().await, "shown once the port changed");
    assert!(!b.is_enabled("#test-connection").await);
    b.fill("#password", "typed").await;
    assert!(b.is_enabled("#test-connection").await);
    b.scroll_to("#password-again").await;
    b.screenshot("credential-form-password-again").await;
    b.fill("#password", "").await;
    b.fill("#port", &port).await;
    assert!(!shown().await, "hidden again with the saved port");

    // Change Password: a mismatch is an error and changes nothing; then a matching pair.
    b.click("#open-change-password").await;
    b.fill("#new_password", "New-Secret-1").await;
    b.fill("#confirm_password", "New-Secret-2").await;
    b.click("#change-password-ok").await;
    b.wait_text("#confirm_password-error", "do not match").await;
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        MAILBOX_PASSWORD
    );
    b.fill("#new_password", "New-Secret-1").await;
    b.fill("#confirm_password", "New-Secret-1").await;
    b.click("#change-password-ok").await;
    b.wait_text(".flash", "Password changed").await;
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "New-Secret-1"
    );

    // Test Connection with the stored password: wrong now, so "Invalid Password".
    b.click("#test-connection").await;
    b.wait_text("#test-message", "Invalid Password").await;
    // The mailbox's real password again: "Connected Successfully".
    b.click("#open-change-password").await;
    b.fill("#new_password", MAILBOX_PASSWORD).await;
    b.fill("#confirm_password", MAILBOX_PASSWORD).await;
    b.click("#change-password-ok").await;
    b.wait_text(".flash", "Password changed").await;
    b.click("#test-connection").await;
    b.wait_text("#test-message", "Connected Successfully").await;
    no_password_anywhere().await;

    // The dashboard lists it with the last test.
    b.goto(&format!("{}/admin/email-integration", app.base))
        .await;
    let row = b.text("#credentials tbody tr").await;
    assert!(row.contains("Payroll") && row.contains(USER), "{row}");
    assert!(
        row.contains(&format!("127.0.0.1:{}", d.imap_port)) && row.contains("Connected"),
        "{row}"
    );
    b.screenshot("dashboard").await;

    // Delete asks for confirmation, then deletes.
    b.click(&format!("tr[data-id='{id}'] a.danger")).await;
    b.wait_text("h1", "Delete").await;
    b.click("#confirm-delete").await;
    b.wait_text(".flash", "Credential deleted").await;
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        404
    );
    b.close().await;
}
