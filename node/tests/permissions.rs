//! Every operation in the OpenAPI document, with no token and with each role:
//! no token → 401; a role below the one the operation declares → 403; that
//! role or above → neither. An operation that declares no permission fails.

mod common;

use common::{client, client_with_token, TestNode};
use pvm_shared::auth::{Permission, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// What an operation declares: None for public, else the permission.
fn declared(path: &str, method: &str, op: &Value) -> Option<Permission> {
    let security = op
        .get("security")
        .and_then(Value::as_array)
        .unwrap_or_else(|| {
            panic!(
                "{method} {path} declares no permission (add security(...) to its #[utoipa::path])"
            )
        });
    let first = security
        .first()
        .unwrap_or_else(|| panic!("{method} {path}: empty security list"));
    match first.get("bearer").and_then(Value::as_array) {
        None => {
            assert!(
                first.as_object().is_some_and(|o| o.is_empty()),
                "{method} {path}: unknown security {first}"
            );
            None
        }
        Some(scopes) => {
            let name = scopes
                .first()
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{method} {path}: bearer without a permission"));
            Some(
                Permission::from_name(name)
                    .unwrap_or_else(|| panic!("{method} {path}: unknown permission {name}")),
            )
        }
    }
}

async fn call(c: &reqwest::Client, node: &TestNode, method: &str, path: &str) -> StatusCode {
    let url = node.api(&path.replace("{id}", &uuid::Uuid::now_v7().to_string()));
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    let mut req = c.request(method.clone(), url);
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        req = req.header("content-type", "application/json").body("{}");
    }
    req.send().await.expect("request").status()
}

#[tokio::test]
async fn every_operation_refuses_the_unauthenticated_and_the_roles_below_it() {
    let node = TestNode::start();
    let mut tokens = vec![(Role::Admin, node.token.clone())];
    for role in [Role::Dealer, Role::Floor, Role::Manager] {
        tokens.push((
            role,
            node.user_token(&format!("walk-{role}"), role.code()).await,
        ));
    }
    let doc: Value = client()
        .get(node.api("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            ops.push((path.clone(), method.clone(), declared(path, method, op)));
        }
    }
    // Logging out ends the session of the token used: walk it last.
    ops.sort_by_key(|(path, _, _)| path.ends_with("/logout"));
    assert!(
        ops.len() >= 20,
        "only {} operations in the document",
        ops.len()
    );

    let anonymous = client();
    let mut checked = 0;
    for (path, method, permission) in &ops {
        let status = call(&anonymous, &node, method, path).await;
        match permission {
            Some(_) => assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            ),
            None => assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {path} is public but said {status}"
            ),
        }
        for (role, token) in &tokens {
            let status = call(&client_with_token(token), &node, method, path).await;
            match permission {
                Some(p) if !p.allows(*role) => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} as {role} (needs {})",
                        p.least_role()
                    )
                }
                _ => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {status}"
                ),
            }
            checked += 1;
        }
    }
    eprintln!("{} operations, {checked} role checks", ops.len());
}

/// Every `/api` route in the router source is in the OpenAPI document, so none
/// escapes the walk above.
#[tokio::test]
async fn every_api_route_is_in_the_openapi_document() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = TestNode::start_bare(dir.path()).expect("start");
    let doc: Value = client()
        .get(node.api("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut routes = 0;
    for entry in std::fs::read_dir(src).expect("http sources") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        // Whitespace removed, so a route call split over lines is found too.
        let text: String = text.split_whitespace().collect();
        for chunk in text.split(".route(\"").skip(1) {
            let path = chunk.split('"').next().unwrap_or_default();
            if !(path.starts_with("/api/") || path.starts_with("/.well-known/"))
                || path == "/api/v1/openapi.json"
                || path == "/api/docs"
            {
                continue;
            }
            assert!(
                paths.contains_key(path),
                "route {path} is served but not in the OpenAPI document"
            );
            routes += 1;
        }
    }
    assert!(routes >= 10, "found only {routes} API routes in the source");
}
