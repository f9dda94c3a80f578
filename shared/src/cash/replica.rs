//! `ListReplica`: a waiting list merged from a hub copy and the node's.

use super::*;

/// One copy of a waiting list for sync: what a node (or the hub) knows.
/// Two copies that diverged offline merge by union, removals winning, in
/// join order (by hybrid clock, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReplica {
    pub joined: BTreeMap<Uuid, (Hlc, Uuid)>,
    pub removed: BTreeSet<Uuid>,
}

impl ListReplica {
    pub fn add(&mut self, entry_id: Uuid, joined: Hlc, player_id: Uuid) {
        self.joined.insert(entry_id, (joined, player_id));
    }

    pub fn remove(&mut self, entry_id: Uuid) {
        self.removed.insert(entry_id);
    }

    /// Commutative, associative and idempotent.
    pub fn merge(&self, other: &ListReplica) -> ListReplica {
        let mut joined = self.joined.clone();
        for (id, v) in &other.joined {
            joined
                .entry(*id)
                .and_modify(|mine| *mine = (*mine).min(*v))
                .or_insert(*v);
        }
        ListReplica {
            joined,
            removed: self.removed.union(&other.removed).copied().collect(),
        }
    }

    /// The live entries in join order.
    pub fn order(&self) -> Vec<Uuid> {
        let mut live: Vec<(Hlc, Uuid)> = self
            .joined
            .iter()
            .filter(|(id, _)| !self.removed.contains(id))
            .map(|(id, (hlc, _))| (*hlc, *id))
            .collect();
        live.sort();
        live.into_iter().map(|(_, id)| id).collect()
    }
}
