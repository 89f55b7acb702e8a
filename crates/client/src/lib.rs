//! # matrixai-client
//!
//! MatrixAI-Client, the trainer agent: a person with an idle machine runs it to measure the
//! machine, list it on the market and train the orders it gets.
//!
//! - [`config`]: the TOML file, environment and flags; the account's secret.
//! - [`device`]: what the machine is (CPU, RAM, disk, OS, NVIDIA GPUs through NVML).
//! - [`assess`]: what the machine does per second, and the performance index.
//! - [`share`]: registering and listing the machine, and taking it off the market.
//! - [`estimate`]: how long a task spec trains here or on a machine of the market, and its cost.
//! - [`agent`]: the agent's loop: take each order placed on the machine, train, deliver, prove.
//! - [`order`]: where each order stands, persisted per order; [`status`]: the same over HTTP.
//! - [`drill`]: answering validators' drills, which verify the machine's speed.
//! - [`buyer`]: the other side from a terminal: the market, placing, following, disputing.
//!
//! See docs/trainer-guide.md.

pub mod agent;
pub mod assess;
pub mod buyer;
pub mod config;
pub mod device;
pub mod drill;
pub mod estimate;
pub mod files;
pub mod order;
pub mod progress;
pub mod share;
pub mod status;

use clap::{Parser, Subcommand};
use matrixai_chain::{Balance, ChainClient, UNIT};
use std::path::{Path, PathBuf};

/// Everything that can stop a command, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("device: {0}")]
    Device(String),
    #[error(transparent)]
    Chain(#[from] matrixai_chain::ChainError),
    #[error(transparent)]
    Pot(#[from] matrixai_pot::PotError),
    #[error("task spec: {0}")]
    Spec(#[from] matrixai_pot::SpecError),
    #[error(transparent)]
    Metadata(#[from] matrixai_chain::machine_metadata::MetadataError),
    #[error(transparent)]
    Result(#[from] matrixai_chain::order_result::ResultError),
    /// The chain or the work directory says no, and why.
    #[error("{0}")]
    Refused(String),
}

impl ClientError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An amount in MAI for people: `12.5 MAI`.
pub fn tokens(amount: Balance) -> String {
    let whole = amount / UNIT;
    let fraction = amount % UNIT;
    if fraction == 0 {
        format!("{whole} MAI")
    } else {
        let digits = format!("{fraction:012}");
        format!("{whole}.{} MAI", digits.trim_end_matches('0'))
    }
}

/// `matrixai-client`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "matrixai-client",
    version,
    about = "The MatrixAI trainer agent: share this machine and train the orders it gets"
)]
pub struct Cli {
    #[command(flatten)]
    pub options: config::Options,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what was detected on this machine and what it measures.
    Device {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Register this machine (once, with its measurements) and list it at the configured
    /// price; run again to change the terms.
    Share,
    /// Take this machine off the market and remove it from the chain (its deposit is returned).
    Unshare,
    /// Share this machine, then train the orders placed on it until stopped (Ctrl-C).
    Run,
    /// How long a task spec trains and what ordering it costs: on this machine (measured now,
    /// priced at the configured terms) or on a machine of the market.
    Estimate {
        /// The task spec (JSON, docs/proof-of-training.md "Task spec").
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// A machine id (UUID) on chain; its measured figures and offer are used.
        #[arg(long, value_name = "ID")]
        machine: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The machines an order can be placed on now (from the indexer).
    Market {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A buyer's orders: place one, follow it, read its result and reports, renew, dispute. They
    /// sign with the configured account, or //Charlie on a devnet when none is configured.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Set a devnet's market clock with its sudo key (the configured account, or //Alice):
    /// hours in blocks, the grace to prove, the judging round and the dispute window.
    DevnetTiming {
        /// Blocks in an hour of rented time (1200 = an hour of 3-second blocks).
        #[arg(long, default_value_t = 1200)]
        blocks_per_hour: u32,
        /// Blocks after a deadline to report and prove.
        #[arg(long, default_value_t = 600)]
        completion_grace: u32,
        /// Fixed part of a judging round, in blocks.
        #[arg(long, default_value_t = 100)]
        verification_window: u32,
        /// Blocks in which a verified proof may be disputed before the seller is paid.
        #[arg(long, default_value_t = 40)]
        dispute_window: u32,
    },
    /// Where this machine's orders stand (all of them, or ORDER).
    Status {
        /// An order id (UUID).
        order: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Rent a machine to train a task spec; the escrow (hours x price) is held until the
    /// proof is judged.
    Place {
        /// The machine id (UUID), from `market`.
        #[arg(long, value_name = "ID")]
        machine: String,
        /// Hours of the machine's time to rent (the deadline for the trained model).
        #[arg(long)]
        hours: u32,
        /// The task spec (JSON, docs/proof-of-training.md "Task spec").
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// The most to pay per hour, in tokens. Default: the machine's price now, so that a
        /// re-pricing before the order lands cannot raise it.
        #[arg(long, value_name = "TOKENS")]
        max_price_per_hour: Option<String>,
        /// Then follow the order until it ends, as `order wait`.
        #[arg(long)]
        wait: bool,
    },
    /// Follow an open order's finalized events until it ends.
    Wait {
        /// The order id (UUID).
        order: String,
    },
    /// The order's terms, result, verdict, verification reports and history (from the indexer).
    Show {
        /// The order id (UUID).
        order: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Contest one segment of a verified proof before the dispute window ends: a validator
    /// replays it. Forged: refund, slash and a reward; honest: the bond goes to the seller.
    Dispute {
        /// The order id (UUID).
        order: String,
        /// The segment to replay (from 0; `matrixai-pot verify --dispute N` checks one locally).
        #[arg(long)]
        segment: u32,
    },
    /// Extend an order still in training by some hours, paying them into escrow.
    Renew {
        /// The order id (UUID).
        order: String,
        /// Hours to add.
        #[arg(long)]
        hours: u32,
    },
}

fn parse_order_id(text: &str) -> Result<matrixai_chain::OrderId, ClientError> {
    matrixai_chain::ids::parse_uuid(text)
        .ok_or_else(|| ClientError::Config(format!("{text:?} is not an order id (a UUID)")))
}

/// Runs a buyer's command to its end.
async fn run_order(settings: &config::Settings, command: OrderCommand) -> Result<(), ClientError> {
    let follow = |order_id| async move {
        let outcome = buyer::wait(settings, order_id, |block, line| {
            println!("#{block:<8} {line}")
        })
        .await?;
        println!("order ended: {outcome:?}");
        Ok::<_, ClientError>(())
    };
    match command {
        OrderCommand::Place {
            machine,
            hours,
            spec,
            max_price_per_hour,
            wait,
        } => {
            let request = buyer::OrderRequest {
                machine_id: matrixai_chain::ids::parse_uuid(&machine).ok_or_else(|| {
                    ClientError::Config(format!("{machine:?} is not a machine id (a UUID)"))
                })?,
                hours,
                spec: estimate::read_spec(&spec)?,
                max_price_per_hour: max_price_per_hour
                    .map(|text| config::parse_tokens(&text))
                    .transpose()
                    .map_err(|e| ClientError::Config(format!("--max-price-per-hour: {e}")))?,
            };
            let placed = buyer::place(settings, &request, buyer::new_order_id()).await?;
            let id = matrixai_chain::ids::uuid(&placed.order_id);
            println!("order {id} placed in block #{}", placed.block_number);
            println!(
                "  {} in escrow ({hours} h at {} an hour), {} of the seller's deposit at stake",
                tokens(placed.total),
                tokens(placed.price_per_hour),
                tokens(placed.collateral)
            );
            println!(
                "  seller {}, deadline block #{}",
                matrixai_chain::ids::account(&placed.seller),
                placed.deadline
            );
            if wait {
                follow(placed.order_id).await?;
            } else {
                println!("follow it: matrixai-client order wait {id}");
            }
        }
        OrderCommand::Wait { order } => follow(parse_order_id(&order)?).await?,
        OrderCommand::Show { order, json } => {
            let shown = buyer::show(settings, parse_order_id(&order)?).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&shown).expect("serializable")
                );
            } else {
                buyer::print_order(&shown);
            }
        }
        OrderCommand::Dispute { order, segment } => {
            let bond = buyer::dispute(settings, parse_order_id(&order)?, segment).await?;
            println!(
                "segment {segment} of order {order} disputed, {} bond held; `order wait {order}` follows the judgement",
                tokens(bond)
            );
        }
        OrderCommand::Renew { order, hours } => {
            let (paid, deadline) = buyer::renew(settings, parse_order_id(&order)?, hours).await?;
            println!(
                "order {order} renewed by {hours} h for {}; deadline block #{deadline}",
                tokens(paid)
            );
        }
    }
    Ok(())
}

/// Runs one command to its end.
pub async fn run(cli: Cli) -> Result<(), ClientError> {
    let settings = config::Settings::resolve(&cli.options)?;
    let progress = progress::Progress::detect();
    match cli.command {
        Command::Device { json } => {
            let device = device::Device::detect(&settings.work_dir)?;
            let performance = assess::assess(
                &settings.work_dir,
                settings.threads,
                &assess::Budget::default(),
                &progress,
            )?;
            if json {
                let report = serde_json::json!({ "device": device, "performance": performance });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serializable")
                );
            } else {
                print_device(&device, &performance);
            }
        }
        Command::Share => {
            let owner = settings.account.keypair()?;
            let client = ChainClient::connect(&settings.node).await?;
            let shared = share::share(
                &settings,
                &client,
                &owner,
                &assess::Budget::default(),
                &progress,
            )
            .await?;
            println!(
                "machine {}: {}, {}",
                shared.machine_id,
                if shared.registered {
                    "registered"
                } else {
                    "already registered"
                },
                if shared.offer_changed {
                    "listed at the configured terms"
                } else {
                    "already listed at the configured terms"
                }
            );
            if let Some(note) = shared.stale_metadata {
                println!("note: {note}");
            }
        }
        Command::Unshare => {
            let owner = settings.account.keypair()?;
            let client = ChainClient::connect(&settings.node).await?;
            match share::unshare(&settings, &client, &owner).await? {
                Some(machine_id) => {
                    println!("machine {machine_id}: delisted and removed; deposit released")
                }
                None => println!(
                    "no machine is shared from {}; nothing to do",
                    settings.work_dir.display()
                ),
            }
        }
        Command::Run => {
            // Bound first, so that a busy port fails before the machine is measured.
            let address = settings.status_listen;
            let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                ClientError::Config(format!(
                    "cannot serve the status on {address}: {e}; choose another --status-listen"
                ))
            })?;
            let mut settings = settings;
            let bound = listener
                .local_addr()
                .map_err(|e| ClientError::Config(format!("cannot read the status address: {e}")))?;
            if settings.drill_url == format!("http://{address}") && address.port() == 0 {
                // No public URL and an ephemeral port: drills come to the port bound.
                settings.drill_url = format!("http://{bound}");
            }
            let started = drill::StartedAgent::default();
            let routes =
                status::router(settings.work_dir.clone()).merge(drill::router(started.clone()));
            tokio::spawn(async move { axum::serve(listener, routes).await });
            tracing::info!(address = %bound, "serving the orders' status at /status, drills at /drill");
            let agent = std::sync::Arc::new(
                agent::Agent::start(settings, &assess::Budget::default()).await?,
            );
            let _ = started.set(agent.clone());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("stopping; an order in progress resumes at the next start");
                let _ = stop.send(true);
            });
            agent.run(stopped).await?;
        }
        Command::Estimate {
            spec,
            machine,
            json,
        } => {
            let spec = estimate::read_spec(&spec)?;
            let quote = estimate::quote(
                &settings,
                &spec,
                machine.as_deref(),
                &assess::Budget::default(),
                &progress,
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&quote).expect("serializable")
                );
            } else {
                estimate::print(&quote);
            }
        }
        Command::Market { json } => {
            let page = buyer::market(&settings).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&page).expect("serializable")
                );
            } else {
                buyer::print_market(&page);
            }
        }
        Command::Order(command) => run_order(&settings, command).await?,
        Command::DevnetTiming {
            blocks_per_hour,
            completion_grace,
            verification_window,
            dispute_window,
        } => {
            let sudo = settings.sudo_account.keypair()?;
            let client = ChainClient::connect(&settings.node).await?;
            let timing = matrixai_chain::devnet::MarketTiming {
                blocks_per_hour,
                completion_grace,
                verification_window,
                dispute_window,
            };
            let finalized = timing.apply(&client, &sudo).await?;
            println!(
                "market clock set in block #{}: an hour is {blocks_per_hour} blocks, {completion_grace} blocks to prove, judging rounds of {verification_window} blocks and more, {dispute_window} blocks to dispute",
                finalized.block_number
            );
        }
        Command::Status { order, json } => {
            let states = match order {
                Some(text) => {
                    let id = parse_order_id(&text)?;
                    let state =
                        order::OrderState::load(&settings.work_dir, &id)?.ok_or_else(|| {
                            ClientError::Refused(format!(
                                "order {text} was never taken by the machine of {}",
                                settings.work_dir.display()
                            ))
                        })?;
                    vec![state]
                }
                None => order::OrderState::all(&settings.work_dir)?,
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&states).expect("serializable")
                );
            } else if states.is_empty() {
                println!("no orders yet in {}", settings.work_dir.display());
            } else {
                for state in &states {
                    println!("{}", order_line(state));
                }
            }
        }
    }
    Ok(())
}

/// One line per order for `status`.
fn order_line(state: &order::OrderState) -> String {
    let mut line = format!("{}  {:?}", state.order_id, state.status);
    if let (Some(step), Some(total)) = (state.step, state.total_steps) {
        line.push_str(&format!("  step {step}/{total}"));
    }
    if let Some(epoch) = state.epoch {
        line.push_str(&format!("  epoch {epoch}"));
    }
    if let Some(loss) = state.loss {
        line.push_str(&format!("  loss {loss:.5}"));
    }
    if let Some(accuracy) = state.accuracy_ppm {
        line.push_str(&format!("  accuracy {:.4}", f64::from(accuracy) / 1e6));
    }
    if let Some(note) = &state.note {
        line.push_str(&format!("  ({note})"));
    }
    line
}

fn print_device(
    device: &device::Device,
    performance: &matrixai_chain::machine_metadata::Performance,
) {
    let cpu = &device.cpu;
    println!(
        "CPU        {} ({} cores, {} threads)",
        cpu.model, cpu.cores, cpu.threads
    );
    println!("features   {}", cpu.features.join(" "));
    println!("memory     {} MB", device.ram_mb);
    println!("free disk  {} GB (work directory)", device.free_disk_gb);
    println!("OS         {}", device.os);
    if device.gpus.is_empty() {
        println!(
            "GPUs       none{}",
            device
                .gpu_note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
    for gpu in &device.gpus {
        println!(
            "GPU        {} x {} ({} MB, driver {}, CUDA {})",
            gpu.count,
            gpu.model,
            gpu.memory_mb,
            gpu.driver.as_deref().unwrap_or("?"),
            gpu.cuda.as_deref().unwrap_or("?")
        );
    }
    println!(
        "GEMM       {:.1} GFLOPS (f32, all cores)",
        performance.gemm_gflops
    );
    println!("memory     {:.1} GB/s (triad)", performance.memory_gbps);
    println!(
        "disk       write {:.0} MB/s, read {:.0} MB/s",
        performance.disk_write_mbps, performance.disk_read_mbps
    );
    println!(
        "training   {:.0} samples/s (digits-mlp), {:.0} (digits-cnn)",
        performance.train_samples_per_s, performance.conv_train_samples_per_s
    );
    println!(
        "fixed      {:.1} µs per step, {:.1} µs per layer, {:.3} ms per checkpoint ({:.3} ms a tiny one)",
        performance.step_overhead_us,
        performance.layer_overhead_us,
        performance.checkpoint_ms,
        performance.small_checkpoint_ms
    );
    println!(
        "index      {:.3} (1.0 = the reference machine)",
        performance.index
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_written_for_people() {
        use matrixai_chain::UNIT;
        assert_eq!(super::tokens(10 * UNIT), "10 MAI");
        assert_eq!(super::tokens(5 * UNIT / 2), "2.5 MAI");
        assert_eq!(super::tokens(1), "0.000000000001 MAI");
    }
}
