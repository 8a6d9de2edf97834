//! `wasi:http/types#http-error-code`, told by type. wasmtime-wasi-http 48 stores a response
//! body's failure as its embedder `wasmtime_wasi_http::Error` but its `http-error-code` only
//! recognises the p2 `ErrorCode` type, so the component would see every body failure (the
//! host's response cap, a between-bytes timeout, a reset) as unclassified. This host shadows
//! that one function: it downcasts to either type and maps the embedder error to its p2 code.

use crate::pool::HostState;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

/// The interface as wasmtime-wasi-http registers it (its WIT's version).
const TYPES: &str = "wasi:http/types@0.2.12";

/// Replaces `http-error-code` in a linker that already has wasi:http.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    types.func_wrap(
        "http-error-code",
        |mut store: wasmtime::StoreContextMut<'_, HostState>,
         (err,): (Resource<wasmtime::Error>,)| {
            let e = store.data_mut().table().get(&err)?;
            Ok((code_of(e),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The p2 code of a stream error, when it is an HTTP failure.
fn code_of(e: &wasmtime::Error) -> Option<ErrorCode> {
    if let Some(code) = e.downcast_ref::<ErrorCode>() {
        return Some(code.clone());
    }
    Some(match e.downcast_ref::<HttpError>()? {
        HttpError::Hyper(h) if h.is_timeout() => ErrorCode::HttpResponseTimeout,
        HttpError::Hyper(h) if h.is_incomplete_message() => ErrorCode::HttpResponseIncomplete,
        HttpError::Hyper(_) => ErrorCode::HttpProtocolError,
        HttpError::Connect(_) => ErrorCode::ConnectionRefused,
        HttpError::Tls(_) => ErrorCode::TlsProtocolError,
        HttpError::ConnectionTerminated => ErrorCode::ConnectionTerminated,
        HttpError::ConnectionTimeout => ErrorCode::ConnectionTimeout,
        HttpError::ConnectionReadTimeout => ErrorCode::ConnectionReadTimeout,
        HttpError::ConnectionWriteTimeout => ErrorCode::ConnectionWriteTimeout,
        HttpError::HttpResponseIncomplete => ErrorCode::HttpResponseIncomplete,
        HttpError::HttpResponseBodySize(n) => ErrorCode::HttpResponseBodySize(*n),
        HttpError::HttpResponseTimeout => ErrorCode::HttpResponseTimeout,
        HttpError::HttpProtocolError => ErrorCode::HttpProtocolError,
        HttpError::HttpRequestDenied => ErrorCode::HttpRequestDenied,
        HttpError::InternalError(m) => ErrorCode::InternalError(m.clone()),
        other => ErrorCode::InternalError(Some(other.to_string())),
    })
}
