//! Kubernetes resource quantities (`100m`, `0.5`, `2`, `128Mi`, `1G`, `1e3`) read as numbers:
//! CPU in millicores and everything else in whole units, both rounded up as the scheduler and
//! the kubelet round them.
//!
//! Written by hand: `k8s-openapi`'s `Quantity` is only a string, and no maintained crate parses
//! the format; the grammar is small (a decimal number, then a binary or decimal SI suffix or an
//! exponent).

/// The value of a quantity in base units (cores, bytes, pods), `None` when it does not parse.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number == "+" || number == "-" {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => 10f64.powi(exponent[1..].parse().ok()?),
        _ => return None,
    };
    let result = value * multiplier;
    result.is_finite().then_some(result)
}

/// A CPU quantity in millicores, rounded up (`100m` → 100, `0.5` → 500, `1` → 1000).
pub fn millis(text: &str) -> Option<i64> {
    parse(text).map(|v| round_up(v * 1000.0))
}

/// A quantity in whole units, rounded up (`128Mi` → 134217728).
pub fn units(text: &str) -> Option<i64> {
    parse(text).map(round_up)
}

/// Rounds up, ignoring the floating-point noise of a value that is whole in decimal.
fn round_up(value: f64) -> i64 {
    let nearest = value.round();
    if (value - nearest).abs() < 1e-6 { nearest as i64 } else { value.ceil() as i64 }
}

/// Memory as the kubelet reports it in a node's capacity: whole `Ki`.
pub fn format_kibibytes(bytes: i64) -> String {
    format!("{}Ki", bytes / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_manifests_write() {
        for (text, millicores) in [("100m", 100), ("0.5", 500), ("2", 2000), ("1.5", 1500), ("250m", 250)] {
            assert_eq!(millis(text), Some(millicores), "{text}");
        }
        for (text, bytes) in [
            ("128Mi", 134_217_728),
            ("1G", 1_000_000_000),
            ("1Gi", 1_073_741_824),
            ("512Ki", 524_288),
            ("1e3", 1000),
            ("110", 110),
            ("0.5Gi", 536_870_912),
        ] {
            assert_eq!(units(text), Some(bytes), "{text}");
        }
        assert_eq!(millis("1n"), Some(1), "a nanocore still needs a millicore");
        for bad in ["", "Mi", "12 Mi", "1Q", "--1", "1.2.3"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(format_kibibytes(8 * 1024 * 1024 * 1024), "8388608Ki");
    }
}
