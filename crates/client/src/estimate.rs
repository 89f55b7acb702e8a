//! `estimate`: how long a task spec trains, and what ordering it costs, before anybody pays:
//! on this machine (measured now, priced at the configured terms) or on a machine of the market
//! (its measured figures and its offer, read from the chain). The formulas are
//! `matrixai_pot::estimate`'s, the same the indexer serves (docs/estimation.md).

use crate::config::Settings;
use crate::progress::Progress;
use crate::{ClientError, assess};
use matrixai_chain::machine_metadata::{MachineMetadata, Performance};
use matrixai_chain::{Balance, ChainClient, ids};
use matrixai_pot::TaskSpec;
use matrixai_pot::estimate::{Estimate, estimate};
use matrixai_pot::spec::limits::MAX_SPEC_BYTES;
use serde::Serialize;
use std::path::Path;

/// The estimate of one spec on one machine, with what ordering it costs.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// The machine's id, or `None` for this machine, measured now.
    pub machine_id: Option<String>,
    #[serde(flatten)]
    pub estimate: Estimate,
    /// Hours to order so that the machine's agent accepts the order.
    pub hours: u32,
    /// The price per hour in the smallest unit; `None` when the machine is not listed.
    #[serde(serialize_with = "balance_as_string")]
    pub price_per_hour: Option<Balance>,
    #[serde(serialize_with = "balance_as_string")]
    pub cost: Option<Balance>,
    /// Whether `hours` is within the offer's maximum duration.
    pub within_max_duration: Option<bool>,
}

fn balance_as_string<S: serde::Serializer>(
    value: &Option<Balance>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_str(&value.to_string()),
        None => serializer.serialize_none(),
    }
}

/// Reads and checks the task spec at `path`.
pub fn read_spec(path: &Path) -> Result<TaskSpec, ClientError> {
    let size = std::fs::metadata(path)
        .map_err(|e| ClientError::io(path, e))?
        .len();
    if size > MAX_SPEC_BYTES {
        return Err(ClientError::Config(format!(
            "{}: {size} bytes is not a task spec (at most {MAX_SPEC_BYTES})",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
    let spec = TaskSpec::from_json(&bytes)
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
    spec.validate()
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
    Ok(spec)
}

/// Estimates `spec` on the machine `machine` of the market, or on this machine.
pub async fn quote(
    settings: &Settings,
    spec: &TaskSpec,
    machine: Option<&str>,
    budget: &assess::Budget,
    progress: &Progress,
) -> Result<Quote, ClientError> {
    let (performance, terms) = match machine {
        None => {
            let performance =
                assess::assess(&settings.work_dir, settings.threads, budget, progress)?;
            let terms = (settings.price_per_hour, settings.max_duration_hours);
            (performance, Some(terms))
        }
        Some(text) => {
            let id = ids::parse_uuid(text).ok_or_else(|| {
                ClientError::Config(format!("--machine {text:?} is not a machine id (a UUID)"))
            })?;
            let client = ChainClient::connect(&settings.node).await?;
            let machine = client
                .finalized_state()
                .await?
                .machine(id)
                .await?
                .ok_or_else(|| {
                    ClientError::Refused(format!(
                        "no machine {text} is registered on {}",
                        settings.node
                    ))
                })?;
            let performance = MachineMetadata::parse(&machine.metadata.0)?.performance;
            let terms = machine
                .offer
                .map(|offer| (offer.price_per_hour, offer.max_duration_hours));
            (performance, terms)
        }
    };
    Quote::new(spec, &performance, terms, machine.map(str::to_string))
}

impl Quote {
    /// `spec` on a machine of `performance` listed at `terms` (price per hour, maximum hours).
    pub fn new(
        spec: &TaskSpec,
        performance: &Performance,
        terms: Option<(Balance, u32)>,
        machine_id: Option<String>,
    ) -> Result<Self, ClientError> {
        let estimate = estimate(spec, &performance.machine_speed())?;
        let hours = estimate.hours_to_order();
        Ok(Self {
            machine_id,
            estimate,
            hours,
            price_per_hour: terms.map(|(price, _)| price),
            cost: terms.map(|(price, _)| price.saturating_mul(Balance::from(hours))),
            within_max_duration: terms.map(|(_, max)| hours <= max),
        })
    }
}

/// The quote for people.
pub fn print(quote: &Quote) {
    let estimate = &quote.estimate;
    match &quote.machine_id {
        Some(id) => println!("machine    {id}"),
        None => println!("machine    this one (measured now, priced at the configured terms)"),
    }
    println!("download   {:.1} s", estimate.download_s);
    println!("training   {:.1} s", estimate.train_s);
    println!("checkpoint {:.1} s", estimate.checkpoint_s);
    println!("evaluation {:.1} s", estimate.evaluate_s);
    println!("total      {:.1} s", estimate.total_s);
    println!(
        "order      {} h (the estimate × {} + {} s, rounded up)",
        quote.hours,
        matrixai_pot::estimate::ESTIMATE_MARGIN,
        matrixai_pot::estimate::REPORTING_SECONDS
    );
    match (quote.price_per_hour, quote.cost) {
        (Some(price), Some(cost)) => {
            println!("price      {} per hour", crate::tokens(price));
            println!("cost       {}", crate::tokens(cost));
        }
        _ => println!("price      the machine is not listed"),
    }
    if quote.within_max_duration == Some(false) {
        println!(
            "note       longer than the offer's maximum duration: this machine cannot take it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_read_and_checked_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, matrixai_pot::examples::IRIS_SOFTMAX).unwrap();
        read_spec(&good).unwrap();

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"v\":1}").unwrap();
        let error = read_spec(&bad).unwrap_err().to_string();
        assert!(error.contains("bad.json"), "{error}");

        let mut spec: serde_json::Value =
            serde_json::from_str(matrixai_pot::examples::IRIS_SOFTMAX).unwrap();
        spec["batch_size"] = serde_json::json!(0);
        let invalid = dir.path().join("invalid.json");
        std::fs::write(&invalid, serde_json::to_vec(&spec).unwrap()).unwrap();
        let error = read_spec(&invalid).unwrap_err().to_string();
        assert!(
            error.contains("invalid.json") && error.contains("batch"),
            "{error}"
        );

        let missing = read_spec(&dir.path().join("missing.json")).unwrap_err();
        assert!(missing.to_string().contains("missing.json"), "{missing}");
    }

    #[test]
    fn a_quote_prices_the_hours_to_order() {
        let performance = matrixai_chain::machine_metadata::example("local", 1.0).performance;
        let mut spec: serde_json::Value =
            serde_json::from_str(matrixai_pot::examples::DIGITS_MLP).unwrap();
        let unit = matrixai_chain::UNIT;
        let quote_of = |spec: &serde_json::Value, terms| {
            let spec = TaskSpec::from_json(&serde_json::to_vec(spec).unwrap()).unwrap();
            Quote::new(&spec, &performance, terms, None).unwrap()
        };
        let short = quote_of(&spec, Some((3 * unit, 2)));
        assert_eq!(short.hours, 1);
        assert_eq!(short.cost, Some(3 * unit));
        assert_eq!(short.within_max_duration, Some(true));
        // Sixteen times the width, thousands of times the epochs: many hours, priced per hour,
        // beyond a 2-hour offer.
        spec["model"]["layers"][1]["units"] = serde_json::json!(512);
        spec["epochs"] = serde_json::json!(100_000);
        spec["checkpoint_interval"] = serde_json::json!(100_000);
        let long = quote_of(&spec, Some((3 * unit, 2)));
        assert!(long.hours > 2, "{long:?}");
        assert_eq!(long.cost, Some(3 * unit * u128::from(long.hours)));
        assert_eq!(long.within_max_duration, Some(false));
        assert_eq!(long.hours, long.estimate.hours_to_order());
        let unlisted = quote_of(&spec, None);
        assert_eq!((unlisted.cost, unlisted.within_max_duration), (None, None));
    }
}
