//! Words for people: counts that agree with their nouns ("1 table", "2 tables").

/// `n` and its noun, singular for one.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u32, "table", "tables"), "1 table");
        assert_eq!(count(0u32, "table", "tables"), "0 tables");
        assert_eq!(count(9u8, "open seat", "open seats"), "9 open seats");
        assert_eq!(count(1u64, "place paid", "places paid"), "1 place paid");
    }
}
