//! Fixed-order f32 kernels.
//!
//! Bit-identical replay on another CPU needs every floating-point sum to happen in one order
//! whatever the CPU, the thread count or the cache sizes. Each kernel here computes every output
//! element in exactly one place, with a plain sequential loop over its reduction index (the order
//! is written next to each kernel). Parallelism only splits *independent output rows* between
//! tasks, so the thread count and the rows per task change who computes a row, never how.
//! The inner loops run over independent output columns, which the compiler may vectorise with
//! any SIMD width without changing a result (each lane is its own sum); there is no runtime
//! CPU-feature dispatch and Rust never contracts `a * b + c` into an FMA.

use rayon::prelude::*;

use crate::error::PotError;

/// Below this many multiply-adds (or copies) a kernel runs on the caller's thread: waking the
/// pool (tens of microseconds on a virtual machine) costs more than it saves. Which thread
/// computes a row never changes its bits.
const MIN_PARALLEL_WORK: usize = 1 << 18;

/// How kernels split work: a thread count and the rows each task takes.
pub struct Exec {
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    rows_per_task: Option<usize>,
}

impl Exec {
    /// `threads` = 1 runs on the caller's thread; `rows_per_task` = None picks a size per kernel.
    pub fn new(threads: usize, rows_per_task: Option<usize>) -> Result<Self, PotError> {
        let threads = threads.max(1);
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| PotError::Threads {
                        threads,
                        detail: e.to_string(),
                    })?,
            )
        } else {
            None
        };
        Ok(Self {
            pool,
            threads,
            rows_per_task: rows_per_task.map(|rows| rows.max(1)),
        })
    }

    pub fn single_thread() -> Self {
        Self {
            pool: None,
            threads: 1,
            rows_per_task: None,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `compute(row_index, row)` once for every `row_len`-long row of `out`, each row
    /// costing about `work_per_row` multiply-adds. Small work stays on the caller's thread,
    /// unless `rows_per_task` was given (tests force the split that way).
    fn for_each_row<F>(&self, out: &mut [f32], row_len: usize, work_per_row: usize, compute: F)
    where
        F: Fn(usize, &mut [f32]) + Sync + Send,
    {
        if row_len == 0 {
            return;
        }
        let rows = out.len() / row_len;
        let worth_splitting =
            self.rows_per_task.is_some() || rows.saturating_mul(work_per_row) >= MIN_PARALLEL_WORK;
        match &self.pool {
            Some(pool) if rows > 1 && worth_splitting => {
                let rows_per_task = self
                    .rows_per_task
                    .unwrap_or_else(|| rows.div_ceil(self.threads * 2).max(1));
                pool.install(|| {
                    out.par_chunks_mut(rows_per_task * row_len)
                        .enumerate()
                        .for_each(|(task, chunk)| {
                            for (offset, row) in chunk.chunks_exact_mut(row_len).enumerate() {
                                compute(task * rows_per_task + offset, row);
                            }
                        });
                });
            }
            _ => {
                for (row_index, row) in out.chunks_exact_mut(row_len).enumerate() {
                    compute(row_index, row);
                }
            }
        }
    }
}

/// `y[r][j] = bias[j] + x[r][0]*w[0][j] + x[r][1]*w[1][j] + ...`, summed for i = 0, 1, ... in
/// that order. `x` is rows x inputs, `w` inputs x outputs, `y` rows x outputs (row-major).
pub fn dense_forward(
    exec: &Exec,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    inputs: usize,
    y: &mut [f32],
) {
    let outputs = bias.len();
    exec.for_each_row(y, outputs, inputs * outputs, |r, y_row| {
        y_row.copy_from_slice(bias);
        let x_row = &x[r * inputs..(r + 1) * inputs];
        for (&x_value, w_row) in x_row.iter().zip(w.chunks_exact(outputs)) {
            for (y_value, &w_value) in y_row.iter_mut().zip(w_row) {
                *y_value += x_value * w_value;
            }
        }
    });
}

/// `dw[i][j] = 0 + x[0][i]*dy[0][j] + x[1][i]*dy[1][j] + ...`, summed over rows r = 0, 1, ...
pub fn dense_weight_grad(
    exec: &Exec,
    x: &[f32],
    dy: &[f32],
    inputs: usize,
    outputs: usize,
    dw: &mut [f32],
) {
    exec.for_each_row(
        dw,
        outputs,
        x.len() / inputs.max(1) * outputs,
        |i, dw_row| {
            dw_row.fill(0.0);
            for (x_row, dy_row) in x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)) {
                let x_value = x_row[i];
                for (dw_value, &dy_value) in dw_row.iter_mut().zip(dy_row) {
                    *dw_value += x_value * dy_value;
                }
            }
        },
    );
}

/// `db[j] = 0 + dy[0][j] + dy[1][j] + ...`, summed over rows r = 0, 1, ...
pub fn bias_grad(dy: &[f32], db: &mut [f32]) {
    db.fill(0.0);
    for dy_row in dy.chunks_exact(db.len()) {
        for (db_value, &dy_value) in db.iter_mut().zip(dy_row) {
            *db_value += dy_value;
        }
    }
}

/// `dx[r][i] = 0 + dy[r][0]*w[i][0] + dy[r][1]*w[i][1] + ...`, summed over j = 0, 1, ...;
/// `w_transposed` is w laid out outputs x inputs (see [`transpose`]).
pub fn dense_input_grad(
    exec: &Exec,
    dy: &[f32],
    w_transposed: &[f32],
    outputs: usize,
    inputs: usize,
    dx: &mut [f32],
) {
    exec.for_each_row(dx, inputs, inputs * outputs, |r, dx_row| {
        dx_row.fill(0.0);
        let dy_row = &dy[r * outputs..(r + 1) * outputs];
        for (&dy_value, wt_row) in dy_row.iter().zip(w_transposed.chunks_exact(inputs)) {
            for (dx_value, &w_value) in dx_row.iter_mut().zip(wt_row) {
                *dx_value += dy_value * w_value;
            }
        }
    });
}

/// `out[j][i] = w[i][j]` for a rows x cols matrix `w`.
pub fn transpose(w: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = w[i * cols + j];
        }
    }
}

/// Geometry of a stride-1 convolution on images stored height, width, channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub height: usize,
    pub width: usize,
    pub in_channels: usize,
    pub kernel: usize,
    pub padding: usize,
    pub out_height: usize,
    pub out_width: usize,
}

impl ConvGeometry {
    /// A stride-1 convolution's geometry; the caller has checked that the kernel fits the
    /// padded input.
    pub fn new(
        height: usize,
        width: usize,
        in_channels: usize,
        kernel: usize,
        padding: usize,
    ) -> Self {
        Self {
            height,
            width,
            in_channels,
            kernel,
            padding,
            out_height: height + 2 * padding - kernel + 1,
            out_width: width + 2 * padding - kernel + 1,
        }
    }

    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.in_channels
    }

    /// For output pixel (oh, ow) and kernel row kh: the input row, and the kernel columns
    /// `kw_start..kw_end` that fall inside the image (the others cover padding). Input pixels
    /// of consecutive kw are consecutive in memory, so a run is one contiguous slice.
    fn kernel_row_span(&self, oh: usize, ow: usize, kh: usize) -> Option<(usize, usize, usize)> {
        let ih = (oh + kh)
            .checked_sub(self.padding)
            .filter(|&ih| ih < self.height)?;
        let kw_start = self.padding.saturating_sub(ow).min(self.kernel);
        let kw_end = (self.width + self.padding)
            .saturating_sub(ow)
            .min(self.kernel)
            .max(kw_start);
        Some((ih, kw_start, kw_end))
    }
}

/// Patches as rows: row (b, oh, ow), column (kh, kw, c); zero where the kernel covers padding.
pub fn im2col(exec: &Exec, images: &[f32], g: &ConvGeometry, cols: &mut [f32]) {
    let image_len = g.height * g.width * g.in_channels;
    let pixels_out = g.out_height * g.out_width;
    let run = g.kernel * g.in_channels;
    exec.for_each_row(cols, g.patch_len(), g.patch_len(), |row, patch| {
        let (b, pixel) = (row / pixels_out, row % pixels_out);
        let (oh, ow) = (pixel / g.out_width, pixel % g.out_width);
        let image = &images[b * image_len..(b + 1) * image_len];
        for (kh, target) in patch.chunks_exact_mut(run).enumerate() {
            let Some((ih, kw_start, kw_end)) = g.kernel_row_span(oh, ow, kh) else {
                target.fill(0.0);
                continue;
            };
            let (before, rest) = target.split_at_mut(kw_start * g.in_channels);
            let (inside, after) = rest.split_at_mut((kw_end - kw_start) * g.in_channels);
            before.fill(0.0);
            after.fill(0.0);
            let first_pixel = ih * g.width + ow + kw_start - g.padding;
            inside.copy_from_slice(&image[first_pixel * g.in_channels..][..inside.len()]);
        }
    });
}

/// Adds patch gradients back onto each image: for image b, starting from 0, in the order
/// oh, ow, kh, kw, c (the reverse of [`im2col`]); each input value receives its contributions
/// in that order.
pub fn col2im(exec: &Exec, cols_grad: &[f32], g: &ConvGeometry, images_grad: &mut [f32]) {
    let image_len = g.height * g.width * g.in_channels;
    let patch_len = g.patch_len();
    let pixels_out = g.out_height * g.out_width;
    let run = g.kernel * g.in_channels;
    exec.for_each_row(
        images_grad,
        image_len,
        pixels_out * patch_len,
        |b, image| {
            image.fill(0.0);
            for oh in 0..g.out_height {
                for ow in 0..g.out_width {
                    let patch = &cols_grad[(b * pixels_out + oh * g.out_width + ow) * patch_len..]
                        [..patch_len];
                    for (kh, source_row) in patch.chunks_exact(run).enumerate() {
                        if let Some((ih, kw_start, kw_end)) = g.kernel_row_span(oh, ow, kh) {
                            let source =
                                &source_row[kw_start * g.in_channels..kw_end * g.in_channels];
                            let first_pixel = ih * g.width + ow + kw_start - g.padding;
                            for (target, &value) in
                                image[first_pixel * g.in_channels..].iter_mut().zip(source)
                            {
                                *target += value;
                            }
                        }
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chacha::CounterRng;

    fn random(len: usize, stream: u64) -> Vec<f32> {
        let mut rng = CounterRng::for_seed("kernel-test", 3, stream);
        (0..len).map(|_| rng.next_unit_f32() * 2.0 - 1.0).collect()
    }

    fn executors() -> Vec<Exec> {
        vec![
            Exec::single_thread(),
            Exec::new(2, Some(1)).unwrap(),
            Exec::new(3, Some(5)).unwrap(),
            Exec::new(2, None).unwrap(),
        ]
    }

    /// Textbook loops with the documented summation order, one element at a time: the
    /// optimised kernels must equal them bit for bit under every way of splitting the work.
    #[test]
    fn dense_kernels_equal_the_documented_order_bit_for_bit() {
        let (rows, inputs, outputs) = (13, 37, 11);
        let x = random(rows * inputs, 0);
        let w = random(inputs * outputs, 1);
        let bias = random(outputs, 2);
        let dy = random(rows * outputs, 3);
        let mut w_t = vec![0.0; inputs * outputs];
        transpose(&w, inputs, outputs, &mut w_t);

        let mut y_ref = vec![0.0f32; rows * outputs];
        let mut dw_ref = vec![0.0f32; inputs * outputs];
        let mut dx_ref = vec![0.0f32; rows * inputs];
        for r in 0..rows {
            for j in 0..outputs {
                let mut sum = bias[j];
                for i in 0..inputs {
                    sum += x[r * inputs + i] * w[i * outputs + j];
                }
                y_ref[r * outputs + j] = sum;
            }
        }
        for i in 0..inputs {
            for j in 0..outputs {
                let mut sum = 0.0f32;
                for r in 0..rows {
                    sum += x[r * inputs + i] * dy[r * outputs + j];
                }
                dw_ref[i * outputs + j] = sum;
            }
        }
        for r in 0..rows {
            for i in 0..inputs {
                let mut sum = 0.0f32;
                for j in 0..outputs {
                    sum += dy[r * outputs + j] * w[i * outputs + j];
                }
                dx_ref[r * inputs + i] = sum;
            }
        }
        for exec in executors() {
            let mut y = vec![0.0; rows * outputs];
            let mut dw = vec![0.0; inputs * outputs];
            let mut dx = vec![0.0; rows * inputs];
            dense_forward(&exec, &x, &w, &bias, inputs, &mut y);
            dense_weight_grad(&exec, &x, &dy, inputs, outputs, &mut dw);
            dense_input_grad(&exec, &dy, &w_t, outputs, inputs, &mut dx);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y_ref));
            assert_eq!(bits(&dw), bits(&dw_ref));
            assert_eq!(bits(&dx), bits(&dx_ref));
        }
    }

    /// im2col against its definition, element by element, over several paddings and sizes.
    #[test]
    fn im2col_matches_its_definition() {
        for (height, width, channels, kernel, padding) in [
            (5, 4, 2, 3, 1),
            (3, 6, 1, 3, 2),
            (4, 4, 3, 1, 0),
            (2, 2, 1, 3, 1),
        ] {
            let g = ConvGeometry::new(height, width, channels, kernel, padding);
            let batch = 2;
            let images = random(batch * height * width * channels, 6);
            let mut cols = vec![f32::NAN; batch * g.out_height * g.out_width * g.patch_len()];
            im2col(&Exec::single_thread(), &images, &g, &mut cols);
            for b in 0..batch {
                for oh in 0..g.out_height {
                    for ow in 0..g.out_width {
                        for kh in 0..kernel {
                            for kw in 0..kernel {
                                for c in 0..channels {
                                    let (ih, iw) = (
                                        (oh + kh) as isize - padding as isize,
                                        (ow + kw) as isize - padding as isize,
                                    );
                                    let expected = if ih < 0
                                        || iw < 0
                                        || ih >= height as isize
                                        || iw >= width as isize
                                    {
                                        0.0
                                    } else {
                                        images[b * height * width * channels
                                            + (ih as usize * width + iw as usize) * channels
                                            + c]
                                    };
                                    let row = (b * g.out_height + oh) * g.out_width + ow;
                                    assert_eq!(
                                        cols[row * g.patch_len()
                                            + (kh * kernel + kw) * channels
                                            + c],
                                        expected
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn im2col_and_col2im_are_adjoint_and_split_independent() {
        let g = ConvGeometry::new(5, 4, 2, 3, 1);
        let batch = 3;
        let images = random(batch * 5 * 4 * 2, 4);
        let cols_grad = random(batch * 20 * g.patch_len(), 5);
        let mut reference: Option<(Vec<f32>, Vec<f32>)> = None;
        for exec in executors() {
            let mut cols = vec![0.0; batch * 20 * g.patch_len()];
            let mut images_grad = vec![0.0; images.len()];
            im2col(&exec, &images, &g, &mut cols);
            col2im(&exec, &cols_grad, &g, &mut images_grad);
            // <im2col(x), c> == <x, col2im(c)> up to rounding: they are adjoint maps.
            let left: f64 = cols
                .iter()
                .zip(&cols_grad)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let right: f64 = images
                .iter()
                .zip(&images_grad)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            assert!((left - right).abs() < 1e-4, "{left} vs {right}");
            match &reference {
                None => reference = Some((cols, images_grad)),
                Some((c, i)) => {
                    assert_eq!(c, &cols);
                    assert_eq!(i, &images_grad);
                }
            }
        }
    }
}
