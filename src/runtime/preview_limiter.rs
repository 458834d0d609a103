//! Rule previews running at once in this replica: at most `PREVIEW_CONCURRENCY_PER_ENV` per
//! environment and `PREVIEW_CONCURRENCY` in all. A preview holds a main-pool connection for
//! its whole scan of the ledger, so unbounded previews could take the pool from every other
//! request. One that finds no room is refused at once (`services::preview` answers 429 with
//! `Retry-After`) rather than queued: a queued preview would still hold its request open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// Which bound refused a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewRefused {
    /// The environment's own previews fill `PREVIEW_CONCURRENCY_PER_ENV`.
    Environment,
    /// Every environment's previews together fill `PREVIEW_CONCURRENCY`.
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
    total: u32,
    by_env: HashMap<Uuid, u32>,
}

/// The previews running in this replica, by environment.
#[derive(Debug)]
pub struct PreviewLimiter {
    per_env: u32,
    total: u32,
    running: Mutex<Running>,
}

/// Room for one preview, given back when dropped.
#[derive(Debug)]
pub struct PreviewPermit {
    limiter: Arc<PreviewLimiter>,
    env_id: Uuid,
}

impl PreviewLimiter {
    pub fn new(per_env: u32, total: u32) -> Self {
        PreviewLimiter {
            per_env,
            total,
            running: Mutex::new(Running::default()),
        }
    }

    /// Room for a preview of `env_id` now, or which bound is full.
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
        })
    }

    /// Previews running now: (in all, of `env_id`).
    pub fn running(&self, env_id: Uuid) -> (u32, u32) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        (running.total, running.by_env.get(&env_id).copied().unwrap_or(0))
    }
}

impl Drop for PreviewPermit {
    fn drop(&mut self) {
        let mut running = self.limiter.running.lock().unwrap_or_else(|e| e.into_inner());
        running.total = running.total.saturating_sub(1);
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
    fn an_environment_with_nothing_running_is_forgotten() {
        let limiter = Arc::new(PreviewLimiter::new(1, 1));
        let env = Uuid::from_u128(7);
        drop(limiter.try_acquire(env).unwrap());
        assert_eq!(limiter.running(env), (0, 0));
        assert!(limiter.running.lock().unwrap().by_env.is_empty());
    }
}
