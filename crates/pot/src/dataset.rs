//! Datasets: the bundled scikit-learn sets and user CSV files, the train/eval split and
//! feature scaling. Everything here is deterministic (ChaCha20 split, f64 statistics summed in
//! row order).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chacha::CounterRng;
use crate::error::{PotError, SpecError};
use crate::spec::{DatasetSpec, Preprocess, TaskSpec, limits};

/// Datasets vendored from the scikit-learn 1.9.1 wheel (`sklearn/datasets/data/`), BSD-3-Clause,
/// see `crates/pot/data/LICENSE-scikit-learn`. Nothing is downloaded at run time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundledDataset {
    /// Fisher's iris: 150 rows, 4 features, 3 classes.
    Iris,
    /// Wisconsin diagnostic breast cancer: 569 rows, 30 features, 2 classes.
    BreastCancer,
    /// UCI handwritten digits: 1797 images of 8x8 pixels (values 0..16), 10 classes.
    Digits,
}

struct BundledFile {
    bytes: &'static [u8],
    sha256: &'static str,
    gzipped: bool,
    header_lines: usize,
}

impl BundledDataset {
    pub fn shape(self) -> DatasetShape {
        let (rows, input_shape, classes) = match self {
            BundledDataset::Iris => (150, vec![4], 3),
            BundledDataset::BreastCancer => (569, vec![30], 2),
            BundledDataset::Digits => (1797, vec![8, 8, 1], 10),
        };
        DatasetShape {
            rows,
            input_shape,
            classes,
        }
    }

    fn file(self) -> BundledFile {
        match self {
            BundledDataset::Iris => BundledFile {
                bytes: include_bytes!("../data/iris.csv"),
                sha256: "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449",
                gzipped: false,
                header_lines: 1,
            },
            BundledDataset::BreastCancer => BundledFile {
                bytes: include_bytes!("../data/breast_cancer.csv"),
                sha256: "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
                gzipped: false,
                header_lines: 1,
            },
            BundledDataset::Digits => BundledFile {
                bytes: include_bytes!("../data/digits.csv.gz"),
                sha256: "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
                gzipped: true,
                header_lines: 0,
            },
        }
    }

    /// Loads the vendored file after checking its recorded sha256.
    pub fn load(self) -> Result<RawDataset, PotError> {
        let file = self.file();
        let digest = hex::encode(Sha256::digest(file.bytes));
        if digest != file.sha256 {
            return Err(PotError::Dataset(format!(
                "bundled {self:?} has sha256 {digest}, expected {}; the build is corrupt",
                file.sha256
            )));
        }
        let text = if file.gzipped {
            let mut text = String::new();
            flate2::read::GzDecoder::new(file.bytes)
                .take(16 << 20)
                .read_to_string(&mut text)
                .map_err(|e| PotError::Dataset(format!("bundled {self:?}: {e}")))?;
            text
        } else {
            String::from_utf8(file.bytes.to_vec()).map_err(|e| PotError::Dataset(e.to_string()))?
        };
        parse_csv(&text, file.header_lines, &self.shape())
    }
}

/// Rows, input shape and classes; what a spec declares and the data must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetShape {
    pub rows: u64,
    /// `[features]` or `[height, width, channels]`.
    pub input_shape: Vec<u32>,
    pub classes: u32,
}

impl DatasetShape {
    pub fn feature_len(&self) -> u64 {
        self.input_shape.iter().map(|&d| u64::from(d)).product()
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        if !(self.input_shape.len() == 1 || self.input_shape.len() == 3)
            || self.input_shape.contains(&0)
        {
            return Err(SpecError::Invalid(format!(
                "dataset.input_shape must be [features] or [height, width, channels] with no zero, got {:?}",
                self.input_shape
            )));
        }
        if self.feature_len() > limits::MAX_FEATURES {
            return Err(SpecError::Invalid(format!(
                "dataset has {} features per row, more than {}",
                self.feature_len(),
                limits::MAX_FEATURES
            )));
        }
        if self.rows < 2 || self.rows > limits::MAX_DATASET_ROWS {
            return Err(SpecError::Invalid(format!(
                "dataset.rows must be in 2..={}, got {}",
                limits::MAX_DATASET_ROWS,
                self.rows
            )));
        }
        if self.classes < 2 || self.classes > limits::MAX_CLASSES {
            return Err(SpecError::Invalid(format!(
                "dataset.classes must be in 2..={}, got {}",
                limits::MAX_CLASSES,
                self.classes
            )));
        }
        Ok(())
    }
}

/// Every row of a dataset, before the split.
#[derive(Debug, Clone)]
pub struct RawDataset {
    pub feature_len: usize,
    pub classes: usize,
    pub features: Vec<f32>,
    pub labels: Vec<u32>,
}

/// Parses the documented CSV layout: `header_lines` lines skipped, then one row per line with
/// `feature_len` numbers and an integer label in `0..classes`; blank lines are ignored.
pub fn parse_csv(
    text: &str,
    header_lines: usize,
    shape: &DatasetShape,
) -> Result<RawDataset, PotError> {
    let feature_len = shape.feature_len() as usize;
    let mut features = Vec::with_capacity(shape.rows as usize * feature_len);
    let mut labels = Vec::with_capacity(shape.rows as usize);
    for (line_index, line) in text.lines().enumerate().skip(header_lines) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if labels.len() as u64 == shape.rows {
            return Err(PotError::Dataset(format!(
                "more than the declared {} rows (line {})",
                shape.rows,
                line_index + 1
            )));
        }
        let mut fields = line.split(',');
        for column in 0..feature_len {
            let field = fields.next().ok_or_else(|| {
                PotError::Dataset(format!(
                    "line {}: {} columns, expected {}",
                    line_index + 1,
                    column,
                    feature_len + 1
                ))
            })?;
            let value: f32 = field.trim().parse().map_err(|_| {
                PotError::Dataset(format!(
                    "line {}, column {}: {field:?} is not a number",
                    line_index + 1,
                    column + 1
                ))
            })?;
            if !value.is_finite() {
                return Err(PotError::Dataset(format!(
                    "line {}, column {}: not finite",
                    line_index + 1,
                    column + 1
                )));
            }
            features.push(value);
        }
        let label_field = fields.next().ok_or_else(|| {
            PotError::Dataset(format!("line {}: missing the label column", line_index + 1))
        })?;
        let label: u32 = label_field.trim().parse().map_err(|_| {
            PotError::Dataset(format!(
                "line {}: label {label_field:?} is not a class index",
                line_index + 1
            ))
        })?;
        if label >= shape.classes {
            return Err(PotError::Dataset(format!(
                "line {}: label {label} is not below the {} classes",
                line_index + 1,
                shape.classes
            )));
        }
        if fields.next().is_some() {
            return Err(PotError::Dataset(format!(
                "line {}: more than {} columns",
                line_index + 1,
                feature_len + 1
            )));
        }
        labels.push(label);
    }
    if labels.len() as u64 != shape.rows {
        return Err(PotError::Dataset(format!(
            "{} rows, the spec declares {}",
            labels.len(),
            shape.rows
        )));
    }
    Ok(RawDataset {
        feature_len,
        classes: shape.classes as usize,
        features,
        labels,
    })
}

/// Local path of a `file://` URI or a plain path. Other schemes are fetched by the trainer agent
/// or validator, which then hand over a local copy.
pub fn local_path(uri: &str) -> Result<PathBuf, PotError> {
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if uri.contains("://") {
        return Err(PotError::Dataset(format!(
            "{uri}: only file:// URIs are read here; fetch the file first and pass its local path with --data"
        )));
    }
    Ok(PathBuf::from(uri))
}

/// Loads the rows a spec names; `local_copy` replaces the URI of a CSV dataset when given.
pub fn load_raw(spec: &TaskSpec, local_copy: Option<&Path>) -> Result<RawDataset, PotError> {
    match &spec.dataset {
        DatasetSpec::Bundled { name } => name.load(),
        DatasetSpec::Csv { uri, sha256, .. } => {
            let path = match local_copy {
                Some(path) => path.to_path_buf(),
                None => local_path(uri)?,
            };
            let bytes = read_bounded(&path, 1 << 30)?;
            let digest = hex::encode(Sha256::digest(&bytes));
            if !digest.eq_ignore_ascii_case(sha256) {
                return Err(PotError::Dataset(format!(
                    "{}: sha256 {digest} does not match the spec's {sha256}",
                    path.display()
                )));
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| PotError::Dataset(format!("{}: not UTF-8 text", path.display())))?;
            parse_csv(&text, 0, &spec.dataset_shape())
        }
    }
}

/// Reads a whole file that may be at most `max_bytes` long, checking the size first.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, PotError> {
    let file = std::fs::File::open(path).map_err(|e| PotError::io(path, e))?;
    let size = file.metadata().map_err(|e| PotError::io(path, e))?.len();
    if size > max_bytes {
        return Err(PotError::Dataset(format!(
            "{}: {size} bytes, more than the {max_bytes} allowed",
            path.display()
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| PotError::io(path, e))?;
    Ok(bytes)
}

/// The split and scaled data that training and evaluation read.
#[derive(Debug, Clone)]
pub struct PreparedData {
    pub feature_len: usize,
    pub classes: usize,
    pub train_features: Vec<f32>,
    pub train_labels: Vec<u32>,
    pub eval_features: Vec<f32>,
    pub eval_labels: Vec<u32>,
}

impl PreparedData {
    pub fn train_rows(&self) -> usize {
        self.train_labels.len()
    }

    pub fn eval_rows(&self) -> usize {
        self.eval_labels.len()
    }

    /// Loads, splits and scales the data of a spec.
    pub fn for_spec(spec: &TaskSpec, local_copy: Option<&Path>) -> Result<Self, PotError> {
        Self::prepare(spec, load_raw(spec, local_copy)?)
    }

    /// Splits `raw` by the spec's rule and applies its preprocessing.
    pub fn prepare(spec: &TaskSpec, raw: RawDataset) -> Result<Self, PotError> {
        let rows = raw.labels.len();
        let eval_rows = rows as u64 * u64::from(spec.split.eval_ppm) / 1_000_000;
        let mut order: Vec<usize> = (0..rows).collect();
        CounterRng::for_seed("split", spec.split.seed, 0).shuffle(&mut order);
        let (eval_order, train_order) = order.split_at(eval_rows as usize);
        let gather = |indices: &[usize]| {
            let mut features = Vec::with_capacity(indices.len() * raw.feature_len);
            let mut labels = Vec::with_capacity(indices.len());
            for &row in indices {
                features.extend_from_slice(
                    &raw.features[row * raw.feature_len..(row + 1) * raw.feature_len],
                );
                labels.push(raw.labels[row]);
            }
            (features, labels)
        };
        let (mut train_features, train_labels) = gather(train_order);
        let (mut eval_features, eval_labels) = gather(eval_order);
        match spec.preprocess {
            Preprocess::None => {}
            Preprocess::Scale { factor } => {
                for value in train_features.iter_mut().chain(eval_features.iter_mut()) {
                    *value *= factor;
                }
            }
            Preprocess::Standardize => {
                let (mean, inverse_std) = feature_statistics(&train_features, raw.feature_len);
                for features in [&mut train_features, &mut eval_features] {
                    for row in features.chunks_exact_mut(raw.feature_len) {
                        for ((value, &m), &s) in row.iter_mut().zip(&mean).zip(&inverse_std) {
                            *value = ((f64::from(*value) - m) * s) as f32;
                        }
                    }
                }
            }
        }
        Ok(Self {
            feature_len: raw.feature_len,
            classes: raw.classes,
            train_features,
            train_labels,
            eval_features,
            eval_labels,
        })
    }
}

/// Per-feature mean and 1/std (population) in f64, summed in row order; constant features get 1.
fn feature_statistics(features: &[f32], feature_len: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = (features.len() / feature_len) as f64;
    let mut mean = vec![0.0f64; feature_len];
    for row in features.chunks_exact(feature_len) {
        for (m, &value) in mean.iter_mut().zip(row) {
            *m += f64::from(value);
        }
    }
    for m in &mut mean {
        *m /= rows;
    }
    let mut variance = vec![0.0f64; feature_len];
    for row in features.chunks_exact(feature_len) {
        for ((v, &m), &value) in variance.iter_mut().zip(&mean).zip(row) {
            let centred = f64::from(value) - m;
            *v += centred * centred;
        }
    }
    let inverse_std = variance
        .iter()
        .map(|&v| {
            let std = (v / rows).sqrt();
            if std > 0.0 { 1.0 / std } else { 1.0 }
        })
        .collect();
    (mean, inverse_std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_datasets_load_with_declared_shapes() {
        for dataset in [
            BundledDataset::Iris,
            BundledDataset::BreastCancer,
            BundledDataset::Digits,
        ] {
            let shape = dataset.shape();
            let raw = dataset.load().unwrap();
            assert_eq!(raw.labels.len() as u64, shape.rows, "{dataset:?}");
            assert_eq!(
                raw.features.len() as u64,
                shape.rows * shape.feature_len(),
                "{dataset:?}"
            );
            for class in 0..shape.classes {
                assert!(
                    raw.labels.contains(&class),
                    "{dataset:?} lacks class {class}"
                );
            }
        }
        let iris = BundledDataset::Iris.load().unwrap();
        assert_eq!(&iris.features[..4], &[5.1, 3.5, 1.4, 0.2]);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let shape = DatasetShape {
            rows: 2,
            input_shape: vec![2],
            classes: 2,
        };
        assert!(parse_csv("1,2,0\n3,4,1\n", 0, &shape).is_ok());
        let error = parse_csv("1,2,0\n3,x,1\n", 0, &shape)
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2, column 2"), "{error}");
        let error = parse_csv("1,2,0\n3,4,2\n", 0, &shape)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not below the 2 classes"), "{error}");
        let error = parse_csv("1,2,0\n", 0, &shape).unwrap_err().to_string();
        assert!(error.contains("1 rows, the spec declares 2"), "{error}");
        let error = parse_csv("1,2,0,5\n3,4,1\n", 0, &shape)
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than 3 columns"), "{error}");
    }

    #[test]
    fn remote_uris_need_a_local_copy() {
        assert!(
            local_path("s3://bucket/data.csv")
                .unwrap_err()
                .to_string()
                .contains("only file://")
        );
        assert_eq!(
            local_path("file:///tmp/a.csv").unwrap(),
            PathBuf::from("/tmp/a.csv")
        );
    }
}
