//! Which backend holds a conversation's prefix: a stable key per session (its id, or a hash
//! of the conversation's stable prefix — system prompt, tools and first user turn) and
//! rendezvous (highest-random-weight) ranking of backends for that key. Stable hashes, no
//! per-process randomness: every instance, process and host that shares the servers ranks
//! them the same way, and a backend that goes away moves only the sessions it ranked first.

use crate::types::{ChatRequest, Role};

/// FNV-1a over the bytes, finished with a 64-bit mixer: stable across platforms and runs.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separates ("ab","c") from ("a","bc").
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The request's session key: its `session-id`, else its stable prefix (system messages,
/// tool names and the first user turn), which every turn of one agent's conversation repeats.
pub fn session_key(req: &ChatRequest) -> u64 {
    if let Some(id) = req.session_id.as_deref().filter(|s| !s.is_empty()) {
        return stable_hash(&[b"session", id.as_bytes()]);
    }
    let mut parts: Vec<&[u8]> = vec![b"prefix"];
    for m in req.messages.iter().filter(|m| m.role == Role::System) {
        parts.push(m.content.as_deref().unwrap_or_default().as_bytes());
    }
    for t in &req.tools {
        parts.push(t.name.as_bytes());
    }
    if let Some(first) = req.messages.iter().find(|m| m.role == Role::User) {
        parts.push(first.content.as_deref().unwrap_or_default().as_bytes());
    }
    stable_hash(&parts)
}

/// A backend's rank for a session: higher is preferred.
pub fn score(session: u64, backend: u64) -> u64 {
    mix(session ^ backend.rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_follow_the_conversation_not_its_latest_turn() {
        assert_eq!(stable_hash(&[b"a", b"bc"]), stable_hash(&[b"a", b"bc"]));
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        let mut turn1 = ChatRequest::new(vec![
            crate::types::Message::system("You are agent 7."),
            crate::types::Message::user("Plan a trip."),
        ]);
        let key = session_key(&turn1);
        turn1
            .messages
            .push(crate::types::Message::assistant("Where to?"));
        turn1.messages.push(crate::types::Message::user("Paris."));
        assert_eq!(session_key(&turn1), key, "later turns keep the key");
        turn1.session_id = Some("agent-7".into());
        assert_ne!(session_key(&turn1), key);
        // Pinned so that every build ranks backends the same way.
        assert_eq!(
            stable_hash(&[b"session", b"agent-7"]),
            6_472_078_904_034_417_176_u64
        );
    }
}
