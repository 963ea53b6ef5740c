//! Client configuration: librdkafka key/value pairs, the bridge's defaults, and the redaction
//! of secrets in everything the library says.

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

use crate::error::{BridgeError, Result};

/// Keys whose values are secrets: never logged, never echoed in errors or statistics.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k == "sasl.oauthbearer.config"
        || k == "ssl.key.pem"
        || k == "ssl_key"
        || k == "ssl.keystore.pem"
}

/// Replaces the values of secret configuration keys by `***` in any text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Remembers `value` as a secret. Values shorter than 3 bytes are kept structurally out
    /// of messages instead (replacing them everywhere would garble any text).
    pub fn add(&mut self, value: &str) {
        if value.len() >= 3 && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_owned());
            // Longest first, so a secret that contains another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// An ordered list of librdkafka properties: defaults first, then the caller's pairs, a later
/// pair overriding an earlier one with the same key.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pairs: Vec<(String, String)>,
}

impl Settings {
    /// Settings starting from the given defaults.
    pub fn with_defaults(defaults: &[(&str, &str)]) -> Self {
        let mut s = Settings::default();
        for (k, v) in defaults {
            s.set(k, v);
        }
        s
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.pairs.push((key.to_owned(), value.to_owned())),
        }
    }

    /// Adds pairs given as raw bytes (from the boundary); keys and values must be UTF-8.
    pub fn extend_raw<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> Result<()> {
        for (k, v) in pairs {
            let key = std::str::from_utf8(k)
                .map_err(|_| BridgeError::bad_argument("a configuration key is not valid UTF-8"))?;
            let value = match v {
                Some(v) => std::str::from_utf8(v).map_err(|_| {
                    BridgeError::bad_argument(format!("the value of configuration key \"{key}\" is not valid UTF-8"))
                })?,
                None => return Err(BridgeError::bad_argument(format!("configuration key \"{key}\" has no value"))),
            };
            if key.is_empty() || key.contains('\0') || value.contains('\0') {
                return Err(BridgeError::bad_argument(format!("configuration key \"{key}\" is empty or holds a NUL")));
            }
            self.set(key, value);
        }
        Ok(())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The rdkafka configuration and the redactor that knows its secrets.
    pub fn to_client_config(&self) -> (ClientConfig, Redactor) {
        let mut cfg = ClientConfig::new();
        let mut redactor = Redactor::default();
        cfg.set_log_level(RDKafkaLogLevel::Info);
        for (k, v) in &self.pairs {
            if is_secret_key(k) {
                redactor.add(v);
            }
            cfg.set(k, v);
        }
        (cfg, redactor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_pairs_override_defaults() {
        let mut s = Settings::with_defaults(&[("acks", "all"), ("linger.ms", "5")]);
        s.extend_raw([(&b"acks"[..], Some(&b"1"[..]))]).unwrap();
        assert_eq!(s.get("acks"), Some("1"));
        assert_eq!(s.get("linger.ms"), Some("5"));
    }

    #[test]
    fn redacts_secrets() {
        let mut s = Settings::default();
        s.set("sasl.password", "hunter2");
        s.set("sasl.username", "alice");
        let (_, r) = s.to_client_config();
        assert_eq!(r.redact("login alice/hunter2 failed"), "login alice/*** failed");
    }
}

impl Settings {
    /// Applies every pair of `other` over these settings.
    pub fn merge(&mut self, other: &Settings) {
        for (k, v) in &other.pairs {
            self.set(k, v);
        }
    }
}
