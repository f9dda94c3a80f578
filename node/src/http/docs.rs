//! The API docs page: rendered on the node from its own OpenAPI document,
//! so it works on a LAN with no internet (no CDN, no script).

use super::openapi::openapi_doc;
use super::AppState;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/docs", get(page))
}

fn schema_name(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(items) = v.get("items") {
        return format!("[{}]", schema_name(items));
    }
    v.get("type")
        .map(|t| t.to_string().replace('"', ""))
        .unwrap_or_else(|| "object".into())
}

fn body_schema(op: &Value, pointer: &str) -> Option<String> {
    op.pointer(pointer).map(schema_name)
}

async fn page() -> Markup {
    let doc = serde_json::to_value(openapi_doc()).unwrap_or_default();
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let empty = serde_json::Map::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/static/staff.css";
            }
            body {
                header.top { span.venue { (title) } nav { a href="/" { "Staff UI" } a href="/api/v1/openapi.json" { "openapi.json" } } }
                main {
                    p { (doc.pointer("/info/description").and_then(Value::as_str).unwrap_or("")) }
                    p { "Errors always come as " code { r#"{"error":{"code","message"}}"# } " with a 4xx or 5xx status." }
                    h2 { "Endpoints" }
                    div.scroll {
                        table.api {
                            tr { th { "Method" } th { "Path" } th { "What" } th { "Body" } th { "Responses" } }
                            @for (path, item) in paths {
                                @for (method, op) in item.as_object().unwrap_or(&empty) {
                                    tr {
                                        td.method { (method) }
                                        td { code { (path) } }
                                        td { (op.get("summary").and_then(Value::as_str).unwrap_or("")) }
                                        td { @if let Some(b) = body_schema(op, "/requestBody/content/application~1json/schema") { code { (b) } } }
                                        td {
                                            @for (status, resp) in op.get("responses").and_then(Value::as_object).unwrap_or(&empty) {
                                                div { (status) @if let Some(s) = body_schema(resp, "/content/application~1json/schema") { " " code { (s) } } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Schemas" }
                    @for (name, schema) in schemas {
                        h3 id=(name) { (name) }
                        pre { (serde_json::to_string_pretty(schema).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}
