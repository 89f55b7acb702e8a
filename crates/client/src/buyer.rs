//! The buyer's side from a terminal: the machines on the market, placing an order at a price
//! limit, following it to its end, its result and verification reports, renewing it, disputing
//! a segment of its proof. The web UI does the same in a browser; both read the chain for what
//! must be current and the indexer for history.

use crate::config::Settings;
use crate::{ClientError, tokens};
use futures::StreamExt;
use matrixai_chain::order_result::OrderResult;
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::{Balance, ChainClient, MachineId, OrderId, Verdict, ids, runtime};
use matrixai_pot::TaskSpec;
use serde_json::Value;

/// What `order place` asks for.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub machine_id: MachineId,
    pub hours: u32,
    pub spec: TaskSpec,
    /// The most the buyer pays per hour; `None`: the machine's price when the order is sent,
    /// so that a re-pricing in between cannot raise it.
    pub max_price_per_hour: Option<Balance>,
}

/// An order on chain, as `OrderPlaced` said.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order_id: OrderId,
    pub block_number: u64,
    pub seller: matrixai_chain::AccountId,
    pub price_per_hour: Balance,
    pub total: Balance,
    pub collateral: Balance,
    pub deadline: u32,
}

/// A random version-4 UUID for a new order.
pub fn new_order_id() -> OrderId {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the OS random source");
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// Checks the order against the machine's offer, then places it and waits until it is final.
pub async fn place(
    settings: &Settings,
    request: &OrderRequest,
    order_id: OrderId,
) -> Result<Placed, ClientError> {
    let metadata = request.spec.canonical_json();
    if metadata.len() > matrixai_chain::MAX_ORDER_METADATA_BYTES {
        return Err(ClientError::Refused(format!(
            "the spec takes {} bytes in canonical JSON, above the {} an order's metadata holds",
            metadata.len(),
            matrixai_chain::MAX_ORDER_METADATA_BYTES
        )));
    }
    let buyer = settings.buyer_account.keypair()?;
    let client = ChainClient::connect(&settings.node).await?;
    let machine_text = ids::uuid(&request.machine_id);
    let machine = client
        .finalized_state()
        .await?
        .machine(request.machine_id)
        .await?
        .ok_or_else(|| ClientError::Refused(format!("no machine {machine_text} on chain")))?;
    let offer = machine.offer.ok_or_else(|| {
        ClientError::Refused(format!(
            "machine {machine_text} is not listed on the market"
        ))
    })?;
    if request.hours == 0 || request.hours > offer.max_duration_hours {
        return Err(ClientError::Refused(format!(
            "machine {machine_text} takes orders of 1 to {} hours, not {}",
            offer.max_duration_hours, request.hours
        )));
    }
    let limit = request.max_price_per_hour.unwrap_or(offer.price_per_hour);
    if offer.price_per_hour > limit {
        return Err(ClientError::Refused(format!(
            "machine {machine_text} asks {} an hour, above your limit of {}",
            tokens(offer.price_per_hour),
            tokens(limit)
        )));
    }
    let call = runtime::tx().hashrate_market().place_order(
        order_id,
        machine.owner.clone().into(),
        request.machine_id,
        request.hours,
        limit,
        metadata,
    );
    let finalized = client.submit(&call, &buyer).await?;
    let placed = finalized.event::<runtime::hashrate_market::events::OrderPlaced>()?;
    Ok(Placed {
        order_id,
        block_number: finalized.block_number,
        seller: placed.seller,
        price_per_hour: placed.price_per_hour,
        total: placed.total,
        collateral: placed.collateral,
        deadline: placed.deadline,
    })
}

/// How an order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The proof held (and any dispute failed): the seller was paid.
    Settled,
    /// The trainer gave up: the buyer got the escrow back and part of the collateral.
    Failed,
    /// A validator found the proof forged: refund and slash.
    Rejected,
    /// A dispute proved a segment forged: refund, slash, and the disputer's reward.
    Forged,
    /// No proof before the deadline and grace: refund and slash.
    Expired,
}

/// Follows the order's finalized events, calling `on_event` with a line for people on each,
/// until the order ends.
pub async fn wait(
    settings: &Settings,
    order_id: OrderId,
    mut on_event: impl FnMut(u64, &str),
) -> Result<Outcome, ClientError> {
    let client = ChainClient::connect(&settings.node).await?;
    // Subscribe before looking at the order, so that nothing falls between the two.
    let mut events = std::pin::pin!(client.market_events().await?);
    let state = client.finalized_state().await?;
    let order = state.order(order_id).await?.ok_or_else(|| {
        ClientError::Refused(format!(
            "order {} is not open on chain (it ended, or was never placed); `order show` reads its history",
            ids::uuid(&order_id)
        ))
    })?;
    on_event(
        state.block_number(),
        &format!(
            "open: {:?}, deadline block #{}",
            order.status, order.deadline
        ),
    );
    while let Some(event) = events.next().await {
        let event = event?;
        if event_order(&event.event) != Some(order_id) {
            continue;
        }
        on_event(event.block_number, &describe(&event.event));
        if let Some(outcome) = outcome(&event.event) {
            return Ok(outcome);
        }
    }
    Err(ClientError::Refused(
        "the node closed the event stream before the order ended; run `order wait` again".into(),
    ))
}

/// The order an event is about.
pub fn event_order(event: &Event) -> Option<OrderId> {
    Some(match event {
        Event::OrderPlaced { order_id, .. }
        | Event::OrderRenewed { order_id, .. }
        | Event::OrderCompleted { order_id, .. }
        | Event::OrderFailed { order_id, .. }
        | Event::PotSubmitted { order_id, .. }
        | Event::PanelDrawn { order_id, .. }
        | Event::PotVerified { order_id, .. }
        | Event::PotUnjudged { order_id, .. }
        | Event::DisputeRaised { order_id, .. }
        | Event::DisputeResolved { order_id, .. }
        | Event::DisputeUnjudged { order_id, .. }
        | Event::OrderSettled { order_id, .. }
        | Event::OrderExpired { order_id, .. } => *order_id,
        _ => return None,
    })
}

/// The outcome when `event` ends its order.
pub fn outcome(event: &Event) -> Option<Outcome> {
    match event {
        Event::OrderSettled { .. } => Some(Outcome::Settled),
        Event::OrderFailed { .. } => Some(Outcome::Failed),
        Event::OrderExpired { .. } => Some(Outcome::Expired),
        Event::PotVerified {
            verdict: Verdict::Fail,
            ..
        } => Some(Outcome::Rejected),
        Event::DisputeResolved {
            verdict: Verdict::Fail,
            ..
        } => Some(Outcome::Forged),
        _ => None,
    }
}

/// One line for people about an order's event.
pub fn describe(event: &Event) -> String {
    let short = |account: &matrixai_chain::AccountId| {
        let text = ids::account(account);
        format!("{}…", &text[..8])
    };
    match event {
        Event::OrderPlaced {
            total,
            collateral,
            deadline,
            ..
        } => format!(
            "placed: {} in escrow, {} of the seller's deposit at stake, deadline block #{deadline}",
            tokens(*total),
            tokens(*collateral)
        ),
        Event::OrderRenewed {
            extra_hours,
            extra_amount,
            deadline,
            ..
        } => format!(
            "renewed by {extra_hours} h for {}, deadline block #{deadline}",
            tokens(*extra_amount)
        ),
        Event::OrderCompleted { result, .. } => match OrderResult::parse(&result.0) {
            Ok(OrderResult::Completed(delivery)) => format!(
                "trained: accuracy {:.4}, model {} (sha256 {})",
                f64::from(delivery.accuracy_ppm) / 1e6,
                delivery.model_uri,
                delivery.model_sha256
            ),
            _ => "trained (the result recorded is unreadable)".into(),
        },
        Event::OrderFailed {
            refunded,
            slashed,
            result,
            ..
        } => {
            let reason = match OrderResult::parse(&result.0) {
                Ok(OrderResult::Failed(failure)) => {
                    format!("{:?}: {}", failure.code, failure.reason)
                }
                _ => "no readable reason".into(),
            };
            format!(
                "failed ({reason}); refunded {} plus {} of the seller's collateral",
                tokens(*refunded),
                tokens(*slashed)
            )
        }
        Event::PotSubmitted {
            challenge_block, ..
        } => format!("proof of training submitted; challenge block #{challenge_block}"),
        Event::PanelDrawn { panel, until, .. } => format!(
            "validators drawn to judge it: {} (until block #{until})",
            panel.0.iter().map(short).collect::<Vec<_>>().join(", ")
        ),
        Event::PotVerified {
            verdict: Verdict::Pass,
            validator,
            dispute_until,
            ..
        } => format!(
            "proof verified by {}: pass; disputes open until block #{} (`order dispute`), then the seller is paid",
            short(validator),
            dispute_until.unwrap_or_default()
        ),
        Event::PotVerified {
            validator,
            refunded,
            slashed,
            ..
        } => format!(
            "proof rejected by {}; refunded {} plus {} of the seller's collateral",
            short(validator),
            tokens(*refunded),
            tokens(*slashed)
        ),
        Event::PotUnjudged { dispute_until, .. } => format!(
            "no validator judged the proof: it stands; disputes open until block #{dispute_until}"
        ),
        Event::DisputeRaised { segment, bond, .. } => {
            format!("segment {segment} disputed, {} bond held", tokens(*bond))
        }
        Event::DisputeResolved {
            verdict: Verdict::Fail,
            refunded,
            slashed,
            reward,
            ..
        } => format!(
            "dispute upheld, the segment was forged: refunded {}, {} of the collateral slashed, {} to the disputer",
            tokens(*refunded),
            tokens(*slashed),
            tokens(*reward)
        ),
        Event::DisputeResolved {
            bond_forfeited,
            dispute_until,
            ..
        } => format!(
            "dispute rejected, the segment replays: {} bond to the seller{}",
            tokens(*bond_forfeited),
            dispute_until
                .map(|until| format!("; disputes open until block #{until}"))
                .unwrap_or_default()
        ),
        Event::DisputeUnjudged { bond_returned, .. } => format!(
            "no validator judged the dispute: {} bond returned",
            tokens(*bond_returned)
        ),
        Event::OrderSettled { paid, .. } => {
            format!("settled: {} paid to the seller", tokens(*paid))
        }
        Event::OrderExpired {
            refunded, slashed, ..
        } => format!(
            "expired without a proof; refunded {} plus {} of the seller's collateral",
            tokens(*refunded),
            tokens(*slashed)
        ),
        other => format!("{other:?}"),
    }
}

/// Sends `call` for the buyer and waits until it is final.
async fn buyer_call<Call: matrixai_chain::Payload>(
    settings: &Settings,
    call: &Call,
) -> Result<matrixai_chain::Finalized, ClientError> {
    let buyer = settings.buyer_account.keypair()?;
    let client = ChainClient::connect(&settings.node).await?;
    Ok(client.submit(call, &buyer).await?)
}

/// Contests `segment` of a verified proof: a validator replays it; the bond is lost if it
/// replays.
pub async fn dispute(
    settings: &Settings,
    order_id: OrderId,
    segment: u32,
) -> Result<Balance, ClientError> {
    let call = runtime::tx().hashrate_market().dispute(order_id, segment);
    let finalized = buyer_call(settings, &call).await?;
    Ok(finalized
        .event::<runtime::hashrate_market::events::DisputeRaised>()?
        .bond)
}

/// Extends the order by `hours`, paying them into escrow.
pub async fn renew(
    settings: &Settings,
    order_id: OrderId,
    hours: u32,
) -> Result<(Balance, u32), ClientError> {
    let call = runtime::tx().hashrate_market().renew_order(order_id, hours);
    let renewed = buyer_call(settings, &call)
        .await?
        .event::<runtime::hashrate_market::events::OrderRenewed>()?;
    Ok((renewed.extra_amount, renewed.deadline))
}

/// GETs or POSTs a JSON document of the indexer's API.
async fn indexer_json(
    settings: &Settings,
    path: &str,
    body: Option<Value>,
) -> Result<Value, ClientError> {
    let url = format!("{}{path}", settings.indexer.trim_end_matches('/'));
    let http = matrixai_chain::storage::http_client();
    let request = match body {
        Some(body) => http.post(&url).json(&body),
        None => http.get(&url),
    };
    let unreachable = |e: reqwest::Error| {
        ClientError::Refused(format!("the indexer at {url} does not answer: {e}"))
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let body: Value = response.json().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(ClientError::Refused(format!(
            "the indexer says {status}: {}",
            body["message"].as_str().unwrap_or("no message")
        )));
    }
    Ok(body)
}

/// The machines an order can be placed on now, best performance per price first.
pub async fn market(settings: &Settings) -> Result<Value, ClientError> {
    indexer_json(
        settings,
        "/api/machine/market",
        Some(serde_json::json!({ "available_only": true, "page_size": 100 })),
    )
    .await
}

/// Prints [`market`]'s page as a table.
pub fn print_market(page: &Value) {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if items.is_empty() {
        println!("no machine is available now");
        return;
    }
    println!(
        "{:<36}  {:>12}  {:>6}  {:>9}  {:>12}  hardware",
        "machine", "price/hour", "max h", "index", "speed drill"
    );
    for machine in items {
        let price = machine["price_per_hour"]
            .as_str()
            .and_then(|p| p.parse::<Balance>().ok())
            .map(tokens)
            .unwrap_or_default();
        let gpus = match machine["gpu_model"].as_str() {
            Some(model) => format!("{} x {model}", machine["gpu_count"]),
            None => "no GPU".into(),
        };
        // serde_json's values ignore widths: each column is text first.
        let verified = match machine["drill"]["verdict"].as_str() {
            Some(verdict) => verdict.to_string(),
            None => "not yet".into(),
        };
        println!(
            "{:<36}  {:>12}  {:>6}  {:>9}  {:>12}  {}, {} cores, {} MB RAM, {}",
            machine["machine_id"].as_str().unwrap_or("?"),
            price,
            machine["max_duration_hours"].to_string(),
            machine["performance_index"].to_string(),
            verified,
            machine["cpu_model"].as_str().unwrap_or("?"),
            machine["cpu_cores"],
            machine["ram_mb"],
            gpus,
        );
    }
}

/// The order as the indexer knows it (its history included) and its verification reports.
pub async fn show(settings: &Settings, order_id: OrderId) -> Result<Value, ClientError> {
    let id = ids::uuid(&order_id);
    let detail = indexer_json(settings, &format!("/api/order/{id}"), None).await?;
    let reports = indexer_json(settings, &format!("/api/order/{id}/reports"), None).await?;
    Ok(serde_json::json!({
        "order": detail["order"],
        "history": detail["history"],
        "reports": reports["items"],
    }))
}

/// Prints [`show`]'s document for people.
pub fn print_order(shown: &Value) {
    let order = &shown["order"];
    let amount = |key: &str| {
        order[key]
            .as_str()
            .and_then(|text| text.parse::<Balance>().ok())
            .map(tokens)
    };
    println!("order      {}", order["order_id"].as_str().unwrap_or("?"));
    println!("status     {}", order["status"].as_str().unwrap_or("?"));
    println!(
        "machine    {} of {}",
        order["machine_id"].as_str().unwrap_or("?"),
        order["seller"].as_str().unwrap_or("?")
    );
    println!(
        "terms      {} h at {} an hour: {} in escrow, {} collateral",
        order["duration_hours"],
        amount("price_per_hour").unwrap_or_default(),
        amount("escrow").unwrap_or_default(),
        amount("collateral").unwrap_or_default()
    );
    if let Some(result) = order["result"]
        .as_str()
        .and_then(|r| OrderResult::parse(r.as_bytes()).ok())
    {
        match result {
            OrderResult::Completed(delivery) => {
                println!(
                    "model      {} (sha256 {})",
                    delivery.model_uri, delivery.model_sha256
                );
                println!("accuracy   {:.4}", f64::from(delivery.accuracy_ppm) / 1e6);
                println!("proof      {}", delivery.bundle_uri);
            }
            OrderResult::Failed(failure) => {
                println!("failure    {:?}: {}", failure.code, failure.reason)
            }
        }
    }
    if let Some(verdict) = order["verdict"].as_str() {
        println!(
            "verdict    {verdict} by {}",
            order["verified_by"].as_str().unwrap_or("?")
        );
    }
    for (key, label) in [
        ("paid", "paid"),
        ("refunded", "refunded"),
        ("slashed", "slashed"),
    ] {
        if let Some(value) = amount(key) {
            println!("{label:<10} {value}");
        }
    }
    for report in shown["reports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let body = &report["report"];
        println!(
            "report     {} {} by {}: segments {} replayed in {:.1} s{}",
            body["task"]["kind"].as_str().unwrap_or("?"),
            body["verdict"].as_str().unwrap_or("?"),
            report["validator"].as_str().unwrap_or("?"),
            body["verification"]["segments_sampled"],
            body["replay_seconds"].as_f64().unwrap_or_default(),
            body["reason"]
                .as_str()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default()
        );
    }
    println!("history");
    for event in shown["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        println!(
            "  #{:<8} {}",
            event["block_number"],
            event["name"].as_str().unwrap_or("?")
        );
    }
}
