//! Aliases in a real browser: add an alias on the credential page, see the credential's delete
//! refused naming that alias, delete the alias, then the credential. A screenshot of the
//! credential page with its aliases lands in `test-artifacts/`.

use serde_json::json;

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app};
use crate::browser::Browser;
use crate::helpers::valid_credential;

#[tokio::test]
async fn aliases_on_the_credential_page_in_a_browser() {
    let (app, _) = admin_app().await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let mailbox = c["mailbox"].as_str().unwrap().to_string();
    let ws = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await;
    assert_eq!(ws.status, 201, "{}", ws.text);
    let ws = ws.body["id"].as_i64().unwrap();
    let b = Browser::start().await;

    // Signing in leads back to the credential page.
    b.goto(&format!("{}/admin/email-integration/{id}", app.base))
        .await;
    b.fill("#username", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("#alias-list", "No aliases yet").await;

    // New alias: the mailbox is proposed; pick the workspace, preset a field, save.
    b.click("#new-alias").await;
    b.wait_text("h1", "New alias").await;
    assert_eq!(
        b.css("#email_alias")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(mailbox.as_str())
    );
    b.css("#workspace_id")
        .await
        .select_by_value(&ws.to_string())
        .await
        .unwrap();
    b.fill("#fm_category", "Payroll questions").await;
    b.screenshot("alias-form-new").await;
    b.click("#save-alias").await;
    b.wait_text(".flash", &format!("Alias {mailbox} saved."))
        .await;
    let row = b.wait_text("#alias-list tbody tr", &mailbox).await;
    assert!(
        row.contains("Payroll") && row.contains("Client Service Case") && row.contains("No Reply"),
        "{row}"
    );
    b.screenshot("credential-aliases").await;
    let alias_id = app
        .get(&format!("/api/v1/credentials/{id}/aliases"))
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();

    // The credential's Delete page says it still has an alias before asking, and leads to it.
    b.click("#delete-credential").await;
    b.wait_text("h1", "Delete").await;
    let blocked = b.wait_text("#delete-blocked", "still has 1 alias").await;
    assert!(blocked.contains("cannot be"), "{blocked}");
    b.click("#go-to-aliases").await;
    b.wait_text("#alias-list", &mailbox).await;
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        200
    );

    // Delete the alias from the credential page, then the credential goes.
    b.goto(&format!("{}/admin/email-integration/{id}", app.base))
        .await;
    b.click(&format!("tr[data-alias-id='{alias_id}'] a.delete-alias"))
        .await;
    b.wait_text("h1", "Delete alias").await;
    b.click("#confirm-delete-alias").await;
    b.wait_text("#alias-list", "No aliases yet").await;
    b.click("#delete-credential").await;
    b.wait_text("h1", "Delete").await;
    b.click("#confirm-delete").await;
    b.wait_text(".flash", "Credential deleted").await;
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        404
    );
    b.close().await;
}
