//! HTTPS (issue 13, finding 6): the manager's certificate chain and private key, read from PEM
//! files at start, as a rustls server configuration (ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
//! Tokens and the keys the manager hands to group members travel only inside it then.

use crate::{Error, TlsFiles};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The acceptor for `files`, or a clear error naming the file that is wrong.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, Error> {
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::Config(format!("{what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("--tls-cert", &files.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("--tls-cert", &files.cert, &e))?;
    if certs.is_empty() {
        return Err(bad("--tls-cert", &files.cert, &"no PEM certificate in it"));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("--tls-key", &files.key, &e))?;
    // ring, as ureq uses on the client side: it builds without aws-lc's cmake toolchain.
    // rustls marks it deprecated only for lacking post-quantum key exchange (X25519MLKEM768);
    // X25519 and the P-curves remain.
    #[allow(deprecated)]
    let provider = Arc::new(ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("--tls-cert and --tls-key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
