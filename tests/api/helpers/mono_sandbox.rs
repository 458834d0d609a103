//! The Mono sandbox as tests run it: started on a loopback port, driven through its control
//! API (accounts, faults), and the app wired to one (`SandboxApp`).

use std::future::ready;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::sandbox::webhooks::{DeliveryOutcome, DeliveryRecord};
use super::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use super::{call, wait_for, AccountView, TestApp, TestAppBuilder};

/// The sandbox an app gets from `TestApp::builder(pool).with_sandbox()`.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        customers: 3,
        accounts_per_customer: 3,
        transactions_per_account: 300,
        ..Default::default()
    }
}

/// Starts a Mono sandbox on a free loopback port: the one way tests start it.
pub async fn start_sandbox(config: SandboxConfig) -> SandboxHandle {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sandbox::start(config, loopback).await.expect("sandbox starts")
}

/// The URL of `path` on `sandbox`.
pub fn sandbox_url(sandbox: &SandboxHandle, path: &str) -> String {
    sandbox
        .base_url
        .join(path.trim_start_matches('/'))
        .unwrap()
        .to_string()
}

/// A control call; answers the status and the JSON body.
pub async fn control(
    sandbox: &SandboxHandle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call(method, &sandbox_url(sandbox, path), None, body.as_ref()).await
}

/// Creates an account through the control API; answers its `data`.
pub async fn create_account(sandbox: &SandboxHandle, body: Value) -> Value {
    let (status, body) = control(sandbox, Method::POST, "/_sandbox/accounts", Some(body)).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

pub async fn install_fault(sandbox: &SandboxHandle, fault: Value) -> Value {
    let (status, body) = control(sandbox, Method::POST, "/_sandbox/faults", Some(fault)).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// How many requests the fault `rule` (as `install_fault` answered it) has applied to: a
/// rule with no effect counts the requests to its endpoint.
pub fn fault_applied(sandbox: &SandboxHandle, rule: &Value) -> u64 {
    let id = rule["id"].as_u64().expect("a fault rule has an id");
    let rules = sandbox.state.faults().list();
    rules
        .iter()
        .find(|r| r.id == id)
        .expect("the rule is installed")
        .applied
}

/// The sandbox's delivery log once nothing in it is pending (waits up to 10 s).
pub async fn settled_deliveries(sandbox: &SandboxHandle) -> Vec<DeliveryRecord> {
    wait_for("webhook deliveries to settle", Duration::from_secs(10), || {
        let log = sandbox.state.webhooks().deliveries();
        let settled = log.iter().all(|d| d.outcome != DeliveryOutcome::Pending);
        ready(settled.then_some(log))
    })
    .await
}

/// The app wired to a Mono sandbox of its own on loopback
/// (`TestApp::builder(pool).with_sandbox().start()`).
pub struct SandboxApp {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
}

impl SandboxApp {
    /// A second application on the same database, tenant, settings and sandbox; see
    /// [`TestApp::replica`].
    pub fn replica(&self) -> TestAppBuilder {
        self.app.replica()
    }

    /// The MBS sandbox's demo business, whose keys the app calls MBS with (made the first
    /// time: an RSA key pair).
    pub async fn mbs_business(&self) -> sandbox::mbs::state::Business {
        let mbs = self.sandbox.state.mbs().clone();
        tokio::task::spawn_blocking(move || mbs.demo_business())
            .await
            .expect("the key generation ran")
            .expect("the demo business was made")
    }

    /// Makes the MBS demo business and completes the organization's profile as that business
    /// ([`complete_profile`]): what validating and signing invoices need.
    pub async fn e_invoicing(self) -> Self {
        self.mbs_business().await;
        let (status, body) = self.app.put_raw("/si/org/profile", complete_profile()).await;
        assert_eq!(status, 200, "the complete profile: {body}");
        self
    }

    /// The URL of a control endpoint of the app's sandbox.
    pub fn control(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url.as_str().trim_end_matches('/'), path)
    }

    /// A control `POST` to the app's sandbox that must succeed; answers the JSON body.
    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let (status, body) = control(&self.sandbox, Method::POST, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "sandbox control {path}: {status} {body}"
        );
        body
    }

    /// A new sandbox account with `transactions` transactions, linked to the app's tenant
    /// through the public exchange endpoint. Returns the account id.
    pub async fn link_new_account(&self, transactions: usize) -> String {
        let made = create_account(&self.sandbox, json!({"transactions": transactions})).await;
        let code = made["code"].as_str().expect("code");
        let account: AccountView = self.app.post("/si/mono/exchange", json!({"code": code})).await;
        account.id
    }
}

/// The organization's complete profile as the MBS sandbox's demo business.
pub fn complete_profile() -> Value {
    use sandbox::mbs::state::{DEMO_BUSINESS_ID, DEMO_SERVICE_ID, DEMO_TIN};
    json!({
        "name": "Taxpoynt Demo Supplies Limited",
        "tin": DEMO_TIN,
        "serviceId": DEMO_SERVICE_ID,
        "businessId": DEMO_BUSINESS_ID,
        "email": "billing@demo-supplies.ng",
        "telephone": "+2348012345678",
        "address": {"street": "1 Marina", "city": "Lagos", "country": "NG", "state": "NG-LA"},
        "defaults": {"serviceCode": "6920", "taxCategory": "STANDARD_VAT", "paymentTermsDays": 14}
    })
}
