//! Validators' drill reports (see `matrixai_chain::drill`): accepted from a validator of the
//! chain (as indexed: genesis, then `ValidatorAdded`/`Removed`) with a signature over the
//! report's exact bytes, stored once, listed per machine, and
//! the latest one shown with each machine as its verified performance.

use super::{ApiError, ApiJson, ApiPath, AppState, parse_id};
use crate::db::{Database, DbError, execute, fetch_optional};
use crate::follower::now_ms;
use axum::extract::State;
use matrixai_chain::drill::{DrillError, DrillReport, DrillVerdict, Signed};
use sea_query::{Expr, ExprTrait, Order, Query};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

/// Most drills listed per machine.
const LISTED: u64 = 50;
/// The `drills` table's columns.
const DRILL_COLUMNS: [&str; 9] = [
    "machine_id",
    "validator",
    "at_ms",
    "verdict",
    "measured_samples_per_s",
    "claimed_samples_per_s",
    "report",
    "signature",
    "received_ms",
];

#[derive(Debug, Serialize, ToSchema)]
pub struct DrillAddResponse {
    /// False when this very report was already stored.
    pub stored: bool,
}

/// A stored drill report.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrillView {
    pub machine_id: String,
    pub validator: String,
    /// `verified`, `contradicted`, `wrong_answer` or `unreachable`.
    pub verdict: String,
    pub measured_samples_per_s: Option<f64>,
    pub claimed_samples_per_s: f64,
    /// When the validator sent the challenge, ms since the Unix epoch.
    pub at_ms: i64,
    /// The report's JSON (`matrixai_chain::drill::DrillReport`), as signed.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    pub signature: String,
    pub received_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DrillList {
    pub machine_id: String,
    /// Latest first, at most 50.
    pub items: Vec<DrillView>,
}

/// A machine's latest drill, shown with the machine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DrillSummary {
    pub verdict: String,
    pub measured_samples_per_s: Option<f64>,
    pub claimed_samples_per_s: f64,
    pub validator: String,
    pub at_ms: i64,
}

/// `/api/drill`'s request: the report's JSON and the validator's signature over it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillAddRequest {
    /// The report's JSON exactly as signed.
    pub document: String,
    /// `0x` and 128 hex digits.
    pub signature: String,
}

fn verdict_name(verdict: DrillVerdict) -> &'static str {
    match verdict {
        DrillVerdict::Verified => "verified",
        DrillVerdict::Contradicted => "contradicted",
        DrillVerdict::WrongAnswer => "wrong_answer",
        DrillVerdict::Unreachable => "unreachable",
    }
}

#[utoipa::path(post, path = "/api/drill", request_body = DrillAddRequest,
    responses((status = 200, body = DrillAddResponse), super::BodyErrors,
        (status = 403, body = super::ErrorBody, description = "the signature is not the named validator's, or the account is not a validator of the chain"),
        (status = 404, body = super::ErrorBody, description = "no such machine is indexed (yet)")))]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DrillAddRequest>,
) -> Result<ApiJson<DrillAddResponse>, ApiError> {
    let signed = Signed {
        document: request.document,
        signature: request.signature,
    };
    let (report, validator) = DrillReport::verify(&signed).map_err(|error| match error {
        DrillError::BadSignature(_) => ApiError::forbidden(error.to_string()),
        DrillError::TooLarge(_) | DrillError::Malformed(_) => {
            ApiError::bad_request(error.to_string())
        }
    })?;
    let machine_id = parse_id("machine_id", &report.machine_id)?;
    let db = &state.database;
    let known = Query::select()
        .column("machine_id")
        .from("machines")
        .and_where(Expr::col("machine_id").eq(machine_id.as_str()))
        .to_owned();
    if db.fetch_optional(&known).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no machine {machine_id} is indexed (yet)"
        )));
    }
    let validator_text = validator.to_string();
    let active = Query::select()
        .column("account")
        .from("validators")
        .and_where(Expr::col("account").eq(validator_text.as_str()))
        .and_where(Expr::col("active").eq(1))
        .to_owned();
    if db.fetch_optional(&active).await?.is_none() {
        return Err(ApiError::forbidden(format!(
            "{validator} is not a validator of the chain (as indexed so far)"
        )));
    }
    let at_ms = i64::try_from(report.at_ms)
        .map_err(|_| ApiError::bad_request("at_ms is out of range".to_string()))?;
    let validator = validator_text;
    let existing = Query::select()
        .column("machine_id")
        .from("drills")
        .and_where(Expr::col("machine_id").eq(machine_id.as_str()))
        .and_where(Expr::col("validator").eq(validator.as_str()))
        .and_where(Expr::col("at_ms").eq(at_ms))
        .to_owned();
    if db.fetch_optional(&existing).await?.is_some() {
        return Ok(ApiJson(DrillAddResponse { stored: false }));
    }
    let verdict = verdict_name(report.verdict);
    let insert = Query::insert()
        .into_table("drills")
        .columns(DRILL_COLUMNS)
        .values_panic([
            Expr::val(machine_id.clone()),
            Expr::val(validator.clone()),
            Expr::val(at_ms),
            Expr::val(verdict),
            Expr::val(report.measured_samples_per_s),
            Expr::val(report.claimed_samples_per_s),
            Expr::val(signed.document),
            Expr::val(signed.signature),
            Expr::val(now_ms()),
        ])
        .to_owned();
    let mut tx = db.begin().await?;
    execute(&mut tx, db.backend(), &insert).await?;
    // The machine's latest drill, which the machine views show.
    let latest_at = Query::select()
        .column("at_ms")
        .from("latest_drills")
        .and_where(Expr::col("machine_id").eq(machine_id.as_str()))
        .to_owned();
    let summary = [
        ("validator", Expr::val(validator.clone())),
        ("at_ms", Expr::val(at_ms)),
        ("verdict", Expr::val(verdict)),
        (
            "measured_samples_per_s",
            Expr::val(report.measured_samples_per_s),
        ),
        (
            "claimed_samples_per_s",
            Expr::val(report.claimed_samples_per_s),
        ),
    ];
    match fetch_optional(&mut tx, db.backend(), &latest_at).await? {
        None => {
            let insert = Query::insert()
                .into_table("latest_drills")
                .columns(
                    std::iter::once("machine_id").chain(summary.iter().map(|(column, _)| *column)),
                )
                .values_panic(
                    std::iter::once(Expr::val(machine_id.clone()))
                        .chain(summary.iter().map(|(_, value)| value.clone())),
                )
                .to_owned();
            execute(&mut tx, db.backend(), &insert).await?;
        }
        Some(row) if row.try_get::<i64, _>("at_ms").map_err(DbError::from)? < at_ms => {
            let update = Query::update()
                .table("latest_drills")
                .values(
                    summary
                        .iter()
                        .map(|(column, value)| (*column, value.clone())),
                )
                .and_where(Expr::col("machine_id").eq(machine_id.as_str()))
                .to_owned();
            execute(&mut tx, db.backend(), &update).await?;
        }
        Some(_) => {}
    }
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(machine = %machine_id, %validator, verdict, "drill report stored");
    Ok(ApiJson(DrillAddResponse { stored: true }))
}

#[utoipa::path(get, path = "/api/machine/{id}/drills", params(("id" = String, Path, description = "machine id (UUID)")),
    responses((status = 200, body = DrillList), super::LookupErrors))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<DrillList>, ApiError> {
    let id = parse_id("machine id", &id)?;
    let select = Query::select()
        .columns(DRILL_COLUMNS)
        .from("drills")
        .and_where(Expr::col("machine_id").eq(id.as_str()))
        .order_by("at_ms", Order::Desc)
        .limit(LISTED)
        .to_owned();
    let mut items = Vec::new();
    for row in state.database.fetch_all(&select).await? {
        let report: String = row.try_get("report").map_err(DbError::from)?;
        items.push(DrillView {
            machine_id: row.try_get("machine_id").map_err(DbError::from)?,
            validator: row.try_get("validator").map_err(DbError::from)?,
            verdict: row.try_get("verdict").map_err(DbError::from)?,
            measured_samples_per_s: row
                .try_get("measured_samples_per_s")
                .map_err(DbError::from)?,
            claimed_samples_per_s: row
                .try_get("claimed_samples_per_s")
                .map_err(DbError::from)?,
            at_ms: row.try_get("at_ms").map_err(DbError::from)?,
            report: serde_json::from_str(&report).unwrap_or(serde_json::Value::String(report)),
            signature: row.try_get("signature").map_err(DbError::from)?,
            received_ms: row.try_get("received_ms").map_err(DbError::from)?,
        });
    }
    Ok(ApiJson(DrillList {
        machine_id: id,
        items,
    }))
}

/// The latest drill of each of `machine_ids`.
pub async fn latest(
    db: &Database,
    machine_ids: &[&str],
) -> Result<std::collections::HashMap<String, DrillSummary>, ApiError> {
    let mut latest = std::collections::HashMap::new();
    if machine_ids.is_empty() {
        return Ok(latest);
    }
    let select = Query::select()
        .columns([
            "machine_id",
            "validator",
            "at_ms",
            "verdict",
            "measured_samples_per_s",
            "claimed_samples_per_s",
        ])
        .from("latest_drills")
        .and_where(Expr::col("machine_id").is_in(machine_ids.iter().copied()))
        .to_owned();
    for row in db.fetch_all(&select).await? {
        latest.insert(
            row.try_get("machine_id").map_err(DbError::from)?,
            DrillSummary {
                verdict: row.try_get("verdict").map_err(DbError::from)?,
                measured_samples_per_s: row
                    .try_get("measured_samples_per_s")
                    .map_err(DbError::from)?,
                claimed_samples_per_s: row
                    .try_get("claimed_samples_per_s")
                    .map_err(DbError::from)?,
                validator: row.try_get("validator").map_err(DbError::from)?,
                at_ms: row.try_get("at_ms").map_err(DbError::from)?,
            },
        );
    }
    Ok(latest)
}
