//! Keeping identity numbers, BVNs, exchange codes and account numbers out of logs and error
//! messages: `Debug` impls that mask such fields (`debug_redacted!`), and serde error texts
//! with the offending value taken out (`serde_problem`). Imports nothing of the crate, so any
//! module (the engine included) can use it.

use std::fmt;
use std::sync::LazyLock;

/// Prints what a masked field holds without its value: `None`, or `"[REDACTED]"`.
pub struct Masked<'a, T: ?Sized>(pub &'a T);

impl fmt::Debug for Masked<'_, String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[REDACTED]\"")
    }
}

impl fmt::Debug for Masked<'_, Option<String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(\"[REDACTED]\")"),
            None => f.write_str("None"),
        }
    }
}

/// `Debug` for a struct: the fields before `;` printed as they are, those after it masked.
/// Fields not named are left out (the output ends with `..`).
#[macro_export]
macro_rules! debug_redacted {
    ($ty:ident { $($plain:ident),* ; $($masked:ident),+ $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($plain), &self.$plain))*
                    $(.field(stringify!($masked), &$crate::Masked(&self.$masked)))+
                    .finish_non_exhaustive()
            }
        }
    };
}

static VALUE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r#"(?x)
        (?P<kind>string|integer|floating\ point|character|byte\ array|unknown\ variant)
        \s* (?: "(?:[^"\\]|\\.)*" | `[^`]*` )"#,
    )
    .expect("constant regex compiles")
});

/// A serde error's text with every value it quotes taken out, keeping what names the
/// problem: `invalid type: string "22212345678", expected u64` becomes
/// `invalid type: string, expected u64`. Field names (`missing field `x``) stay.
pub fn serde_problem(message: &str) -> String {
    VALUE.replace_all(message, "$kind").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_problems_keep_the_kind_and_lose_the_value() {
        let e = serde_json::from_str::<u64>(r#""22212345678""#).unwrap_err();
        let text = serde_problem(&e.to_string());
        assert!(!text.contains("22212345678"), "{text}");
        assert!(text.starts_with("invalid type: string, expected u64"), "{text}");
        let e = serde_json::from_str::<String>("22212345678").unwrap_err();
        let text = serde_problem(&e.to_string());
        assert!(
            !text.contains("22212345678") && text.contains("integer"),
            "{text}"
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            A,
        }
        let e = serde_json::from_str::<Kind>(r#""secret_value""#).unwrap_err();
        let text = serde_problem(&e.to_string());
        assert!(
            !text.contains("secret_value") && text.contains("unknown variant"),
            "{text}"
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            bvn: String,
        }
        let e = serde_json::from_str::<S>("{}").unwrap_err();
        assert!(serde_problem(&e.to_string()).contains("missing field `bvn`"));
        let e = serde_json::from_str::<S>(r#"{"bvn": "a\"b"}x"#).unwrap_err();
        assert!(!serde_problem(&e.to_string()).contains("a\\\"b"));
    }

    #[derive(Clone)]
    struct Account {
        id: String,
        account_number: String,
        bvn: Option<String>,
        none: Option<String>,
    }
    debug_redacted!(Account { id; account_number, bvn, none });

    #[test]
    fn masked_fields_never_print() {
        let a = Account {
            id: "acc_1".into(),
            account_number: "0123456789".into(),
            bvn: Some("22212345678".into()),
            none: None,
        };
        let text = format!("{a:?}");
        assert!(text.contains("acc_1"), "{text}");
        assert!(
            !text.contains("0123456789") && !text.contains("22212345678"),
            "{text}"
        );
        assert!(text.contains("none: None"), "{text}");
        let _ = a.clone();
    }
}
