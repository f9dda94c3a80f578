//! The staff accounts page and the Venue page, used as an admin would with
//! a browser (cookies, CSRF field, forms): accounts are made, changed,
//! disabled and given new secrets with a message saying what happened; a
//! refused form keeps what was typed (never the secrets) and names the
//! field; the Venue page refuses a time zone the IANA database does not know.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn staff_list(node: &TestNode) -> Vec<Value> {
    node.client()
        .get(node.api("/api/v1/staff"))
        .send()
        .await
        .expect("list")
        .json::<Vec<Value>>()
        .await
        .expect("json")
}

#[tokio::test]
async fn an_admin_manages_accounts_on_the_staff_page() {
    let node = TestNode::start();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let post = |path: &str, form: Vec<(&str, &str)>| {
        let mut form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form.push(("_csrf".into(), csrf.clone()));
        page.post(node.api(path)).form(&form).send()
    };
    let get = |path: &str| {
        let req = page.get(node.api(path));
        async move {
            let r = req.send().await.expect("get");
            (r.status(), r.text().await.expect("text"))
        }
    };
    let (status, html) = get("/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/staff\""), "the nav links the page");

    // A short password: refused, naming it; what was typed comes back, the
    // password does not; nothing is stored.
    let refused = post(
        "/staff",
        vec![
            ("username", "Dana"),
            ("display_name", "Dana E."),
            ("role", "floor"),
            ("password", "short"),
            ("pin", ""),
        ],
    )
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("password"), "names the field: {html}");
    assert!(html.contains("value=\"Dana\"") && html.contains("value=\"Dana E.\""));
    assert!(
        !html.contains("value=\"short\""),
        "a secret is never sent back"
    );
    assert_eq!(staff_list(&node).await.len(), 1);

    let made = post(
        "/staff",
        vec![
            ("username", "Dana"),
            ("display_name", "Dana E."),
            ("role", "floor"),
            ("password", "dana-password-1"),
            ("pin", ""),
        ],
    )
    .await
    .expect("post");
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let to = made.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (_, html) = get(&to).await;
    assert!(
        html.contains("Dana E. (dana) can now log in as Floor."),
        "{html}"
    );
    let dana = staff_list(&node)
        .await
        .into_iter()
        .find(|u| u["username"] == "dana")
        .expect("dana stored lower case");
    let id = dana["id"].as_str().expect("id").to_owned();
    let token = login(&node.url, "dana", "dana-password-1").expect("dana logs in");

    // The same username again: refused with the domain's reason.
    let twice = post(
        "/staff",
        vec![
            ("username", "dana"),
            ("display_name", "Other"),
            ("role", "floor"),
            ("password", "other-password"),
        ],
    )
    .await
    .expect("post");
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert!(twice.text().await.expect("text").contains("dana"));

    let account = format!("/staff/{id}");
    let r = post(&account, vec![("role", "manager")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = get(r.headers()["location"].to_str().expect("loc")).await;
    assert!(html.contains("Dana E. (dana) is now Manager."), "{html}");

    let r = post(&account, vec![("enabled", "false")])
        .await
        .expect("post");
    let (_, html) = get(r.headers()["location"].to_str().expect("loc")).await;
    assert!(html.contains("is disabled"), "{html}");
    let me = client_with_token(&token)
        .get(node.api("/api/v1/auth/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled account's session ends"
    );
    let r = post(&account, vec![("enabled", "true")])
        .await
        .expect("post");
    let (_, html) = get(r.headers()["location"].to_str().expect("loc")).await;
    assert!(html.contains("is enabled again"), "{html}");

    // A PIN that is a straight run: refused naming the rule, account unchanged.
    let r = post(&account, vec![("password", ""), ("pin", "1234")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("text");
    assert!(html.contains("Dana E.: a PIN is 4 to 8 digits"), "{html}");
    let r = post(&account, vec![("password", ""), ("pin", "4821")])
        .await
        .expect("post");
    let (_, html) = get(r.headers()["location"].to_str().expect("loc")).await;
    assert!(html.contains("new password or PIN saved"), "{html}");
    let with_pin = client()
        .post(node.api("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "dana", "pin": "4821"}))
        .send()
        .await
        .expect("pin login");
    assert_eq!(with_pin.status(), StatusCode::OK);
    // A password is taken as typed, spaces included, as login takes it.
    let r = post(&account, vec![("password", "  two spaces  "), ("pin", "")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    login(&node.url, "dana", "  two spaces  ").expect("the password as typed");

    // The last enabled admin cannot be disabled, even by themselves.
    let admin_id = staff_list(&node)
        .await
        .into_iter()
        .find(|u| u["username"] == ADMIN)
        .and_then(|u| u["id"].as_str().map(String::from))
        .expect("admin");
    let r = post(&format!("/staff/{admin_id}"), vec![("enabled", "false")])
        .await
        .expect("post");
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(staff_list(&node).await.iter().all(|u| u["enabled"] == true));

    // Floor staff do not get the page.
    let floor_pw = "floor-user-password";
    let out = admin_create(&node.dir, "flo", "floor", floor_pw);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (flo, _) = browser_login(&node.url, "flo", floor_pw).await;
    let r = flo.get(node.api("/staff")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let home = flo
        .get(node.api("/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("text");
    assert!(
        !home.contains("href=\"/staff\""),
        "no link to a page they cannot use"
    );
}

#[tokio::test]
async fn the_venue_page_refuses_an_unknown_time_zone_and_keeps_what_was_typed() {
    let node = TestNode::start();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let form = |name: &str, tz: &str| {
        vec![
            ("_csrf".to_owned(), csrf.clone()),
            ("name".into(), name.into()),
            ("timezone".into(), tz.into()),
            ("primary".into(), "#112233".into()),
            ("accent".into(), "#445566".into()),
            ("background".into(), "#000000".into()),
        ]
    };
    let r = page
        .post(node.api("/settings"))
        .form(&form("Casino Olympus", "Mars/Olympus"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("text");
    assert!(html.contains("IANA"), "says why: {html}");
    assert!(html.contains("value=\"Casino Olympus\"") && html.contains("value=\"Mars/Olympus\""));
    assert!(
        html.contains("value=\"#112233\""),
        "the colours typed come back too"
    );
    let stored: Value = node
        .client()
        .get(node.api("/api/v1/venue"))
        .send()
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    assert_eq!(stored["timezone"], "UTC", "nothing was saved");
    // The API refuses it the same way.
    let api = node
        .client()
        .put(node.api("/api/v1/venue"))
        .json(&serde_json::json!({"name": "X", "timezone": "Mars/Olympus",
            "branding": {"primary": "#000000", "accent": "#000000", "background": "#000000"}}))
        .send()
        .await
        .expect("put");
    assert_eq!(api.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = page
        .post(node.api("/settings"))
        .form(&form("Casino Olympus", "Europe/Athens"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page
        .get(node.api(r.headers()["location"].to_str().expect("loc")))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Venue settings saved"), "{html}");
    assert!(
        html.contains("<option value=\"Europe/London\">"),
        "the zones to pick from"
    );
}

#[tokio::test]
async fn the_venue_page_uploads_the_logo_and_answers_there() {
    let node = TestNode::start();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let venue = page
        .get(node.api("/settings"))
        .send()
        .await
        .expect("venue")
        .text()
        .await
        .expect("text");
    assert!(venue.contains("No logo yet"), "{venue}");
    let upload = |bytes: Vec<u8>, file: &'static str| {
        let form = reqwest::multipart::Form::new().text("back", "venue").part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name(file),
        );
        page.post(node.api(&format!("/screens/logo?_csrf={csrf}")))
            .multipart(form)
            .send()
    };
    // Not an image: the Venue page again, saying why; nothing stored.
    let r = upload(b"GIF89a....".to_vec(), "x.gif").await.expect("bad");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let html = r.text().await.expect("text");
    assert!(
        html.contains("<title>Venue") && html.contains("only PNG, JPEG and WebP"),
        "{html}"
    );
    assert!(html.contains("No logo yet"));
    let r = upload(common::GREEN_PNG.to_vec(), "logo.png")
        .await
        .expect("good");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(to, "/settings?logo=saved");
    let html = page
        .get(node.api(&to))
        .send()
        .await
        .expect("venue")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("Logo saved: every screen shows it now."),
        "{html}"
    );
    assert!(
        html.contains("img class=\"logo\" src=\"/display/media/"),
        "{html}"
    );
}

#[tokio::test]
async fn the_log_page_pages_through_the_log_and_checks_the_chain() {
    let node = TestNode::start();
    for i in 0..60 {
        let r = node
            .client()
            .post(node.api("/api/v1/tables"))
            .json(&table_json(&format!("Table {i}")))
            .send()
            .await
            .expect("table");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let get = |path: String| {
        let req = page.get(node.api(&path));
        async move { req.send().await.expect("get").text().await.expect("text") }
    };
    let first = get("/log".into()).await;
    let rows = |html: &str| html.matches("<tr><td>").count();
    assert_eq!(rows(&first), 50, "a page of 50");
    assert!(first.contains("<td>table created</td>") && first.contains("Table 59"));
    // In words: fields named, ids shown as the names they stand for (as
    // the venue knows them now: a renamed table shows its new name).
    assert!(first.contains("name: Table 59"), "{first}");
    assert!(
        first.contains("id: Table 59"),
        "the table's id by name: {first}"
    );
    assert!(
        !first.contains("&quot;name&quot;:"),
        "no raw JSON in the details"
    );
    assert!(
        first.contains("admin (admin)") || first.contains("(admin)"),
        "who, by name"
    );
    assert!(first.contains("Not registered with a hub"));
    let older = first
        .split("href=\"/log?before=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an Older link")
        .to_owned();
    let second = get(format!("/log?before={older}")).await;
    let total: u64 = node
        .client()
        .get(node.api("/api/v1/events?after=0&limit=1000"))
        .send()
        .await
        .expect("events")
        .json::<Vec<Value>>()
        .await
        .expect("json")
        .len() as u64;
    assert_eq!(
        rows(&second) as u64,
        total - 50,
        "the rest on the next page"
    );
    assert!(second.contains("← Newer"));
    assert!(
        get("/log?before=junk".into()).await.contains("<tr><td>"),
        "a bad link shows the newest"
    );

    let checked = page
        .post(node.api("/log/verify"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("verify");
    assert_eq!(checked.status(), StatusCode::SEE_OTHER);
    let after = get("/log".into()).await;
    assert!(
        after.contains(&format!(
            "Checked: {total} events in order, every hash and signature good, up to #{total}."
        )),
        "{after}"
    );

    let out = admin_create(&node.dir, "flo", "floor", "floor-user-password");
    assert!(out.status.success());
    let (flo, _) = browser_login(&node.url, "flo", "floor-user-password").await;
    let r = flo.get(node.api("/log")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the log is for managers");
}

#[tokio::test]
async fn api_keys_are_made_shown_once_and_revoked_on_their_page() {
    let node = TestNode::start();
    let out = admin_create(&node.dir, "mia", "manager", "manager-password-1");
    assert!(out.status.success());
    let (page, csrf) = browser_login(&node.url, "mia", "manager-password-1").await;
    let made = page
        .post(node.api("/keys"))
        .form(&[("_csrf", csrf.as_str()), ("name", "Leaderboard website")])
        .send()
        .await
        .expect("post");
    assert_eq!(made.status(), StatusCode::CREATED);
    assert_eq!(
        made.headers()["cache-control"],
        "no-store",
        "the secret is not cached"
    );
    let html = made.text().await.expect("text");
    let key = html
        .split("<pre><code>")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .expect("the key, shown once")
        .to_owned();
    assert!(key.starts_with("pvm_key_"), "{key}");
    let with_key = client_with_token(&key);
    let me = with_key
        .get(node.api("/api/v1/auth/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK, "the key acts as its maker");
    let listed = page
        .get(node.api("/keys"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(listed.contains("Leaderboard website") && listed.contains("acts as mia"));
    assert!(!listed.contains(&key), "never shown again");

    // A name the domain refuses: the reason, and what was typed kept.
    let long = "x".repeat(200);
    let refused = page
        .post(node.api("/keys"))
        .form(&[("_csrf", csrf.as_str()), ("name", long.as_str())])
        .send()
        .await
        .expect("post");
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert!(refused.text().await.expect("text").contains(&long));

    // An admin sees everyone's keys and may revoke any.
    let (admin, admin_csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let all = admin
        .get(node.api("/keys"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        all.contains("Leaderboard website"),
        "an admin sees everyone's keys"
    );

    let id = listed
        .split("action=\"/keys/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("a revoke form")
        .to_owned();
    let revoked = admin
        .post(node.api(&format!("/keys/{id}/revoke")))
        .form(&[("_csrf", admin_csrf.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let after = admin
        .get(node.api("/keys"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        after.contains(
            "Key “Leaderboard website” revoked: anything using it is refused from now on."
        ),
        "{after}"
    );
    let me = with_key
        .get(node.api("/api/v1/auth/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused"
    );

    // Floor staff have no keys page.
    let out = admin_create(&node.dir, "flo", "floor", "floor-user-password");
    assert!(out.status.success());
    let (flo, _) = browser_login(&node.url, "flo", "floor-user-password").await;
    assert_eq!(
        flo.get(node.api("/keys"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn players_are_found_added_and_corrected_on_their_page() {
    let node = TestNode::start();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let post = |path: &str, form: Vec<(&str, &str)>| {
        let mut form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form.push(("_csrf".into(), csrf.clone()));
        page.post(node.api(path)).form(&form).send()
    };
    let get = |path: &str| {
        let req = page.get(node.api(path));
        async move {
            let r = req.send().await.expect("get");
            (r.status(), r.text().await.expect("text"))
        }
    };
    let players = || async {
        node.client()
            .get(node.api("/api/v1/players"))
            .send()
            .await
            .expect("players")
            .json::<Vec<Value>>()
            .await
            .expect("json")
    };
    let (status, html) = get("/players").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/players\""), "the nav links the page");
    assert!(html.contains("No players yet"), "{html}");

    // A bad email: refused, naming the field, with everything typed kept.
    let refused = post(
        "/players",
        vec![
            ("name", "Dana Ellis"),
            ("nickname", "Dee"),
            ("phone", "555 0100"),
            ("email", "not-an-address"),
            ("notes", "likes seat 1"),
        ],
    )
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("email"), "names the field: {html}");
    assert!(html.contains("value=\"Dana Ellis\"") && html.contains("value=\"not-an-address\""));
    assert!(html.contains("likes seat 1"), "the notes come back too");
    assert!(players().await.is_empty(), "nothing stored");

    let made = post(
        "/players",
        vec![
            ("name", "Dana Ellis"),
            ("nickname", "Dee"),
            ("phone", "555 0100"),
            ("email", ""),
            ("notes", "likes seat 1"),
        ],
    )
    .await
    .expect("post");
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let to = made.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (_, html) = get(&to).await;
    assert!(
        html.contains("Dana Ellis added to the directory."),
        "{html}"
    );
    let stored = players().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["nickname"], "Dee");
    assert_eq!(stored[0]["email"], Value::Null, "an empty field is none");
    let id = stored[0]["id"].as_str().expect("id").to_owned();
    post(
        "/players",
        vec![
            ("name", "Bob Ray"),
            ("nickname", ""),
            ("phone", ""),
            ("email", ""),
            ("notes", ""),
        ],
    )
    .await
    .expect("post");

    // Found by nickname, and only them.
    let (_, html) = get("/players?q=dee").await;
    assert!(
        html.contains("<span class=\"name\">Dana Ellis</span>")
            && !html.contains("<span class=\"name\">Bob Ray</span>"),
        "{html}"
    );
    let (_, html) = get("/players?q=nobody").await;
    assert!(html.contains("No player answers to"), "{html}");

    // An edit with the name emptied: refused, the card open as typed, the
    // record unchanged; a good edit is saved and said.
    let path = format!("/players/{id}");
    let refused = post(
        &path,
        vec![
            ("name", " "),
            ("nickname", "Dee"),
            ("phone", "555 0199"),
            ("email", ""),
            ("notes", ""),
        ],
    )
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(
        html.contains("Dana Ellis: name"),
        "names whose and which field: {html}"
    );
    assert!(
        html.contains("value=\"555 0199\""),
        "the typed phone comes back"
    );
    assert_eq!(
        players()
            .await
            .iter()
            .find(|p| p["id"] == id.as_str())
            .expect("dana")["phone"],
        "555 0100"
    );
    let saved = post(
        &path,
        vec![
            ("name", "Dana Ellis-Ray"),
            ("nickname", "Dee"),
            ("phone", "555 0199"),
            ("email", "dana@example.org"),
            ("notes", ""),
        ],
    )
    .await
    .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, html) = get("/players").await;
    assert!(html.contains("Dana Ellis-Ray saved."), "{html}");
    let dana = players()
        .await
        .into_iter()
        .find(|p| p["id"] == id.as_str())
        .expect("dana");
    assert_eq!(dana["email"], "dana@example.org");
    assert_eq!(dana["notes"], "", "notes cleared as typed");

    // A player who is not there.
    let gone = post(
        &format!("/players/{}", uuid::Uuid::now_v7()),
        vec![("name", "X")],
    )
    .await
    .expect("post");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_rules_are_set_on_their_page_and_a_bad_field_is_named() {
    let node = TestNode::start();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let post = |form: Vec<(&str, &str)>| {
        let mut form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form.push(("_csrf".into(), csrf.clone()));
        page.post(node.api("/cash/rules")).form(&form).send()
    };
    let policy = || async {
        node.client()
            .get(node.api("/api/v1/cash"))
            .send()
            .await
            .expect("board")
            .json::<Value>()
            .await
            .expect("json")["policy"]
            .clone()
    };
    let before = policy().await;
    assert_eq!(before["call_timeout_secs"], 180, "{before}");
    let html = page
        .get(node.api("/cash/rules"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("name=\"call_minutes\"") && html.contains("value=\"3\""),
        "{html}"
    );
    let board = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        board.contains("href=\"/cash/rules\""),
        "the board links the rules"
    );

    // Ten seconds is too short: refused, named, as typed; nothing stored.
    let refused = post(vec![
        ("call_minutes", "0"),
        ("call_seconds", "10"),
        ("no_show", "move-down"),
        ("places", "3"),
        ("new_table_at", "7"),
    ])
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("Call timer"), "names the field: {html}");
    assert!(
        html.contains("value=\"10\"") && html.contains("value=\"7\""),
        "as typed: {html}"
    );
    assert_eq!(policy().await, before, "nothing stored");

    let saved = post(vec![
        ("call_minutes", "2"),
        ("call_seconds", "30"),
        ("no_show", "move-down"),
        ("places", "3"),
        ("new_table_at", "7"),
    ])
    .await
    .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let to = saved.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let html = page
        .get(node.api(&to))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("List rules saved: 2 min 30 s to reach the table, a no-show moves down 3 places, a seat keeps other lists, a new table at 7 waiting."),
        "{html}"
    );
    let after = policy().await;
    assert_eq!(after["call_timeout_secs"], 150);
    assert_eq!(
        after["no_show"],
        serde_json::json!({"action": "move_down", "places": 3})
    );
    assert_eq!(after["seat_removes_other_lists"], false, "an unticked box");
    assert_eq!(after["new_table_at"], 7);
}

#[tokio::test]
async fn a_walk_in_is_seated_at_once_and_a_table_made_must_move_from_the_board() {
    let node = TestNode::start();
    let c = node.client();
    let t: Value = c
        .post(node.api("/api/v1/tables"))
        .json(&common::table_json("Feature"))
        .send()
        .await
        .expect("table")
        .json()
        .await
        .expect("json");
    let table = t["id"].as_str().expect("id").to_owned();
    c.post(node.api(&format!("/api/v1/tables/{table}/open")))
        .send()
        .await
        .expect("open");
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let post = |path: String, form: Vec<(&str, &str)>| {
        let mut form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form.push(("_csrf".into(), csrf.clone()));
        page.post(node.api(&path)).form(&form).send()
    };
    let board = || async {
        c.get(node.api("/api/v1/cash"))
            .send()
            .await
            .expect("board")
            .json::<Value>()
            .await
            .expect("json")
    };
    let html = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("Seat someone now") && html.contains("Make must-move"),
        "{html}"
    );

    // A walk-in: added to the directory and seated in one commit.
    let head = |b: Value| {
        b["tables"][0]["occupied"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    let r = post(
        format!("/cash/tables/{table}/seat"),
        vec![("name", "Gus Hale"), ("seat", "4")],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let html = page
        .get(node.api(&to))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("Gus Hale seated at Feature, seat 4."),
        "{html}"
    );
    let b = board().await;
    assert_eq!(head(b.clone()), 1);
    assert_eq!(b["tables"][0]["occupied"][0]["seat"], 4);
    let players: Vec<Value> = c
        .get(node.api("/api/v1/players"))
        .send()
        .await
        .expect("players")
        .json()
        .await
        .expect("json");
    assert_eq!(players.len(), 1, "one walk-in added");

    // The seat taken: refused with the domain's reason, and nobody added.
    let r = post(
        format!("/cash/tables/{table}/seat"),
        vec![("name", "Ivy Ng"), ("seat", "4")],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let players: Vec<Value> = c
        .get(node.api("/api/v1/players"))
        .send()
        .await
        .expect("players")
        .json()
        .await
        .expect("json");
    assert_eq!(players.len(), 1, "a refused seat adds no walk-in");

    // Must-move on, said, and off again.
    let r = post(
        format!("/cash/tables/{table}/must-move"),
        vec![("must_move", "true")],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Feature is now a must-move table"), "{html}");
    assert_eq!(board().await["tables"][0]["must_move"], true);
    let r = post(
        format!("/cash/tables/{table}/must-move"),
        vec![("must_move", "maybe")],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    post(
        format!("/cash/tables/{table}/must-move"),
        vec![("must_move", "false")],
    )
    .await
    .expect("post");
    assert_eq!(board().await["tables"][0]["must_move"], false);
}

#[tokio::test]
async fn a_registration_on_the_panel_says_the_seat_drawn() {
    let node = TestNode::start();
    let c = node.client();
    let t: Value = c
        .post(node.api("/api/v1/tournaments"))
        .json(&serde_json::json!({"name": "Monday Turbo", "template": "turbo", "tables": 2}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = t["id"].as_str().expect("id").to_owned();
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let register = |name: &str| {
        let form = vec![
            ("_csrf".to_owned(), csrf.clone()),
            ("name".to_owned(), name.to_owned()),
        ];
        page.post(node.api(&format!("/tournaments/{id}/register")))
            .form(&form)
            .send()
    };
    let said = |r: reqwest::Response| {
        let to = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let page = page.clone();
        let url = node.api(&to);
        async move {
            page.get(url)
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text")
        }
    };
    // Before the start: no seat yet, and the page says so.
    let r = register("Ann Able").await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = said(r).await;
    assert!(
        html.contains("Ann Able registered; seats are drawn at the start."),
        "{html}"
    );
    register("Cy Cole").await.expect("post");
    let started = c
        .post(node.api(&format!("/api/v1/tournaments/{id}/start")))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status(), StatusCode::OK);
    // A late registration: the seat drawn is on the page, and it is the one stored.
    let r = register("Bo Baker").await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = said(r).await;
    let entries: Vec<Value> = c
        .get(node.api(&format!("/api/v1/tournaments/{id}/entries")))
        .send()
        .await
        .expect("entries")
        .json()
        .await
        .expect("json");
    let bo = entries
        .iter()
        .find(|e| e["name"] == "Bo Baker")
        .expect("bo");
    let seat = format!(
        "Bo Baker registered: table {}, seat {}.",
        bo["table"], bo["seat"]
    );
    assert!(html.contains(&seat), "{seat} in {html}");
    // Shown once.
    let again = page
        .get(node.api(&format!("/tournaments/{id}")))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        !again.contains("Bo Baker registered: table"),
        "the message is shown once: {again}"
    );
}

#[tokio::test]
async fn recent_actions_stay_listed_once_they_can_no_longer_be_undone() {
    let node = TestNode::start();
    let c = node.client();
    let t: Value = c
        .post(node.api("/api/v1/tournaments"))
        .json(&serde_json::json!({"name": "Turbo", "template": "turbo", "tables": 2}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = t["id"].as_str().expect("id").to_owned();
    let mut bullets = Vec::new();
    for name in ["Ann Able", "Bo Baker", "Cy Cole"] {
        let e: Value = c
            .post(node.api(&format!("/api/v1/tournaments/{id}/entries")))
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .expect("entry")
            .json()
            .await
            .expect("json");
        bullets.push(e["bullet_id"].as_str().expect("bullet").to_owned());
    }
    c.post(node.api(&format!("/api/v1/tournaments/{id}/start")))
        .send()
        .await
        .expect("start");
    let bust = c
        .post(node.api(&format!(
            "/api/v1/tournaments/{id}/bullets/{}/bust",
            bullets[0]
        )))
        .send()
        .await
        .expect("bust");
    assert_eq!(bust.status(), StatusCode::OK);
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let panel = || async {
        page.get(node.api(&format!("/tournaments/{id}")))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text")
    };
    let html = panel().await;
    let recent = html.split("Recent actions").nth(1).expect("recent actions");
    let line = recent
        .split("<li>")
        .find(|l| l.contains("Ann Able busted"))
        .expect("the bust-out is listed");
    assert!(line.contains("/undo-"), "undo offered: {line}");
    let undone = page
        .post(node.api(&format!("/tournaments/{id}/undo-bust")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("undo");
    assert_eq!(undone.status(), StatusCode::SEE_OTHER);
    let html = panel().await;
    let recent = html.split("Recent actions").nth(1).expect("recent actions");
    let line = recent
        .split("<li>")
        .find(|l| l.contains("Ann Able busted"))
        .expect("the bust-out is still listed");
    assert!(
        line.contains("(undone)") && !line.contains("/undo-"),
        "{line}"
    );
    assert!(
        recent.contains("undone: bust-out"),
        "the undo is listed too: {recent}"
    );
}

#[tokio::test]
async fn an_empty_list_is_closed_from_the_board_and_one_with_players_is_not() {
    let node = TestNode::start();
    let c = node.client();
    for game in ["nlhe", "plo"] {
        let r = c
            .post(node.api("/api/v1/cash/lists"))
            .json(&serde_json::json!({"game": game, "stakes": {"small_blind": 1, "big_blind": 2}}))
            .send()
            .await
            .expect("list");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let board: Value = c
        .get(node.api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    let id_of = |label: &str| {
        board["lists"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["label"] == label))
            .and_then(|l| l["id"].as_str())
            .expect("list")
            .to_owned()
    };
    let (nlhe, plo) = (id_of("1/2 NLHE"), id_of("1/2 PLO"));
    let r = c
        .post(node.api(&format!("/api/v1/cash/lists/{plo}/entries")))
        .json(&serde_json::json!({"walk_in": {"name": "Ola Olsen"}}))
        .send()
        .await
        .expect("join");
    assert!(r.status().is_success());
    let (page, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let html = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("board")
        .text()
        .await
        .expect("text");
    assert!(html.contains(&format!("/cash/lists/{nlhe}/close")));
    assert!(
        !html.contains(&format!("/cash/lists/{plo}/close")),
        "no close offered while someone waits"
    );
    // Someone waits: refused with the reason, through the page and the API.
    let r = page
        .post(node.api(&format!("/cash/lists/{plo}/close")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("close");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r
        .text()
        .await
        .expect("text")
        .contains("1 player is still waiting on the 1/2 PLO list"));
    let r = c
        .delete(node.api(&format!("/api/v1/cash/lists/{plo}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Empty: closed, and the board says so.
    let r = page
        .post(node.api(&format!("/cash/lists/{nlhe}/close")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("close");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("board")
        .text()
        .await
        .expect("text");
    assert!(html.contains("The 1/2 NLHE list is closed."), "{html}");
    let board: Value = c
        .get(node.api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    assert_eq!(board["lists"].as_array().map(Vec::len), Some(1));
    let r = c
        .delete(node.api(&format!("/api/v1/cash/lists/{nlhe}")))
        .send()
        .await
        .expect("delete again");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
