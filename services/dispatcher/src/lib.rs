//! The dispatcher service of Aerostic: contacts, conversations, messages,
//! statuses, templates, opt-outs and the send outbox; `SendMessage` is the
//! only way anything reaches Meta.
//!
//! Inbound so far: [`inbox`] keeps every webhook before anything else and
//! hands it to a worker; [`ingest`] routes it to its tenant and stores its
//! messages and statuses once each, raising [`events`] through the outbox.
//! RPCs of later issues answer `UNIMPLEMENTED`.

#![warn(missing_docs)]

pub mod batch_sends;
pub mod compose;
pub mod compose_interactive;
pub mod contact_reads;
pub mod dead_letters;
pub mod deliver;
pub mod entity;
pub mod events;
pub mod gate;
pub mod graph;
pub mod grpc;
pub mod idempotency;
pub mod inbox;
pub mod ingest;
pub mod keywords;
pub mod media;
pub mod meta_errors;
pub mod numbers;
pub mod objects;
pub mod payload;
pub mod read_marks;
pub mod reads;
pub mod record;
pub mod reservations;
pub mod routes;
pub mod send_rows;
pub mod send_worker;
pub mod statuses;
pub mod submit;
pub mod template_check;
pub mod template_reviews;
pub mod templates;
pub mod threads;
pub mod uploads;

use std::future::Future;
use std::time::Duration;

use aerostic_kit::broker::RetryPolicy;
use aerostic_kit::config::ServiceName;
use aerostic_kit::context::Context;
use aerostic_kit::outbox::Outbox;
use aerostic_proto::v1::billing_client::BillingClient;
use aerostic_proto::v1::dispatcher_server::DispatcherServer;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use tokio::net::TcpListener;

/// The dispatcher's outbox table.
pub const OUTBOX_TABLE: &str = "dispatcher_outbox";

/// Every queue the dispatcher consumes.
pub fn queues() -> Vec<aerostic_kit::broker::QueueSpec> {
    vec![
        inbox::queue(),
        media::queue(),
        send_worker::queue(),
        template_reviews::queue(),
    ]
}

/// Serves dispatcher on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let tenancy = TenancyClient::new(aerostic_kit::grpc::channel(
        ctx.upstreams.url(ServiceName::Tenancy),
    )?);
    // The queues this service consumes exist before any event flows.
    for spec in queues() {
        ctx.broker.declare(&spec).await?;
    }
    // One outbox, shared, so that whoever stages a row wakes the relay.
    let outbox = Outbox::new(OUTBOX_TABLE);
    let relay =
        outbox
            .clone()
            .spawn_relay(ctx.db.clone(), ctx.broker.clone(), Duration::from_secs(1));
    let keywords = keywords::Keywords::new(ctx.db.clone());
    let routes = routes::Routes::new(tenancy.clone());
    let templates = templates::Templates::new(
        ctx.db.clone(),
        graph::Graph::new(ctx.meta.graph_url.clone()),
        tenancy.clone(),
        routes.clone(),
    );
    let submit = submit::Submit::new(
        ctx.db.clone(),
        ctx.broker.clone(),
        routes.clone(),
        templates.clone(),
        BillingClient::new(aerostic_kit::grpc::channel(
            ctx.upstreams.url(ServiceName::Billing),
        )?),
        ctx.secrets.identity_seal(),
    );
    let ingest = ingest::Ingest::new(ctx.db.clone(), routes, outbox.clone(), keywords.clone());
    let gate = gate::ApplyGate::default();
    let sampler = gate.spawn();
    let workers = ctx
        .broker
        .consume(
            &inbox::queue().name,
            std::sync::Arc::new(inbox::Worker::new(ctx.db.clone(), ingest, gate.clone())),
            // A few workers, each taking a whole batch; the gate narrows
            // them while acknowledgements need the CPUs.
            RetryPolicy {
                concurrency: gate::WIDE as u16,
                ..RetryPolicy::default()
            },
        )
        .await?;
    let store = objects::open(&ctx.media, ctx.db.clone());
    let fetchers = ctx
        .broker
        .consume(
            &media::queue().name,
            std::sync::Arc::new(media::Fetcher::new(
                ctx.db.clone(),
                store.clone(),
                TenancyClient::new(aerostic_kit::grpc::channel(
                    ctx.upstreams.url(ServiceName::Tenancy),
                )?),
                ctx.meta.graph_url.clone(),
            )),
            RetryPolicy::default(),
        )
        .await?;
    let deliverer = deliver::Deliverer::new(
        ctx.db.clone(),
        outbox.clone(),
        graph::Graph::new(ctx.meta.graph_url.clone()),
        TenancyClient::new(aerostic_kit::grpc::channel(
            ctx.upstreams.url(ServiceName::Tenancy),
        )?),
    )
    .with_media(store.clone())
    .with_signals(
        aerostic_kit::signals::Signals::spawn(ctx.broker.clone()),
        ctx.secrets.signal_keys(),
    );
    let numbers = deliverer.numbers().clone();
    let read_marks = read_marks::ReadMarks::new(
        ctx.db.clone(),
        numbers.clone(),
        graph::Graph::new(ctx.meta.graph_url.clone()),
    );
    let senders = ctx
        .broker
        .consume(
            &send_worker::queue().name,
            std::sync::Arc::new(send_worker::SendWorker::new(
                ctx.db.clone(),
                deliverer,
                ctx.cache.clone(),
                ctx.broker.clone(),
            )),
            // Each worker mostly waits on Meta (hundreds of ms): enough of
            // them for several numbers at full rate, without a connection
            // held while waiting.
            RetryPolicy {
                concurrency: send_worker::CONCURRENCY,
                ..RetryPolicy::default()
            },
        )
        .await?;
    let reviews = ctx
        .broker
        .consume(
            &template_reviews::queue().name,
            std::sync::Arc::new(template_reviews::TemplateReviews::new(
                ctx.db.clone(),
                templates.clone(),
            )),
            RetryPolicy::default(),
        )
        .await?;
    let send_sweep =
        send_worker::spawn_sweep(ctx.db.clone(), ctx.broker.clone(), outbox.clone(), numbers);
    let sweep = inbox::spawn_sweep(ctx.db.clone(), ctx.broker.clone());
    // Webhooks keep our templates current; this catches any they missed.
    let template_sync = templates
        .clone()
        .spawn_periodic_sync(Duration::from_secs(15 * 60));
    let served = aerostic_kit::grpc::serve(
        DispatcherServer::new(grpc::DispatcherGrpc {
            reads: reads::Reads::new(ctx.db.clone()),
            seal: ctx.secrets.identity_seal(),
            intake: inbox::Intake::start(ctx.db.clone(), ctx.broker.clone(), gate),
            keywords,
            media: store,
            db: ctx.db.clone(),
            submit,
            templates,
            read_marks,
            outbox: outbox.clone(),
        })
        // Media travels whole both ways; Meta's largest is 100 MB.
        .max_encoding_message_size(media::MAX_BYTES + 1024 * 1024)
        .max_decoding_message_size(uploads::MAX_BYTES + 1024 * 1024),
        listener,
        shutdown,
    )
    .await;
    workers.shutdown().await;
    fetchers.shutdown().await;
    senders.shutdown().await;
    reviews.shutdown().await;
    send_sweep.abort();
    template_sync.abort();
    relay.abort();
    sweep.abort();
    sampler.abort();
    served?;
    Ok(())
}
