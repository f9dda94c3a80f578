//! TLS on the leaf link. The hub's nats-server listens for the venues' leaf
//! servers with a certificate; each node learns the CA that signed it over
//! HTTPS at registration and its leaf verifies the hub's name against it.
//!
//! By default `pvm-cloud` is its own CA: at first start (or `pvm-cloud
//! leaf-tls`) it makes a CA and a certificate for the leaf URL's host in
//! `--leaf-tls-dir`. The link is private between this hub and its nodes, so
//! no public CA is needed: it works for a bare IP address and a private
//! name, never expires under a venue that is offline for a week, and the
//! trust anchor travels inside the HTTPS answer the node already trusts. An
//! operator with their own PKI gives `--leaf-ca` (the CA file nodes should
//! trust) and configures nats-server with their own certificate instead.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub const CA: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const CERT: &str = "leaf.pem";
pub const KEY: &str = "leaf.key";
/// The names the certificate was made for, one per line: a change of the
/// leaf URL's host makes a new certificate under the same CA.
const NAMES: &str = "leaf.names";

/// What `ensure` found or made.
pub struct LeafTls {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A new server certificate was written (the hub's nats-server must reload).
    pub reissued: bool,
}

/// The host of a leaf URL (`nats-leaf://user:pw@host:port`, IPv6 in brackets).
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        rest.rsplit_once(':').map_or(rest, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// The CA's parameters: always the same, so a certificate issued later
/// chains to the CA made at first start.
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "PVM hub leaf CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    // Its own temp name (ca.key and ca.pem must not share one), and the mode
    // set on it whatever a leftover file had.
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    let tmp = PathBuf::from(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The CA and a server certificate for `names` in `dir`, made if missing
/// (the CA once; the certificate again when the names change).
pub fn ensure(dir: &Path, names: &[String]) -> anyhow::Result<LeafTls> {
    if names.is_empty() {
        anyhow::bail!("the leaf certificate needs a name: give --leaf-url with the hub's host");
    }
    for name in names {
        let host_name = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !host_name && name.parse::<std::net::IpAddr>().is_err() {
            anyhow::bail!("{name:?} is not a host name or an IP address");
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca_path, ca_key_path) = (dir.join(CA), dir.join(CA_KEY));
    let new_ca = !ca_path.exists() || !ca_key_path.exists();
    if new_ca {
        let key = KeyPair::generate().context("making the CA key")?;
        let cert = ca_params().self_signed(&key).context("making the CA")?;
        write_file(&ca_key_path, &key.serialize_pem(), 0o600)?;
        write_file(&ca_path, &cert.pem(), 0o644)?;
    }
    let ca_pem = std::fs::read_to_string(&ca_path)
        .with_context(|| format!("reading {}", ca_path.display()))?;
    let (cert, key) = (dir.join(CERT), dir.join(KEY));
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(dir.join(NAMES)).unwrap_or_default();
    // A new CA always gets a new certificate: an old one would not chain to it.
    let reissued = new_ca || current != wanted || !cert.exists() || !key.exists();
    if reissued {
        let ca_key = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        let ca_key = KeyPair::from_pem(&ca_key)
            .with_context(|| format!("{} is not a private key", ca_key_path.display()))?;
        let issuer = Issuer::new(ca_params(), ca_key);
        let mut params = CertificateParams::new(names.to_vec())
            .with_context(|| format!("{wanted:?} are not host names or addresses"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].clone());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().context("making the leaf key")?;
        let leaf = params
            .signed_by(&leaf_key, &issuer)
            .context("signing the leaf certificate")?;
        write_file(&key, &leaf_key.serialize_pem(), 0o600)?;
        write_file(&cert, &leaf.pem(), 0o644)?;
        write_file(&dir.join(NAMES), &wanted, 0o644)?;
    }
    Ok(LeafTls {
        ca_pem,
        cert,
        key,
        reissued,
    })
}

/// The `leafnodes` block for the hub's nats-server with this certificate.
pub fn nats_block(tls: &LeafTls, port: u16) -> String {
    format!(
        "leafnodes {{\n  port: {port}\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    timeout: 5\n  }}\n}}\n",
        tls.cert.display(),
        tls.key.display()
    )
}

/// An operator's own CA file (what nodes are told to trust).
pub fn read_ca(path: &Path) -> anyhow::Result<String> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_leaf_urls() {
        assert_eq!(
            host_of("nats-leaf://hub.example.com:7422").as_deref(),
            Some("hub.example.com")
        );
        assert_eq!(
            host_of("nats-leaf://u:p@10.0.0.5:7422").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(host_of("nats-leaf://[::1]:7422").as_deref(), Some("::1"));
        assert_eq!(host_of("tls://hub").as_deref(), Some("hub"));
        assert_eq!(host_of("nats-leaf://:7422"), None);
    }

    #[test]
    fn the_ca_is_made_once_and_the_certificate_again_when_names_change() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = ensure(dir.path(), &["127.0.0.1".into()]).expect("first");
        assert!(first.reissued);
        let again = ensure(dir.path(), &["127.0.0.1".into()]).expect("again");
        assert!(!again.reissued);
        assert_eq!(first.ca_pem, again.ca_pem);
        let moved = ensure(dir.path(), &["hub.example.com".into()]).expect("moved");
        assert!(moved.reissued);
        assert_eq!(first.ca_pem, moved.ca_pem, "the nodes' CA stays");
        // A lost CA makes a new certificate too (the old one would not chain).
        std::fs::remove_file(dir.path().join(CA)).expect("rm");
        let lost = ensure(dir.path(), &["hub.example.com".into()]).expect("lost");
        assert!(lost.reissued);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CA_KEY))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(ensure(dir.path(), &[]).is_err());
        assert!(ensure(dir.path(), &["not a name".into()]).is_err());
    }
}
