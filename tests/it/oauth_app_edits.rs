//! Editing an OAuth app over the API: presets fill only what was left empty; an edit keeps a
//! hand-set authorize URL, token URL or scopes, and a change of tenant or flow moves only the
//! values that still equal the old preset.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const MS: &str = "https://login.microsoftonline.com";

async fn patch(app: &TestApp, id: i64, body: Value) -> Value {
    let r = app.patch(&format!("/api/v1/oauth-apps/{id}"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test]
async fn an_edit_keeps_hand_set_endpoints_and_scopes_and_moves_only_the_presets() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Contoso", "provider": "microsoft", "client_id": "client",
                    "tenant": "contoso.com", "token_url": "https://proxy.contoso.com/token",
                    "scopes": "offline_access https://outlook.office.com/IMAP.AccessAsUser.All openid"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let hand_set = |b: &Value| {
        assert_eq!(b["token_url"], "https://proxy.contoso.com/token", "{b}");
        assert_eq!(
            b["scopes"], "offline_access https://outlook.office.com/IMAP.AccessAsUser.All openid",
            "{b}"
        );
    };
    hand_set(&created.body);
    assert_eq!(
        created.body["authorize_url"],
        format!("{MS}/contoso.com/oauth2/v2.0/authorize"),
        "left empty: the preset"
    );

    // A rename (also one that repeats the provider and tenant) changes nothing else.
    let b = patch(&app, id, json!({"name": "Contoso mail"})).await;
    hand_set(&b);
    let b = patch(
        &app,
        id,
        json!({"name": "Contoso", "provider": "microsoft", "tenant": "contoso.com"}),
    )
    .await;
    hand_set(&b);
    assert_eq!(
        b["authorize_url"],
        format!("{MS}/contoso.com/oauth2/v2.0/authorize")
    );

    // A new tenant moves the authorize URL that was the old tenant's preset, not the rest.
    let b = patch(&app, id, json!({"tenant": "fabrikam.com"})).await;
    hand_set(&b);
    assert_eq!(
        b["authorize_url"],
        format!("{MS}/fabrikam.com/oauth2/v2.0/authorize")
    );

    // Values given in the edit win over the presets.
    let b = patch(
        &app,
        id,
        json!({"token_url": format!("{MS}/fabrikam.com/oauth2/v2.0/token")}),
    )
    .await;
    assert_eq!(
        b["token_url"],
        format!("{MS}/fabrikam.com/oauth2/v2.0/token")
    );

    // A preset app follows its presets: a new flow takes the app-only scopes.
    let plain = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Plain", "provider": "microsoft", "client_id": "c2",
                    "tenant": "contoso.com"}),
        )
        .await;
    assert_eq!(plain.status, 201, "{}", plain.text);
    let plain_id = plain.body["id"].as_i64().unwrap();
    let b = patch(
        &app,
        plain_id,
        json!({"flow": "client_credentials", "client_secret": "Secret-Ibis-5512"}),
    )
    .await;
    assert_eq!(b["scopes"], "https://outlook.office365.com/.default", "{b}");
    assert_eq!(b["authorize_url"], Value::Null);
    assert_eq!(
        b["token_url"],
        format!("{MS}/contoso.com/oauth2/v2.0/token")
    );
}
