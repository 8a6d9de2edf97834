//! HTTPS through the host: a backend behind a private CA (trusted only through
//! `HostOptions::extra_root_certificates`), an `https://` URL pointed at a plain-HTTP server
//! (fails at once, naming the scheme), and a server that never finishes the TLS handshake
//! (stopped by the connect timeout). The TLS server is a real one on loopback.

use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_core_host::HostOptions;
use llm_core_host::types::*;
use replay_server::{ReplayServer, replies};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A private CA and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn private_ca() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "aios-llm-core test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server,
    }
}

/// A TLS server on loopback answering every request with a chat completion; it records
/// each request's `Host` header and counts TCP connections.
struct TlsServer {
    addr: SocketAddr,
    hosts: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_server(config: rustls::ServerConfig) -> TlsServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (h, c) = (hosts.clone(), connections.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            *c.lock().unwrap() += 1;
            let (acceptor, hosts) = (acceptor.clone(), h.clone());
            tokio::spawn(async move {
                // A client that rejects our certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        hosts.lock().unwrap().push(host);
                        async move {
                            let _ = req.into_body().collect().await;
                            let body = replies::completion_body(
                                serde_json::json!({"role": "assistant", "content": "over TLS"}),
                                "stop",
                            );
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .map_err(|e| e.to_string())
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsServer {
        addr,
        hosts,
        connections,
        task,
    }
}

fn write_temp(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "llm-core-{tag}-{}-{:?}.pem",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_trusted_only_when_given() {
    let pki = private_ca();
    let server = tls_server(pki.server).await;
    let url = format!("https://localhost:{}/v1", server.addr.port());
    let mut cfg = config(BackendKind::Vllm, &url);
    cfg.retry.max_attempts = Some(1);

    // Public roots only: the certificate is refused, with a hint where a private CA goes.
    let client = core().client(cfg.clone()).await.unwrap();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Connection, "{e:?}");
    assert!(
        e.message.contains("certificate") && e.message.contains("extra root certificates"),
        "{}",
        e.message
    );
    assert!(server.hosts.lock().unwrap().is_empty());

    // With the CA: the call goes through, to the right host, on one kept-alive connection.
    let ca = write_temp("ca", &pki.ca_pem);
    let host = core_with(HostOptions {
        extra_root_certificates: vec![ca.clone()],
        ..HostOptions::default()
    });
    let client = host.client(cfg).await.unwrap();
    let connections_before = *server.connections.lock().unwrap();
    for _ in 0..3 {
        let r = client.chat(ask("hi")).await.unwrap();
        assert_eq!(r.content.as_deref(), Some("over TLS"));
    }
    assert_eq!(
        *server.hosts.lock().unwrap(),
        vec![format!("localhost:{}", server.addr.port()); 3]
    );
    assert_eq!(
        *server.connections.lock().unwrap() - connections_before,
        1,
        "https connections are pooled"
    );
    std::fs::remove_file(ca).ok();

    // A root file that holds no certificate is a configuration error, named.
    let bad = write_temp("bad", "not a certificate\n");
    let e = llm_core_host::LlmCore::new(HostOptions {
        extra_root_certificates: vec![bad.clone()],
        compiled_cache: None,
        ..HostOptions::default()
    })
    .err()
    .unwrap();
    assert_eq!(e.code, ErrorCode::InvalidConfig, "{e:?}");
    assert!(
        e.message.contains(&bad.display().to_string()),
        "{}",
        e.message
    );
    std::fs::remove_file(bad).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_a_plain_http_server_fails_at_once_naming_the_scheme() {
    let server = ReplayServer::start().await;
    server.on(replies::CHAT, replies::text("never read"));
    let url = format!("https://{}/v1", server.addr());
    let mut cfg = config(BackendKind::Vllm, &url);
    cfg.timeouts.connect_ms = Some(10_000);
    let client = core().client(cfg).await.unwrap();
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!(
        "https:// against plain HTTP failed after {took:?}: {}",
        e.message
    );
    assert_eq!(e.code, ErrorCode::Connection, "{e:?}");
    assert!(
        e.message.contains("https://") && e.message.contains("plain HTTP"),
        "{}",
        e.message
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connect_timeout_covers_the_tls_handshake() {
    // Accepts TCP connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let mut cfg = config(BackendKind::Vllm, &format!("https://{addr}/v1"));
    cfg.timeouts.connect_ms = Some(300);
    cfg.retry.max_attempts = Some(1);
    let client = core().client(cfg).await.unwrap();
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("silent TLS server: failed after {took:?}: {}", e.message);
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Connect), "{e:?}");
    assert!(e.message.contains("https://"), "{}", e.message);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    silent.abort();
}
