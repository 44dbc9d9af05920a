//! `registry://` modules with the `oci-client` crate, the client Kubewarden's policy fetcher
//! uses: the tag resolved to a manifest digest (a HEAD request), then the manifest and its one
//! Wasm layer from the store when it holds them, else from the registry, each checked against
//! its digest before it is used or kept.

use futures_util::TryStreamExt as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::auth::Auths;
use super::sources::{Authority, Sources};
use super::store::{Store, digest_of};
use super::{CONNECT_TIMEOUT, FetchError, Fetched, MAX_MODULE_BYTES};

/// The media type of a policy's Wasm layer, as `kwctl push` writes it.
pub(super) const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// The manifest media types a policy artifact comes in.
const MANIFESTS: &[&str] = &[
    oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
    oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE,
];

/// The module `registry://REFERENCE` names.
pub(super) async fn fetch(
    reference: &str,
    sources: &Sources,
    auths: &Auths,
    store: &Store,
) -> Result<Fetched, FetchError> {
    // The policies file's check parsed it already; this cannot fail for a reference it let by.
    let parsed: Reference = reference.parse().map_err(|error: oci_client::ParseError| {
        FetchError::Registry(OciDistributionError::GenericError(Some(error.to_string())))
    })?;
    let host = parsed.registry().to_owned();
    let (auth, credentials) = match auths.get(&host) {
        Some(found) => (
            RegistryAuth::Basic(found.username.clone(), found.password.clone()),
            format!(
                "to user {:?} (from {})",
                found.username,
                auths
                    .path
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            ),
        ),
        None => (
            RegistryAuth::Anonymous,
            match &auths.path {
                Some(path) => format!(
                    "without credentials ({} has none for {host})",
                    path.display()
                ),
                None => "without credentials (no --docker-config-json-path)".to_owned(),
            },
        ),
    };
    let oci = |error| FetchError::from_oci(error, &host, reference, &credentials);
    let client = client(&host, sources).map_err(oci)?;
    // A pinned digest needs no request when the store has it; a tag is asked every time.
    let digest = match parsed.digest() {
        Some(digest) => digest.to_owned(),
        None => client
            .fetch_manifest_digest(&parsed, &auth)
            .await
            .map_err(oci)?,
    };
    if let Some(module) = from_store(store, &digest).await {
        return Ok(Fetched {
            bytes: module,
            digest,
            from_store: true,
        });
    }
    let pinned = parsed.clone_with_digest(digest.clone());
    let (manifest_bytes, _) = client
        .pull_manifest_raw(&pinned, &auth, MANIFESTS)
        .await
        .map_err(oci)?;
    check(&manifest_bytes, &digest, "the manifest")?;
    let layer = wasm_layer(&manifest_bytes)?;
    let module = pull_layer(&client, &pinned, &layer)
        .await
        .map_err(|error| match error {
            Pull::Oci(error) => oci(error),
            Pull::Fetch(error) => error,
        })?;
    check(&module, &layer.digest, "the module layer")?;
    store.put(&module).await;
    store.put(&manifest_bytes).await;
    Ok(Fetched {
        bytes: module,
        digest,
        from_store: false,
    })
}

/// The module of manifest `digest`, if the store holds both.
async fn from_store(store: &Store, digest: &str) -> Option<Vec<u8>> {
    let manifest = store.get(digest).await?;
    let layer = wasm_layer(&manifest).ok()?;
    store.get(&layer.digest).await
}

fn check(bytes: &[u8], expected: &str, what: &'static str) -> Result<(), FetchError> {
    let actual = digest_of(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(FetchError::DigestMismatch {
            what,
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// The one Wasm layer of a manifest, its size within bounds.
fn wasm_layer(manifest: &[u8]) -> Result<OciDescriptor, FetchError> {
    let manifest: OciImageManifest = serde_json::from_slice(manifest).map_err(|error| {
        FetchError::Registry(OciDistributionError::ManifestParsingError(
            error.to_string(),
        ))
    })?;
    let mut wasm = manifest
        .layers
        .iter()
        .filter(|layer| layer.media_type == WASM_LAYER);
    let (Some(layer), None) = (wasm.next(), wasm.next()) else {
        return Err(FetchError::NotAModule {
            layers: manifest
                .layers
                .iter()
                .map(|l| l.media_type.clone())
                .collect(),
        });
    };
    let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
    if size > MAX_MODULE_BYTES {
        return Err(FetchError::TooLarge {
            size,
            limit: MAX_MODULE_BYTES,
        });
    }
    Ok(layer.clone())
}

enum Pull {
    Oci(OciDistributionError),
    Fetch(FetchError),
}

/// An error in the middle of a blob: the client's digest check (when the last byte disagrees
/// with the layer's digest) comes as an I/O error wrapping its own.
fn streamed(error: std::io::Error) -> Pull {
    let mismatch = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<oci_client::errors::DigestError>());
    if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) = mismatch
    {
        return Pull::Fetch(FetchError::DigestMismatch {
            what: "the module layer",
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    Pull::Oci(OciDistributionError::IoError(error))
}

/// The layer's bytes, no more than its manifest announced (nor [`MAX_MODULE_BYTES`]).
async fn pull_layer(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
) -> Result<Vec<u8>, Pull> {
    let limit = u64::try_from(layer.size).unwrap_or(0).min(MAX_MODULE_BYTES);
    let mut stream = client
        .pull_blob_stream(reference, layer)
        .await
        .map_err(Pull::Oci)?;
    let mut bytes = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    while let Some(chunk) = stream.try_next().await.map_err(streamed)? {
        bytes.extend_from_slice(&chunk);
        let size = bytes.len() as u64;
        if size > limit {
            return Err(Pull::Fetch(FetchError::TooLarge { size, limit }));
        }
    }
    Ok(bytes)
}

/// A client for `host`: plain HTTP if the sources file lists it, else HTTPS trusting the
/// system's roots and the host's own authorities.
fn client(host: &str, sources: &Sources) -> Result<Client, OciDistributionError> {
    let protocol = ClientProtocol::HttpsExcept(sources.insecure().cloned().collect());
    let extra_root_certificates = sources
        .authorities(host)
        .iter()
        .map(|authority| match authority {
            Authority::Pem(data) => Certificate {
                encoding: CertificateEncoding::Pem,
                data: data.clone(),
            },
            Authority::Der(data) => Certificate {
                encoding: CertificateEncoding::Der,
                data: data.clone(),
            },
        })
        .collect();
    Client::try_from(ClientConfig {
        protocol,
        extra_root_certificates,
        connect_timeout: Some(CONNECT_TIMEOUT),
        // Policy artifacts are not multi-platform: an index is not a module.
        platform_resolver: None,
        user_agent: concat!("pullthrough/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    })
}
