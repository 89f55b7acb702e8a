//! Drills: a short training from a seed the machine could not know in advance, which a validator
//! times and then recomputes bit for bit. It is how a machine's claimed training speed becomes a
//! verified one (docs/validator-guide.md, "Verified performance").
//!
//! The work is the reference measurement of a machine's performance (`digits-mlp`, whose
//! samples per second every agent measures and registers), with its seeds taken from the drill
//! seed, so the answer (the transcript root) cannot be precomputed. Its time compares with what
//! the machine's registered figures predict for it through the same estimate buyers are quoted
//! (`crate::estimate`). The number of epochs scales with the claim, so that an honest machine
//! answers in about [`TARGET_SECONDS`] whatever its speed (network latency stays small beside
//! it), up to [`MAX_EPOCHS`] (the validator trains the same work to check it).

use crate::error::{PotError, SpecError};
use crate::estimate::{MachineSpeed, estimate};
use crate::examples;
use crate::kernels::Exec;
use crate::spec::TaskSpec;
use crate::train::Trainer;
use crate::transcript::{Leaf, Sha256Hex, merkle_root};
use crate::{PreparedData, chacha};

/// How long an honest machine's answer should take.
pub const TARGET_SECONDS: f64 = 3.0;
/// The most epochs a drill trains (about 1.4 million samples: a few seconds on a 2-core machine,
/// under a minute on a slow one).
pub const MAX_EPOCHS: u32 = 1000;

/// The drill's task: `digits-mlp` with every seed drawn from `seed`, trained for `epochs`.
pub fn spec(seed: [u8; 32], epochs: u32) -> TaskSpec {
    let mut spec = TaskSpec::from_json(examples::DIGITS_MLP.as_bytes()).expect("a valid example");
    let mut rng = chacha::CounterRng::new(chacha::derive_key("drill", &seed), 0);
    // 53 bits: exact in every JSON reader, JavaScript's included.
    let mut next_seed = || (u64::from(rng.next_u32()) << 21) ^ u64::from(rng.next_u32() >> 11);
    spec.init_seed = next_seed();
    spec.data_order_seed = next_seed();
    spec.split.seed = next_seed();
    spec.epochs = epochs.clamp(1, MAX_EPOCHS);
    spec
}

/// The drill a machine of `speed` should answer in about [`TARGET_SECONDS`], and the seconds its
/// figures predict for it (the estimate an order of the same spec would get).
pub fn sized_for(seed: [u8; 32], speed: &MachineSpeed) -> Result<(TaskSpec, f64), SpecError> {
    let one_epoch = estimate(&spec(seed, 1), speed)?.total_s;
    let epochs = (TARGET_SECONDS / one_epoch.max(1e-9))
        .ceil()
        .min(f64::from(MAX_EPOCHS)) as u32;
    let drill = spec(seed, epochs);
    let predicted = estimate(&drill, speed)?.total_s;
    Ok((drill, predicted))
}

/// What a drill produced: the transcript root of its checkpoints, and how many training samples
/// it went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrillAnswer {
    pub root: Sha256Hex,
    pub samples: u64,
}

/// Trains `spec` (a drill's, from [`spec`]) in memory and returns its transcript root.
pub fn run(spec: &TaskSpec, exec: &Exec) -> Result<DrillAnswer, PotError> {
    let plan = spec.validate()?;
    let data = PreparedData::for_spec(spec, None)?;
    let mut leaves = Vec::new();
    Trainer::new(spec, &plan, &data, exec)?.train(|checkpoint| {
        leaves.push(Leaf::of(checkpoint));
        Ok(())
    })?;
    Ok(DrillAnswer {
        root: merkle_root(&leaves),
        samples: plan.train_rows * u64::from(spec.epochs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_sets_every_seed_and_the_claim_the_length() {
        let drill = spec([1; 32], 3);
        let other = spec([2; 32], 3);
        assert_eq!(drill, spec([1; 32], 3));
        assert_ne!(drill.init_seed, other.init_seed);
        assert_ne!(drill.data_order_seed, other.data_order_seed);
        assert_ne!(drill.split.seed, other.split.seed);
        assert_eq!((drill.epochs, spec([1; 32], 0).epochs), (3, 1));
        assert_eq!(spec([1; 32], u32::MAX).epochs, MAX_EPOCHS);

        let speed = |samples_per_s: f64| {
            MachineSpeed::from_measurements([samples_per_s; 2], [1.0, 0.2], [0.2, 0.15], 400.0)
        };
        let (slow, slow_s) = sized_for([1; 32], &speed(20_000.0)).unwrap();
        let (fast, fast_s) = sized_for([1; 32], &speed(50_000.0)).unwrap();
        assert!(
            fast.epochs > slow.epochs,
            "{} vs {}",
            fast.epochs,
            slow.epochs
        );
        for predicted in [slow_s, fast_s] {
            assert!(
                (TARGET_SECONDS * 0.5..TARGET_SECONDS * 1.5).contains(&predicted),
                "{predicted}"
            );
        }
        let (capped, _) = sized_for([1; 32], &speed(1e12)).unwrap();
        assert_eq!(capped.epochs, MAX_EPOCHS);
    }

    #[test]
    fn an_answer_is_the_same_on_any_thread_count_and_differs_with_the_seed() {
        let drill = spec([7; 32], 1);
        let one = run(&drill, &Exec::single_thread()).unwrap();
        let two = run(&drill, &Exec::new(2, None).unwrap()).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.samples, drill.validate().unwrap().train_rows);
        let other = run(&spec([8; 32], 1), &Exec::single_thread()).unwrap();
        assert_ne!(one.root, other.root);
    }
}
