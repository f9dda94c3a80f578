//! Words for people: counts that agree with their nouns ("1 table", "2 tables")
//! and numbers grouped by thousands.

/// `n` and its noun, singular for one.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A whole number with thousands grouped by commas, as the TVs show it ("54,166").
pub fn grouped(n: impl Into<u64>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{count, grouped};

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0u32), "0");
        assert_eq!(grouped(999u32), "999");
        assert_eq!(grouped(1000u32), "1,000");
        assert_eq!(grouped(54_166u32), "54,166");
        assert_eq!(grouped(1_234_567u64), "1,234,567");
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u32, "table", "tables"), "1 table");
        assert_eq!(count(0u32, "table", "tables"), "0 tables");
        assert_eq!(count(9u8, "open seat", "open seats"), "9 open seats");
        assert_eq!(count(1u64, "place paid", "places paid"), "1 place paid");
    }
}
