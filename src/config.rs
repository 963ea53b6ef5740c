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

/// A librdkafka boolean's value (`true`/`t`/`1`, `false`/`f`/`0`, any case); `None` otherwise.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => Some(true),
        "false" | "f" | "0" => Some(false),
        _ => None,
    }
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
/// pair overriding an earlier one with the same key. Each value remembers where it came from
/// (a default, a lookup-table row, a host setting) so errors can say so.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pairs: Vec<(String, String)>,
    sources: Vec<String>,
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
        self.set_from(key, value, "");
    }

    /// Sets `key` to `value` and records where the value came from.
    pub fn set_from(&mut self, key: &str, value: &str, source: &str) {
        match self.pairs.iter().position(|(k, _)| k == key) {
            Some(i) => {
                self.pairs[i].1 = value.to_owned();
                self.sources[i] = source.to_owned();
            }
            None => {
                self.pairs.push((key.to_owned(), value.to_owned()));
                self.sources.push(source.to_owned());
            }
        }
    }

    /// Removes `key`; returns its value and where it came from.
    pub fn remove(&mut self, key: &str) -> Option<(String, String)> {
        let i = self.pairs.iter().position(|(k, _)| k == key)?;
        Some((self.pairs.remove(i).1, self.sources.remove(i)))
    }

    /// Whether the SASL mechanism is OAUTHBEARER.
    pub fn uses_oauthbearer(&self) -> bool {
        self.get("sasl.mechanism").is_some_and(|m| m.trim().eq_ignore_ascii_case("OAUTHBEARER"))
    }

    /// Where the value of `key` came from ("" when not recorded).
    pub fn source_of(&self, key: &str) -> &str {
        self.pairs.iter().position(|(k, _)| k == key).map_or("", |i| self.sources[i].as_str())
    }

    /// Turns a client-creation error into a bridge error that names the offending key and
    /// where its value came from, never its value.
    pub fn explain(&self, err: &rdkafka::error::KafkaError, context: &str, redactor: &Redactor) -> BridgeError {
        let mut e = BridgeError::from_kafka(err, context).redacted(redactor);
        if let rdkafka::error::KafkaError::ClientConfig(_, _, key, _) = err {
            let src = self.source_of(key);
            if !src.is_empty() {
                e.message = format!("{} (from {src})", e.message);
            }
        }
        e
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

    /// Every key and value in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
        if self.uses_oauthbearer() {
            // Token refreshes on a queue of their own, which the client's creator hands to
            // librdkafka's background thread (`boundary::sys::sasl_callbacks_in_background`).
            cfg.set("enable_sasl_queue", "true");
        }
        (cfg, redactor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OAUTHBEARER clients (and only they) get a SASL queue of their own, which the client's
    /// creator hands to librdkafka's background thread.
    #[test]
    fn oauthbearer_clients_get_a_sasl_queue() {
        for (mechanism, queue) in [("OAUTHBEARER", Some("true")), ("oauthbearer", Some("true")), ("PLAIN", None)] {
            let s = Settings::with_defaults(&[("sasl.mechanism", mechanism)]);
            let (cfg, _) = s.to_client_config();
            assert_eq!(cfg.get("enable_sasl_queue"), queue, "{mechanism}");
        }
        let (cfg, _) = Settings::with_defaults(&[("acks", "all")]).to_client_config();
        assert_eq!(cfg.get("enable_sasl_queue"), None);
    }

    #[test]
    fn later_pairs_override_defaults() {
        let mut s = Settings::with_defaults(&[("acks", "all"), ("linger.ms", "5")]);
        s.extend_raw([(&b"acks"[..], Some(&b"1"[..]))]).unwrap();
        assert_eq!(s.get("acks"), Some("1"));
        assert_eq!(s.get("linger.ms"), Some("5"));
    }

    #[test]
    fn host_settings_win_over_table_rows_over_defaults() {
        let blob = crate::wire::encode_pairs([
            (&b"#source"[..], Some(&b"lookup table \"Shared\""[..])),
            (&b"bootstrap.servers"[..], Some(&b"table:9092"[..])),
            (&b"linger.ms"[..], Some(&b"20"[..])),
            (&b"host:Servers"[..], Some(&b"host:9092"[..])),
            (&b"host:ClientID"[..], Some(&b""[..])),
            (&b"default:GroupID"[..], Some(&b"IRIS-USER"[..])),
            (&b"group.id"[..], Some(&b"from-table"[..])),
            (&b"default:DeliveryTimeout"[..], Some(&b"30"[..])),
        ]);
        let spec = ClientSpec::parse(crate::wire::decode_pairs(&blob).unwrap()).unwrap();
        let (s, _) = spec.librdkafka(&[("linger.ms", "5"), ("client.id", "dflt")]).unwrap();
        assert_eq!(s.get("bootstrap.servers"), Some("host:9092"));
        assert_eq!(s.get("linger.ms"), Some("20"));
        assert_eq!(s.source_of("linger.ms"), "lookup table \"Shared\"");
        assert_eq!(s.get("client.id"), Some("dflt"), "an empty host setting means not set");
        assert_eq!(s.get("group.id"), Some("from-table"), "a table row beats a setting left at its default");
        assert_eq!(s.get("message.timeout.ms"), Some("30000"), "a default setting beats the library default");
    }

    /// With OAUTHBEARER, the Credentials are the OAuth client's id and secret (and the secret
    /// is redacted like a password); without a way to get tokens, the client is refused with
    /// the keys to set.
    #[test]
    fn oauthbearer_credentials_name_the_oauth_client() {
        let spec = |table: &[(&str, &str)]| {
            let mut pairs: Vec<(&[u8], Option<&[u8]>)> = vec![
                (b"host:SASLMechanism", Some(b"OAUTHBEARER")),
                (b"host:Username", Some(b"iris-client")),
                (b"host:Password", Some(b"s3cr3t-value")),
            ];
            pairs.extend(table.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_bytes()))));
            let blob = crate::wire::encode_pairs(pairs);
            ClientSpec::parse(crate::wire::decode_pairs(&blob).unwrap()).unwrap()
        };
        let oidc = [("sasl.oauthbearer.method", "oidc"), ("sasl.oauthbearer.token.endpoint.url", "https://idp/token")];
        let (s, _) = spec(&oidc).librdkafka(&[]).unwrap();
        assert_eq!(s.get("sasl.oauthbearer.client.id"), Some("iris-client"));
        assert_eq!(s.get("sasl.oauthbearer.client.secret"), Some("s3cr3t-value"));
        assert_eq!(s.source_of("sasl.oauthbearer.client.secret"), "setting Password");
        assert_eq!((s.get("sasl.username"), s.get("sasl.password")), (None, None));
        let (_, redactor) = s.to_client_config();
        assert_eq!(redactor.redact("secret is s3cr3t-value"), "secret is ***");
        // a client id from the table is kept; the Credentials' password still fills the secret
        let (s, _) = spec(&[oidc[0], oidc[1], ("sasl.oauthbearer.client.id", "from-table")]).librdkafka(&[]).unwrap();
        assert_eq!(s.get("sasl.oauthbearer.client.id"), Some("from-table"));
        assert_eq!(s.get("sasl.oauthbearer.client.secret"), Some("s3cr3t-value"));
        // unsigned test tokens need no client
        assert!(spec(&[("enable.sasl.oauthbearer.unsecure.jwt", "true")]).librdkafka(&[]).is_ok());
        let e = spec(&[]).librdkafka(&[]).unwrap_err();
        assert!(e.message.contains("sasl.oauthbearer.method=oidc") && e.message.contains("setting SASLMechanism"), "{e}");
        assert!(!e.message.contains("s3cr3t"), "{e}");
        // other mechanisms keep the Credentials as the SASL user
        let blob = crate::wire::encode_pairs([(&b"host:SASLMechanism"[..], Some(&b"PLAIN"[..])), (b"host:Username", Some(b"u")), (b"host:Password", Some(b"pw1"))]);
        let (s, _) = ClientSpec::parse(crate::wire::decode_pairs(&blob).unwrap()).unwrap().librdkafka(&[]).unwrap();
        assert_eq!((s.get("sasl.username"), s.get("sasl.password"), s.get("sasl.oauthbearer.client.id")), (Some("u"), Some("pw1"), None));
    }

    #[test]
    fn jks_stores_are_rejected_with_advice() {
        let dir = std::env::temp_dir().join(format!("iriskafka-jks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jks = dir.join("trust.jks");
        std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]).unwrap();
        let mut host = std::collections::BTreeMap::new();
        host.insert("TrustStoreLocation".to_owned(), jks.display().to_string());
        let e = ClientSpec { host, ..Default::default() }.librdkafka(&[]).unwrap_err();
        assert!(e.message.contains("keytool -exportcert -rfc"), "{e}");
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let mut host = std::collections::BTreeMap::new();
        host.insert("TrustStoreLocation".to_owned(), pem.display().to_string());
        let (s, _) = ClientSpec { host, ..Default::default() }.librdkafka(&[]).unwrap();
        assert_eq!(s.get("ssl.ca.location"), Some(pem.to_str().unwrap()));
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
        for ((k, v), src) in other.pairs.iter().zip(&other.sources) {
            self.set_from(k, v, src);
        }
    }
}

/// The key that labels the pairs after it with their origin (`lookup table "Shared"`).
pub const SOURCE_KEY: &str = "#source";
/// Prefix of a host setting given by its IRIS name (`host:Servers`, `host:Password`).
pub const HOST_PREFIX: &str = "host:";
/// Prefix of a host setting still at its class default (`default:Servers`): mapped like a
/// host setting but ranked below the lookup-table rows, so a shared table can set it.
pub const DEFAULT_PREFIX: &str = "default:";

/// A client's configuration as the host sends it: librdkafka pairs (lookup-table rows and
/// passthrough properties, each labelled with its source) and host settings by their IRIS
/// names. Precedence, highest first: the host's non-empty settings, then the pairs (a later
/// pair over an earlier one), then the library's defaults.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// librdkafka properties with their sources.
    pub raw: Settings,
    /// Host settings by IRIS name, non-empty values only.
    pub host: std::collections::BTreeMap<String, String>,
    /// Host settings left at their class defaults (below the table rows).
    pub host_defaults: std::collections::BTreeMap<String, String>,
}

impl ClientSpec {
    /// Reads a decoded pairs blob.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> Result<Self> {
        let mut spec = ClientSpec::default();
        let mut source = String::new();
        let mut raw = Settings::default();
        for (k, v) in pairs {
            let mut one = Settings::default();
            one.extend_raw([(k, v)])?;
            let (key, value) = one.pairs.remove(0);
            if key == SOURCE_KEY {
                source = value;
            } else if let Some(name) = key.strip_prefix(HOST_PREFIX) {
                if !value.is_empty() {
                    spec.host.insert(name.to_owned(), value);
                }
            } else if let Some(name) = key.strip_prefix(DEFAULT_PREFIX) {
                if !value.is_empty() {
                    spec.host_defaults.insert(name.to_owned(), value);
                }
            } else {
                raw.set_from(&key, &value, &source);
            }
        }
        spec.raw = raw;
        Ok(spec)
    }

    /// A host setting's non-empty value (an explicit one, else its class default).
    pub fn host(&self, name: &str) -> Option<&str> {
        self.host.get(name).or_else(|| self.host_defaults.get(name)).map(String::as_str)
    }

    /// A host setting parsed as a number.
    pub fn host_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.host(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| BridgeError::config(format!("setting {name}: \"{v}\" is not a valid number"))),
        }
    }

    /// The librdkafka settings: `defaults`, then the host settings still at their class
    /// defaults, then the pairs, then the host's explicit settings. Also returns warnings for
    /// the host's Event Log.
    pub fn librdkafka(&self, defaults: &[(&str, &str)]) -> Result<(Settings, Vec<String>)> {
        let mut out = Settings::default();
        for (k, v) in defaults {
            out.set_from(k, v, "the bridge's defaults");
        }
        let mut warnings = Vec::new();
        let mut all = self.host_defaults.clone();
        all.extend(self.host.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (name, value) in &self.host_defaults {
            for (k, v) in map_host_setting(name, value, &all, &mut warnings)? {
                out.set_from(&k, &v, &format!("setting {name} (default)"));
            }
        }
        out.merge(&self.raw);
        for (name, value) in &self.host {
            for (k, v) in map_host_setting(name, value, &all, &mut warnings)? {
                out.set_from(&k, &v, &format!("setting {name}"));
            }
        }
        oauthbearer(&mut out)?;
        Ok((out, warnings))
    }
}

/// With the SASL mechanism OAUTHBEARER: the Credentials setting names the OAuth client (its
/// id and secret, for librdkafka's OIDC client-credentials grant), not a SASL user; and the
/// client must have a way to get tokens, or it would wait for one forever and never connect.
fn oauthbearer(out: &mut Settings) -> Result<()> {
    if !out.uses_oauthbearer() {
        return Ok(());
    }
    for (user_key, client_key) in [("sasl.username", "sasl.oauthbearer.client.id"), ("sasl.password", "sasl.oauthbearer.client.secret")] {
        if out.source_of(user_key).starts_with("setting ") && out.get(client_key).is_none() {
            if let Some((value, source)) = out.remove(user_key) {
                out.set_from(client_key, &value, &source);
            }
        }
    }
    let oidc = out.get("sasl.oauthbearer.method").is_some_and(|m| m.trim().eq_ignore_ascii_case("oidc"));
    let unsecured = out.get("enable.sasl.oauthbearer.unsecure.jwt").and_then(parse_bool) == Some(true);
    if oidc || unsecured {
        return Ok(());
    }
    let from = match out.source_of("sasl.mechanism") {
        "" => String::new(),
        src => format!(" (from {src})"),
    };
    Err(BridgeError::config(format!(
        "SASL mechanism OAUTHBEARER{from} has no way to get tokens: set sasl.oauthbearer.method=oidc and \
         sasl.oauthbearer.token.endpoint.url (the client id and secret come from the Credentials setting), \
         or enable.sasl.oauthbearer.unsecure.jwt=true (unsigned tokens, for tests only)"
    )))
}

/// The librdkafka properties for one IRIS setting (the names of `EnsLib.Kafka.*`). Settings
/// that are the bridge's own (AtLeastOnce, MaxAttempts, ...) map to nothing here.
fn map_host_setting(
    name: &str,
    value: &str,
    all: &std::collections::BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>> {
    let one = |k: &str| Ok(vec![(k.to_owned(), value.to_owned())]);
    match name {
        "Servers" => one("bootstrap.servers"),
        "ClientID" => one("client.id"),
        "GroupID" => one("group.id"),
        "Username" => one("sasl.username"),
        "Password" => one("sasl.password"),
        "SecurityProtocol" => {
            let v = value.trim().to_ascii_uppercase();
            if !matches!(v.as_str(), "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL") {
                return Err(BridgeError::config(format!(
                    "setting SecurityProtocol: \"{value}\" is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                )));
            }
            Ok(vec![("security.protocol".into(), v)])
        }
        "SASLMechanism" => {
            let v = value.trim().to_ascii_uppercase();
            if !matches!(v.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER" | "GSSAPI") {
                return Err(BridgeError::config(format!(
                    "setting SASLMechanism: \"{value}\" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
                )));
            }
            Ok(vec![("sasl.mechanism".into(), v)])
        }
        "TrustStoreLocation" => match store_kind("TrustStoreLocation", value)? {
            StoreKind::Pem => one("ssl.ca.location"),
            StoreKind::Pkcs12 => Err(BridgeError::config(format!(
                "setting TrustStoreLocation: {value} is a PKCS#12 store; librdkafka reads CA certificates as PEM. \
                 Convert it: openssl pkcs12 -in {value} -nokeys -out ca.pem, then point TrustStoreLocation at ca.pem"
            ))),
        },
        "TrustStorePassword" => {
            warnings.push("setting TrustStoreCredentials is not needed with a PEM trust store and is ignored".into());
            Ok(vec![])
        }
        "KeyStoreLocation" => match store_kind("KeyStoreLocation", value)? {
            StoreKind::Pkcs12 => one("ssl.keystore.location"),
            StoreKind::Pem => Ok(vec![
                ("ssl.certificate.location".into(), value.to_owned()),
                ("ssl.key.location".into(), value.to_owned()),
            ]),
        },
        "KeyStorePassword" => {
            let p12 = all.get("KeyStoreLocation").is_some_and(|l| matches!(store_kind("KeyStoreLocation", l), Ok(StoreKind::Pkcs12)));
            Ok(vec![(if p12 { "ssl.keystore.password" } else { "ssl.key.password" }.into(), value.to_owned())])
        }
        "KeyPassword" => one("ssl.key.password"),
        "DeliveryTimeout" => Ok(vec![("message.timeout.ms".into(), seconds_as_ms(name, value)?.max(1).to_string())]),
        "AutoOffsetReset" => {
            let v = value.trim().to_ascii_lowercase();
            if !matches!(v.as_str(), "earliest" | "latest") {
                return Err(BridgeError::config(format!("setting AutoOffsetReset: \"{value}\" is not earliest or latest")));
            }
            Ok(vec![("auto.offset.reset".into(), v)])
        }
        "StatisticsInterval" => Ok(vec![("statistics.interval.ms".into(), seconds_as_ms(name, value)?.max(0).to_string())]),
        "ExtraClasspaths" => {
            warnings.push("setting ExtraClasspaths is for the Java gateway and is ignored: no JVM is used".into());
            Ok(vec![])
        }
        // The bridge's own settings, read by the consumer and producer themselves.
        "AtLeastOnce" | "MaxAttempts" | "RetryInitialMs" | "RetryMaxMs" | "DeadLetterTopic" | "Partition" | "Headers"
        | "CommitIntervalMs" => {
            Ok(vec![])
        }
        other => Err(BridgeError::config(format!("unknown host setting \"{other}\""))),
    }
}

/// A setting given in seconds (fractions allowed), as milliseconds.
fn seconds_as_ms(setting: &str, value: &str) -> Result<i64> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| BridgeError::config(format!("setting {setting}: \"{value}\" is not a number of seconds")))?;
    Ok((secs * 1000.0).round() as i64)
}

enum StoreKind {
    Pem,
    Pkcs12,
}

/// Classifies a key/trust store file; a Java keystore (JKS/JCEKS) is rejected with the way to
/// convert it, since librdkafka cannot read it.
fn store_kind(setting: &str, path: &str) -> Result<StoreKind> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| BridgeError::config(format!("setting {setting}: cannot read {path}: {e}")))?;
    let head = &head[..n];
    if head.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) || head.starts_with(&[0xCE, 0xCE, 0xCE, 0xCE]) {
        return Err(BridgeError::config(format!(
            "setting {setting}: {path} is a Java keystore (JKS), which librdkafka cannot read. Convert it: \
             for a trust store, keytool -exportcert -rfc -alias <alias> -keystore {path} -file ca.pem (or \
             keytool -list -rfc -keystore {path} for all certificates); for a key store, keytool -importkeystore \
             -srckeystore {path} -destkeystore client.p12 -deststoretype PKCS12. Then point {setting} at the new file"
        )));
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".p12") || lower.ends_with(".pfx") || (head.first() == Some(&0x30) && !head.starts_with(b"-----")) {
        Ok(StoreKind::Pkcs12)
    } else {
        Ok(StoreKind::Pem)
    }
}
