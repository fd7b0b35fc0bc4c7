//! Character classes of RFC 9110 section 5.6 as lookup tables.

const fn token_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    table
}

const fn value_table() -> [bool; 256] {
    // field-vchar / SP / HTAB / obs-text; never NUL, CR, LF or another control character.
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = c == 0x09 || (c >= 0x20 && c != 0x7f);
        c += 1;
    }
    table
}

static TOKEN: [bool; 256] = token_table();
static VALUE: [bool; 256] = value_table();

/// True for a non-empty RFC 9110 token.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| TOKEN[usize::from(b)])
}

/// True when every byte may appear in a field value.
pub fn is_field_value(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| VALUE[usize::from(b)])
}

/// True for a request-target byte (visible ASCII; spaces and controls excluded).
pub fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// Strips optional whitespace (SP / HTAB) on both sides.
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// Parses a decimal Content-Length, rejecting signs, spaces and overflow.
pub fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// Iterates the comma-separated elements of a list field, trimmed, skipping empty ones.
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}
