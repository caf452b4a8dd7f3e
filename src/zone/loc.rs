//! LOC records (RFC 1876), which the `domain` scanner does not read: the presentation format
//! `d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] [siz[m] [hp[m] [vp[m]]]]` encoded into the 16 octets
//! of its RDATA, as BIND, NSD and Knot encode it.

/// Encodes a LOC record's RDATA from its tokens.
pub fn encode(tokens: &[&str]) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("bad LOC record: {why}");
    let mut rest = tokens;
    let latitude = angle(&mut rest, 90, ('N', 'S')).map_err(|e| bad(&e))?;
    let longitude = angle(&mut rest, 180, ('E', 'W')).map_err(|e| bad(&e))?;
    let (alt, sizes) = rest
        .split_first()
        .ok_or_else(|| bad("the altitude is missing"))?;
    if sizes.len() > 3 {
        return Err(bad("too many fields after the altitude"));
    }
    let altitude = centimetres(alt)
        .filter(|cm| (-10_000_000..=4_284_967_295).contains(cm))
        .ok_or_else(|| bad(&format!("`{alt}` is not an altitude in metres")))?;
    // Defaults (RFC 1876): size 1 m, horizontal precision 10 km, vertical precision 10 m.
    let mut precision = [100, 1_000_000, 1_000];
    for (slot, text) in precision.iter_mut().zip(sizes) {
        *slot = centimetres(text)
            .filter(|cm| (0..=9_000_000_000).contains(cm))
            .ok_or_else(|| bad(&format!("`{text}` is not a size in metres")))?;
    }
    let mut out = Vec::with_capacity(16);
    out.push(0); // version
    out.extend(precision.iter().map(|&cm| size_octet(cm)));
    out.extend_from_slice(&latitude.to_be_bytes());
    out.extend_from_slice(&longitude.to_be_bytes());
    let altitude = u32::try_from(altitude + 10_000_000).map_err(|_| bad("altitude"))?;
    out.extend_from_slice(&altitude.to_be_bytes());
    Ok(out)
}

/// Degrees, optional minutes and seconds, then the hemisphere: thousandths of an arc second
/// from 2^31 (positive towards `positive`).
fn angle(
    tokens: &mut &[&str],
    max_degrees: i64,
    (positive, negative): (char, char),
) -> Result<u32, String> {
    let mut parts = Vec::new();
    loop {
        let (&tok, rest) = tokens
            .split_first()
            .ok_or_else(|| format!("the {positive}/{negative} coordinate is incomplete"))?;
        *tokens = rest;
        let hemisphere = tok.to_ascii_uppercase();
        if hemisphere == positive.to_string() || hemisphere == negative.to_string() {
            let [d, m, s] = [0, 1, 2].map(|i| parts.get(i).copied());
            let degrees = whole(d.unwrap_or("0"), 0, max_degrees)?;
            let minutes = whole(m.unwrap_or("0"), 0, 59)?;
            let millis = fixed(s.unwrap_or("0"), 3)
                .filter(|ms| (0..60_000).contains(ms))
                .ok_or_else(|| format!("`{}` is not seconds", s.unwrap_or("")))?;
            let total = (degrees * 3600 + minutes * 60) * 1000 + millis;
            if total > max_degrees * 3_600_000 {
                return Err(format!("{tok} coordinate beyond {max_degrees} degrees"));
            }
            let signed = if hemisphere == positive.to_string() {
                total
            } else {
                -total
            };
            return u32::try_from((1i64 << 31) + signed).map_err(|_| "coordinate".into());
        }
        if parts.len() == 3 {
            return Err(format!("expected {positive} or {negative}, not `{tok}`"));
        }
        parts.push(tok);
    }
}

fn whole(text: &str, min: i64, max: i64) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("`{text}` is not a number from {min} to {max}"))
}

/// Metres with up to two decimals (and an optional `m`) in centimetres.
fn centimetres(text: &str) -> Option<i64> {
    fixed(text.strip_suffix(['m', 'M']).unwrap_or(text), 2)
}

/// A decimal with up to `digits` decimals, scaled by 10^digits.
fn fixed(text: &str, digits: u32) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty()
        || frac.len() > digits as usize
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_value: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    frac_value *= 10i64.pow(digits - frac.len() as u32);
    let value = int
        .checked_mul(10i64.pow(digits))?
        .checked_add(frac_value)?;
    Some(if negative { -value } else { value })
}

/// A size or precision in centimetres as RFC 1876's octet: mantissa (high nibble) times ten to
/// the exponent (low nibble).
fn size_octet(cm: i64) -> u8 {
    let mut exponent = 0u32;
    while exponent < 9 && cm >= 10i64.pow(exponent + 1) {
        exponent += 1;
    }
    let mantissa = (cm / 10i64.pow(exponent)).min(9) as u8;
    (mantissa << 4) | exponent as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1876_example() {
        // cambridge-net.kei.com (RFC 1876 §5): 42 21 54 N 71 06 18 W -24m 30m.
        let loc = encode(&["42", "21", "54", "N", "71", "06", "18", "W", "-24m", "30m"]).unwrap();
        let lat = (1u32 << 31) + (42 * 3600 + 21 * 60 + 54) * 1000;
        let lon = (1u32 << 31) - (71 * 3600 + 6 * 60 + 18) * 1000;
        let mut expected = vec![0, 0x33, 0x16, 0x13];
        expected.extend_from_slice(&lat.to_be_bytes());
        expected.extend_from_slice(&lon.to_be_bytes());
        expected.extend_from_slice(&(10_000_000u32 - 2400).to_be_bytes());
        assert_eq!(loc, expected);
    }

    #[test]
    fn minutes_and_seconds_are_optional_and_decimals_count() {
        let loc = encode(&[
            "52", "N", "4", "53", "32.5", "E", "-2.00m", "0.00m", "10000m", "10m",
        ])
        .unwrap();
        assert_eq!(&loc[..4], &[0, 0x00, 0x16, 0x13]);
        assert_eq!(
            u32::from_be_bytes(loc[4..8].try_into().unwrap()),
            (1u32 << 31) + 52 * 3_600_000
        );
        assert_eq!(
            u32::from_be_bytes(loc[8..12].try_into().unwrap()),
            (1u32 << 31) + (4 * 3600 + 53 * 60 + 32) * 1000 + 500
        );
        assert!(encode(&["91", "N", "0", "E", "0m"]).is_err());
        assert!(encode(&["52", "X", "0", "E", "0m"]).is_err());
        assert!(encode(&["52", "N", "0", "E"]).is_err());
    }
}
