//! Roaming staff: an operator's hub accounts log in at its venues' nodes,
//! also while a node is offline (docs/HUB_ACCOUNTS.md, "At the venues").
//!
//! The hub sends each venue's node the whole list of accounts that may log
//! in there, signed (`DownBody::Staff` on `PVM_DOWN`, kept until the node
//! takes it): enabled accounts with a node role and no second factor that
//! reach the venue (a regional manager reaches only their set). The node
//! keeps the newest list it was sent and honours it for its own venue only.
//! Whenever an operator's accounts or venues change, the lists of all its
//! venues are sent again; a list that could not be sent is retried every
//! [`RETRY`] until it is, and every operator's lists are sent once when the
//! hub starts (a node given the same list again appends nothing).

use crate::http::auth::Role;
use crate::store::StaffRow;
use crate::App;
use pvm_shared::auth::Role as NodeRole;
use pvm_shared::staff::{HubAccount, Username, MAX_HUB_ACCOUNTS};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// How often operators whose lists could not be sent are tried again.
pub const RETRY: Duration = Duration::from_secs(15);

/// Operators whose venues' lists are still to be sent.
#[derive(Default)]
pub struct Pending {
    operators: Mutex<BTreeSet<Uuid>>,
    /// Held from reading the accounts to sending the lists, so a list read
    /// earlier is never issued after one read later (in this process).
    sending: tokio::sync::Mutex<()>,
    /// The last list's issue time: each one is issued later than the one
    /// before, even within a millisecond.
    last_issued: std::sync::atomic::AtomicU64,
}

impl Pending {
    fn mark(&self, operator: Uuid) {
        self.operators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(operator);
    }

    fn take(&self) -> Vec<Uuid> {
        std::mem::take(&mut *self.operators.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }
}

/// The node role an account of hub role `role` gets unless it is given one:
/// owners and admins are admins at the venues, regional managers managers,
/// auditors (read-only at the hub) nothing.
pub fn default_node_role(role: Role) -> Option<NodeRole> {
    match role {
        Role::Owner | Role::Admin => Some(NodeRole::Admin),
        Role::Regional => Some(NodeRole::Manager),
        Role::Auditor | Role::Super => None,
    }
}

/// Whether `staff` may log in at `venue`'s node, and as what: its role for
/// that venue, else its role at the operator's venues.
pub fn account_for(staff: &StaffRow, venue: Uuid) -> Option<HubAccount> {
    let role = Role::parse(&staff.role)?;
    if staff.operator_id.is_none()
        || staff.disabled_ms.is_some()
        || staff.totp_secret.is_some()
        || (role == Role::Regional && !staff.venues.contains(&venue))
    {
        return None;
    }
    // A role given for this venue wins over the account's role at the
    // operator's venues (`none`: not at this one).
    let code = match staff.node_roles.get(&venue) {
        Some(role) => role.as_str(),
        None => staff.node_role.as_deref()?,
    };
    let node_role = NodeRole::from_code(code)?;
    // A node shows at most 60 characters of a name (the hub takes 80).
    let shown: String = staff.display_name.chars().take(60).collect();
    let display_name =
        pvm_shared::staff::check_display_name(&shown).unwrap_or_else(|_| staff.username.clone());
    let account = HubAccount {
        staff_id: staff.id,
        username: Username::parse(&staff.username).ok()?,
        display_name,
        role: node_role,
        password_hash: staff.password_hash.clone(),
        epoch: u32::try_from(staff.epoch).unwrap_or(u32::MAX),
    };
    // What a node would refuse is never sent (it would refuse the whole list).
    match pvm_shared::staff::check_hub_accounts(std::slice::from_ref(&account)) {
        Ok(()) => Some(account),
        Err(e) => {
            tracing::warn!(staff = %staff.id, error = %e, "hub account not sent to the venues");
            None
        }
    }
}

/// The list for one venue, from its operator's accounts (at most
/// `MAX_HUB_ACCOUNTS`, by username).
pub fn accounts_for(staff: &[StaffRow], venue: Uuid) -> Vec<HubAccount> {
    let mut accounts: Vec<HubAccount> =
        staff.iter().filter_map(|s| account_for(s, venue)).collect();
    accounts.sort_by(|a, b| a.username.cmp(&b.username));
    if accounts.len() > MAX_HUB_ACCOUNTS {
        tracing::warn!(%venue, accounts = accounts.len(), "more hub accounts reach this venue than a node takes: the first {MAX_HUB_ACCOUNTS} by name are sent");
        accounts.truncate(MAX_HUB_ACCOUNTS);
    }
    accounts
}

/// Sends the lists of every venue of `operator` with a live node.
pub async fn send_operator(app: &App, operator: Uuid) -> anyhow::Result<usize> {
    let _turn = app.roaming.sending.lock().await;
    let (venues, staff) = {
        let db = app.hub.store.lock().await?;
        let venues: Vec<Uuid> = db
            .venues()
            .await?
            .into_iter()
            .filter(|v| {
                v.operator_id == Some(operator) && v.node_id.is_some() && v.revoked_ms.is_none()
            })
            .filter_map(|v| v.id.parse().ok())
            .collect();
        (venues, db.staff_of(Some(operator)).await?)
    };
    for venue in &venues {
        send_venue(app, *venue, &staff).await?;
    }
    Ok(venues.len())
}

/// Sends one venue's list.
async fn send_venue(app: &App, venue: Uuid, staff: &[StaffRow]) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    let accounts = accounts_for(staff, venue);
    let now = crate::now_ms() as u64;
    let issued = app
        .roaming
        .last_issued
        .fetch_max(now, Ordering::SeqCst)
        .max(now.saturating_sub(1))
        + 1;
    app.roaming.last_issued.fetch_max(issued, Ordering::SeqCst);
    crate::downstream::send_down_at(
        app,
        venue,
        "staff",
        pvm_shared::down::DownBody::Staff { accounts },
        issued,
    )
    .await?;
    Ok(())
}

/// `operator`'s accounts changed: its venues' lists are sent now (in the
/// background), or retried until they are.
pub fn changed(app: &App, operator: Option<Uuid>) {
    let Some(operator) = operator else { return };
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = send_operator(&app, operator).await {
            tracing::warn!(error = %e, %operator, "the venues' hub accounts were not sent: retrying");
            app.roaming.mark(operator);
        }
    });
}

/// A node was registered for `venue` (or resynced): the venue's list is
/// sent to it (in the background; retried with its operator's if it fails).
pub fn node_registered(app: &App, venue: Uuid) {
    let app = app.clone();
    tokio::spawn(async move {
        let sent = async {
            let _turn = app.roaming.sending.lock().await;
            let db = app.hub.store.lock().await?;
            let Some(Some(operator)) = db.venue_operator(venue).await? else {
                return Ok(None);
            };
            let staff = db.staff_of(Some(operator)).await?;
            drop(db);
            send_venue(&app, venue, &staff).await.map(|()| None).or_else(|e| {
                tracing::warn!(error = %e, %venue, "the venue's hub accounts were not sent: retrying");
                Ok::<_, anyhow::Error>(Some(operator))
            })
        };
        match sent.await {
            Ok(Some(operator)) => app.roaming.mark(operator),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, %venue, "the venue's hub accounts were not sent"),
        }
    });
}

/// Sends every operator's lists at start, then retries what could not be
/// sent, until the hub stops.
pub async fn run(app: App) {
    match app.hub.store.lock().await {
        Ok(db) => match db.operators().await {
            Ok(ops) => ops.iter().for_each(|o| app.roaming.mark(o.id)),
            Err(e) => {
                tracing::warn!(error = %e, "operators not read: hub accounts not sent at start")
            }
        },
        Err(e) => tracing::warn!(error = %e, "operators not read: hub accounts not sent at start"),
    }
    loop {
        for operator in app.roaming.take() {
            if let Err(e) = send_operator(&app, operator).await {
                tracing::warn!(error = %e, %operator, "the venues' hub accounts were not sent: retrying");
                app.roaming.mark(operator);
            }
        }
        tokio::select! {
            _ = app.stop.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
