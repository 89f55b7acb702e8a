//! Device share: register this machine once (`add_machine`, with its measured metadata) and list
//! it at the configured terms (`make_offer`). Running `share` again changes the terms, or does
//! nothing when they are already on chain; `unshare` delists and removes the machine.
//!
//! The machine's id lives in the work directory (`machine.json`), so one work directory is one
//! machine on chain, and an agent restarted from it finds its machine again.

use crate::config::Settings;
use crate::device::Device;
use crate::progress::Progress;
use crate::{ClientError, assess, files};
use matrixai_chain::ids;
use matrixai_chain::keys::Keypair;
use matrixai_chain::machine_metadata::{Hardware, MachineMetadata, VERSION};
use matrixai_chain::{AccountId, ChainClient, MachineId, runtime};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `machine.json`: which machine this work directory is, and for whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineIdentity {
    pub v: u32,
    /// Hyphenated UUID.
    pub machine_id: String,
    /// SS58 of the owner that registered it.
    pub owner: String,
}

impl MachineIdentity {
    pub fn path(work_dir: &Path) -> PathBuf {
        work_dir.join("machine.json")
    }

    pub fn load(work_dir: &Path) -> Result<Option<Self>, ClientError> {
        let path = Self::path(work_dir);
        let Some(identity) = files::read_json::<Self>(&path)? else {
            return Ok(None);
        };
        if identity.v != 1 || ids::parse_uuid(&identity.machine_id).is_none() {
            return Err(ClientError::Config(format!(
                "{} holds no valid machine id; move it away to register a new machine",
                path.display()
            )));
        }
        Ok(Some(identity))
    }

    pub fn id(&self) -> MachineId {
        ids::parse_uuid(&self.machine_id).expect("checked when loaded or created")
    }

    /// This work directory's identity for `owner`, created with a random id on first use.
    pub fn load_or_create(work_dir: &Path, owner: &AccountId) -> Result<Self, ClientError> {
        let owner = ids::account(owner);
        if let Some(identity) = Self::load(work_dir)? {
            if identity.owner != owner {
                return Err(ClientError::Refused(format!(
                    "the machine of work directory {} is registered by {}, not by the configured account {owner}; \
                     use that account or another --work-dir",
                    work_dir.display(),
                    identity.owner
                )));
            }
            return Ok(identity);
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| ClientError::Device(format!("no randomness for a machine id: {e}")))?;
        // A version 4 UUID, as every other id in the market.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let identity = Self {
            v: 1,
            machine_id: ids::uuid(&id),
            owner,
        };
        files::write_json(&Self::path(work_dir), &identity)?;
        Ok(identity)
    }
}

/// What `share` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shared {
    pub machine_id: String,
    /// `true` when this run registered the machine.
    pub registered: bool,
    /// `true` when this run listed it or changed its terms; `false` when they were already on
    /// chain.
    pub offer_changed: bool,
    /// The metadata on chain, when it differs from what this run measured (the chain keeps a
    /// machine's metadata until it is removed and added again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_metadata: Option<String>,
}

/// The machine metadata for this device, as registered on chain.
pub fn metadata(
    settings: &Settings,
    device: &Device,
    performance: matrixai_chain::machine_metadata::Performance,
) -> Result<MachineMetadata, ClientError> {
    if u64::from(settings.disk_gb) > device.free_disk_gb {
        return Err(ClientError::Config(format!(
            "disk_gb is {} but the work directory {} has only {} GB free; offer less or free space",
            settings.disk_gb,
            settings.work_dir.display(),
            device.free_disk_gb
        )));
    }
    let mut performance = performance;
    let factor = settings.dishonest_performance_factor;
    if factor != 1.0 {
        tracing::warn!(
            factor,
            "registering a machine this many times faster than measured"
        );
        performance.train_samples_per_s *= factor;
        performance.conv_train_samples_per_s *= factor;
        performance.step_overhead_us /= factor;
        performance.layer_overhead_us /= factor;
        performance.checkpoint_ms /= factor;
        performance.small_checkpoint_ms /= factor;
        performance.index *= factor;
    }
    let metadata = MachineMetadata {
        v: VERSION,
        hardware: Hardware {
            cpu: device.cpu.clone(),
            ram_mb: device.ram_mb,
            disk_gb: u64::from(settings.disk_gb),
            gpus: device.gpus.clone(),
            os: device.os.clone(),
        },
        region: settings.region.clone(),
        client_version: env!("CARGO_PKG_VERSION").into(),
        performance,
        drill_url: Some(settings.drill_url.clone()),
    };
    metadata.check()?;
    Ok(metadata)
}

/// Registers this machine when it is not on chain yet (detecting and measuring it first), then
/// lists it at the configured terms.
pub async fn share(
    settings: &Settings,
    client: &ChainClient,
    owner: &Keypair,
    budget: &assess::Budget,
    progress: &Progress,
) -> Result<Shared, ClientError> {
    let me = matrixai_chain::keys::account_id(owner);
    let identity = MachineIdentity::load_or_create(&settings.work_dir, &me)?;
    let id = identity.id();
    let on_chain = client.finalized_state().await?.machine(id).await?;
    let (registered, stale_metadata, offer) = match on_chain {
        Some(machine) if machine.owner != me => {
            return Err(ClientError::Refused(format!(
                "machine {} belongs to {} on chain, not to {}",
                identity.machine_id,
                ids::account(&machine.owner),
                ids::account(&me)
            )));
        }
        Some(machine) => {
            let device = Device::detect(&settings.work_dir)?;
            let stale = match MachineMetadata::parse(&machine.metadata.0) {
                Ok(registered)
                    if registered.hardware.cpu == device.cpu
                        && registered.hardware.gpus == device.gpus
                        && registered.region == settings.region
                        && registered.hardware.disk_gb == u64::from(settings.disk_gb) =>
                {
                    None
                }
                Ok(_) => Some(
                    "the hardware, region or disk differ from what is registered; run `unshare` then `share` to register again"
                        .to_string(),
                ),
                Err(error) => Some(format!("the registered metadata is unreadable: {error}")),
            };
            (false, stale, machine.offer)
        }
        None => {
            let device = Device::detect(&settings.work_dir)?;
            let performance =
                assess::assess(&settings.work_dir, settings.threads, budget, progress)?;
            let metadata = metadata(settings, &device, performance)?;
            let step = progress.step("registering the machine (add_machine)");
            let add = runtime::tx()
                .hashrate_market()
                .add_machine(id, metadata.to_bytes()?);
            client.submit(&add, owner).await?;
            step.done(identity.machine_id.clone());
            (true, None, None)
        }
    };
    let wanted = (
        settings.price_per_hour,
        settings.max_duration_hours,
        settings.disk_gb,
    );
    let offer_changed = match offer {
        Some(offer)
            if (
                offer.price_per_hour,
                offer.max_duration_hours,
                offer.disk_gb,
            ) == wanted =>
        {
            false
        }
        _ => {
            let step = progress.step("listing the machine (make_offer)");
            let make_offer = runtime::tx().hashrate_market().make_offer(
                id,
                settings.price_per_hour,
                settings.max_duration_hours,
                settings.disk_gb,
            );
            client.submit(&make_offer, owner).await?;
            step.done(format!(
                "{} per hour, up to {} h, {} GB",
                crate::tokens(settings.price_per_hour),
                settings.max_duration_hours,
                settings.disk_gb
            ));
            true
        }
    };
    Ok(Shared {
        machine_id: identity.machine_id,
        registered,
        offer_changed,
        stale_metadata,
    })
}

/// Delists this work directory's machine and removes it from the chain (releasing its
/// deposit); refused while an order runs on it. Returns the machine's id, or `None` when this
/// work directory has no machine.
pub async fn unshare(
    settings: &Settings,
    client: &ChainClient,
    owner: &Keypair,
) -> Result<Option<String>, ClientError> {
    let Some(identity) = MachineIdentity::load(&settings.work_dir)? else {
        return Ok(None);
    };
    let id = identity.id();
    let state = client.finalized_state().await?;
    if let Some(machine) = state.machine(id).await? {
        if let Some(order_id) = machine.last_order {
            let open = state.order(order_id).await?.is_some_and(|order| {
                use matrixai_chain::runtime::runtime_types::pallet_hashrate_market::types::OrderStatus::{
                        Completed, PotSubmitted, Training,
                    };
                matches!(order.status, Training | Completed | PotSubmitted)
            });
            if open {
                return Err(ClientError::Refused(format!(
                    "machine {} is busy with order {}; unshare it once the order is done",
                    identity.machine_id,
                    ids::uuid(&order_id)
                )));
            }
        }
        if machine.offer.is_some() {
            let cancel = runtime::tx().hashrate_market().cancel_offer(id);
            client.submit(&cancel, owner).await?;
        }
        let remove = runtime::tx().hashrate_market().remove_machine(id);
        client.submit(&remove, owner).await?;
    }
    std::fs::remove_file(MachineIdentity::path(&settings.work_dir))
        .map_err(|e| ClientError::io(&MachineIdentity::path(&settings.work_dir), e))?;
    Ok(Some(identity.machine_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_directory_keeps_one_machine_per_owner() {
        let dir = tempfile::tempdir().unwrap();
        let bob = matrixai_chain::keys::account_id(&matrixai_chain::keys::dev::bob());
        let charlie = matrixai_chain::keys::account_id(&matrixai_chain::keys::dev::charlie());
        let first = MachineIdentity::load_or_create(dir.path(), &bob).unwrap();
        assert_eq!(
            MachineIdentity::load_or_create(dir.path(), &bob).unwrap(),
            first
        );
        assert_eq!(&first.machine_id[14..15], "4", "a version 4 UUID");
        let error = MachineIdentity::load_or_create(dir.path(), &charlie)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&first.owner), "{error}");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            MachineIdentity::load_or_create(other.path(), &bob)
                .unwrap()
                .machine_id,
            first.machine_id
        );
    }
}
