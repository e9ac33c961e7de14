//! Key renaming, decided at expansion time: fields are snake_case and variants PascalCase in Rust;
//! documents use kebab-case unless the container says otherwise.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "each rule is named after the case convention it applies")]
pub enum RenameRule {
    KebabCase,
    SnakeCase,
    LowerCase,
    UpperCase,
    ScreamingSnakeCase,
}

impl RenameRule {
    pub const NAMES: &'static [&'static str] =
        &["kebab-case", "snake_case", "lowercase", "UPPERCASE", "SCREAMING_SNAKE_CASE"];

    pub fn from_str(name: &str) -> Option<RenameRule> {
        Some(match name {
            "kebab-case" => RenameRule::KebabCase,
            "snake_case" => RenameRule::SnakeCase,
            "lowercase" => RenameRule::LowerCase,
            "UPPERCASE" => RenameRule::UpperCase,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnakeCase,
            _ => return None,
        })
    }

    /// Renames a snake_case field name.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::KebabCase => field.replace('_', "-"),
            RenameRule::SnakeCase | RenameRule::LowerCase => field.to_owned(),
            RenameRule::UpperCase | RenameRule::ScreamingSnakeCase => field.to_ascii_uppercase(),
        }
    }

    /// Renames a PascalCase variant name.
    pub fn apply_to_variant(self, variant: &str) -> String {
        let words = split_pascal(variant);
        match self {
            RenameRule::KebabCase => words.join("-").to_ascii_lowercase(),
            RenameRule::SnakeCase => words.join("_").to_ascii_lowercase(),
            RenameRule::LowerCase => variant.to_ascii_lowercase(),
            RenameRule::UpperCase => variant.to_ascii_uppercase(),
            RenameRule::ScreamingSnakeCase => words.join("_").to_ascii_uppercase(),
        }
    }
}

/// `DohLegacy` → `[Doh, Legacy]`, `Doh2` → `[Doh2]`, `TLSForward` → `[TLS, Forward]`.
fn split_pascal(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = c.is_uppercase()
            && !current.is_empty()
            && (chars[i - 1].is_lowercase()
                || chars[i - 1].is_ascii_digit()
                || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if starts_word {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames() {
        assert_eq!(RenameRule::KebabCase.apply_to_field("size_max"), "size-max");
        assert_eq!(RenameRule::KebabCase.apply_to_variant("DohLegacy"), "doh-legacy");
        assert_eq!(RenameRule::KebabCase.apply_to_variant("Doh2"), "doh2");
        assert_eq!(RenameRule::KebabCase.apply_to_variant("TLSForward"), "tls-forward");
        assert_eq!(RenameRule::UpperCase.apply_to_variant("Aaaa"), "AAAA");
        assert_eq!(RenameRule::SnakeCase.apply_to_variant("FromEnv"), "from_env");
    }
}
