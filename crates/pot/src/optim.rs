//! SGD (momentum, Nesterov, weight decay) and Adam with PyTorch's update rules, element by
//! element in a fixed order. The optimizer state is a flat f32 vector hashed into every leaf.

use crate::spec::OptimizerSpec;

/// Applies one update for optimizer step `step` (0-based) to `params`, in place.
///
/// SGD: g = grad + wd * p; buf = momentum * buf + g; p -= lr * (nesterov ? g + momentum * buf : buf).
/// (buf starts at zero, which equals PyTorch's first-step copy of g.)
/// Adam: g = grad + wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) with t = step + 1; the powers
/// are taken in f64 by repeated squaring so they depend on `step` alone.
pub fn apply(
    optimizer: &OptimizerSpec,
    step: u64,
    params: &mut [f32],
    grads: &[f32],
    state: &mut [f32],
) {
    match *optimizer {
        OptimizerSpec::Sgd {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } => {
            if momentum == 0.0 {
                for (p, &grad) in params.iter_mut().zip(grads) {
                    let g = grad + weight_decay * *p;
                    *p -= lr * g;
                }
                return;
            }
            for ((p, &grad), buf) in params.iter_mut().zip(grads).zip(state.iter_mut()) {
                let g = grad + weight_decay * *p;
                *buf = momentum * *buf + g;
                let direction = if nesterov { g + momentum * *buf } else { *buf };
                *p -= lr * direction;
            }
        }
        OptimizerSpec::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let t = step + 1;
            let correction1 = 1.0 - power(f64::from(beta1), t);
            let correction2 = 1.0 - power(f64::from(beta2), t);
            let step_size = (f64::from(lr) / correction1) as f32;
            let correction2_sqrt = correction2.sqrt() as f32;
            let (first, second) = state.split_at_mut(params.len());
            for (((p, &grad), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(first.iter_mut())
                .zip(second.iter_mut())
            {
                let g = grad + weight_decay * *p;
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * (g * g);
                let denominator = v.sqrt() / correction2_sqrt + eps;
                *p -= step_size * (*m / denominator);
            }
        }
    }
}

/// base^exponent by repeated squaring (a fixed sequence of IEEE multiplications).
fn power(base: f64, mut exponent: u64) -> f64 {
    let mut result = 1.0;
    let mut square = base;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result *= square;
        }
        square *= square;
        exponent >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_with_momentum_follows_pytorch() {
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), grads 1.0 then 0.5:
        // step 1: g = 1 + 0.01 = 1.01, buf = 1.01, p = 1 - 0.101 = 0.899
        // step 2: g = 0.5 + 0.00899 = 0.50899, buf = 0.909 + 0.50899 = 1.41799, p = 0.899 - 0.141799
        let optimizer = OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: false,
        };
        let mut params = [1.0f32];
        let mut state = [0.0f32];
        apply(&optimizer, 0, &mut params, &[1.0], &mut state);
        assert!((params[0] - 0.899).abs() < 1e-6);
        apply(&optimizer, 1, &mut params, &[0.5], &mut state);
        assert!(
            (params[0] - (0.899 - 0.141_799)).abs() < 1e-6,
            "{}",
            params[0]
        );
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // Adam's bias-corrected first step is lr * g / (|g| + eps) = lr * sign(g).
        let optimizer = OptimizerSpec::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let mut params = [0.5f32, -0.5];
        let mut state = [0.0f32; 4];
        apply(&optimizer, 0, &mut params, &[3.0, -0.2], &mut state);
        assert!((params[0] - 0.49).abs() < 1e-6, "{}", params[0]);
        assert!((params[1] + 0.49).abs() < 1e-6, "{}", params[1]);
    }

    #[test]
    fn power_matches_repeated_multiplication() {
        assert_eq!(power(0.9, 0), 1.0);
        assert!((power(0.999, 1000) - 0.999f64.powi(1000)).abs() < 1e-12);
    }
}
