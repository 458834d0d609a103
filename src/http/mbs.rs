//! `/si/mbs/*`: the e-invoicing platform's code lists for the dashboard's pickers.

use axum::extract::State;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::ApiPath;
use crate::services::mbs_resources::{self, ResourceList};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// `GET /si/mbs/resources/{name}`: one of MBS's code lists, from the service's cache.
#[utoipa::path(
    get,
    path = "/si/mbs/resources/{name}",
    tag = "mbs",
    summary = "One of MBS's code lists, from the service's cache",
    description = "The e-invoicing platform's code lists, as MBS sends them: `invoice-types` `{code, value}`, `tax-categories` `{code, value, percent}` (`percent` a string), `currencies`, `services-codes` `{code, description}`, `payment-means` `{code, value}`, `countries` (`alpha_2` is what addresses use), `states`, `lgas` and `vat-exemptions`. Kept by the service and refreshed once a day; when MBS is down the last list it sent is answered with `stale: true`. Only a list never fetched needs MBS to answer (503 `mbs_unavailable` otherwise).",
    params(
        ("name" = crate::vocab::ResourceName, Path, description = "The list's name at MBS", example = "tax-categories"),
        ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"),
        ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`"),
    ),
    responses(
        (status = 200, description = "The list", body = crate::http::openapi::EnvelopeOf<ResourceList>),
        (status = 404, description = "No list of that name", body = crate::http::openapi::Failure),
        (status = 503, description = "The list was never fetched and MBS cannot be reached, or MBS is not configured", body = crate::http::openapi::Failure),
    ),
)]
pub async fn resources(
    State(state): State<AppState>,
    _tenant: Tenant,
    ApiPath(name): ApiPath<String>,
) -> Result<Envelope<ResourceList>, ApiError> {
    Ok(Envelope::ok(
        "resource list retrieved",
        mbs_resources::get(&state, &name).await?,
    ))
}
