//! `https://` modules (and `http://` ones from hosts the sources file lists): a plain download,
//! bounded in size. A URL names no digest, so nothing in the store could stand for it: every
//! fetch downloads, and the digest of what arrived is what a reload compares to see a change.

use std::time::Duration;

use super::remote::Url;
use super::sources::{Authority, Sources};
use super::store::digest_of;
use super::{CONNECT_TIMEOUT, FetchError, Fetched, MAX_MODULE_BYTES};

/// Redirects followed before giving up (a CDN's one or two, not a loop).
const REDIRECTS: usize = 5;

pub(super) async fn fetch(url: &Url, sources: &Sources) -> Result<Fetched, FetchError> {
    if !url.https && !sources.is_insecure(&url.authority) {
        return Err(FetchError::PlainHttp(url.authority.clone()));
    }
    let host = url.authority.as_str();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("pullthrough/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::limited(REDIRECTS))
        // An https:// module never continues over plain HTTP, whatever a redirect says.
        .https_only(url.https);
    for authority in sources.authorities(host) {
        let certificate = match authority {
            Authority::Pem(pem) => reqwest::Certificate::from_pem(pem),
            Authority::Der(der) => reqwest::Certificate::from_der(der),
        }
        .map_err(FetchError::Http)?;
        builder = builder.add_root_certificate(certificate);
    }
    let client = builder.build().map_err(FetchError::Http)?;
    let mut response = client
        .get(&url.text)
        .send()
        .await
        .map_err(|error| FetchError::from_http(error, host))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status {
            url: url.text.clone(),
            status: response.status().as_u16(),
        });
    }
    if let Some(size) = response.content_length()
        && size > MAX_MODULE_BYTES
    {
        return Err(FetchError::TooLarge {
            size,
            limit: MAX_MODULE_BYTES,
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| FetchError::from_http(error, host))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_MODULE_BYTES {
            return Err(FetchError::TooLarge {
                size: bytes.len() as u64,
                limit: MAX_MODULE_BYTES,
            });
        }
    }
    Ok(Fetched {
        digest: digest_of(&bytes),
        bytes,
        from_store: false,
    })
}
