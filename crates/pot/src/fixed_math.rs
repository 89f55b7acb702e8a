//! `exp` and `ln` from basic IEEE operations only.
//!
//! The platform's libm may differ between machines and versions and may use FMA when the CPU
//! has it; these two functions decide the loss that goes into the transcript, so they are
//! written with additions, multiplications, divisions and bit manipulation in a fixed order
//! (Rust never fuses `a * b + c` into an FMA). They work in f64 and round once to f32, which
//! keeps them within about one f32 ulp of the true value.

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LN2: f64 = core::f64::consts::LN_2;
const LOG2_E: f64 = core::f64::consts::LOG2_E;

/// e^x, correct to about one f32 ulp; 0 below -104, +inf above 89.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return f32::NAN;
    }
    if x < -104.0 {
        return 0.0;
    }
    if x > 89.0 {
        return f32::INFINITY;
    }
    let x = f64::from(x);
    let scaled = x * LOG2_E;
    // Round to nearest by casting (exact and defined for this range).
    let k = if scaled >= 0.0 {
        (scaled + 0.5) as i64
    } else {
        (scaled - 0.5) as i64
    };
    let kf = k as f64;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Taylor series of e^r to degree 12 in Horner form; |r| <= 0.35 so the error is < 1e-14.
    let mut poly = 1.0f64;
    for degree in (1..=12).rev() {
        poly = 1.0 + poly * r / f64::from(degree);
    }
    let two_to_k = f64::from_bits(((k + 1023) as u64) << 52);
    (poly * two_to_k) as f32
}

/// Natural logarithm of a positive finite x, correct to about one f32 ulp.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f32::INFINITY;
    }
    // f32 values, subnormals included, are normal f64 values.
    let x = f64::from(x);
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52));
    if mantissa > core::f64::consts::SQRT_2 {
        mantissa *= 0.5;
        exponent += 1;
    }
    // ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| <= 0.172; 11 odd terms give < 1e-18.
    let z = (mantissa - 1.0) / (mantissa + 1.0);
    let z2 = z * z;
    let mut series = 0.0f64;
    for term in (0..11).rev() {
        series = 1.0 / f64::from(2 * term + 1) + z2 * series;
    }
    (exponent as f64 * LN2 + 2.0 * z * series) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps_apart(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_matches_std_within_one_ulp() {
        let mut x = -100.0f32;
        while x < 88.0 {
            let ours = exp(x);
            let reference = (f64::from(x)).exp() as f32;
            assert!(
                ulps_apart(ours, reference) <= 1,
                "exp({x}) = {ours}, std {reference}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
    }

    #[test]
    fn ln_matches_std_within_one_ulp() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            let ours = ln(x);
            let reference = (f64::from(x)).ln() as f32;
            assert!(
                ulps_apart(ours, reference) <= 1,
                "ln({x}) = {ours}, std {reference}"
            );
            x *= 1.013;
        }
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(-1.0).is_nan());
    }
}
