//! Machines: the market's filter values, the market, an owner's machines, one machine.

use super::orders::OrderView;
use super::{
    ApiError, ApiJson, ApiPath, AppState, Paging, default_page_size, first_page, parse_account,
    parse_balance, parse_id,
};
use crate::store::{EventRow, MACHINE_COLUMNS, MachineRow, ORDER_COLUMNS, OrderRow};
use axum::extract::State;
use sea_query::{Cond, Expr, ExprTrait, Order, Query, SelectStatement};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

/// A machine as the market shows it. Amounts are decimal strings in the smallest unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineView {
    pub machine_id: String,
    pub owner: String,
    /// Listed on the market (it may still be rented by an order).
    pub listed: bool,
    /// Listed and not rented: an order can be placed now.
    pub available: bool,
    /// The order renting it (in training or awaiting its verdict).
    pub rented_by: Option<String>,
    pub price_per_hour: Option<String>,
    pub max_duration_hours: Option<i64>,
    /// Disk offered to training, GB.
    pub disk_gb: Option<i64>,
    pub deposit: String,
    pub gpu_model: Option<String>,
    pub gpu_count: i64,
    pub gpu_memory_mb: Option<i64>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<i64>,
    pub ram_mb: Option<i64>,
    pub region: Option<String>,
    /// The performance index the owner's agent measured.
    pub performance_index: Option<f64>,
    /// The latest validator's drill ran at the claimed speed or near it
    /// (`matrixai_chain::drill::VERIFIED_SHARE`); docs/validator-guide.md, "Verified performance".
    pub performance_verified: bool,
    /// The latest drill of the machine by a validator, `null` before any: `verdict` is
    /// `verified`, `contradicted` (slower than claimed), `wrong_answer` or `unreachable`.
    pub drill: Option<super::drills::DrillSummary>,
    pub performance_per_price: Option<f64>,
    /// 0 to 1 from the machine's finished orders (docs/indexer.md); `null` for a new machine.
    pub reliability: Option<f64>,
    /// No finished order yet.
    pub new: bool,
    pub orders_total: i64,
    pub orders_succeeded: i64,
    pub orders_failed: i64,
    /// The metadata JSON as registered.
    pub metadata: String,
    /// Why the metadata is not valid machine metadata; `null` when it is.
    pub metadata_error: Option<String>,
    pub added_at: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
}

impl From<MachineRow> for MachineView {
    fn from(row: MachineRow) -> Self {
        let reliability = row.reliability();
        let performance_per_price = row.performance_per_price();
        Self {
            available: row.listed && row.rented_by.is_none() && row.removed_at.is_none(),
            listed: row.listed,
            machine_id: row.machine_id,
            owner: row.owner,
            rented_by: row.rented_by,
            price_per_hour: row.price_per_hour.map(|p| p.to_string()),
            max_duration_hours: row.max_duration_hours,
            disk_gb: row.disk_gb,
            deposit: row.deposit.to_string(),
            gpu_model: row.gpu_model,
            gpu_count: row.gpu_count,
            gpu_memory_mb: row.gpu_memory_mb,
            cpu_model: row.cpu_model,
            cpu_cores: row.cpu_cores,
            ram_mb: row.ram_mb,
            region: row.region,
            performance_index: row.performance_index,
            performance_verified: false,
            drill: None,
            performance_per_price,
            reliability,
            new: row.orders_succeeded + row.orders_failed == 0,
            orders_total: row.orders_total,
            orders_succeeded: row.orders_succeeded,
            orders_failed: row.orders_failed,
            metadata: row.metadata,
            metadata_error: row.metadata_error,
            added_at: row.added_at,
            updated_at: row.updated_at,
            removed_at: row.removed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MachinePage {
    /// Machines matching the filters, over all pages: exact up to 1 000.
    pub total: i64,
    /// False when more than 1 000 machines match (`total` is then 1 000).
    pub total_exact: bool,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<MachineView>,
}

/// `/api/machine/filter`'s request: an empty object, or whether to include unlisted machines.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterRequest {
    /// Only machines listed on the market (default true).
    #[serde(default)]
    pub include_unlisted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountedValue {
    pub value: String,
    pub machines: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FloatRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AmountRange {
    pub min: Option<String>,
    pub max: Option<String>,
}

/// The values that exist to filter the market by.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterOptions {
    pub machines: i64,
    pub gpu_models: Vec<CountedValue>,
    pub gpu_counts: Vec<i64>,
    pub regions: Vec<CountedValue>,
    pub price_per_hour: AmountRange,
    pub performance_index: FloatRange,
    pub reliability: FloatRange,
    pub disk_gb: IntRange,
    pub cpu_cores: IntRange,
    pub ram_mb: IntRange,
}

/// How the market is sorted.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarketSort {
    #[default]
    Price,
    Performance,
    PerformancePerPrice,
    Reliability,
}

/// `/api/machine/market`'s request: every filter is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketRequest {
    /// Page number, from 1 (default 1).
    #[serde(default = "first_page")]
    #[schema(minimum = 1, default = 1)]
    pub page: u32,
    /// Items per page, 1 to 100 (default 20).
    #[serde(default = "default_page_size")]
    #[schema(minimum = 1, maximum = 100, default = 20)]
    pub page_size: u32,
    pub gpu_model: Option<String>,
    /// At least this many GPUs.
    pub gpu_count_min: Option<u32>,
    pub cpu_cores_min: Option<u32>,
    pub ram_mb_min: Option<u64>,
    pub region: Option<String>,
    /// Decimal string, smallest unit.
    pub price_min: Option<String>,
    pub price_max: Option<String>,
    pub performance_min: Option<f64>,
    /// Machines without history (reliability `null`) are left out when this is set.
    pub reliability_min: Option<f64>,
    pub disk_gb_min: Option<u64>,
    /// Include delisted machines (default false); removed machines are never shown.
    #[serde(default)]
    pub include_unlisted: bool,
    /// Only machines an order can be placed on now (default false).
    #[serde(default)]
    pub available_only: bool,
    #[serde(default)]
    pub sort: MarketSort,
}

impl MarketRequest {
    fn paging(&self) -> Paging {
        Paging {
            page: self.page,
            page_size: self.page_size,
        }
    }
}

/// `/api/machine/mine`'s request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MineRequest {
    /// SS58 address or 0x-hex account id.
    pub owner: String,
    /// Page number, from 1 (default 1).
    #[serde(default = "first_page")]
    #[schema(minimum = 1, default = 1)]
    pub page: u32,
    /// Items per page, 1 to 100 (default 20).
    #[serde(default = "default_page_size")]
    #[schema(minimum = 1, maximum = 100, default = 20)]
    pub page_size: u32,
    /// Include removed machines (default false).
    #[serde(default)]
    pub include_removed: bool,
}

impl MineRequest {
    fn paging(&self) -> Paging {
        Paging {
            page: self.page,
            page_size: self.page_size,
        }
    }
}

/// One event of the chain history of a machine or an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub block_number: i64,
    pub block_hash: String,
    pub timestamp_ms: i64,
    /// `null` for events of block initialization (expiries).
    pub extrinsic_index: Option<i64>,
    pub event_index: i64,
    pub pallet: String,
    pub name: String,
    /// The event's fields as decoded from the chain.
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

impl From<EventRow> for EventView {
    fn from(row: EventRow) -> Self {
        Self {
            fields: serde_json::from_str(&row.fields_json).unwrap_or(serde_json::Value::Null),
            block_number: row.block_number,
            block_hash: row.block_hash,
            timestamp_ms: row.timestamp_ms,
            extrinsic_index: row.extrinsic_index,
            event_index: row.event_index,
            pallet: row.pallet,
            name: row.name,
        }
    }
}

/// A machine with its chain history and its latest orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineDetail {
    pub machine: MachineView,
    /// Every event of the machine since it was (last) added, oldest first.
    pub history: Vec<EventView>,
    /// Its 20 latest orders, newest first.
    pub orders: Vec<OrderView>,
}

#[utoipa::path(post, path = "/api/machine/filter", request_body = FilterRequest,
    responses((status = 200, body = FilterOptions), super::BodyErrors))]
pub async fn filter(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<FilterRequest>,
) -> Result<ApiJson<FilterOptions>, ApiError> {
    let db = &state.database;
    let scope = if request.include_unlisted {
        Cond::all().add(Expr::col("removed_at").is_null())
    } else {
        Cond::all().add(Expr::col("listed").eq(1))
    };
    let counted = |column: &'static str| {
        Query::select()
            .column(column)
            .expr_as(Expr::col(column).count(), "machines")
            .from("machines")
            .cond_where(scope.clone())
            .and_where(Expr::col(column).is_not_null())
            .group_by_col(column)
            .order_by(column, Order::Asc)
            .to_owned()
    };
    let gpu_models = counted_values(db, &counted("gpu_model"), "gpu_model").await?;
    let regions = counted_values(db, &counted("region"), "region").await?;
    let counts = Query::select()
        .distinct()
        .column("gpu_count")
        .from("machines")
        .cond_where(scope.clone())
        .order_by("gpu_count", Order::Asc)
        .to_owned();
    let mut gpu_counts = Vec::new();
    for row in db.fetch_all(&counts).await? {
        gpu_counts.push(row.try_get("gpu_count").map_err(crate::db::DbError::from)?);
    }
    let ranges = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "machines")
        .expr_as(Expr::col("performance_index").min(), "perf_min")
        .expr_as(Expr::col("performance_index").max(), "perf_max")
        .expr_as(
            Expr::cust("MIN(CASE WHEN reliability_key >= 0 THEN reliability_key END)"),
            "rel_min",
        )
        .expr_as(
            Expr::cust("MAX(CASE WHEN reliability_key >= 0 THEN reliability_key END)"),
            "rel_max",
        )
        .expr_as(Expr::col("disk_gb").min(), "disk_min")
        .expr_as(Expr::col("disk_gb").max(), "disk_max")
        .expr_as(Expr::col("cpu_cores").min(), "cores_min")
        .expr_as(Expr::col("cpu_cores").max(), "cores_max")
        .expr_as(Expr::col("ram_mb").min(), "ram_min")
        .expr_as(Expr::col("ram_mb").max(), "ram_max")
        .from("machines")
        .cond_where(scope.clone())
        .to_owned();
    let row = db
        .fetch_optional(&ranges)
        .await?
        .ok_or_else(|| ApiError::from(crate::db::DbError::Corrupt("no aggregate row".into())))?;
    let get_i = |name: &str| -> Result<Option<i64>, ApiError> {
        Ok(row.try_get(name).map_err(crate::db::DbError::from)?)
    };
    let get_f = |name: &str| -> Result<Option<f64>, ApiError> {
        Ok(row.try_get(name).map_err(crate::db::DbError::from)?)
    };
    let price = |direction: Order| {
        Query::select()
            .column("price_per_hour")
            .from("machines")
            .cond_where(scope.clone())
            .and_where(Expr::col("price_per_hour").is_not_null())
            .order_by("price_key", direction)
            .limit(1)
            .to_owned()
    };
    let mut price_range = AmountRange {
        min: None,
        max: None,
    };
    for (slot, direction) in [
        (&mut price_range.min, Order::Asc),
        (&mut price_range.max, Order::Desc),
    ] {
        if let Some(row) = db.fetch_optional(&price(direction)).await? {
            *slot = row
                .try_get("price_per_hour")
                .map_err(crate::db::DbError::from)?;
        }
    }
    Ok(ApiJson(FilterOptions {
        machines: get_i("machines")?.unwrap_or(0),
        gpu_models,
        gpu_counts,
        regions,
        price_per_hour: price_range,
        performance_index: FloatRange {
            min: get_f("perf_min")?,
            max: get_f("perf_max")?,
        },
        reliability: FloatRange {
            min: get_f("rel_min")?,
            max: get_f("rel_max")?,
        },
        disk_gb: IntRange {
            min: get_i("disk_min")?,
            max: get_i("disk_max")?,
        },
        cpu_cores: IntRange {
            min: get_i("cores_min")?,
            max: get_i("cores_max")?,
        },
        ram_mb: IntRange {
            min: get_i("ram_min")?,
            max: get_i("ram_max")?,
        },
    }))
}

/// The rows of a `column, COUNT(*) AS machines ... GROUP BY column` query.
async fn counted_values(
    db: &crate::db::Database,
    select: &SelectStatement,
    column: &str,
) -> Result<Vec<CountedValue>, ApiError> {
    let mut values = Vec::new();
    for row in db.fetch_all(select).await? {
        values.push(CountedValue {
            value: row.try_get(column).map_err(crate::db::DbError::from)?,
            machines: row.try_get("machines").map_err(crate::db::DbError::from)?,
        });
    }
    Ok(values)
}

/// The market query's WHERE clause.
pub fn market_condition(request: &MarketRequest) -> Result<Cond, ApiError> {
    // A removed machine is never listed: `listed = 1` alone keeps the walk on the index.
    let mut condition = Cond::all();
    if request.include_unlisted {
        condition = condition.add(Expr::col("removed_at").is_null());
    } else {
        condition = condition.add(Expr::col("listed").eq(1));
    }
    if request.available_only {
        condition = condition
            .add(Expr::col("listed").eq(1))
            .add(Expr::col("rented_by").is_null());
    }
    if let Some(model) = &request.gpu_model {
        condition = condition.add(Expr::col("gpu_model").eq(model.as_str()));
    }
    if let Some(count) = request.gpu_count_min {
        let count = at_most_i32("gpu_count_min", count)?;
        condition = condition.add(Expr::col("gpu_count").gte(count));
    }
    if let Some(cores) = request.cpu_cores_min {
        let cores = at_most_i32("cpu_cores_min", cores)?;
        condition = condition.add(Expr::col("cpu_cores").gte(cores));
    }
    if let Some(ram) = request.ram_mb_min {
        condition = condition.add(Expr::col("ram_mb").gte(at_most_i64("ram_mb_min", ram)?));
    }
    if let Some(region) = &request.region {
        condition = condition.add(Expr::col("region").eq(region.as_str()));
    }
    // A price range under another sort is checked row by row (`+price_key` disqualifies the
    // price index, SQLite's documented way), so that the planner walks the sort key's index and
    // stops at the page's end instead of sorting every machine in the range.
    let price_key = match request.sort {
        MarketSort::Price => Expr::col("price_key"),
        _ => Expr::cust("(+price_key)"),
    };
    if let Some(price) = &request.price_min {
        let price = parse_balance("price_min", price)?;
        condition = condition.add(price_key.clone().gte(price as f64));
    }
    if let Some(price) = &request.price_max {
        let price = parse_balance("price_max", price)?;
        condition = condition.add(price_key.lte(price as f64));
    }
    if let Some(performance) = request.performance_min {
        if !performance.is_finite() {
            return Err(ApiError::bad_request(
                "performance_min must be a finite number",
            ));
        }
        condition = condition.add(Expr::col("performance_index").gte(performance));
    }
    if let Some(reliability) = request.reliability_min {
        if !(0.0..=1.0).contains(&reliability) {
            return Err(ApiError::bad_request(
                "reliability_min must be between 0 and 1",
            ));
        }
        condition = condition.add(Expr::col("reliability_key").gte(reliability));
    }
    if let Some(disk) = request.disk_gb_min {
        condition = condition.add(Expr::col("disk_gb").gte(at_most_i64("disk_gb_min", disk)?));
    }
    Ok(condition)
}

/// A `u32` field is an OpenAPI `int32`.
fn at_most_i32(name: &str, value: u32) -> Result<i64, ApiError> {
    if value > i32::MAX as u32 {
        return Err(ApiError::bad_request(format!("{name} is above 2^31 - 1")));
    }
    Ok(i64::from(value))
}

/// A `u64` field is an OpenAPI `int64`.
fn at_most_i64(name: &str, value: u64) -> Result<i64, ApiError> {
    i64::try_from(value).map_err(|_| ApiError::bad_request(format!("{name} is above 2^63 - 1")))
}

/// Most matches the market counts exactly; beyond, `total` is this and `total_exact` false (50
/// pages of 20: a buyer narrows the filters long before).
pub const COUNT_CAP: u64 = 1_000;

/// The market's page query: filters, sort (best first; machines without the sort key last, by
/// their sentinel key), ties broken by id, paging. Each sort key has an index
/// `(listed, key, machine_id)`, so a page is an index walk that stops at the page's end.
pub fn market_query(
    request: &MarketRequest,
    limit: u64,
    offset: u64,
) -> Result<SelectStatement, ApiError> {
    let (column, order) = match request.sort {
        MarketSort::Price => ("price_key", Order::Asc),
        MarketSort::Performance => ("performance_key", Order::Desc),
        MarketSort::PerformancePerPrice => ("value_key", Order::Desc),
        MarketSort::Reliability => ("reliability_key", Order::Desc),
    };
    Ok(Query::select()
        .columns(MACHINE_COLUMNS)
        .from("machines")
        .cond_where(market_condition(request)?)
        .order_by(column, order.clone())
        .order_by("machine_id", order)
        .limit(limit)
        .offset(offset)
        .to_owned())
}

/// How many machines match, counting at most [`COUNT_CAP`] + 1.
pub fn market_count(request: &MarketRequest) -> Result<SelectStatement, ApiError> {
    let matches = Query::select()
        .expr(Expr::val(1))
        .from("machines")
        .cond_where(market_condition(request)?)
        .limit(COUNT_CAP + 1)
        .to_owned();
    Ok(Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "total")
        .from_subquery(matches, "matches")
        .to_owned())
}

#[utoipa::path(post, path = "/api/machine/market", request_body = MarketRequest,
    responses((status = 200, body = MachinePage), super::BodyErrors))]
pub async fn market(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<MarketRequest>,
) -> Result<ApiJson<MachinePage>, ApiError> {
    let (limit, offset) = request.paging().limits()?;
    page(
        &state,
        market_count(&request)?,
        market_query(&request, limit, offset)?,
        request.paging(),
    )
    .await
}

#[utoipa::path(post, path = "/api/machine/mine", request_body = MineRequest,
    responses((status = 200, body = MachinePage), super::BodyErrors))]
pub async fn mine(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<MineRequest>,
) -> Result<ApiJson<MachinePage>, ApiError> {
    let (limit, offset) = request.paging().limits()?;
    let owner = parse_account("owner", &request.owner)?;
    let mut condition = Cond::all().add(Expr::col("owner").eq(owner));
    if !request.include_removed {
        condition = condition.add(Expr::col("removed_at").is_null());
    }
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "total")
        .from("machines")
        .cond_where(condition.clone())
        .to_owned();
    let select = Query::select()
        .columns(MACHINE_COLUMNS)
        .from("machines")
        .cond_where(condition)
        .order_by("added_at", Order::Desc)
        .order_by("machine_id", Order::Asc)
        .limit(limit)
        .offset(offset)
        .to_owned();
    page(&state, count, select, request.paging()).await
}

async fn page(
    state: &AppState,
    count: SelectStatement,
    select: SelectStatement,
    paging: Paging,
) -> Result<ApiJson<MachinePage>, ApiError> {
    let db = &state.database;
    let total: i64 = match db.fetch_optional(&count).await? {
        Some(row) => row.try_get("total").map_err(crate::db::DbError::from)?,
        None => 0,
    };
    let mut items = Vec::new();
    for row in db.fetch_all(&select).await? {
        items.push(MachineView::from(MachineRow::from_row(&row)?));
    }
    attach_drills(db, &mut items).await?;
    Ok(ApiJson(MachinePage {
        total: std::cmp::min(total, COUNT_CAP as i64),
        total_exact: total <= COUNT_CAP as i64,
        page: paging.page,
        page_size: paging.page_size,
        items,
    }))
}

#[utoipa::path(get, path = "/api/machine/{id}", params(("id" = String, Path, description = "machine id (UUID)")),
    responses((status = 200, body = MachineDetail), super::LookupErrors))]
pub async fn detail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<MachineDetail>, ApiError> {
    let id = parse_id("machine id", &id)?;
    let db = &state.database;
    let select = Query::select()
        .columns(MACHINE_COLUMNS)
        .from("machines")
        .and_where(Expr::col("machine_id").eq(id.as_str()))
        .to_owned();
    let machine = db
        .fetch_optional(&select)
        .await?
        .map(|row| MachineRow::from_row(&row))
        .transpose()?
        .ok_or_else(|| ApiError::not_found(format!("no machine {id} was ever added")))?;
    let history = super::orders::events_where(
        db,
        Cond::all()
            .add(Expr::col("machine_id").eq(id.as_str()))
            .add(Expr::col("block_number").gte(machine.added_at)),
    )
    .await?;
    let orders_select = Query::select()
        .columns(ORDER_COLUMNS)
        .from("orders")
        .and_where(Expr::col("machine_id").eq(id.as_str()))
        .order_by("placed_at", Order::Desc)
        .limit(20)
        .to_owned();
    let mut orders = Vec::new();
    for row in db.fetch_all(&orders_select).await? {
        orders.push(OrderView::from(OrderRow::from_row(&row)?));
    }
    let mut machine = [MachineView::from(machine)];
    attach_drills(db, &mut machine).await?;
    let [machine] = machine;
    Ok(ApiJson(MachineDetail {
        machine,
        history,
        orders,
    }))
}

/// Each machine's latest drill, and whether it verified the machine's speed.
async fn attach_drills(
    db: &crate::db::Database,
    machines: &mut [MachineView],
) -> Result<(), ApiError> {
    let ids: Vec<&str> = machines.iter().map(|m| m.machine_id.as_str()).collect();
    let mut latest = super::drills::latest(db, &ids).await?;
    for machine in machines {
        machine.drill = latest.remove(&machine.machine_id);
        machine.performance_verified = machine
            .drill
            .as_ref()
            .is_some_and(|drill| drill.verdict == "verified");
    }
    Ok(())
}
