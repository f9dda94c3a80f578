//! `PVM_UP` is cut by venue into [`PARTITIONS`] partitions, and each
//! pvm-cloud process ingests the nodes of the partitions it owns.
//!
//! The stream's subject transform writes the partition into each stored
//! subject (`pvm.up.<venue>.<node>` is kept as `pvm.up.<p>.<venue>.<node>`,
//! `p = {{partition(16,1)}}`: FNV-1a of the venue id, modulo 16, as
//! [`of`] computes it), so what a partition holds can be seen and counted
//! with the NATS tools. Each node keeps its own durable consumer (one node's
//! flood or gap never stalls another venue's); a partition is the unit a
//! process owns.
//!
//! On libSQL one process owns every partition and takes no locks. On
//! PostgreSQL each process claims its share (`ceil(16 / live processes)`)
//! through advisory locks on a connection of its own ([`Claims`]): a
//! process that dies loses its locks with its connection, and the others
//! take its partitions within a round or two (a round is 1 s). A partition
//! over the share is let go only after its ingest has stopped. Correctness
//! never rests on the locks: every batch moves a node's head only from where
//! the database has it (`HeadMoved` otherwise), so two processes that
//! briefly both ingest a node store each event once.

use crate::store::Claims;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// How many partitions `PVM_UP` has. Fixed: changing it moves venues
/// between partitions (stored subjects keep the partition they had).
pub const PARTITIONS: u32 = 16;

/// How long a claims statement may take before the connection is taken
/// for lost (and every claim with it).
const CLAIMS_TIMEOUT: Duration = Duration::from_secs(5);

/// The partition of a venue: FNV-1a (32 bits) of its id as text, modulo
/// [`PARTITIONS`], as nats-server's `{{partition(16,1)}}` computes it.
pub fn of(venue: Uuid) -> u32 {
    fnv1a(venue.to_string().as_bytes()) % PARTITIONS
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

/// The stream's subject transform: (source, destination).
pub fn transform() -> (String, String) {
    (
        "pvm.up.*.*".into(),
        format!("pvm.up.{{{{partition({PARTITIONS},1)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"),
    )
}

/// Who decides which partitions this process ingests.
pub enum Owner {
    /// The only process (libSQL): every partition, no locks.
    All,
    /// One of several processes sharing a PostgreSQL database.
    Shared(Box<Claims>),
}

impl Owner {
    /// The partitions this process owns now.
    pub fn owned(&self) -> BTreeSet<u32> {
        match self {
            Owner::All => (0..PARTITIONS).collect(),
            Owner::Shared(claims) => claims.owned().clone(),
        }
    }

    /// The owned partitions over this process's fair share, to stop and
    /// then [`Owner::release`]. When the claims connection fails every
    /// partition is lost at once (the server lets the locks go): then all.
    pub async fn surplus(&mut self) -> Vec<u32> {
        let Owner::Shared(claims) = self else {
            return Vec::new();
        };
        let owned: Vec<u32> = claims.owned().iter().copied().collect();
        let connection = claims.connections();
        match tokio::time::timeout(CLAIMS_TIMEOUT, claims.others()).await {
            // Made again meanwhile (the old one was closed): every claim
            // held before is gone, and their ingest stops first.
            Ok(Ok(_)) if claims.connections() != connection => {
                if !owned.is_empty() {
                    tracing::warn!("partition claims lost with their connection; ingest stops until they are made again");
                }
                owned
            }
            Ok(Ok((live, _))) => {
                let share = PARTITIONS.div_ceil(live) as usize;
                owned.into_iter().skip(share).collect()
            }
            failed => {
                if !owned.is_empty() {
                    tracing::warn!(error = %describe(failed.map(|r| r.map(|_| ()))), "partition claims lost; ingest stops until they are made again");
                }
                claims.lose();
                owned
            }
        }
    }

    /// Lets go of partitions whose ingest has stopped.
    pub async fn release(&mut self, partitions: &[u32]) {
        let Owner::Shared(claims) = self else { return };
        for p in partitions {
            if !claims.owned().contains(p) {
                continue;
            }
            let done = tokio::time::timeout(CLAIMS_TIMEOUT, claims.release(*p)).await;
            if !matches!(done, Ok(Ok(()))) {
                tracing::warn!(error = %describe(done), "a partition not let go; the claims connection is dropped");
                claims.lose();
                return;
            }
            tracing::info!(partition = p, "partition let go");
        }
    }

    /// Claims free partitions up to this process's share: the ones newly owned.
    pub async fn claim(&mut self) -> Vec<u32> {
        let Owner::Shared(claims) = self else {
            return Vec::new();
        };
        let (live, taken) = match tokio::time::timeout(CLAIMS_TIMEOUT, claims.others()).await {
            Ok(Ok(seen)) => seen,
            failed => {
                tracing::debug!(error = %describe(failed.map(|r| r.map(|_| ()))), "no partition claims this round");
                claims.lose();
                return Vec::new();
            }
        };
        let share = PARTITIONS.div_ceil(live) as usize;
        let mut gained = Vec::new();
        for p in (0..PARTITIONS).filter(|p| !taken.contains(p)) {
            if claims.owned().len() >= share {
                break;
            }
            if claims.owned().contains(&p) {
                continue;
            }
            match tokio::time::timeout(CLAIMS_TIMEOUT, claims.claim(p)).await {
                Ok(Ok(true)) => gained.push(p),
                Ok(Ok(false)) => {}
                failed => {
                    tracing::warn!(error = %describe(failed), "partition claims lost");
                    claims.lose();
                    return Vec::new();
                }
            }
        }
        if !gained.is_empty() {
            tracing::info!(?gained, live, "partitions claimed");
        }
        gained
    }
}

fn describe<T>(r: Result<anyhow::Result<T>, tokio::time::error::Elapsed>) -> String {
    match r {
        Ok(Ok(_)) => "none".into(),
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!("no answer within {CLAIMS_TIMEOUT:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_fnv1a_of_the_venue_id_as_nats_server_computes_them() {
        // The published FNV-1a (32-bit) test vectors.
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
        let venue: Uuid = "0190a7c2-0000-7000-8000-000000000000"
            .parse()
            .expect("uuid");
        assert!(of(venue) < PARTITIONS);
        let spread: BTreeSet<u32> = (0..200).map(|_| of(Uuid::now_v7())).collect();
        assert!(spread.len() > PARTITIONS as usize / 2, "{spread:?}");
        assert_eq!(
            transform().1,
            "pvm.up.{{partition(16,1)}}.{{wildcard(1)}}.{{wildcard(2)}}"
        );
    }
}
