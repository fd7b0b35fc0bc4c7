//! TLS termination with rustls (ring provider): certificates and keys read from PEM files when
//! a configuration is compiled (so `update()` reloads them), chosen by SNI, and the byte
//! plumbing between a rustls connection and a non-blocking socket.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::buffer::RecvBuffer;
use crate::config::TlsConfig;
use crate::error::LbError;
use crate::sys;

/// Picks the certificate whose names match the SNI name (exact, then `*.` wildcard), else the
/// first one.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_sni = hello.server_name().and_then(|name| {
            let name = name.to_ascii_lowercase();
            self.by_name.get(&name).cloned().or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.by_name.get(&format!("*.{parent}")).cloned()
            })
        });
        Some(by_sni.unwrap_or_else(|| Arc::clone(&self.default)))
    }
}

fn load_key(field: &str, cert_file: &str, key_file: &str) -> Result<Arc<CertifiedKey>, LbError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|iter| iter.collect())
        .map_err(|e| LbError::invalid(format!("{field}.cert_file: {cert_file:?}: {e}")))?;
    if certs.is_empty() {
        return Err(LbError::invalid(format!(
            "{field}.cert_file: {cert_file:?} holds no certificate"
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| LbError::invalid(format!("{field}.key_file: {key_file:?}: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| LbError::invalid(format!("{field}.key_file: {key_file:?}: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

/// Builds the rustls configuration of one listener; `field` names it in errors.
pub fn server_config(field: &str, tls: &TlsConfig) -> Result<Arc<ServerConfig>, LbError> {
    let mut default = None;
    let mut by_name = HashMap::new();
    for (i, cert) in tls.certificates.iter().enumerate() {
        let field = format!("{field}.certificates[{i}]");
        let key = load_key(&field, &cert.cert_file, &cert.key_file)?;
        for name in &cert.server_names {
            by_name
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| Arc::clone(&key));
        }
        default.get_or_insert(key);
    }
    let default = default.ok_or_else(|| {
        LbError::invalid(format!("{field}.certificates: at least one is required"))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LbError::invalid(format!("{field}: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { default, by_name }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A socket as `io::Write` for `write_tls`.
struct Socket(RawFd);

impl Write for Socket {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        sys::send2(self.0, data, &[])
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends the TLS records rustls has queued, until done or the socket would block.
pub fn flush(fd: RawFd, conn: &mut ServerConnection) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(&mut Socket(fd)) {
            Ok(_) => {}
            Err(e) if sys::would_block(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves already-decrypted bytes into `inbound`; returns how many, or 0 at close_notify
/// (reported as `Ok(None)`).
fn take_plaintext(
    conn: &mut ServerConnection,
    inbound: &mut RecvBuffer,
) -> io::Result<Option<usize>> {
    let mut got = 0;
    while !inbound.is_full() {
        match conn.reader().read(inbound.spare()) {
            Ok(0) => return Ok(if got == 0 { None } else { Some(got) }),
            Ok(n) => {
                inbound.commit(n);
                got += n;
            }
            Err(e) if sys::would_block(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(got))
}

/// One receive on a TLS client: reads records from the socket, answers handshake messages
/// and appends plaintext to `inbound`. `Ok(0)` means the peer closed; `WouldBlock` means no
/// plaintext yet.
pub fn recv(fd: RawFd, conn: &mut ServerConnection, inbound: &mut RecvBuffer) -> io::Result<usize> {
    // Plaintext rustls already holds goes first (left there when `inbound` was full).
    if let Some(n) = take_plaintext(conn, inbound)?.filter(|&n| n > 0) {
        return Ok(n);
    }
    let mut raw = [0u8; 16 * 1024];
    let n = sys::recv(fd, &mut raw)?;
    if n == 0 {
        return Ok(0);
    }
    let mut records = &raw[..n];
    while !records.is_empty() {
        if conn.read_tls(&mut records)? == 0 {
            return Err(io::Error::other("TLS receive buffer full"));
        }
        conn.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    flush(fd, conn)?;
    match take_plaintext(conn, inbound)? {
        None => Ok(0),
        Some(0) => Err(io::ErrorKind::WouldBlock.into()),
        Some(n) => Ok(n),
    }
}

/// Encrypts `first` then `second` and sends what the socket takes (rustls keeps the rest).
pub fn send(fd: RawFd, conn: &mut ServerConnection, first: &[u8], second: &[u8]) -> io::Result<()> {
    conn.writer().write_all(first)?;
    conn.writer().write_all(second)?;
    flush(fd, conn)
}
