//! Validators' verification reports (see `matrixai_chain::verification_report`): accepted from
//! a validator that sits on the order's panel with a signature over the report's exact bytes,
//! stored once per seat, and listed per order for the buyer and the UI.

use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, AppState, parse_account, parse_id, parse_signature,
};
use crate::db::{DbError, execute};
use crate::follower::now_ms;
use axum::extract::State;
use matrixai_chain::verification_report::{ReportVerdict, SignedReport};
use sea_query::{Cond, Expr, ExprTrait, Order, Query};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

/// `/api/report`'s request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportAddRequest {
    pub order_id: String,
    /// The block the judging panel's first round starts (`PanelDrawn.from`).
    pub panel_from: u32,
    /// The validator, SS58 or 0x-hex.
    pub validator: String,
    /// The report's JSON, as a string: exactly the bytes signed.
    pub report: String,
    /// sr25519 signature of the validator over the canonical message (docs/indexer.md), 0x-hex.
    pub signature: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAddResponse {
    /// False when this exact report was already stored.
    pub stored: bool,
}

/// A stored report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    pub order_id: String,
    pub placed_at: i64,
    pub panel_from: i64,
    pub validator: String,
    /// `pass` or `fail`.
    pub verdict: String,
    /// The report (docs/validator-guide.md, "Reading a report").
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    pub signature: String,
    pub received_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub order_id: String,
    pub placed_at: i64,
    /// Oldest panel first.
    pub items: Vec<ReportView>,
}

#[utoipa::path(post, path = "/api/report", request_body = ReportAddRequest,
    responses((status = 200, body = ReportAddResponse), super::BodyErrors,
        (status = 403, body = super::ErrorBody, description = "the validator has no seat on this panel, or the signature is not its own"),
        (status = 404, body = super::ErrorBody, description = "no such order or panel is indexed (yet)"),
        (status = 409, body = super::ErrorBody, description = "this seat already published a different report")))]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ReportAddRequest>,
) -> Result<ApiJson<ReportAddResponse>, ApiError> {
    let order_id = parse_id("order_id", &request.order_id)?;
    let validator = parse_account("validator", &request.validator)?;
    let signature = parse_signature(&request.signature)?;
    let signed = SignedReport {
        order_id: crate::ids::parse_uuid(&order_id).expect("parsed above"),
        panel_from: request.panel_from,
        report: request.report,
    };
    let db = &state.database;
    let panel_from = i64::from(request.panel_from);
    let seat = Query::select()
        .column("placed_at")
        .from("panel_seats")
        .cond_where(
            Cond::all()
                .add(Expr::col("order_id").eq(order_id.as_str()))
                .add(Expr::col("panel_from").eq(panel_from)),
        )
        .and_where(Expr::col("validator").eq(validator.as_str()))
        .order_by("placed_at", Order::Desc)
        .limit(1)
        .to_owned();
    let placed_at: i64 = match db.fetch_optional(&seat).await? {
        Some(row) => row.try_get("placed_at").map_err(DbError::from)?,
        None => {
            let drawn = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), "seats")
                .from("panel_seats")
                .and_where(Expr::col("order_id").eq(order_id.as_str()))
                .and_where(Expr::col("panel_from").eq(panel_from))
                .to_owned();
            let seats: i64 = db
                .fetch_optional(&drawn)
                .await?
                .map(|row| row.try_get("seats"))
                .transpose()
                .map_err(DbError::from)?
                .unwrap_or(0);
            return Err(if seats == 0 {
                ApiError::not_found(format!(
                    "no panel from block #{panel_from} is indexed (yet) for order {order_id}"
                ))
            } else {
                ApiError::forbidden(format!(
                    "{validator} has no seat on the panel from block #{panel_from} of order {order_id}"
                ))
            });
        }
    };
    // Only a seated validator's request costs a signature check and a parse.
    let account = crate::ids::parse_account(&validator).expect("parsed above");
    let report = signed.verify(&signature, &account).map_err(|error| {
        use matrixai_chain::verification_report::ReportError;
        match error {
            ReportError::BadSignature(_) | ReportError::WrongOrder { .. } => {
                ApiError::forbidden(error.to_string())
            }
            ReportError::TooLarge(_) | ReportError::Malformed(_) => {
                ApiError::bad_request(error.to_string())
            }
        }
    })?;

    let verdict = match report.verdict {
        ReportVerdict::Pass => "pass",
        ReportVerdict::Fail => "fail",
    };
    let key = Cond::all()
        .add(Expr::col("order_id").eq(order_id.as_str()))
        .add(Expr::col("placed_at").eq(placed_at))
        .add(Expr::col("panel_from").eq(panel_from))
        .add(Expr::col("validator").eq(validator.as_str()));
    let existing = Query::select()
        .column("report")
        .from("reports")
        .cond_where(key)
        .to_owned();
    if let Some(row) = db.fetch_optional(&existing).await? {
        let stored: String = row.try_get("report").map_err(DbError::from)?;
        return if stored == signed.report {
            Ok(ApiJson(ReportAddResponse { stored: false }))
        } else {
            Err(ApiError::conflict(format!(
                "{validator} already published a different report for this panel of order {order_id}"
            )))
        };
    }
    let insert = Query::insert()
        .into_table("reports")
        .columns([
            "order_id",
            "placed_at",
            "panel_from",
            "validator",
            "verdict",
            "report",
            "signature",
            "received_ms",
        ])
        .values_panic([
            Expr::val(order_id.clone()),
            Expr::val(placed_at),
            Expr::val(panel_from),
            Expr::val(validator.clone()),
            Expr::val(verdict),
            Expr::val(signed.report.clone()),
            Expr::val(request.signature.clone()),
            Expr::val(now_ms() as i64),
        ])
        .to_owned();
    let mut tx = db.begin().await?;
    execute(&mut tx, db.backend(), &insert).await?;
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(order = %order_id, %validator, verdict, "verification report stored");
    Ok(ApiJson(ReportAddResponse { stored: true }))
}

#[utoipa::path(get, path = "/api/order/{id}/reports", params(("id" = String, Path, description = "order id (UUID)"), super::orders::OrderInstance),
    responses((status = 200, body = ReportList), super::LookupErrors))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(instance): ApiQuery<super::orders::OrderInstance>,
) -> Result<ApiJson<ReportList>, ApiError> {
    let id = parse_id("order id", &id)?;
    let db = &state.database;
    let order = super::orders::find_order(db, &id, instance.placed_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {id} was placed")))?;
    let select = Query::select()
        .columns([
            "panel_from",
            "validator",
            "verdict",
            "report",
            "signature",
            "received_ms",
        ])
        .from("reports")
        .and_where(Expr::col("order_id").eq(id.as_str()))
        .and_where(Expr::col("placed_at").eq(order.placed_at))
        .order_by("panel_from", Order::Asc)
        .order_by("validator", Order::Asc)
        .to_owned();
    let mut items = Vec::new();
    for row in db.fetch_all(&select).await? {
        let report: String = row.try_get("report").map_err(DbError::from)?;
        items.push(ReportView {
            order_id: id.clone(),
            placed_at: order.placed_at,
            panel_from: row.try_get("panel_from").map_err(DbError::from)?,
            validator: row.try_get("validator").map_err(DbError::from)?,
            verdict: row.try_get("verdict").map_err(DbError::from)?,
            report: serde_json::from_str(&report)
                .map_err(|e| DbError::Corrupt(format!("a stored report: {e}")))?,
            signature: row.try_get("signature").map_err(DbError::from)?,
            received_ms: row.try_get("received_ms").map_err(DbError::from)?,
        });
    }
    Ok(ApiJson(ReportList {
        order_id: id,
        placed_at: order.placed_at,
        items,
    }))
}
