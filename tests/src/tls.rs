//! A test certificate authority: a self-signed CA ("trawl test CA") that
//! issues leaf certificates for loopback servers. The worker trusts it through
//! TRAWL_CA_FILE; the harness serves TLS with [`TestCa::server_config`].
//!
//! Every rustls config here names the aws-lc-rs provider explicitly, so the
//! process-level default provider never matters.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A self-signed CA that signs leaf certificates for test servers.
pub struct TestCa {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// The aws-lc-rs provider, named explicitly for every config.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Sets the validity to [now - before_now, now + after_now] without naming
/// the `time` crate: rcgen's epoch date plus a std Duration.
fn set_validity(params: &mut CertificateParams, before_now: Duration, after_now: Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(before_now);
    params.not_after = epoch + now + after_now;
}

impl TestCa {
    /// A fresh CA with subject "trawl test CA", valid from a day ago for a year.
    pub fn new() -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "trawl test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "trawl tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, DAY, 365 * DAY);
        let key = KeyPair::generate().context("generating the CA key")?;
        let ca = CertifiedIssuer::self_signed(params, key).context("self-signing the CA")?;
        Ok(TestCa { ca })
    }

    /// The CA certificate in PEM (what the worker reads from TRAWL_CA_FILE).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate in DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns that path.
    pub fn write_ca_file(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Issues a leaf certificate (CN = the first name, SANs = all names and
    /// IPs, valid from a day ago for 30 days) and returns its DER chain
    /// (leaf, CA) and PKCS#8 key.
    pub fn issue(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        anyhow::ensure!(
            !dns_names.is_empty() || !ips.is_empty(),
            "a leaf certificate needs at least one DNS name or IP"
        );
        let mut params =
            CertificateParams::new(dns_names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .context("invalid DNS name")?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cn = match dns_names.first() {
            Some(name) => name.to_string(),
            None => ips[0].to_string(),
        };
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, DAY, 30 * DAY);
        let key = KeyPair::generate().context("generating the leaf key")?;
        let leaf = params
            .signed_by(&key, &*self.ca)
            .context("signing the leaf")?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![leaf.der().clone(), self.ca_der()], key_der))
    }

    /// A rustls server config (aws-lc-rs, ALPN http/1.1) presenting a leaf
    /// certificate for the given names and IPs, signed by this CA.
    pub fn server_config(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
    ) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let (chain, key) = self.issue(dns_names, ips)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A rustls client config (aws-lc-rs) that trusts only this CA.
    pub fn client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der())?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One TLS exchange over loopback: the server echoes "pong" to "ping".
    async fn handshake(
        ca: &TestCa,
        server: Arc<rustls::ServerConfig>,
        name: ServerName<'static>,
    ) -> anyhow::Result<Vec<u8>> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let srv = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            tls.write_all(b"pong").await?;
            tls.shutdown().await?;
            anyhow::Ok(())
        });
        let connector = tokio_rustls::TlsConnector::from(ca.client_config()?);
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let result = async {
            let mut tls = connector.connect(name, tcp).await?;
            tls.write_all(b"ping").await?;
            let mut out = Vec::new();
            tls.read_to_end(&mut out).await?;
            anyhow::Ok(out)
        }
        .await;
        srv.abort();
        result
    }

    #[tokio::test]
    async fn leaf_for_ip_and_name_verifies_against_the_ca() -> anyhow::Result<()> {
        let ca = TestCa::new()?;
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let ip: IpAddr = Ipv4Addr::LOCALHOST.into();
        let config = ca.server_config(&["localhost"], &[ip])?;
        let by_ip = handshake(&ca, config.clone(), ServerName::IpAddress(ip.into())).await?;
        assert_eq!(by_ip, b"pong");
        let by_name = handshake(&ca, config.clone(), ServerName::try_from("localhost")?).await?;
        assert_eq!(by_name, b"pong");
        // A name the certificate does not carry is refused.
        let wrong = handshake(&ca, config, ServerName::try_from("example.com")?).await;
        assert!(
            wrong.is_err(),
            "a certificate for localhost must not verify example.com"
        );
        Ok(())
    }

    #[tokio::test]
    async fn another_ca_is_not_trusted() -> anyhow::Result<()> {
        let ca = TestCa::new()?;
        let other = TestCa::new()?;
        let ip: IpAddr = Ipv4Addr::LOCALHOST.into();
        let config = other.server_config(&[], &[ip])?;
        let result = handshake(&ca, config, ServerName::IpAddress(ip.into())).await;
        assert!(result.is_err(), "a leaf from another CA must be refused");
        Ok(())
    }

    #[test]
    fn writes_the_ca_file() -> anyhow::Result<()> {
        let ca = TestCa::new()?;
        let dir = tempfile::tempdir()?;
        let path = ca.write_ca_file(dir.path())?;
        assert_eq!(path, dir.path().join("ca.pem"));
        let pem = std::fs::read(&path)?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
        assert_eq!(certs, vec![ca.ca_der()]);
        assert!(ca.issue(&[], &[]).is_err());
        Ok(())
    }
}
