//! Node registration with a one-time token, and `resync` (a forked node
//! moving its venue to a new node id).

use super::error::{bad, ApiError, Body};
use crate::downstream::ensure_down_consumer;
use crate::leaf_users::{
    bcrypt_hash, install_leaf_users, leaf_user_line, leaf_user_lines, write_leaf_users,
};
use crate::{b64, now_ms, store, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct Registration {
    pub token: String,
    pub node_id: Uuid,
    /// The venue id this node's events already carry.
    pub venue_id: Uuid,
    /// base64 ed25519 public key.
    pub public_key: String,
}

#[derive(Serialize)]
pub struct Registered {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    /// The first of `leaf_urls` (what nodes before clusters read).
    pub leaf_url: String,
    /// Every hub server's leafnode URL: the node's leaf lists them all.
    pub leaf_urls: Vec<String>,
    pub leaf_user: String,
    pub leaf_password: String,
    pub hub_public_key: String,
    /// Every hub key the node is to trust, the current one last (a key
    /// rotation under way lists the old and the new).
    pub hub_public_keys: Vec<String>,
    pub nats_domain: String,
    /// The CA (PEM) that signed the hub's leafnode certificate: the node's
    /// leaf verifies the hub with it.
    pub leaf_ca: String,
}

/// A node registers with a one-time token: the hub keeps its key, makes its
/// leaf credentials (allowed only that venue's subjects) and answers with
/// them and the hub's key. The venue takes the id its first node's events
/// already carry, so events made before registration verify too.
pub async fn register(
    State(app): State<App>,
    Body(r): Body<Registration>,
) -> Result<Json<Registered>, ApiError> {
    if !r.token.starts_with("pvm_reg_") {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "that is not a registration token (pvm_reg_…)".into(),
        ));
    }
    let key: [u8; 32] = b64()
        .decode(&r.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| bad("invalid", "public_key: a base64 ed25519 key"))?;
    if ed25519_dalek::VerifyingKey::from_bytes(&key).is_err() {
        return Err(bad("invalid", "public_key: not a valid ed25519 key"));
    }
    let hash = hex::encode(Sha256::digest(r.token.as_bytes()));
    let db = app.hub.store.lock().await?;
    let Some(token) = db.token(&hash).await? else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "this registration token is not known here".into(),
        ));
    };
    let venue: Uuid = token
        .venue_id
        .parse()
        .map_err(|_| anyhow::anyhow!("bad venue id"))?;
    if token.used {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "token_used",
            "this registration token was already used: ask the admin for a new one".into(),
        ));
    }
    if token.expires_ms < now_ms() {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "this registration token has expired (they last 24 h): ask the admin for a new one"
                .into(),
        ));
    }
    if db.node_registered(venue, r.node_id).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "already_registered",
            "this venue or node already has a registered node".into(),
        ));
    }
    let password = hex::encode(rand::random::<[u8; 24]>());
    let user = format!("venue-{}", r.venue_id);
    // Only the bcrypt hash is kept (nats-server checks it); the node gets the password once.
    let password_hash = bcrypt_hash(password.clone()).await?;
    // All or nothing: the node's downstream consumer and its leaf user exist
    // before the token is spent; if either cannot be made (the hub's
    // nats-server down), nothing is spent and the same token works later.
    let unavailable = |e: anyhow::Error| {
        tracing::warn!(error = %e, "registration not completed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server cannot take the node now ({e}); nothing was used up: try the same token again in a minute"),
        )
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        ensure_down_consumer(&app, r.node_id, r.venue_id, false),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within 5 s"))
    .and_then(|made| made)
    .map_err(unavailable)?;
    let mut lines = leaf_user_lines(&db).await?;
    lines.push(leaf_user_line(
        &r.node_id.to_string(),
        &r.venue_id.to_string(),
        &user,
        &password_hash,
    ));
    let without = leaf_user_lines(&db).await?;
    install_leaf_users(&app, lines).await.map_err(unavailable)?;
    let committed = db
        .commit_registration(
            &hash,
            venue,
            &store::NewNode {
                node_id: r.node_id,
                venue_id: r.venue_id,
                public_key: &r.public_key,
                leaf_user: &user,
                leaf_hash: &password_hash,
                at_ms: now_ms(),
            },
        )
        .await;
    if let Err(e) = committed {
        // The new user goes again: it names a node that is not registered.
        if let Err(undo) = install_leaf_users(&app, without).await {
            tracing::error!(error = %undo, "the leaf users file still names an unregistered node");
        }
        if e.is::<store::RegistrationTaken>() {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "already_registered",
                "this venue or node already has a registered node".into(),
            ));
        }
        return Err(e.into());
    }
    drop(db);
    // Unless another process's ingest got there first (read back meanwhile).
    app.hub
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(r.node_id)
        .or_insert(store::NodeRow {
            node_id: r.node_id,
            venue_id: r.venue_id,
            public_key: key,
            head_seq: 0,
            head_hash: [0; 32],
            verified_seq: 0,
            retired: false,
            revoked: false,
        });
    app.hub.nodes_changed.notify_one();
    crate::roaming::node_registered(&app, r.venue_id);
    Ok(Json(Registered {
        node_id: r.node_id,
        venue_id: r.venue_id,
        leaf_url: app.cli.leaf_urls().into_iter().next().unwrap_or_default(),
        leaf_urls: app.cli.leaf_urls(),
        leaf_user: user,
        leaf_password: password,
        hub_public_key: b64().encode(app.key.current().verifying_key().as_bytes()),
        hub_public_keys: app.key.trusted_b64(),
        nats_domain: "hub".into(),
        leaf_ca: app.leaf_ca.to_string(),
    }))
}

#[derive(Deserialize)]
pub struct Resync {
    /// The registered node.
    pub node_id: Uuid,
    pub new_node_id: Uuid,
    pub venue_id: Uuid,
    /// The new base64 ed25519 public key.
    pub public_key: String,
    /// The node's leaf password (it has it from registration).
    pub leaf_password: String,
    /// base64 signature by the old key over `pvm_shared::resync::statement`.
    pub signature: String,
}

/// A registered node whose log forked from the hub's copy moves its venue to
/// a new node id (`pvm-node resync`). The old key signs the new one and the
/// node proves its leaf password; the old node's events stay stored as they
/// are (no longer folded), the venue's state is folded again from the new
/// node's log, which it sends in full, and the leaf user (same name and
/// password) is now allowed the new node's subjects. Asking again with the
/// same new node and key answers the same (a resync cut short is finished).
pub async fn resync(
    State(app): State<App>,
    Body(r): Body<Resync>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let new_key: [u8; 32] = b64()
        .decode(&r.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| bad("invalid", "public_key: a base64 ed25519 key"))?;
    let signature = b64()
        .decode(&r.signature)
        .ok()
        .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
        .ok_or_else(|| bad("invalid", "signature: a base64 ed25519 signature"))?;
    if r.leaf_password.len() > 256 || r.node_id == r.new_node_id {
        return Err(bad(
            "invalid",
            "leaf_password or new_node_id is not acceptable",
        ));
    }
    let unknown = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "unknown_node",
            "no such node of that venue is registered here".into(),
        )
    };
    let db = app.hub.store.lock().await?;
    let Some(node) = db.resync_node(r.node_id).await? else {
        return Err(unknown());
    };
    let (venue, old_key, leaf_user, leaf_hash, retired) = (
        node.venue_id,
        node.public_key,
        node.leaf_user,
        node.leaf_hash,
        node.retired,
    );
    if venue != r.venue_id.to_string() {
        return Err(unknown());
    }
    let old_key = b64()
        .decode(&old_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| anyhow::anyhow!("the stored key of node {} is unusable", r.node_id))?;
    let statement = pvm_shared::resync::statement(r.node_id, r.new_node_id, r.venue_id, &new_key);
    let denied = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "not_this_node",
            "the signature or the leaf password is not this node's".into(),
        )
    };
    if old_key.verify_strict(&statement, &signature).is_err() {
        return Err(denied());
    }
    let (password, hash) = (r.leaf_password.clone(), leaf_hash.clone());
    let password_ok =
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
    if !password_ok {
        return Err(denied());
    }
    // Said only to the node itself (key and password proven): a revoked box
    // cannot move its venue, even with both, which a thief has.
    if node.revoked_ms.is_some() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "node_revoked",
            "this node was revoked by the hub's admin: it cannot move its venue".into(),
        ));
    }
    if retired {
        // Done before: the same new node and key is this resync again.
        let same = db
            .live_node_key(r.new_node_id, r.venue_id)
            .await?
            .is_some_and(|key| key == r.public_key);
        if !same {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "already_resynced",
                "this node was already replaced by another one".into(),
            ));
        }
    } else {
        if db.node_exists(r.new_node_id).await? {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "already_registered",
                "new_node_id is already registered".into(),
            ));
        }
        db.replace_node(
            r.node_id,
            &store::NewNode {
                node_id: r.new_node_id,
                venue_id: r.venue_id,
                public_key: &r.public_key,
                leaf_user: &leaf_user,
                leaf_hash: &leaf_hash,
                at_ms: now_ms(),
            },
        )
        .await?;
        {
            let mut nodes = app.hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = nodes.get_mut(&r.node_id) {
                old.retired = true;
            }
            nodes.entry(r.new_node_id).or_insert(store::NodeRow {
                node_id: r.new_node_id,
                venue_id: r.venue_id,
                public_key: new_key,
                head_seq: 0,
                head_hash: [0; 32],
                verified_seq: 0,
                retired: false,
                revoked: false,
            });
        }
        // The venue's state is folded again from the new node's log as it arrives.
        app.hub.forget_venue(r.venue_id);
        tracing::warn!(old = %r.node_id, new = %r.new_node_id, venue = %r.venue_id, "node resynced under a new id");
    }
    drop(db);
    app.hub.nodes_changed.notify_one();
    write_leaf_users(&app).await?;
    ensure_down_consumer(&app, r.new_node_id, r.venue_id, true).await?;
    crate::roaming::node_registered(&app, r.venue_id);
    Ok(Json(json!({
        "node_id": r.new_node_id,
        "venue_id": r.venue_id,
        "leaf_url": app.cli.leaf_urls().into_iter().next().unwrap_or_default(),
        "leaf_urls": app.cli.leaf_urls(),
        "leaf_user": leaf_user,
        "hub_public_key": b64().encode(app.key.current().verifying_key().as_bytes()),
        "hub_public_keys": app.key.trusted_b64(),
        "nats_domain": "hub",
    })))
}
