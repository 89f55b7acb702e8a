//! Drills: a short training from a seed the machine could not know in advance, which a validator
//! times and then recomputes bit for bit. It is how a machine's claimed training speed becomes a
//! verified one (docs/validator-guide.md, "Verified performance").
//!
//! The work is the reference measurement of a machine's performance (`digits-mlp`, whose
//! samples per second every agent measures and registers), with its seeds taken from the drill
//! seed, so the answer (the transcript root) cannot be precomputed and the timing compares
//! directly with the machine's claim. The number of epochs scales with the claim, so that an
//! honest machine answers in about [`TARGET_SECONDS`] whatever its speed (network latency stays
//! small beside it), up to [`MAX_EPOCHS`] (the validator trains the same work to check it).

use crate::error::PotError;
use crate::examples;
use crate::kernels::Exec;
use crate::spec::TaskSpec;
use crate::train::Trainer;
use crate::transcript::{Leaf, Sha256Hex, merkle_root};
use crate::{PreparedData, chacha};

/// How long an honest machine's answer should take.
pub const TARGET_SECONDS: f64 = 3.0;
/// The most epochs a drill trains (about 290 000 samples: 12 s at 25 000 samples a second).
pub const MAX_EPOCHS: u32 = 200;

/// The drill's task: `digits-mlp` with every seed drawn from `seed`, and the epochs an honest
/// machine training `claimed_samples_per_s` needs for [`TARGET_SECONDS`].
pub fn spec(seed: [u8; 32], claimed_samples_per_s: f64) -> TaskSpec {
    let mut spec = TaskSpec::from_json(examples::DIGITS_MLP.as_bytes()).expect("a valid example");
    let mut rng = chacha::CounterRng::new(chacha::derive_key("drill", &seed), 0);
    // 53 bits: exact in every JSON reader, JavaScript's included.
    let mut next_seed = || (u64::from(rng.next_u32()) << 21) ^ u64::from(rng.next_u32() >> 11);
    spec.init_seed = next_seed();
    spec.data_order_seed = next_seed();
    spec.split.seed = next_seed();
    let plan = spec.validate().expect("a valid example");
    let wanted = claimed_samples_per_s.max(0.0) * TARGET_SECONDS / plan.train_rows as f64;
    spec.epochs = (wanted.ceil() as u32).clamp(1, MAX_EPOCHS);
    spec
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
        let slow = spec([1; 32], 1_000.0);
        let same = spec([1; 32], 1_000.0);
        let other = spec([2; 32], 1_000.0);
        assert_eq!(slow, same);
        assert_ne!(slow.init_seed, other.init_seed);
        assert_ne!(slow.data_order_seed, other.data_order_seed);
        assert_ne!(slow.split.seed, other.split.seed);
        let rows = slow.validate().unwrap().train_rows as f64;
        assert_eq!(slow.epochs, (1_000.0 * TARGET_SECONDS / rows).ceil() as u32);
        assert_eq!(spec([1; 32], 1e12).epochs, MAX_EPOCHS);
        assert_eq!(spec([1; 32], 0.0).epochs, 1);
    }

    #[test]
    fn an_answer_is_the_same_on_any_thread_count_and_differs_with_the_seed() {
        let drill = spec([7; 32], 1.0);
        let one = run(&drill, &Exec::single_thread()).unwrap();
        let two = run(&drill, &Exec::new(2, None).unwrap()).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.samples, drill.validate().unwrap().train_rows);
        let other = run(&spec([8; 32], 1.0), &Exec::single_thread()).unwrap();
        assert_ne!(one.root, other.root);
    }
}
