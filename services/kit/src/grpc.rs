//! gRPC plumbing shared by every service: one way to serve (with health,
//! reflection, trace ids and metrics) and one way to call.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tower::{Layer, Service};

use crate::telemetry::{TRACE_HEADER, current_trace_id, with_trace_id};

/// Serves `service` on `listener` with gRPC health (reporting it SERVING),
/// reflection (v1 and v1alpha) and the trace/metrics layer, until `shutdown`.
pub async fn serve<S>(
    service: S,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error>
where
    S: Service<http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(aerostic_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // List only what this server serves, not every contract we compiled.
            .with_service_name(S::NAME)
            .with_service_name("grpc.health.v1.Health")
    };
    let v1 = reflection()
        .build_v1()
        .expect("our descriptor sets are valid");
    let v1alpha = reflection()
        .build_v1alpha()
        .expect("our descriptor sets are valid");
    tonic::transport::Server::builder()
        .layer(TraceLayer)
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(accepted(listener), shutdown)
        .await
}

/// The connections `listener` accepts, each with `TCP_NODELAY`: tonic
/// leaves the option alone on a stream it is handed ([`crate::tcp_nodelay`]).
fn accepted(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        accepted.map(|mut stream| {
            crate::tcp_nodelay::no_delay(&mut stream);
            stream
        })
    })
}

/// Server layer: scopes each call in the caller's trace id (or a new one) and
/// records request counts and latencies per method.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService(inner)
    }
}

/// The service [`TraceLayer`] wraps.
#[derive(Clone, Debug)]
pub struct TraceService<S>(S);

impl<S, B, R> Service<http::Request<B>> for TraceService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let trace = req
            .headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let method = req.uri().path().to_string();
        let started = Instant::now();
        let fut = self.0.call(req);
        Box::pin(with_trace_id(trace, async move {
            let result = fut.await;
            let grpc_status = match &result {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_string(),
                Err(_) => "transport".into(),
            };
            metrics::counter!("aerostic_grpc_requests_total", "method" => method.clone(), "status" => grpc_status)
                .increment(1);
            metrics::histogram!("aerostic_grpc_request_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        }))
    }
}

/// Client interceptor: sends the current trace id with every call.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceInterceptor;

impl Interceptor for TraceInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(trace) = current_trace_id()
            && let Ok(value) = trace.parse()
        {
            req.metadata_mut().insert(TRACE_HEADER, value);
        }
        Ok(req)
    }
}

/// The channel type every generated client is built on.
pub type TracedChannel = InterceptedService<Channel, TraceInterceptor>;

/// A lazily connecting channel to `url`, so processes may start in any order.
pub fn channel(url: &str) -> Result<TracedChannel, tonic::transport::Error> {
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(30))
        .connect_lazy();
    Ok(InterceptedService::new(channel, TraceInterceptor))
}

/// Asks `url`'s gRPC health service whether it is serving.
pub async fn check_health(url: &str) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = channel(url).map_err(|e| e.to_string())?;
    let mut client = HealthClient::new(channel);
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        client.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|s| s.message().to_string())?;
    match reply.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

/// Implements a generated service trait: the methods written out, plus any
/// listed under `unimplemented` answering `UNIMPLEMENTED` with our error body.
/// Only RPCs that a later issue owns belong in that list.
///
/// ```ignore
/// aerostic_kit::service_impl! {
///     impl Billing for BillingGrpc {
///         async fn get_wallet(&self, r: Request<GetWalletRequest>) -> Result<Response<Wallet>, Status> { … }
///     }
///     unimplemented {
///         quote(QuoteRequest) -> QuoteResponse;
///     }
/// }
/// ```
#[macro_export]
macro_rules! service_impl {
    (
        impl $trait:ident for $ty:ty { $($body:tt)* }
        unimplemented { $($method:ident($req:ty) -> $resp:ty;)* }
    ) => {
        #[::tonic::async_trait]
        impl $trait for $ty {
            $($body)*
            $(
                async fn $method(
                    &self,
                    _request: ::tonic::Request<$req>,
                ) -> ::std::result::Result<::tonic::Response<$resp>, ::tonic::Status> {
                    Err($crate::ApiError::unimplemented(stringify!($method)).into())
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn connections_a_grpc_server_accepts_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = std::pin::pin!(accepted(listener));
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let stream = incoming.next().await.unwrap().unwrap();
        assert!(
            stream.nodelay().unwrap(),
            "TCP_NODELAY on the accepted socket"
        );
    }
}
