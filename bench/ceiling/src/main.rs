//! A canned-answer server on pullthrough's own stack, for the benchmarks (see README.md):
//!
//!     pullthrough-bench-ceiling serve --listen ADDR [other flags, ignored]
//!
//! `CEILING_ANSWER`: a file whose bytes answer every request (required).
//! `CEILING_WORK_US`: microseconds of CPU spent on each request, standing in for an admission's
//! work (default 0).
//! `CEILING_CALLS`: where that work runs. `shipped`, as pullthrough runs its guest calls: one slot
//! per core, all but one of them on the worker that read the request and the rest on tokio's
//! blocking pool (`host/src/wasm/engine.rs`, `run_gated_by`). `inline`: always on that worker.
//! `pool`: always on the blocking pool, in one of the same slots.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, header::HeaderValue};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::TlsAcceptor;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Where a request's stand-in work runs.
#[derive(Clone, Copy, PartialEq)]
enum Calls {
    Shipped,
    Inline,
    Pool,
}

struct Server {
    answer: Bytes,
    work: Duration,
    calls: Calls,
    /// pullthrough's guest slots, and those of them that run on the worker.
    slots: Arc<Semaphore>,
    inline: Semaphore,
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "--version") {
        println!("pullthrough-bench-ceiling serve --listen ADDR (CEILING_ANSWER=FILE)");
        return Ok(());
    }
    let listen: SocketAddr = args
        .iter()
        .position(|arg| arg == "--listen")
        .and_then(|at| args.get(at + 1))
        .ok_or("give --listen ADDR")?
        .parse()
        .map_err(|error| format!("--listen: {error}"))?;
    let path = std::env::var("CEILING_ANSWER").map_err(|_| "set CEILING_ANSWER to a file")?;
    let answer = std::fs::read(&path).map_err(|error| format!("{path}: {error}"))?;
    let work = match std::env::var("CEILING_WORK_US") {
        Ok(us) => us
            .parse()
            .map_err(|_| format!("CEILING_WORK_US is a count of µs, not {us}"))?,
        Err(_) => 0,
    };
    let calls = match std::env::var("CEILING_CALLS").as_deref() {
        Ok("shipped") | Err(_) => Calls::Shipped,
        Ok("inline") => Calls::Inline,
        Ok("pool") => Calls::Pool,
        Ok(other) => {
            return Err(format!(
                "CEILING_CALLS is shipped, inline or pool, not {other}"
            ));
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let server = Arc::new(Server {
        answer: Bytes::from(answer),
        work: Duration::from_micros(work),
        calls,
        slots: Arc::new(Semaphore::new(cores)),
        inline: Semaphore::new(cores - 1),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(serve(listen, server))
}

/// Accepts as `host/src/server/listener.rs` does, with the same hyper settings.
async fn serve(listen: SocketAddr, server: Arc<Server>) -> Result<(), String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| format!("{listen}: {error}"))?;
    let acceptor = TlsAcceptor::from(tls()?);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, server) =
            (acceptor.clone(), Arc::clone(&builder), Arc::clone(&server));
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let server = Arc::clone(&server);
                async move { server.answer(request).await }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Server {
    async fn answer(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let body = request.into_body().collect().await?.to_bytes();
        std::hint::black_box(&body);
        if !self.work.is_zero() {
            self.run_work().await;
        }
        let mut response = Response::new(Full::new(self.answer.clone()));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }

    async fn run_work(&self) {
        let work = self.work;
        let spin = move || {
            let until = Instant::now() + work;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        };
        if self.calls == Calls::Inline {
            return spin();
        }
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("never closed");
        let inline = match self.calls {
            Calls::Pool => None,
            _ => self.inline.try_acquire().ok(),
        };
        if inline.is_some() {
            spin();
        } else {
            tokio::task::spawn_blocking(move || {
                spin();
                drop(slot);
            })
            .await
            .expect("the spin does not panic");
        }
    }
}

/// TLS 1.3 and 1.2 with a fresh P-256 certificate, as `host/src/tls.rs` serves.
fn tls() -> Result<Arc<rustls::ServerConfig>, String> {
    let fail = |error: &dyn std::fmt::Display| error.to_string();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(&e))?;
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .and_then(|params| params.self_signed(&key))
        .map_err(|e| fail(&e))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| fail(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![certificate.der().clone()], key)
    .map_err(|e| fail(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(Arc::new(config))
}
