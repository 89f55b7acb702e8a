//! Network layers with forward and backward passes, softmax cross-entropy and initialisation.
//!
//! Parameters live in one flat f32 vector in a canonical order: layer by layer, weight then
//! bias. Dense weights are inputs x outputs; convolution weights are (kh, kw, in_c) x out_c.
//! Activations are row-major per sample; images are height, width, channels.

use crate::chacha::CounterRng;
use crate::dataset::DatasetShape;
use crate::error::SpecError;
use crate::fixed_math;
use crate::kernels::{self, ConvGeometry, Exec};
use crate::spec::{LayerSpec, ModelSpec, limits};

/// One parameter tensor: where it sits in the flat vector and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Dense {
        inputs: usize,
        outputs: usize,
        weight: usize,
        bias: usize,
    },
    Relu {
        len: usize,
    },
    Conv2d {
        geometry: ConvGeometry,
        out_channels: usize,
        weight: usize,
        bias: usize,
    },
    MaxPool2d {
        height: usize,
        width: usize,
        channels: usize,
        size: usize,
    },
    Flatten {
        len: usize,
    },
}

impl Layer {
    fn output_len(&self) -> usize {
        match *self {
            Layer::Dense { outputs, .. } => outputs,
            Layer::Relu { len } | Layer::Flatten { len } => len,
            Layer::Conv2d {
                geometry: g,
                out_channels,
                ..
            } => g.out_height * g.out_width * out_channels,
            Layer::MaxPool2d {
                height,
                width,
                channels,
                size,
            } => (height / size) * (width / size) * channels,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Flat(usize),
    Image {
        height: usize,
        width: usize,
        channels: usize,
    },
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Flat(len) => len,
            Shape::Image {
                height,
                width,
                channels,
            } => height * width * channels,
        }
    }
}

/// The layers of a spec with every shape resolved and checked against the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub layers: Vec<Layer>,
    pub tensors: Vec<TensorInfo>,
    pub input_len: usize,
    pub classes: usize,
}

impl Architecture {
    pub fn plan(model: &ModelSpec, data: &DatasetShape) -> Result<Self, SpecError> {
        if model.layers.is_empty() || model.layers.len() > limits::MAX_LAYERS {
            return Err(SpecError::Invalid(format!(
                "model.layers must have 1 to {} layers, got {}",
                limits::MAX_LAYERS,
                model.layers.len()
            )));
        }
        let mut shape = match data.input_shape[..] {
            [features] => Shape::Flat(features as usize),
            [height, width, channels] => Shape::Image {
                height: height as usize,
                width: width as usize,
                channels: channels as usize,
            },
            _ => {
                return Err(SpecError::Invalid(
                    "dataset.input_shape must have 1 or 3 dimensions".into(),
                ));
            }
        };
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut parameters = 0usize;
        let mut add_tensor = |name: String, shape: Vec<usize>| -> Result<usize, SpecError> {
            let len: usize = shape.iter().product();
            let offset = parameters;
            parameters = parameters.saturating_add(len);
            if parameters > limits::MAX_PARAMETERS {
                return Err(SpecError::Invalid(format!(
                    "the model's parameters exceed the limit of {}",
                    limits::MAX_PARAMETERS
                )));
            }
            tensors.push(TensorInfo {
                name,
                shape,
                offset,
                len,
            });
            Ok(offset)
        };
        for (index, layer) in model.layers.iter().enumerate() {
            let position = format!("model.layers[{index}]");
            let built = match (*layer, shape) {
                (LayerSpec::Dense { units }, Shape::Flat(inputs)) => {
                    check_units(&position, "units", units, limits::MAX_UNITS)?;
                    let outputs = units as usize;
                    let weight = add_tensor(
                        format!("layers.{index}.dense.weight"),
                        vec![inputs, outputs],
                    )?;
                    let bias = add_tensor(format!("layers.{index}.dense.bias"), vec![outputs])?;
                    shape = Shape::Flat(outputs);
                    Layer::Dense {
                        inputs,
                        outputs,
                        weight,
                        bias,
                    }
                }
                (LayerSpec::Dense { .. }, Shape::Image { .. }) => {
                    return Err(SpecError::Invalid(format!(
                        "{position}: dense needs a flat input; add a {{\"type\":\"flatten\"}} layer before it"
                    )));
                }
                (LayerSpec::Relu, _) => Layer::Relu { len: shape.len() },
                (LayerSpec::Flatten, _) => {
                    shape = Shape::Flat(shape.len());
                    Layer::Flatten { len: shape.len() }
                }
                (
                    LayerSpec::Conv2d {
                        out_channels,
                        kernel,
                        padding,
                    },
                    Shape::Image {
                        height,
                        width,
                        channels,
                    },
                ) => {
                    check_units(&position, "out_channels", out_channels, limits::MAX_UNITS)?;
                    check_units(&position, "kernel", kernel, limits::MAX_KERNEL)?;
                    if padding >= kernel {
                        return Err(SpecError::Invalid(format!(
                            "{position}: padding {padding} must be smaller than the kernel {kernel}"
                        )));
                    }
                    let (kernel, padding) = (kernel as usize, padding as usize);
                    if height + 2 * padding < kernel || width + 2 * padding < kernel {
                        return Err(SpecError::Invalid(format!(
                            "{position}: a {kernel}x{kernel} kernel does not fit a {height}x{width} input with padding {padding}"
                        )));
                    }
                    let geometry = ConvGeometry::new(height, width, channels, kernel, padding);
                    let out_channels = out_channels as usize;
                    let weight = add_tensor(
                        format!("layers.{index}.conv2d.weight"),
                        vec![kernel, kernel, channels, out_channels],
                    )?;
                    let bias =
                        add_tensor(format!("layers.{index}.conv2d.bias"), vec![out_channels])?;
                    shape = Shape::Image {
                        height: geometry.out_height,
                        width: geometry.out_width,
                        channels: out_channels,
                    };
                    Layer::Conv2d {
                        geometry,
                        out_channels,
                        weight,
                        bias,
                    }
                }
                (
                    LayerSpec::MaxPool2d { size },
                    Shape::Image {
                        height,
                        width,
                        channels,
                    },
                ) => {
                    let size = size as usize;
                    if size == 0 || size > height || size > width {
                        return Err(SpecError::Invalid(format!(
                            "{position}: pool size {size} does not fit a {height}x{width} input"
                        )));
                    }
                    shape = Shape::Image {
                        height: height / size,
                        width: width / size,
                        channels,
                    };
                    Layer::MaxPool2d {
                        height,
                        width,
                        channels,
                        size,
                    }
                }
                (LayerSpec::Conv2d { .. } | LayerSpec::MaxPool2d { .. }, Shape::Flat(_)) => {
                    return Err(SpecError::Invalid(format!(
                        "{position}: {layer:?} needs an image input (dataset.input_shape [height, width, channels] and no flatten before it)"
                    )));
                }
            };
            if shape.len() > limits::MAX_ACTIVATIONS_PER_SAMPLE {
                return Err(SpecError::Invalid(format!(
                    "{position}: {} activations per sample exceed the limit of {}",
                    shape.len(),
                    limits::MAX_ACTIVATIONS_PER_SAMPLE
                )));
            }
            layers.push(built);
        }
        match layers.last() {
            Some(Layer::Dense { outputs, .. }) if *outputs == data.classes as usize => {}
            _ => {
                return Err(SpecError::Invalid(format!(
                    "the last layer must be dense with {} units, one per class of the dataset's {} classes",
                    data.classes, data.classes
                )));
            }
        }
        Ok(Self {
            layers,
            tensors,
            input_len: data.feature_len() as usize,
            classes: data.classes as usize,
        })
    }

    /// Floats a [`Workspace`] holds per sample: every activation, convolution patches and two
    /// gradient buffers of the widest layer.
    pub fn workspace_per_sample(&self) -> usize {
        let mut total = self.input_len;
        let mut widest = self.input_len;
        for layer in &self.layers {
            total += layer.output_len();
            widest = widest.max(layer.output_len());
            if let Layer::Conv2d { geometry, .. } = layer {
                total += 2 * geometry.out_height * geometry.out_width * geometry.patch_len();
            }
        }
        total + 2 * widest
    }

    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(|t| t.len).sum()
    }

    /// Floating-point operations of one training sample, forward and backward: 6 per weight
    /// use in dense and convolution layers (a multiply-add forward, two backward: input and
    /// weight gradients), and 3 per element of the other layers. What the trainer agent's time
    /// estimate scales by (docs/estimation.md).
    pub fn training_flops_per_sample(&self) -> u64 {
        let (convolution, other) = self.training_flops_by_kind();
        convolution + other
    }

    /// [`Self::training_flops_per_sample`] split into convolution layers' and the others': a
    /// convolution's FLOPs run at another rate (patches gathered and scattered around its GEMM).
    pub fn training_flops_by_kind(&self) -> (u64, u64) {
        let mut convolution = 0;
        let mut other = 0;
        for layer in &self.layers {
            match *layer {
                Layer::Dense {
                    inputs, outputs, ..
                } => other += 6 * (inputs * outputs) as u64,
                Layer::Conv2d {
                    geometry: g,
                    out_channels,
                    ..
                } => {
                    convolution +=
                        6 * (g.out_height * g.out_width * out_channels * g.patch_len()) as u64
                }
                Layer::Relu { .. } | Layer::MaxPool2d { .. } | Layer::Flatten { .. } => {
                    other += 3 * layer.output_len() as u64
                }
            }
        }
        (convolution, other)
    }

    /// PyTorch's default ranges (`kaiming_uniform_(a = sqrt(5))` for weights and the bias rule):
    /// every weight and bias uniform in +-1/sqrt(fan_in), drawn in canonical order from the
    /// ChaCha20 stream "init" of `seed` as `bound * (2u - 1)` with u = 24-bit uniform.
    pub fn initial_parameters(&self, seed: u64) -> Vec<f32> {
        let mut params = vec![0.0f32; self.parameter_count()];
        let mut rng = CounterRng::for_seed("init", seed, 0);
        for layer in &self.layers {
            let (fan_in, weight, bias, outputs) = match *layer {
                Layer::Dense {
                    inputs,
                    outputs,
                    weight,
                    bias,
                } => (inputs, weight, bias, outputs),
                Layer::Conv2d {
                    geometry,
                    out_channels,
                    weight,
                    bias,
                } => (geometry.patch_len(), weight, bias, out_channels),
                _ => continue,
            };
            let bound = 1.0 / (fan_in as f32).sqrt();
            for value in &mut params[weight..weight + fan_in * outputs] {
                *value = bound * (2.0 * rng.next_unit_f32() - 1.0);
            }
            for value in &mut params[bias..bias + outputs] {
                *value = bound * (2.0 * rng.next_unit_f32() - 1.0);
            }
        }
        params
    }
}

fn check_units(position: &str, field: &str, value: u32, max: u32) -> Result<(), SpecError> {
    if value == 0 || value > max {
        return Err(SpecError::Invalid(format!(
            "{position}: {field} must be in 1..={max}, got {value}"
        )));
    }
    Ok(())
}

/// Buffers of one forward/backward pass for up to `capacity` samples, reused across steps.
pub struct Workspace {
    capacity: usize,
    /// activations[0] is the input batch, activations[l + 1] the output of layer l.
    activations: Vec<Vec<f32>>,
    /// Patches of each convolution layer (empty for other layers).
    patches: Vec<Vec<f32>>,
    /// Input index of each pooled maximum (empty for other layers).
    pool_sources: Vec<Vec<u32>>,
    grad_out: Vec<f32>,
    grad_in: Vec<f32>,
    patch_grad: Vec<f32>,
    transposed: Vec<f32>,
}

impl Workspace {
    pub fn new(arch: &Architecture, capacity: usize) -> Self {
        let mut activations = vec![vec![0.0; capacity * arch.input_len]];
        let mut patches = Vec::new();
        let mut pool_sources = Vec::new();
        let mut widest = arch.input_len;
        let mut widest_patches = 0;
        for layer in &arch.layers {
            activations.push(vec![0.0; capacity * layer.output_len()]);
            widest = widest.max(layer.output_len());
            match layer {
                Layer::Conv2d { geometry, .. } => {
                    let len =
                        capacity * geometry.out_height * geometry.out_width * geometry.patch_len();
                    widest_patches = widest_patches.max(len);
                    patches.push(vec![0.0; len]);
                }
                _ => patches.push(Vec::new()),
            }
            match layer {
                Layer::MaxPool2d { .. } => {
                    pool_sources.push(vec![0; capacity * layer.output_len()])
                }
                _ => pool_sources.push(Vec::new()),
            }
        }
        let largest_weight = arch.tensors.iter().map(|t| t.len).max().unwrap_or(0);
        Self {
            capacity,
            activations,
            patches,
            pool_sources,
            grad_out: vec![0.0; capacity * widest],
            grad_in: vec![0.0; capacity * widest],
            patch_grad: vec![0.0; widest_patches],
            transposed: vec![0.0; largest_weight],
        }
    }

    /// Where the loss writes the logits' gradient for [`backward`].
    pub fn logits_grad(&mut self, len: usize) -> &mut [f32] {
        &mut self.grad_out[..len]
    }

    /// Copies the given rows of `features` into the input buffer; returns the batch size.
    pub fn load_batch(
        &mut self,
        features: &[f32],
        input_len: usize,
        rows: impl Iterator<Item = usize>,
    ) -> usize {
        let input = &mut self.activations[0];
        let mut count = 0;
        for row in rows {
            assert!(count < self.capacity, "batch larger than the workspace");
            input[count * input_len..(count + 1) * input_len]
                .copy_from_slice(&features[row * input_len..(row + 1) * input_len]);
            count += 1;
        }
        count
    }
}

/// Runs the layers on the first `batch` samples of the workspace input; returns the logits.
pub fn forward<'w>(
    arch: &Architecture,
    exec: &Exec,
    params: &[f32],
    ws: &'w mut Workspace,
    batch: usize,
) -> &'w [f32] {
    for (index, layer) in arch.layers.iter().enumerate() {
        let (before, after) = ws.activations.split_at_mut(index + 1);
        let input = &before[index][..batch * input_len_of(arch, index)];
        let output = &mut after[0][..batch * layer.output_len()];
        match *layer {
            Layer::Dense {
                inputs,
                outputs,
                weight,
                bias,
            } => kernels::dense_forward(
                exec,
                input,
                &params[weight..weight + inputs * outputs],
                &params[bias..bias + outputs],
                inputs,
                output,
            ),
            Layer::Relu { .. } => {
                for (out, &value) in output.iter_mut().zip(input) {
                    *out = if value > 0.0 { value } else { 0.0 };
                }
            }
            Layer::Flatten { .. } => output.copy_from_slice(input),
            Layer::Conv2d {
                geometry,
                out_channels,
                weight,
                bias,
            } => {
                let patches = &mut ws.patches[index]
                    [..batch * geometry.out_height * geometry.out_width * geometry.patch_len()];
                kernels::im2col(exec, input, &geometry, patches);
                kernels::dense_forward(
                    exec,
                    patches,
                    &params[weight..weight + geometry.patch_len() * out_channels],
                    &params[bias..bias + out_channels],
                    geometry.patch_len(),
                    output,
                );
            }
            Layer::MaxPool2d {
                height,
                width,
                channels,
                size,
            } => {
                let sources = &mut ws.pool_sources[index][..batch * layer.output_len()];
                max_pool(input, height, width, channels, size, output, sources);
            }
        }
    }
    &ws.activations[arch.layers.len()][..batch * arch.classes]
}

fn input_len_of(arch: &Architecture, layer_index: usize) -> usize {
    if layer_index == 0 {
        arch.input_len
    } else {
        arch.layers[layer_index - 1].output_len()
    }
}

/// Max over each size x size window (stride = size), first maximum in scan order wins.
fn max_pool(
    input: &[f32],
    height: usize,
    width: usize,
    channels: usize,
    size: usize,
    output: &mut [f32],
    sources: &mut [u32],
) {
    let (out_h, out_w) = (height / size, width / size);
    let image_len = height * width * channels;
    let out_len = out_h * out_w * channels;
    for (b, (out_image, source_image)) in output
        .chunks_exact_mut(out_len)
        .zip(sources.chunks_exact_mut(out_len))
        .enumerate()
    {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for c in 0..channels {
                    let mut best_index =
                        b * image_len + ((oh * size) * width + ow * size) * channels + c;
                    let mut best = input[best_index];
                    for dh in 0..size {
                        for dw in 0..size {
                            let index = b * image_len
                                + ((oh * size + dh) * width + ow * size + dw) * channels
                                + c;
                            if input[index] > best {
                                best = input[index];
                                best_index = index;
                            }
                        }
                    }
                    out_image[(oh * out_w + ow) * channels + c] = best;
                    source_image[(oh * out_w + ow) * channels + c] =
                        (best_index - b * image_len) as u32;
                }
            }
        }
    }
}

/// Mean softmax cross-entropy of the batch and its gradient w.r.t. the logits.
///
/// Per sample: m = max logit, s = sum of exp(l_j - m) for j = 0, 1, ..., loss = ln(s) - (l_y - m),
/// grad_j = (exp(l_j - m) / s - [j = y]) / batch. The batch loss sums samples in order, then
/// divides by the batch size.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    grad: &mut [f32],
) -> f32 {
    let batch = labels.len();
    let mut total = 0.0f32;
    for ((row, &label), grad_row) in logits
        .chunks_exact(classes)
        .zip(labels)
        .zip(grad.chunks_exact_mut(classes))
    {
        let mut max = row[0];
        for &value in &row[1..] {
            if value > max {
                max = value;
            }
        }
        let mut sum = 0.0f32;
        for (g, &value) in grad_row.iter_mut().zip(row) {
            *g = fixed_math::exp(value - max);
            sum += *g;
        }
        total += fixed_math::ln(sum) - (row[label as usize] - max);
        for g in grad_row.iter_mut() {
            *g /= sum;
        }
        grad_row[label as usize] -= 1.0;
        for g in grad_row.iter_mut() {
            *g /= batch as f32;
        }
    }
    total / batch as f32
}

/// Backward pass from the logits' gradient (left in `ws.grad_out`) into `grads` (overwritten).
pub fn backward(
    arch: &Architecture,
    exec: &Exec,
    params: &[f32],
    ws: &mut Workspace,
    batch: usize,
    grads: &mut [f32],
) {
    for (index, layer) in arch.layers.iter().enumerate().rev() {
        let input = &ws.activations[index][..batch * input_len_of(arch, index)];
        let grad_out = &ws.grad_out[..batch * layer.output_len()];
        let need_input_grad = index > 0;
        let grad_in = &mut ws.grad_in[..batch * input_len_of(arch, index)];
        match *layer {
            Layer::Dense {
                inputs,
                outputs,
                weight,
                bias,
            } => {
                kernels::dense_weight_grad(
                    exec,
                    input,
                    grad_out,
                    inputs,
                    outputs,
                    &mut grads[weight..weight + inputs * outputs],
                );
                kernels::bias_grad(grad_out, &mut grads[bias..bias + outputs]);
                if need_input_grad {
                    let transposed = &mut ws.transposed[..inputs * outputs];
                    kernels::transpose(
                        &params[weight..weight + inputs * outputs],
                        inputs,
                        outputs,
                        transposed,
                    );
                    kernels::dense_input_grad(exec, grad_out, transposed, outputs, inputs, grad_in);
                }
            }
            Layer::Relu { .. } => {
                for ((g_in, &g_out), &value) in grad_in.iter_mut().zip(grad_out).zip(input) {
                    *g_in = if value > 0.0 { g_out } else { 0.0 };
                }
            }
            Layer::Flatten { .. } => grad_in.copy_from_slice(grad_out),
            Layer::Conv2d {
                geometry,
                out_channels,
                weight,
                bias,
            } => {
                let patch_len = geometry.patch_len();
                let patches = &ws.patches[index]
                    [..batch * geometry.out_height * geometry.out_width * patch_len];
                kernels::dense_weight_grad(
                    exec,
                    patches,
                    grad_out,
                    patch_len,
                    out_channels,
                    &mut grads[weight..weight + patch_len * out_channels],
                );
                kernels::bias_grad(grad_out, &mut grads[bias..bias + out_channels]);
                if need_input_grad {
                    let transposed = &mut ws.transposed[..patch_len * out_channels];
                    kernels::transpose(
                        &params[weight..weight + patch_len * out_channels],
                        patch_len,
                        out_channels,
                        transposed,
                    );
                    let patch_grad = &mut ws.patch_grad[..patches.len()];
                    kernels::dense_input_grad(
                        exec,
                        grad_out,
                        transposed,
                        out_channels,
                        patch_len,
                        patch_grad,
                    );
                    kernels::col2im(exec, patch_grad, &geometry, grad_in);
                }
            }
            Layer::MaxPool2d {
                height,
                width,
                channels,
                ..
            } => {
                let image_len = height * width * channels;
                let out_len = layer.output_len();
                let sources = &ws.pool_sources[index][..batch * out_len];
                grad_in.fill(0.0);
                for (b, (g_out, source)) in grad_out
                    .chunks_exact(out_len)
                    .zip(sources.chunks_exact(out_len))
                    .enumerate()
                {
                    for (&g, &s) in g_out.iter().zip(source) {
                        grad_in[b * image_len + s as usize] = g;
                    }
                }
            }
        }
        if need_input_grad {
            std::mem::swap(&mut ws.grad_out, &mut ws.grad_in);
        }
    }
}

/// Number of evaluation rows whose highest logit (first on ties) is the label.
pub fn count_correct(
    arch: &Architecture,
    exec: &Exec,
    params: &[f32],
    features: &[f32],
    labels: &[u32],
    ws: &mut Workspace,
) -> u64 {
    let mut correct = 0u64;
    let rows = labels.len();
    let mut start = 0;
    while start < rows {
        let end = (start + ws.capacity).min(rows);
        let batch = ws.load_batch(features, arch.input_len, start..end);
        let logits = forward(arch, exec, params, ws, batch);
        for (row, &label) in logits.chunks_exact(arch.classes).zip(&labels[start..end]) {
            let mut best = 0;
            for (class, &value) in row.iter().enumerate() {
                if value > row[best] {
                    best = class;
                }
            }
            correct += u64::from(best == label as usize);
        }
        start = end;
    }
    correct
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::TaskSpec;

    #[test]
    fn training_flops_count_every_weight_use_six_times() {
        let spec = TaskSpec::from_json(crate::examples::DIGITS_MLP.as_bytes()).unwrap();
        let arch = spec.validate().unwrap().architecture;
        // flatten 64, dense 64x32, relu 32, dense 32x10.
        assert_eq!(
            arch.training_flops_per_sample(),
            3 * 64 + 6 * 64 * 32 + 3 * 32 + 6 * 32 * 10
        );
        let spec = TaskSpec::from_json(crate::examples::DIGITS_CNN.as_bytes()).unwrap();
        let cnn = spec.validate().unwrap().architecture;
        let convolution = cnn
            .layers
            .iter()
            .find_map(|layer| match *layer {
                Layer::Conv2d {
                    geometry,
                    out_channels,
                    ..
                } => Some(
                    6 * (geometry.out_height
                        * geometry.out_width
                        * out_channels
                        * geometry.patch_len()) as u64,
                ),
                _ => None,
            })
            .unwrap();
        assert!(cnn.training_flops_per_sample() > convolution);
    }

    /// Central finite differences in f64 agree with the analytic gradient of every layer kind.
    #[test]
    fn gradients_match_finite_differences() {
        let spec = TaskSpec::from_json(crate::examples::DIGITS_CNN.as_bytes()).unwrap();
        let mut model = spec.model.clone();
        model.layers.insert(4, LayerSpec::Dense { units: 6 });
        model.layers.insert(5, LayerSpec::Relu);
        let shape = DatasetShape {
            rows: 10,
            input_shape: vec![5, 4, 2],
            classes: 3,
        };
        *model.layers.last_mut().unwrap() = LayerSpec::Dense { units: 3 };
        let arch = Architecture::plan(&model, &shape).unwrap();
        let exec = Exec::single_thread();
        let params = arch.initial_parameters(11);
        let mut rng = CounterRng::for_seed("grad-test", 1, 0);
        let batch = 3;
        let features: Vec<f32> = (0..batch * arch.input_len)
            .map(|_| rng.next_unit_f32() * 2.0 - 1.0)
            .collect();
        let labels = vec![0u32, 2, 1];
        let loss_at = |p: &[f32]| {
            let mut ws = Workspace::new(&arch, batch);
            ws.load_batch(&features, arch.input_len, 0..batch);
            let logits = forward(&arch, &exec, p, &mut ws, batch).to_vec();
            let mut grad = vec![0.0; logits.len()];
            softmax_cross_entropy(&logits, &labels, arch.classes, &mut grad)
        };
        let mut ws = Workspace::new(&arch, batch);
        ws.load_batch(&features, arch.input_len, 0..batch);
        let logits = forward(&arch, &exec, &params, &mut ws, batch).to_vec();
        let mut grad_logits = vec![0.0; logits.len()];
        softmax_cross_entropy(&logits, &labels, arch.classes, &mut grad_logits);
        ws.logits_grad(grad_logits.len())
            .copy_from_slice(&grad_logits);
        let mut grads = vec![0.0; params.len()];
        backward(&arch, &exec, &params, &mut ws, batch, &mut grads);
        for index in (0..params.len()).step_by(7) {
            let step = 1e-3f32;
            let mut plus = params.clone();
            plus[index] += step;
            let mut minus = params.clone();
            minus[index] -= step;
            let numeric =
                (f64::from(loss_at(&plus)) - f64::from(loss_at(&minus))) / (2.0 * f64::from(step));
            let analytic = f64::from(grads[index]);
            assert!(
                (numeric - analytic).abs() < 2e-3 + 0.05 * analytic.abs(),
                "parameter {index}: numeric {numeric}, analytic {analytic}"
            );
        }
    }
}
