//! Times as the trace shows and takes them: milliseconds since the Unix
//! epoch, written and read in UTC.

/// A duration in whole milliseconds, as the trace keeps them.
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, mo, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC time (`2026-11-28`, `2026-11-28T03:00`, `2026-11-28 03:00:00Z`)
/// as milliseconds since the epoch; `None` when it is not one.
pub fn parse_utc(text: &str) -> Option<u64> {
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let mut dp = date.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(mo)), Some(Ok(d)), None) =
        (dp.next(), dp.next(), dp.next(), dp.next())
    else {
        return None;
    };
    let mut tp = time.split(':').map(|p| p.parse::<f64>());
    let h = tp.next().and_then(Result::ok)?;
    let mi = tp.next().and_then(Result::ok).unwrap_or(0.0);
    let s = tp.next().and_then(Result::ok).unwrap_or(0.0);
    let (Ok(mo), Ok(d)) = (u32::try_from(mo), u32::try_from(d)) else {
        return None;
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let ms = (days * 86_400) as f64 * 1000.0 + (h * 3600.0 + mi * 60.0 + s) * 1000.0;
    (ms >= 0.0).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00.000");
        let t = parse_utc("2026-11-28T03:04:05Z").unwrap();
        assert_eq!(format_time(t), "2026-11-28 03:04:05.000");
        assert_eq!(
            format_time(parse_utc("2024-02-29").unwrap()),
            "2024-02-29 00:00:00.000"
        );
        assert_eq!(
            format_time(parse_utc("2026-12-07T01:23").unwrap()),
            "2026-12-07 01:23:00.000"
        );
        assert!(parse_utc("yesterday").is_none());
        assert!(parse_utc("2026-13-01").is_none());
    }
}
