//! Response bodies of the proxy: the upstream's streamed body, held together with the
//! upstream it came from (so draining waits for it), or a small page of our own.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::Upstream;

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A body that keeps its upstream alive until it is fully sent or dropped.
pub struct Guarded {
    inner: ProxyBody,
    _upstream: Arc<Upstream>,
}

impl Guarded {
    pub fn wrap(inner: hyper::body::Incoming, upstream: Arc<Upstream>) -> ProxyBody {
        BoxBody::new(Self {
            inner: inner.boxed(),
            _upstream: upstream,
        })
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A complete body from bytes.
pub fn full(text: impl Into<Bytes>) -> ProxyBody {
    http_body_util::Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An HTML page for errors the proxy answers itself.
pub fn page(title: &str, detail: &str) -> ProxyBody {
    full(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font:16px system-ui,sans-serif;margin:4rem auto;max-width:36rem;color:#222}}\
         h1{{font-size:1.4rem}}p{{color:#555}}</style></head>\
         <body><h1>{title}</h1><p>{detail}</p><p><small>sh0</small></p></body></html>\n"
    ))
}
