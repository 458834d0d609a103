//! Compiled eligibility policies by environment, kept by each replica and checked against the
//! database's policy revision (`services::settings::load_policy` reads through it).

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use eligibility::CompiledPolicy;

/// An environment's compiled policy and the version that names it.
pub struct LoadedPolicy {
    pub compiled: CompiledPolicy,
    /// A hash of the effective settings and the rules in force: a reviewer can tell which
    /// policy decided a DLQ record, and whether today's differs.
    pub version: String,
}

/// Compiled policies by environment, each with the policy revision it was compiled at. Every
/// replica keeps its own; the database's revision counter (bumped by triggers on any change of
/// settings or rules) tells each one when its copy is stale, so a change made through one
/// replica is seen by all at their next load.
pub struct PolicyCache {
    entries: std::sync::Mutex<HashMap<Uuid, (i64, Arc<LoadedPolicy>)>>,
    capacity: usize,
}

impl PolicyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: std::sync::Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, env_id: Uuid, revision: i64) -> Option<Arc<LoadedPolicy>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&env_id)
            .filter(|(r, _)| *r == revision)
            .map(|(_, p)| p.clone())
    }

    pub fn put(&self, env_id: Uuid, revision: i64, policy: Arc<LoadedPolicy>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&env_id) {
            // Bounded memory with many environments: start over rather than track recency;
            // a miss costs one compile.
            entries.clear();
        }
        match entries.get(&env_id) {
            Some((r, _)) if *r > revision => {}
            _ => {
                entries.insert(env_id, (revision, policy));
            }
        }
    }
}
