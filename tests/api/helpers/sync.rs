//! Syncs driven through the API: `POST /si/mono/sync` call after call until the account's
//! history is walked to its end.

use std::time::Duration;

use serde_json::json;

use super::{data, SyncOutcome, TestApp};

/// What `sync_to_end` does when another session syncs the account (409 `sync_in_progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    /// Waits and asks again (replicas racing for one account).
    Wait,
    /// Fails the test: nothing else should be syncing it.
    Fail,
}

/// Calls `POST /si/mono/sync` page after page until `hasMore` is false; answers how many
/// transactions the calls fetched.
pub async fn sync_to_end(app: &TestApp, account: &str, page_size: u32, busy: WhenBusy) -> u64 {
    let mut fetched = 0;
    for _ in 0..2_000 {
        let (status, body) = app
            .post_raw(
                "/si/mono/sync",
                json!({"accountId": account, "pageSize": page_size}),
            )
            .await;
        match status {
            200 => {
                let page: SyncOutcome = data(&body);
                fetched += page.fetched;
                if !page.has_more {
                    return fetched;
                }
            }
            409 if busy == WhenBusy::Wait => {
                assert_eq!(body["error"]["code"], "sync_in_progress", "{body}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => panic!("sync of {account} answered {status}: {body}"),
        }
    }
    panic!("the sync of {account} never ended");
}
