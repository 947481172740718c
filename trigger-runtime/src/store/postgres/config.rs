//! A `postgres://` URL: the connection settings tokio-postgres reads, and this driver's own
//! parameters (`schema`, `sslrootcert`, `pool_size`), taken out before it does; TLS and the
//! connection pool.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{Result, StoreError, redact_url};

/// The schema the tables live in unless the URL names another.
pub const DEFAULT_SCHEMA: &str = "trigger";

/// Connections a store keeps open at most (the listener has one more).
const DEFAULT_POOL_SIZE: usize = 16;

/// How long a connection attempt may take unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a pooled connection before hearing that the database is not
/// available.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// A parsed URL.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) config: tokio_postgres::Config,
    pub(super) schema: String,
    pub(super) tls: Option<MakeRustlsConnect>,
    pub(super) pool_size: usize,
    /// The URL without its password, for messages.
    pub(super) shown: String,
}

impl Settings {
    /// Parses `url`: a libpq-style URL (`postgres://user:password@host:5432/db?sslmode=require`)
    /// with three more parameters: `schema` (default `trigger`), `sslrootcert` (a PEM file of
    /// the certificates to trust instead of the usual public roots) and `pool_size`.
    pub(super) fn parse(url: &str) -> Result<Self> {
        let shown = redact_url(url);
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let mut root_cert = None;
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut passed = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "schema" => schema = value.into_owned(),
                "sslrootcert" => root_cert = Some(value.into_owned()),
                "pool_size" => {
                    pool_size = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "pool_size {value:?} is not a number from 1 to 1000"
                            ))
                        })?;
                }
                _ => {
                    passed.append_pair(&key, &value);
                }
            }
        }
        check_schema(&schema).map_err(invalid)?;
        let passed = passed.finish();
        let rest = if passed.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{passed}")
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        // Unqualified names resolve in the schema, so the SQL names no schema.
        let search_path = format!("-c search_path={schema}");
        let options = match config.get_options() {
            Some(options) if !options.is_empty() => format!("{options} {search_path}"),
            _ => search_path,
        };
        config.options(options);
        if config.get_application_name().is_none() {
            config.application_name("trigger-runtime");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // libpq's default is `prefer`; without an explicit `sslmode` connections are plain,
        // since a verified TLS connection needs a certificate the local server rarely has.
        let explicit_tls =
            form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "sslmode" && v != "disable");
        let tls = if explicit_tls {
            Some(tls(root_cert.as_deref()).map_err(invalid)?)
        } else {
            if root_cert.is_some() {
                return Err(invalid(
                    "sslrootcert needs sslmode=require (or prefer)".to_owned(),
                ));
            }
            config.ssl_mode(SslMode::Disable);
            None
        };
        Ok(Self {
            config,
            schema,
            tls,
            pool_size,
            shown,
        })
    }

    /// The channel `NOTIFY` announces new runs on: one per schema, so that stores in other
    /// schemas of the database are not woken.
    pub(super) fn channel(&self) -> String {
        format!("{}_runs", self.schema)
    }

    /// A pool of up to `pool_size` connections, opened as needed.
    pub(super) fn pool(&self) -> Result<Pool> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &self.tls {
            Some(tls) => Manager::from_config(self.config.clone(), tls.clone(), manager_config),
            None => {
                Manager::from_config(self.config.clone(), tokio_postgres::NoTls, manager_config)
            }
        };
        Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::InvalidUrl {
                url: self.shown.clone(),
                reason: format!("could not build the connection pool: {e}"),
            })
    }
}

/// A schema name this driver accepts: lowercase letters, digits and `_`, not starting with a
/// digit, at most 58 characters (so that `<schema>_runs` is a valid channel name).
fn check_schema(schema: &str) -> std::result::Result<(), String> {
    let valid = !schema.is_empty()
        && schema.len() <= 58
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(format!(
            "schema {schema:?} is not a plain name; use lowercase letters, digits and `_` \
             (at most 58, not starting with a digit), e.g. `schema=trigger`"
        ))
    }
}

/// TLS with the public roots (webpki-roots), or only the certificates of `root_cert`.
fn tls(root_cert: Option<&str>) -> std::result::Result<MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("could not read sslrootcert {path:?}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("sslrootcert {path:?}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {path:?}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path:?} holds no certificate"));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn the_drivers_own_parameters_are_taken_out() {
        let settings =
            Settings::parse("postgres://u:pw@db.example:6543/app?schema=hooks&pool_size=4")
                .unwrap();
        assert_eq!(settings.schema, "hooks");
        assert_eq!(settings.pool_size, 4);
        assert_eq!(settings.channel(), "hooks_runs");
        assert_eq!(settings.config.get_dbname(), Some("app"));
        assert_eq!(settings.config.get_options(), Some("-c search_path=hooks"));
        assert!(settings.tls.is_none());
        assert_eq!(
            settings.shown,
            "postgres://u:****@db.example:6543/app?schema=hooks&pool_size=4"
        );

        let default = Settings::parse("postgresql://localhost/test?sslmode=require").unwrap();
        assert_eq!(default.schema, "trigger");
        assert!(default.tls.is_some());

        for (url, says) in [
            ("postgres://h/d?schema=Bad-Name", "is not a plain name"),
            ("postgres://h/d?schema=1abc", "is not a plain name"),
            ("postgres://h/d?pool_size=0", "pool_size \"0\""),
            ("postgres://h/d?nonsense=1", "nonsense"),
            ("postgres://h/d?sslrootcert=/x.pem", "needs sslmode=require"),
            (
                "postgres://h/d?sslmode=require&sslrootcert=/nope.pem",
                "could not read sslrootcert",
            ),
        ] {
            let error = Settings::parse(url).err().unwrap().to_string();
            assert!(error.contains(says), "{url}: {error}");
        }
    }
}
