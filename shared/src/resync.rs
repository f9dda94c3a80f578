//! What a node signs to move its venue's log at the hub to a new node id
//! (`pvm-node resync`, after its log forked from the hub's copy): the old
//! key vouches for the new one. The context prefix keeps this signature from
//! ever being taken for another kind of signed message.

use uuid::Uuid;

pub const CONTEXT: &[u8] = b"pvm-resync-v1\n";

/// The bytes the old node key signs.
pub fn statement(old_node: Uuid, new_node: Uuid, venue: Uuid, new_key: &[u8; 32]) -> Vec<u8> {
    let mut out = CONTEXT.to_vec();
    out.extend_from_slice(
        format!("{old_node}\n{new_node}\n{venue}\n{}", hex::encode(new_key)).as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_names_both_nodes_the_venue_and_the_new_key() {
        let (a, b, v) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let s = statement(a, b, v, &[7; 32]);
        assert!(s.starts_with(CONTEXT));
        assert_ne!(s, statement(b, a, v, &[7; 32]));
        assert_ne!(s, statement(a, b, v, &[8; 32]));
    }
}
