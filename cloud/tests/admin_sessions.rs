//! The hub's admin sign-in is kept in its database: a pvm-cloud restart
//! signs nobody out, and signing out ends it for good.

mod common;

use common::*;
use reqwest::StatusCode;

async fn admin_page(c: &reqwest::Client, cloud: &Cloud) -> (StatusCode, String) {
    let resp = c
        .get(format!("{}/admin", cloud.url))
        .send()
        .await
        .expect("admin page");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_restart_signs_nobody_out_and_signing_out_ends_the_session() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let dir = tmp.path().join("cloud");
    let cloud = Cloud::start(&dir, &hub);
    let key = cloud.admin_key.clone();
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (status, _) = admin_page(&c, &cloud).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out at first");
    let login = c
        .post(format!("{}/admin/login", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("key", key.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let (status, body) = admin_page(&c, &cloud).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign out"), "{body}");

    drop(cloud);
    let cloud = Cloud::start_with_key(&dir, &hub, Some(key.clone()));
    let (status, body) = admin_page(&c, &cloud).await;
    assert_eq!(status, StatusCode::OK, "still signed in after a restart");
    assert!(body.contains("Sign out"), "{body}");

    // A new admin key (the operator replaced admin.key) signs everyone out.
    drop(cloud);
    std::fs::write(dir.join("admin.key"), "pvm_admin_a_new_key_for_this_test\n").expect("new key");
    let rotated =
        Cloud::start_with_key(&dir, &hub, Some("pvm_admin_a_new_key_for_this_test".into()));
    let (status, _) = admin_page(&c, &rotated).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a new admin key signs everyone out"
    );
    drop(rotated);
    std::fs::write(dir.join("admin.key"), format!("{key}\n")).expect("old key back");
    let cloud = Cloud::start_with_key(&dir, &hub, Some(key.clone()));
    let (status, _) = admin_page(&c, &cloud).await;
    assert_eq!(status, StatusCode::OK, "the old key's session again");

    let out = c
        .post(format!("{}/admin/logout", cloud.url))
        .header("Origin", &cloud.url)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (status, _) = admin_page(&c, &cloud).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out");
    // The old cookie, sent again by hand, is dead at the hub too.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/admin", cloud.url))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("replay");
    assert_eq!(
        replay.status(),
        StatusCode::SEE_OTHER,
        "{cookie} still works"
    );
}
