//! Rule previews running at once in this replica and the main-pool connections they hold: at
//! most `PREVIEW_CONCURRENCY_PER_ENV` previews per environment, and `PREVIEW_CONCURRENCY`
//! connections held by every preview together. A preview holds a connection for its whole
//! scan of the ledger (one to start, a few more to split a large scan), so unbounded previews
//! could take the pool from every other request. One that finds no connection is refused at
//! once (`services::preview` answers 429 with `Retry-After`) rather than queued: a queued
//! preview would still hold its request open; one that finds no more than its first scans on
//! it alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// Which bound refused a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewRefused {
    /// The environment's own previews fill `PREVIEW_CONCURRENCY_PER_ENV`.
    Environment,
    /// Every environment's previews together hold the `PREVIEW_CONCURRENCY` connections.
    Replica,
}

impl PreviewRefused {
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewRefused::Environment => "environment",
            PreviewRefused::Replica => "replica",
        }
    }
}

#[derive(Debug, Default)]
struct Running {
    /// Connections held by every preview.
    total: u32,
    /// Previews running, by environment.
    by_env: HashMap<Uuid, u32>,
}

/// The previews running in this replica, by environment, and the connections they hold.
#[derive(Debug)]
pub struct PreviewLimiter {
    per_env: u32,
    total: u32,
    running: Mutex<Running>,
}

/// Room for one preview and the connections it holds (one, and any taken with
/// [`PreviewPermit::widen`]), given back when dropped.
#[derive(Debug)]
pub struct PreviewPermit {
    limiter: Arc<PreviewLimiter>,
    env_id: Uuid,
    connections: u32,
}

impl PreviewLimiter {
    pub fn new(per_env: u32, total: u32) -> Self {
        PreviewLimiter {
            per_env,
            total,
            running: Mutex::new(Running::default()),
        }
    }

    /// Room for a preview of `env_id` and its first connection now, or which bound is full.
    pub fn try_acquire(self: &Arc<Self>, env_id: Uuid) -> Result<PreviewPermit, PreviewRefused> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let of_env = running.by_env.get(&env_id).copied().unwrap_or(0);
        if of_env >= self.per_env {
            return Err(PreviewRefused::Environment);
        }
        if running.total >= self.total {
            return Err(PreviewRefused::Replica);
        }
        running.total += 1;
        running.by_env.insert(env_id, of_env + 1);
        Ok(PreviewPermit {
            limiter: self.clone(),
            env_id,
            connections: 1,
        })
    }

    /// Now: (connections held by every preview, previews of `env_id`).
    pub fn running(&self, env_id: Uuid) -> (u32, u32) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        (running.total, running.by_env.get(&env_id).copied().unwrap_or(0))
    }
}

impl PreviewPermit {
    /// Takes up to `more` further connections while the replica's bound leaves them free;
    /// answers how many it took (0 when none are free: the preview scans on its first).
    pub fn widen(&mut self, more: u32) -> u32 {
        let mut running = self.limiter.running.lock().unwrap_or_else(|e| e.into_inner());
        let taken = more.min(self.limiter.total.saturating_sub(running.total));
        running.total += taken;
        self.connections += taken;
        taken
    }

    /// Connections this preview holds.
    pub fn connections(&self) -> u32 {
        self.connections
    }
}

impl Drop for PreviewPermit {
    fn drop(&mut self) {
        let mut running = self.limiter.running.lock().unwrap_or_else(|e| e.into_inner());
        running.total = running.total.saturating_sub(self.connections);
        if let Some(n) = running.by_env.get_mut(&self.env_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.by_env.remove(&self.env_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_refuses_once_full_and_a_dropped_permit_makes_room() {
        let limiter = Arc::new(PreviewLimiter::new(2, 3));
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let a1 = limiter.try_acquire(a).unwrap();
        let _a2 = limiter.try_acquire(a).unwrap();
        assert_eq!(limiter.try_acquire(a).unwrap_err(), PreviewRefused::Environment);
        let _b1 = limiter.try_acquire(b).unwrap();
        assert_eq!(limiter.try_acquire(b).unwrap_err(), PreviewRefused::Replica);
        assert_eq!(limiter.running(a), (3, 2));
        drop(a1);
        assert_eq!(limiter.running(a), (2, 1));
        let _b2 = limiter.try_acquire(b).unwrap();
        assert_eq!(limiter.running(b), (3, 2));
    }

    #[test]
    fn a_preview_widens_only_into_free_connections_and_gives_them_all_back() {
        let limiter = Arc::new(PreviewLimiter::new(4, 4));
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut first = limiter.try_acquire(a).unwrap();
        assert_eq!(first.widen(1), 1);
        let mut second = limiter.try_acquire(b).unwrap();
        // One connection is left: the second takes it, not the three it asks for.
        assert_eq!(second.widen(3), 1);
        assert_eq!(second.connections(), 2);
        assert_eq!(limiter.running(a), (4, 1));
        // No connection is free: refused, though each environment runs one preview.
        assert_eq!(limiter.try_acquire(a).unwrap_err(), PreviewRefused::Replica);
        assert_eq!(first.widen(1), 0);
        drop(second);
        assert_eq!(limiter.running(b), (2, 0));
        drop(first);
        assert_eq!(limiter.running(a), (0, 0));
    }

    #[test]
    fn an_environment_with_nothing_running_is_forgotten() {
        let limiter = Arc::new(PreviewLimiter::new(1, 1));
        let env = Uuid::from_u128(7);
        drop(limiter.try_acquire(env).unwrap());
        assert_eq!(limiter.running(env), (0, 0));
        assert!(limiter.running.lock().unwrap().by_env.is_empty());
    }
}
