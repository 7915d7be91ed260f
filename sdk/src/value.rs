//! Attribute values and the helpers to read them.

use std::fmt;

/// An attribute as read from a message's data set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeValue {
    /// Value representation, two upper-case letters.
    pub vr: String,
    /// One string per value; empty for an empty attribute, a sequence or a binary VR.
    pub values: Vec<String>,
    /// Number of items of a sequence (SQ); zero otherwise.
    pub items: u32,
}

impl AttributeValue {
    /// A value with this VR and these values.
    pub fn new<I, S>(vr: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AttributeValue {
            vr: vr.to_string(),
            values: values.into_iter().map(Into::into).collect(),
            items: 0,
        }
    }

    /// A sequence value with `items` items.
    #[must_use]
    pub fn sequence(items: u32) -> Self {
        AttributeValue {
            vr: "SQ".to_string(),
            values: Vec::new(),
            items,
        }
    }

    /// The first value, trimmed; `None` when there is none or it is blank.
    #[must_use]
    pub fn first(&self) -> Option<&str> {
        self.values
            .first()
            .map(|v| v.trim_matches([' ', '\0']))
            .filter(|v| !v.is_empty())
    }

    /// Whether this is a sequence.
    #[must_use]
    pub fn is_sequence(&self) -> bool {
        self.vr == "SQ"
    }

    /// Whether any value equals `text`, ignoring ASCII case and padding.
    #[must_use]
    pub fn contains(&self, text: &str) -> bool {
        self.values.iter().any(|v| {
            v.trim_matches([' ', '\0'])
                .eq_ignore_ascii_case(text.trim())
        })
    }

    /// The first value as an integer.
    #[must_use]
    pub fn int(&self) -> Option<i64> {
        self.first().and_then(|v| v.parse().ok())
    }

    /// Every value as an integer; `None` if one does not parse.
    #[must_use]
    pub fn ints(&self) -> Option<Vec<i64>> {
        self.values.iter().map(|v| v.trim().parse().ok()).collect()
    }

    /// The first value as a floating-point number.
    #[must_use]
    pub fn float(&self) -> Option<f64> {
        self.first().and_then(|v| v.parse().ok())
    }

    /// Every value as a floating-point number; `None` if one does not parse.
    #[must_use]
    pub fn floats(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| v.trim().parse().ok()).collect()
    }

    /// The first value as a date.
    #[must_use]
    pub fn date(&self) -> Option<Date> {
        self.first().and_then(Date::parse)
    }

    /// A person name (PN) as its components: family, given, middle, prefix, suffix
    /// (alphabetic group only; missing components are empty).
    #[must_use]
    pub fn person_name(&self) -> Option<[String; 5]> {
        let first = self.first()?;
        let alphabetic = first.split('=').next().unwrap_or_default();
        let mut parts = alphabetic.split('^').map(|p| p.trim().to_string());
        Some(std::array::from_fn(|_| parts.next().unwrap_or_default()))
    }
}

/// A calendar date (DICOM DA, "YYYYMMDD").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
}

impl Date {
    /// Parses "YYYYMMDD" (or the old "YYYY.MM.DD"); `None` when not a valid date.
    #[must_use]
    pub fn parse(text: &str) -> Option<Date> {
        let digits: String = text.trim().chars().filter(|c| *c != '.').collect();
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = digits.get(0..4)?.parse().ok()?;
        let month: u8 = digits.get(4..6)?.parse().ok()?;
        let day: u8 = digits.get(6..8)?.parse().ok()?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    /// Formats as DICOM DA ("YYYYMMDD").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_format() {
        let d = Date::parse("20240229").unwrap();
        assert_eq!((d.year, d.month, d.day), (2024, 2, 29));
        assert_eq!(d.to_string(), "20240229");
        assert_eq!(Date::parse("2023.02.29"), None);
        assert_eq!(Date::parse("1999.12.31").unwrap().to_string(), "19991231");
        assert_eq!(Date::parse("2024131"), None);
    }

    #[test]
    fn values_read_as_numbers_and_names() {
        let v = AttributeValue::new("DS", ["1.5", " 2 "]);
        assert_eq!(v.float(), Some(1.5));
        assert_eq!(v.floats(), Some(vec![1.5, 2.0]));
        assert_eq!(AttributeValue::new("IS", ["12 "]).int(), Some(12));
        let pn = AttributeValue::new("PN", ["Doe^Jane^^Dr"])
            .person_name()
            .unwrap();
        assert_eq!(pn[0], "Doe");
        assert_eq!(pn[1], "Jane");
        assert_eq!(pn[3], "Dr");
        assert!(AttributeValue::new("CS", ["ORIGINAL", "PRIMARY"]).contains("primary"));
        assert_eq!(AttributeValue::new("LO", ["  "]).first(), None);
    }
}
