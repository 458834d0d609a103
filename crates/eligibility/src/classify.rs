//! [`classify`]: the engine over JSON Lines, for the `classify` command (try a rule set on
//! exported transactions before turning it on). One output line per input line; a bad line
//! becomes an error line and the run goes on. The CLI wiring lives with the other commands.

use std::io::{BufRead, BufWriter, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::compiled::CompiledPolicy;
use super::decide::decide;
use super::model::{Outcome, Transaction};
use super::policy::{EligibilitySettings, Rule, SettingsOverrides};

/// Counts of one classify run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassifyStats {
    /// Non-blank input lines.
    pub lines: u64,
    pub drafts: u64,
    pub dlq: u64,
    pub skipped: u64,
    /// Lines answered with an error line.
    pub errors: u64,
    /// Policies compiled: consecutive lines with the same settings and rules share one.
    pub compiles: u64,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    line: u64,
    error: &'a str,
}

/// The settings and rules of the previous line, with what they compiled to.
struct Cached {
    settings: Option<Value>,
    rules: Option<Value>,
    policy: Result<CompiledPolicy, String>,
}

/// Reads JSON Lines `{transaction, settings?, rules?, accountId?}` (other fields ignored,
/// blank lines skipped) and writes one line per input line: the decision, or
/// `{"line": N, "error": "..."}` naming the offending field. `settings` overrides `base`;
/// `accountId` is the transaction's account when the transaction names none. Only I/O
/// errors stop the run.
pub fn classify<R: BufRead, W: Write>(
    mut input: R,
    output: W,
    base: &EligibilitySettings,
) -> std::io::Result<ClassifyStats> {
    let mut output = BufWriter::new(output);
    let mut stats = ClassifyStats::default();
    let mut cache: Option<Cached> = None;
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        number += 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        stats.lines += 1;
        match classify_line(&raw, base, &mut cache, &mut stats) {
            Ok(decision) => {
                match decision.outcome {
                    Outcome::Draft => stats.drafts += 1,
                    Outcome::Dlq => stats.dlq += 1,
                    Outcome::Skipped => stats.skipped += 1,
                }
                serde_json::to_writer(&mut output, &decision)?;
            }
            Err(error) => {
                stats.errors += 1;
                let line = ErrorLine {
                    line: number,
                    error: &error,
                };
                serde_json::to_writer(&mut output, &line)?;
            }
        }
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(stats)
}

fn classify_line(
    raw: &[u8],
    base: &EligibilitySettings,
    cache: &mut Option<Cached>,
    stats: &mut ClassifyStats,
) -> Result<super::OwnedDecision, String> {
    let mut line: Value = serde_json::from_slice(raw).map_err(|err| format!("not a JSON object: {err}"))?;
    let Some(object) = line.as_object_mut() else {
        return Err("not a JSON object".to_owned());
    };
    let transaction = object
        .remove("transaction")
        .ok_or_else(|| "transaction: missing".to_owned())?;
    let mut transaction: Transaction = parse(&transaction, "transaction")?;
    let settings = object.remove("settings").filter(|v| !v.is_null());
    let rules = object.remove("rules").filter(|v| !v.is_null());
    if transaction.account_id.is_none() {
        match object.remove("accountId") {
            None | Some(Value::Null) => {}
            Some(Value::String(account)) => transaction.account_id = Some(account),
            Some(_) => return Err("accountId: must be a string".to_owned()),
        }
    }

    let reuse = cache
        .as_ref()
        .is_some_and(|c| c.settings == settings && c.rules == rules);
    if !reuse {
        stats.compiles += 1;
        let policy = compile(settings.as_ref(), rules.as_ref(), base);
        *cache = Some(Cached {
            settings,
            rules,
            policy,
        });
    }
    match cache.as_ref().map(|c| &c.policy) {
        Some(Ok(policy)) => Ok(decide(&transaction, policy).into_owned()),
        Some(Err(error)) => Err(error.clone()),
        None => Err("no policy".to_owned()),
    }
}

fn compile(
    settings: Option<&Value>,
    rules: Option<&Value>,
    base: &EligibilitySettings,
) -> Result<CompiledPolicy, String> {
    let settings = match settings {
        None => base.clone(),
        Some(value) => parse::<SettingsOverrides>(value, "settings")?
            .apply(base)
            .map_err(|err| format!("settings.{err}"))?,
    };
    let rules: Vec<Rule> = match rules {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse::<Rule>(item, &format!("rules[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("rules: must be an array".to_owned()),
    };
    CompiledPolicy::compile(&settings, &rules).map_err(|err| {
        if err.field == "pattern" {
            format!("rules.{err}")
        } else {
            format!("settings.{err}")
        }
    })
}

/// Deserializes `value`, naming the offending field on error. serde's messages name unknown
/// and missing fields but not a mistyped one ("invalid type: string, expected i64"), so on
/// error the field is found by retrying without each key in turn: the culprit is the key
/// whose removal cures the error or turns it into "missing field" for that key.
fn parse<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, String> {
    let err = match T::deserialize(value) {
        Ok(parsed) => return Ok(parsed),
        Err(err) => err,
    };
    if let Some(object) = value.as_object() {
        let message = err.to_string();
        let names_a_field = message.contains("field `");
        for key in object.keys().filter(|_| !names_a_field) {
            let mut without = object.clone();
            without.remove(key);
            let cured = match T::deserialize(&Value::Object(without)) {
                Ok(_) => true,
                Err(other) => other.to_string() == format!("missing field `{key}`"),
            };
            if cured {
                return Err(format!("{path}.{key}: {message}"));
            }
        }
    }
    Err(format!("{path}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (Vec<Value>, ClassifyStats) {
        let mut out = Vec::new();
        let stats =
            classify(input.as_bytes(), &mut out, &EligibilitySettings::default()).expect("no io error");
        let lines = String::from_utf8(out)
            .expect("utf-8 output")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        (lines, stats)
    }

    const TX: &str = r#"{"id":"t","type":"credit","amount":5000000,"currency":"NGN","narration":"BETKING payment","date":"2025-05-30T16:03:00Z"}"#;

    #[test]
    fn bad_lines_name_the_field_and_the_run_goes_on() {
        let input = format!(
            "{{\"transaction\":{TX}}}\n\
             \n\
             {{\"transaction\":{{\"id\":\"t\"}}}}\n\
             {{\"transaction\":{TX},\"settings\":{{\"flor\":1}}}}\n\
             {{\"transaction\":{TX},\"rules\":[{{\"id\":\"r\",\"list\":\"deny\",\"match\":\"regex\",\"pattern\":\"(\"}}]}}\n\
             {{\"transaction\":{TX},\"settings\":{{\"referenceRegex\":\"(\"}}}}\n\
             [1,2]\n\
             {{\"transaction\":{TX},\"accountId\":\"acc_2\",\"rules\":[{{\"id\":\"r\",\"list\":\"deny\",\"accountId\":\"acc_2\",\"pattern\":\"betking\"}}]}}\n"
        );
        let (lines, stats) = run(&input);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0]["outcome"], "draft");
        assert_eq!(lines[1]["line"], 3);
        assert!(lines[1]["error"]
            .as_str()
            .unwrap_or("")
            .contains("transaction: missing field"));
        assert_eq!(lines[2]["line"], 4);
        assert!(lines[2]["error"].as_str().unwrap_or("").contains("flor"));
        assert_eq!(lines[3]["line"], 5);
        assert!(lines[3]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("rules.pattern: rule `r`"));
        assert!(lines[4]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("settings.referenceRegex:"));
        assert_eq!(lines[5]["line"], 7);
        assert_eq!(lines[6]["reason"], "denylisted");
        assert_eq!(lines[6]["ruleId"], "r");
        assert_eq!(stats.lines, 7);
        assert_eq!(stats.errors, 5);
        assert_eq!((stats.drafts, stats.dlq, stats.skipped), (1, 1, 0));
    }

    #[test]
    fn mistyped_fields_are_named() {
        let input = concat!(
            r#"{"transaction":{"id":"t","type":"credit","amount":"5","currency":"NGN","date":"d"}}"#,
            "\n",
            r#"{"transaction":{"id":"t","type":"refund","amount":5,"currency":"NGN","date":"d"}}"#,
            "\n",
            r#"{"transaction":{"id":"t","type":"credit","amount":5,"currency":"NGN","date":"d"},"rules":[{"id":"r","list":"deny","pattern":7}]}"#,
            "\n",
        );
        let (lines, _) = run(input);
        let errors: Vec<&str> = lines.iter().map(|l| l["error"].as_str().unwrap_or("")).collect();
        assert!(
            errors[0].starts_with("transaction.amount: invalid type"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("transaction.type: unknown variant"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2].starts_with("rules[0].pattern: invalid type"),
            "{}",
            errors[2]
        );
    }

    #[test]
    fn one_rule_set_compiles_once() {
        let line = format!(
            "{{\"transaction\":{TX},\"rules\":[{{\"id\":\"r\",\"list\":\"allow\",\"pattern\":\"bet\"}}]}}\n"
        );
        let (lines, stats) = run(&line.repeat(50));
        assert_eq!(lines.len(), 50);
        assert!(lines.iter().all(|l| l["reason"] == "allowlisted"));
        assert_eq!(stats.compiles, 1);
    }

    #[test]
    fn invalid_utf8_is_an_error_line() {
        let mut input = b"{\"transaction\": \"\xff\"}\n".to_vec();
        input.extend_from_slice(format!("{{\"transaction\":{TX}}}\n").as_bytes());
        let mut out = Vec::new();
        let stats = classify(&input[..], &mut out, &EligibilitySettings::default()).expect("no io error");
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.drafts, 1);
    }
}
