//! Name rules of the Prometheus data model (legacy, ASCII names), checked before anything is stored.

use crate::error::MetricsError;

/// Checks a metric family name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn metric_name(name: &str) -> Result<(), MetricsError> {
    let ok = !name.is_empty()
        && name.bytes().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(MetricsError::invalid(format!(
            "invalid metric name {name:?}: use letters, digits, '_' and ':', not starting with a digit"
        )))
    }
}

/// Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not reserved (`__` prefix).
pub fn label_name(name: &str) -> Result<(), MetricsError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == b'_' || (i > 0 && c.is_ascii_digit()));
    if !ok {
        return Err(MetricsError::invalid(format!(
            "invalid label name {name:?}: use letters, digits and '_', not starting with a digit"
        )));
    }
    if name.starts_with("__") {
        return Err(MetricsError::invalid(format!(
            "label name {name:?} is reserved: names starting with '__' belong to Prometheus"
        )));
    }
    Ok(())
}

/// Checks histogram bucket bounds: sorted strictly increasing, not NaN, ending in +Inf.
pub fn buckets(bounds: &[f64]) -> Result<(), MetricsError> {
    if bounds.len() < 2 {
        return Err(MetricsError::invalid(
            "a histogram needs at least one bucket besides +Inf",
        ));
    }
    if bounds.iter().any(|b| b.is_nan()) {
        return Err(MetricsError::invalid(
            "histogram bucket bounds must not be NaN",
        ));
    }
    if !bounds.windows(2).all(|w| w[0] < w[1]) {
        return Err(MetricsError::invalid(
            "histogram buckets must be in strictly increasing order",
        ));
    }
    if *bounds.last().expect("checked non-empty") != f64::INFINITY {
        return Err(MetricsError::invalid(
            "the last histogram bucket must be +Inf",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(metric_name("http_requests:rate5m").is_ok());
        assert!(metric_name("1abc").is_err());
        assert!(metric_name("a-b").is_err());
        assert!(metric_name("").is_err());
        assert!(label_name("path").is_ok());
        assert!(label_name("__name").is_err());
        assert!(label_name("a:b").is_err());
    }

    #[test]
    fn bucket_rules() {
        assert!(buckets(&[1.0, f64::INFINITY]).is_ok());
        assert!(buckets(&[2.0, 1.0, f64::INFINITY]).is_err());
        assert!(buckets(&[1.0, 2.0]).is_err());
        assert!(buckets(&[f64::INFINITY]).is_err());
    }
}
