//! The training loop: data order, optimizer steps and checkpoints.
//!
//! Step s (0-based) belongs to epoch e = s / steps_per_epoch and takes batch b = s mod
//! steps_per_epoch of that epoch's order, a ChaCha20 permutation (stream e of the
//! "data-order" key of `data_order_seed`) of the training rows; the last batch of an epoch may
//! be short. Nothing but the step number and the checkpoint decides what a step does, so any
//! segment can be replayed from its starting checkpoint.

use crate::chacha::CounterRng;
use crate::dataset::PreparedData;
use crate::error::PotError;
use crate::kernels::Exec;
use crate::model::{self, Workspace};
use crate::optim;
use crate::spec::{TaskSpec, TrainingPlan};

/// Parameters and optimizer state after `step` optimizer steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub step: u64,
    pub params: Vec<f32>,
    pub optimizer_state: Vec<f32>,
    /// Mean minibatch loss of the steps since the previous checkpoint (0 at step 0).
    pub loss: f32,
}

/// Correct predictions on the evaluation rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub correct: u64,
    pub rows: u64,
}

impl Evaluation {
    /// Accuracy in parts per million, rounded down.
    pub fn accuracy_ppm(&self) -> u32 {
        (self.correct * 1_000_000 / self.rows.max(1)) as u32
    }
}

/// Runs optimizer steps of one spec on one prepared dataset.
pub struct Trainer<'a> {
    spec: &'a TaskSpec,
    plan: &'a TrainingPlan,
    data: &'a PreparedData,
    exec: &'a Exec,
    workspace: Workspace,
    grads: Vec<f32>,
    epoch_order: Option<(u64, Vec<usize>)>,
}

impl<'a> Trainer<'a> {
    pub fn new(
        spec: &'a TaskSpec,
        plan: &'a TrainingPlan,
        data: &'a PreparedData,
        exec: &'a Exec,
    ) -> Result<Self, PotError> {
        let arch = &plan.architecture;
        if data.feature_len != arch.input_len
            || data.classes != arch.classes
            || data.train_rows() as u64 != plan.train_rows
        {
            return Err(PotError::Dataset(format!(
                "prepared data ({} training rows of {} features, {} classes) does not fit the plan ({} rows of {}, {} classes)",
                data.train_rows(),
                data.feature_len,
                data.classes,
                plan.train_rows,
                arch.input_len,
                arch.classes
            )));
        }
        Ok(Self {
            spec,
            plan,
            data,
            exec,
            workspace: Workspace::new(arch, plan.batch_size as usize),
            grads: vec![0.0; arch.parameter_count()],
            epoch_order: None,
        })
    }

    /// init(seed): parameters from the init seed, optimizer state zero.
    pub fn initial_checkpoint(&self) -> Checkpoint {
        Checkpoint {
            step: 0,
            params: self
                .plan
                .architecture
                .initial_parameters(self.spec.init_seed),
            optimizer_state: vec![0.0; self.plan.optimizer_state_len],
            loss: 0.0,
        }
    }

    /// Advances `state` to `end_step`; its loss becomes the mean loss of these steps.
    pub fn run_until(&mut self, state: &mut Checkpoint, end_step: u64) -> Result<(), PotError> {
        let mut loss_sum = 0.0f32;
        let first = state.step;
        for step in first..end_step {
            let loss = self.step(step, &mut state.params, &mut state.optimizer_state);
            if !loss.is_finite() {
                return Err(PotError::Diverged { step, loss });
            }
            loss_sum += loss;
        }
        state.step = end_step;
        state.loss = if end_step > first {
            loss_sum / (end_step - first) as f32
        } else {
            0.0
        };
        Ok(())
    }

    fn step(&mut self, step: u64, params: &mut [f32], optimizer_state: &mut [f32]) -> f32 {
        let epoch = step / self.plan.steps_per_epoch;
        let batch_index = (step % self.plan.steps_per_epoch) as usize;
        if self.epoch_order.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let mut order: Vec<usize> = (0..self.data.train_rows()).collect();
            CounterRng::for_seed("data-order", self.spec.data_order_seed, epoch)
                .shuffle(&mut order);
            self.epoch_order = Some((epoch, order));
        }
        let order = &self.epoch_order.as_ref().expect("set above").1;
        let batch_size = self.plan.batch_size as usize;
        let rows =
            &order[batch_index * batch_size..((batch_index + 1) * batch_size).min(order.len())];
        let arch = &self.plan.architecture;
        let batch = self.workspace.load_batch(
            &self.data.train_features,
            arch.input_len,
            rows.iter().copied(),
        );
        let labels: Vec<u32> = rows
            .iter()
            .map(|&row| self.data.train_labels[row])
            .collect();
        let logits = model::forward(arch, self.exec, params, &mut self.workspace, batch).to_vec();
        let loss = model::softmax_cross_entropy(
            &logits,
            &labels,
            arch.classes,
            self.workspace.logits_grad(batch * arch.classes),
        );
        model::backward(
            arch,
            self.exec,
            params,
            &mut self.workspace,
            batch,
            &mut self.grads,
        );
        optim::apply(
            &self.spec.optimizer,
            step,
            params,
            &self.grads,
            optimizer_state,
        );
        loss
    }

    /// Accuracy of `params` on the evaluation rows.
    pub fn evaluate(&mut self, params: &[f32]) -> Evaluation {
        let correct = model::count_correct(
            &self.plan.architecture,
            self.exec,
            params,
            &self.data.eval_features,
            &self.data.eval_labels,
            &mut self.workspace,
        );
        Evaluation {
            correct,
            rows: self.data.eval_rows() as u64,
        }
    }

    /// Trains the whole run, handing every checkpoint (step 0 first) to `on_checkpoint`.
    pub fn train(
        &mut self,
        mut on_checkpoint: impl FnMut(&Checkpoint) -> Result<(), PotError>,
    ) -> Result<Checkpoint, PotError> {
        let state = self.initial_checkpoint();
        on_checkpoint(&state)?;
        self.train_from(state, on_checkpoint)
    }

    /// Trains on from checkpoint `state` to the end, handing each later checkpoint to
    /// `on_checkpoint`.
    pub fn train_from(
        &mut self,
        mut state: Checkpoint,
        mut on_checkpoint: impl FnMut(&Checkpoint) -> Result<(), PotError>,
    ) -> Result<Checkpoint, PotError> {
        for end in self.plan.checkpoint_steps() {
            if end > state.step {
                self.run_until(&mut state, end)?;
                on_checkpoint(&state)?;
            }
        }
        Ok(state)
    }
}
