//! Text formatting shared by both exposition formats.
//!
//! Floats are written exactly as prometheus-client writes them (`floatToGoString`: Python's
//! shortest round-trip `repr`, `+Inf`/`-Inf`/`NaN`, and Go-style exponents for positive numbers with
//! more than six integer digits), so a user switching from prometheus-client keeps identical
//! `le` label values and byte-identical samples.

/// Appends `value` formatted like prometheus-client's `floatToGoString`.
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0
        && value.abs() < 1e6
        && !(value == 0.0 && value.is_sign_negative())
    {
        // Fast path for the common case (counts): small integers print as "123.0".
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(value as i64).as_bytes());
        out.extend_from_slice(b".0");
    } else {
        write_python_repr(out, value);
    }
}

/// Python's `repr(float)` followed by floatToGoString's exponent rule for large positives.
fn write_python_repr(out: &mut Vec<u8>, value: f64) {
    let (negative, digits, decpt) = shortest_digits(value);
    if negative {
        out.push(b'-');
    }
    let ndigits = digits.len() as i32;
    if decpt <= -4 || decpt > 16 {
        write_scientific(out, &digits, decpt - 1);
    } else if decpt > 6 && !negative {
        // floatToGoString: the fixed form's dot would sit past index 6, so Go prints an exponent
        // with at least two exponent digits ("1.234567e+06").
        let mantissa_digits = trim_trailing_zeros(&digits);
        out.push(mantissa_digits[0]);
        if mantissa_digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&mantissa_digits[1..]);
        }
        out.extend_from_slice(b"e+");
        write_two_digit_exponent(out, decpt - 1);
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
        out.extend_from_slice(&digits);
    } else if decpt >= ndigits {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (decpt - ndigits) as usize));
        out.extend_from_slice(b".0");
    } else {
        out.extend_from_slice(&digits[..decpt as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[decpt as usize..]);
    }
}

fn write_scientific(out: &mut Vec<u8>, digits: &[u8], exponent: i32) {
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    out.push(if exponent < 0 { b'-' } else { b'+' });
    write_two_digit_exponent(out, exponent.abs());
}

fn write_two_digit_exponent(out: &mut Vec<u8>, exponent: i32) {
    if exponent < 10 {
        out.push(b'0');
    }
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(exponent).as_bytes());
}

fn trim_trailing_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&d| d != b'0').map_or(1, |i| i + 1);
    &digits[..end]
}

/// The shortest round-trip decimal digits of a finite `value` (no leading or trailing zeros) and
/// the decimal point position: value = 0.d1d2... * 10^decpt.
fn shortest_digits(value: f64) -> (bool, Vec<u8>, i32) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(value).as_bytes();
    let negative = text.first() == Some(&b'-');
    let text = if negative { &text[1..] } else { text };
    let (mantissa, exponent) = match text.iter().position(|&c| c == b'e') {
        Some(at) => {
            let exp: i32 = std::str::from_utf8(&text[at + 1..])
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("ryu writes a decimal exponent");
            (&text[..at], exp)
        }
        None => (text, 0),
    };
    let mut digits = Vec::with_capacity(17);
    let mut point = None;
    for &c in mantissa {
        if c == b'.' {
            point = Some(digits.len() as i32);
        } else {
            digits.push(c);
        }
    }
    let mut decpt = point.unwrap_or(digits.len() as i32) + exponent;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading);
    decpt -= leading as i32;
    let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    digits.truncate(end);
    if digits.is_empty() {
        digits.push(b'0');
        decpt = 1;
    }
    (negative, digits, decpt)
}

/// Appends a label value escaped for both formats: backslash, double quote and newline.
pub fn write_label_value(out: &mut Vec<u8>, value: &str) {
    for &c in value.as_bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
}

/// Appends HELP text escaped for the given format (OpenMetrics also escapes double quotes).
pub fn write_help(out: &mut Vec<u8>, help: &str, openmetrics: bool) {
    for &c in help.as_bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if openmetrics => out.extend_from_slice(b"\\\""),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(value: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_match_prometheus_client() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-3.0, "-3.0"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456.0"),
            (1234567.0, "1.234567e+06"),
            (1e10, "1e+10"),
            (-1234567.0, "-1234567.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(fmt(value), expected, "formatting {value:?}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        write_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, b"a\\\\b\\\"c\\nd");
    }
}
